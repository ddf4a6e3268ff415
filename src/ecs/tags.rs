//! Tags: TagResources, UntagResources, ListTagResources over every taggable
//! record (instances, disks, snapshots, images, snapshot-consistent groups).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::cx::Cx;
use super::model::{keys, ResourceType};
use super::params::{check_tag_key, has_tags, Params};
use crate::engine::Store;
use crate::error::{Error, Result};

fn tag_key(region: &str, kind: ResourceType, id: &str) -> String {
    match kind {
        ResourceType::Instance => keys::instance(id),
        ResourceType::Disk => keys::disk(id),
        ResourceType::Snapshot => keys::snapshot(id),
        ResourceType::Image => keys::image(region, id),
        ResourceType::SnapshotGroup => keys::group(id),
    }
}

fn resource_type(p: &Params) -> Result<ResourceType> {
    p.one_of("ResourceType")?.ok_or_else(|| Error::missing("ResourceType"))
}

/// Loads a taggable record as JSON, applies `f` to its tags, and saves it.
async fn with_tags<S: Store>(cx: &mut Cx<'_, S>, kind: ResourceType, id: &str, f: impl FnOnce(&mut Vec<(String, String)>) -> Result<()>) -> Result<()> {
    let key = tag_key(&cx.region, kind, id);
    let mut v: Value = cx.load(&key).await?.ok_or_else(|| {
        let code = match kind {
            ResourceType::Instance => "InvalidInstanceId.NotFound",
            ResourceType::Disk => "InvalidDiskId.NotFound",
            ResourceType::Snapshot => "InvalidSnapshotId.NotFound",
            ResourceType::Image => "InvalidImageId.NotFound",
            ResourceType::SnapshotGroup => "InvalidResourceId.NotFound",
        };
        Error::not_found(code, format!("The {kind} \"{id}\" does not exist."))
    })?;
    let mut tags: Vec<(String, String)> = serde_json::from_value(v["tags"].clone()).unwrap_or_default();
    f(&mut tags)?;
    v["tags"] = serde_json::to_value(&tags)?;
    cx.save(&key, &v);
    Ok(())
}

pub async fn tag_resources<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let kind = resource_type(p)?;
    let ids = p.list("ResourceId")?;
    if ids.is_empty() {
        return Err(Error::missing("ResourceId.1"));
    }
    let tags = p.tags()?;
    if tags.is_empty() {
        return Err(Error::missing("Tag.1.Key"));
    }
    for id in &ids {
        let tags = tags.clone();
        with_tags(cx, kind, id, move |have| {
            for (k, v) in tags {
                match have.iter_mut().find(|(hk, _)| *hk == k) {
                    Some(t) => t.1 = v,
                    None => have.push((k, v)),
                }
            }
            if have.len() > 20 {
                return Err(Error::forbidden("QuotaExceed.Tags", "A resource can have at most 20 tags."));
            }
            Ok(())
        })
        .await?;
    }
    Ok(json!({}))
}

pub async fn untag_resources<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let kind = resource_type(p)?;
    let ids = p.list("ResourceId")?;
    if ids.is_empty() {
        return Err(Error::missing("ResourceId.1"));
    }
    let keys = p.list("TagKey")?;
    for k in &keys {
        check_tag_key(k)?;
    }
    let all = p.bool("All")?.unwrap_or(false);
    for id in &ids {
        let keys = keys.clone();
        with_tags(cx, kind, id, move |have| {
            have.retain(|(k, _)| !(all || keys.contains(k)));
            Ok(())
        })
        .await?;
    }
    Ok(json!({}))
}

pub async fn list_tag_resources<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let kind = resource_type(p)?;
    let ids = p.list("ResourceId")?;
    let filter = p.tags()?;
    let prefix = match kind {
        ResourceType::Instance => keys::INSTANCES.to_string(),
        ResourceType::Disk => keys::DISKS.to_string(),
        ResourceType::Snapshot => keys::SNAPSHOTS.to_string(),
        ResourceType::Image => keys::images(&cx.region),
        ResourceType::SnapshotGroup => keys::GROUPS.to_string(),
    };
    let records: Vec<Value> = cx.scan(&prefix).await?;
    let mut out = Vec::new();
    let mut by_id: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for r in records {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        if r["region"].as_str() != Some(cx.region.as_str()) || (!ids.is_empty() && !ids.contains(&id)) {
            continue;
        }
        let tags: Vec<(String, String)> = serde_json::from_value(r["tags"].clone()).unwrap_or_default();
        if !filter.is_empty() && !has_tags(&tags, &filter) {
            continue;
        }
        by_id.insert(id, tags);
    }
    for (id, tags) in by_id {
        for (k, v) in tags {
            out.push(json!({"ResourceId": id, "ResourceType": kind, "TagKey": k, "TagValue": v}));
        }
    }
    Ok(json!({"NextToken": "", "TagResources": {"TagResource": out}}))
}
