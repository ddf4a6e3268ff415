//! What a region offers: its zones, disk categories and instance types
//! (DescribeRegions, DescribeZones), and the zone check the resource
//! modules share.

use serde_json::{json, Value};

use super::cx::Cx;
use super::model::DiskCategory;
use super::params::Params;
use crate::engine::Store;
use crate::error::{Error, Result};

/// The region when a request names none.
pub const DEFAULT_REGION: &str = "cn-hangzhou";

/// Regions and their zones: (RegionId, LocalName, zones).
pub const REGIONS: &[(&str, &str, &[&str])] = &[
    ("cn-hangzhou", "China (Hangzhou)", &["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"]),
    ("cn-shanghai", "China (Shanghai)", &["cn-shanghai-e", "cn-shanghai-f", "cn-shanghai-g"]),
    ("cn-beijing", "China (Beijing)", &["cn-beijing-g", "cn-beijing-h", "cn-beijing-i"]),
    ("ap-southeast-1", "Singapore", &["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"]),
];

/// The instance types offered: (InstanceType, vCPUs, memory MiB).
pub const INSTANCE_TYPES: &[(&str, u32, u32)] =
    &[("ecs.g7.large", 2, 8192), ("ecs.g7.xlarge", 4, 16384), ("ecs.c7.large", 2, 4096), ("ecs.r7.large", 2, 16384), ("ecs.t6-c1m1.large", 2, 2048)];

/// Whether `region` exists.
pub fn exists(region: &str) -> bool {
    REGIONS.iter().any(|r| r.0 == region)
}

/// The zones of a region (none for an unknown region).
pub fn zones(region: &str) -> &'static [&'static str] {
    REGIONS.iter().find(|r| r.0 == region).map_or(&[], |r| r.2)
}

/// `InvalidZoneId.NotFound` unless `zone` is a zone of the request's region.
pub fn check_zone<S: Store>(cx: &Cx<'_, S>, zone: &str) -> Result<()> {
    if !zones(&cx.region).contains(&zone) {
        return Err(Error::not_found("InvalidZoneId.NotFound", format!("The zone \"{zone}\" does not exist in region {}.", cx.region)));
    }
    Ok(())
}

pub async fn describe_regions<S: Store>(_cx: &mut Cx<'_, S>, _p: &Params) -> Result<Value> {
    let regions: Vec<Value> = REGIONS
        .iter()
        .map(|(id, name, _)| json!({"RegionId": id, "LocalName": name, "RegionEndpoint": format!("ecs.{id}.aliyuncs.com"), "Status": "available"}))
        .collect();
    Ok(json!({"Regions": {"Region": regions}}))
}

pub async fn describe_zones<S: Store>(cx: &mut Cx<'_, S>, _p: &Params) -> Result<Value> {
    let zones: Vec<Value> = zones(&cx.region)
        .iter()
        .map(|z| {
            let letter = z.rsplit('-').next().unwrap_or(z).trim_start_matches(|c: char| c.is_ascii_digit());
            json!({
                "ZoneId": z,
                "LocalName": format!("Zone {}", letter.to_uppercase()),
                "AvailableDiskCategories": {"DiskCategories": DiskCategory::NAMES},
                "AvailableInstanceTypes": {"InstanceTypes": INSTANCE_TYPES.iter().map(|t| t.0).collect::<Vec<_>>()},
            })
        })
        .collect();
    Ok(json!({"Zones": {"Zone": zones}}))
}
