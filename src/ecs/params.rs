//! Request parameters as ECS accepts them.
//!
//! Names are case-sensitive and spelled as ECS spells them. Values may be
//! strings, numbers or booleans (`"20"` = `20`, `"true"` = `true`); enum
//! values are case-insensitive. Nested JS values are flattened to ECS's dotted
//! form first: `{SystemDisk: {Size: 40}}` is `SystemDisk.Size`, `Tag: [{Key,
//! Value}]` is `Tag.1.Key` / `Tag.1.Value`, `SnapshotIds: ["s-1"]` is
//! `SnapshotIds.1`. List parameters also accept ECS's JSON-array strings
//! (`SnapshotIds='["s-…"]'`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::model::EcsEnum;
use crate::error::{Error, Result};

/// The flattened parameters of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(BTreeMap<String, Value>);

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::Array(a) if !prefix.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}.{}", i + 1), v, out);
            }
        }
        Value::Null => {}
        _ if !prefix.is_empty() => {
            out.insert(prefix.to_string(), v.clone());
        }
        _ => {}
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Params {
    /// Flattens a request's parameters (a JSON object, or nothing).
    pub fn from_value(v: &Value) -> Result<Self> {
        let mut out = BTreeMap::new();
        match v {
            Value::Null => {}
            Value::Object(_) => flatten("", v, &mut out),
            _ => return Err(Error::bad("InvalidParameter", "The request parameters must be an object.")),
        }
        Ok(Params(out))
    }

    /// A canonical text of the parameters (ClientToken compares these).
    pub fn fingerprint(&self, skip: &[&str]) -> String {
        self.0
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={}", scalar_string(v).unwrap_or_default().to_lowercase()))
            .collect::<Vec<_>>()
            .join("&")
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name) || self.0.keys().any(|k| k.starts_with(&format!("{name}.")))
    }

    /// A string parameter; an empty string counts as absent.
    pub fn str(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(scalar_string).filter(|s| !s.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String> {
        self.str(name).ok_or_else(|| Error::missing(name))
    }

    /// An integer parameter; `code` names the error for a malformed value.
    pub fn int(&self, name: &str, code: &str) -> Result<Option<i64>> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
            Some(v) => match scalar_string(v).map(|s| s.trim().to_string()) {
                Some(s) if s.is_empty() => Ok(None),
                Some(s) => s.parse::<i64>().map(Some).map_err(|_| Error::bad(code, format!("The specified parameter \"{name}\" is not a whole number: {s}"))),
                None => Err(Error::bad(code, format!("The specified parameter \"{name}\" is not a whole number."))),
            },
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => match scalar_string(v).map(|s| s.to_ascii_lowercase()).as_deref() {
                Some("true") => Ok(Some(true)),
                Some("false") => Ok(Some(false)),
                Some("") => Ok(None),
                _ => Err(Error::invalid(name, "expected true or false")),
            },
        }
    }

    /// An enum parameter: matched case-insensitively, returned as spelled in `allowed`.
    pub fn enumerated(&self, name: &str, allowed: &[&'static str]) -> Result<Option<&'static str>> {
        let Some(v) = self.str(name) else { return Ok(None) };
        allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(&v))
            .copied()
            .map(Some)
            .ok_or_else(|| Error::invalid(name, format!("\"{v}\" is not one of {}", allowed.join(", "))))
    }

    /// An enum parameter of type `E` (case-insensitive).
    pub fn one_of<E: EcsEnum>(&self, name: &str) -> Result<Option<E>> {
        Ok(self.enumerated(name, E::names())?.and_then(E::parse))
    }

    /// A filter on an enum: `E`'s values, or `all` (any case) for no filter.
    pub fn filter<E: EcsEnum>(&self, name: &str) -> Result<Option<E>> {
        match self.str(name) {
            Some(v) if v.eq_ignore_ascii_case("all") => Ok(None),
            _ => self.one_of(name),
        }
    }

    /// A list: a JSON-array string, a real array (flattened to `Name.N`), or `Name.N` keys.
    pub fn list(&self, name: &str) -> Result<Vec<String>> {
        if let Some(v) = self.0.get(name) {
            let s = scalar_string(v).unwrap_or_default();
            let t = s.trim();
            if t.is_empty() {
                return Ok(Vec::new());
            }
            if t.starts_with('[') {
                let parsed: Value = serde_json::from_str(t).map_err(|_| Error::invalid(name, "expected a JSON array such as [\"id1\",\"id2\"]"))?;
                let Value::Array(a) = parsed else { unreachable!() };
                return a.iter().map(|v| scalar_string(v).ok_or_else(|| Error::invalid(name, "expected strings"))).collect();
            }
            return Ok(vec![t.to_string()]);
        }
        Ok(self.numbered(name).into_values().filter_map(|sub| sub.get("").cloned()).collect())
    }

    /// A list that ECS takes as a JSON-array string (`SnapshotIds`,
    /// `DiskIds`, `InstanceIds`): such a string, or a real array.
    pub fn json_list(&self, name: &str) -> Result<Vec<String>> {
        if let Some(v) = self.0.get(name) {
            let s = scalar_string(v).unwrap_or_default();
            if !s.trim().is_empty() && !s.trim().starts_with('[') {
                return Err(Error::invalid(name, "expected a JSON array such as [\"id1\",\"id2\"]"));
            }
        }
        self.list(name)
    }

    /// `Name.N.Field` (and `Name.N`) groups, by N ascending: N -> (Field -> value; "" for `Name.N`).
    pub fn numbered(&self, name: &str) -> BTreeMap<u32, BTreeMap<String, String>> {
        let mut out: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        let prefix = format!("{name}.");
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix(&prefix) else { continue };
            let (n, field) = match rest.split_once('.') {
                Some((n, f)) => (n, f.to_string()),
                None => (rest, String::new()),
            };
            if let (Ok(n), Some(v)) = (n.parse::<u32>(), scalar_string(v)) {
                out.entry(n).or_default().insert(field, v);
            }
        }
        out
    }

    /// Tags from `Tag.N.Key`/`Tag.N.Value` or `Tag: [{Key, Value}]`, checked as ECS checks them.
    pub fn tags(&self) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (n, t) in self.numbered("Tag") {
            let key = t.get("Key").cloned().unwrap_or_default();
            let value = t.get("Value").cloned().unwrap_or_default();
            if key.is_empty() {
                if value.is_empty() {
                    continue;
                }
                return Err(Error::bad("InvalidTagKey.Malformed", format!("Tag.{n}.Key is empty.")));
            }
            check_tag_key(&key)?;
            if value.chars().count() > 128 || value.starts_with("http://") || value.starts_with("https://") {
                return Err(Error::bad("InvalidTagValue.Malformed", format!("Tag.{n}.Value has more than 128 characters or starts with http:// or https://.")));
            }
            if out.iter().any(|(k, _)| *k == key) {
                return Err(Error::bad("Duplicate.TagKey", format!("The tag key \"{key}\" is given more than once.")));
            }
            out.push((key, value));
        }
        Ok(out)
    }

    /// Paging: (PageNumber from 1, PageSize 1..=100, default 10).
    pub fn paging(&self) -> Result<(usize, usize)> {
        let page = self.int("PageNumber", "InvalidParameter")?.unwrap_or(1);
        let size = self.int("PageSize", "InvalidParameter")?.unwrap_or(10);
        if page < 1 {
            return Err(Error::invalid("PageNumber", "it starts at 1"));
        }
        if !(1..=100).contains(&size) {
            return Err(Error::invalid("PageSize", "it is 1 to 100"));
        }
        Ok((page as usize, size as usize))
    }
}

/// Sorts newest first (ECS lists) by `key` (creation time, then sequence),
/// stable. The sort itself is one non-generic function over (key, index)
/// pairs: a generic sort is monomorphised per record type, and six of them
/// weighed about 25 KB of the release wasm.
pub fn newest_first<T>(items: &mut Vec<T>, key: impl Fn(&T) -> (u64, u64)) {
    let mut order: Vec<((u64, u64), usize)> = items.iter().enumerate().map(|(i, x)| (key(x), i)).collect();
    sort_newest_first(&mut order);
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.into_iter().filter_map(|(_, i)| slots[i].take()));
}

fn sort_newest_first(order: &mut [((u64, u64), usize)]) {
    order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
}

/// One page of `items` as `paging` asks: (TotalCount, PageNumber, PageSize, the page).
pub fn page<T>(items: Vec<T>, p: &Params) -> Result<(usize, usize, usize, Vec<T>)> {
    let (number, size) = p.paging()?;
    let total = items.len();
    let items = items.into_iter().skip((number - 1).saturating_mul(size)).take(size).collect();
    Ok((total, number, size, items))
}

/// Whether `tags` has every wanted (key, value); an empty wanted value matches any value.
pub fn has_tags(tags: &[(String, String)], wanted: &[(String, String)]) -> bool {
    wanted.iter().all(|(k, v)| tags.iter().any(|(tk, tv)| tk == k && (v.is_empty() || tv == v)))
}

/// ECS's tag list shape.
pub fn tags_json(tags: &[(String, String)]) -> serde_json::Value {
    serde_json::json!({ "Tag": tags.iter().map(|(k, v)| serde_json::json!({"TagKey": k, "TagValue": v})).collect::<Vec<_>>() })
}

/// The tag quota (20 a resource), checked with the other quotas, last.
pub fn tag_quota(tags: &[(String, String)]) -> Result<()> {
    if tags.len() > 20 {
        return Err(Error::forbidden("QuotaExceed.Tags", "A resource can have at most 20 tags."));
    }
    Ok(())
}

pub fn check_tag_key(key: &str) -> Result<()> {
    let lower = key.to_ascii_lowercase();
    if key.chars().count() > 128 || lower.starts_with("acs:") || lower.starts_with("aliyun") || lower.starts_with("http://") || lower.starts_with("https://") {
        return Err(Error::bad(
            "InvalidTagKey.Malformed",
            format!("The tag key \"{key}\" has more than 128 characters or starts with acs:, aliyun, http:// or https://."),
        ));
    }
    Ok(())
}

/// ECS names (snapshots, disks, instances, images): 2-128 characters, starting
/// with a letter (any script), not with http:// or https://; letters, digits,
/// `:` `_` `.` `-`. `reserved` lists forbidden prefixes (such as `auto`).
pub fn check_name(value: &str, code: &str, what: &str, reserved: &[&str]) -> Result<()> {
    let n = value.chars().count();
    let first_ok = value.chars().next().is_some_and(|c| c.is_alphabetic());
    let chars_ok = value.chars().all(|c| c.is_alphanumeric() || matches!(c, ':' | '_' | '.' | '-'));
    let lower = value.to_lowercase();
    let reserved_hit = reserved.iter().find(|p| lower.starts_with(*p));
    if !(2..=128).contains(&n) || !first_ok || !chars_ok || lower.starts_with("http://") || lower.starts_with("https://") || reserved_hit.is_some() {
        let extra = reserved_hit.map(|p| format!(" It must not start with \"{p}\".")).unwrap_or_default();
        return Err(Error::bad(
            code,
            format!("The {what} \"{value}\" is malformed: it has 2 to 128 characters, starts with a letter, does not start with http:// or https://, and holds only letters, digits, colons (:), underscores (_), periods (.) and hyphens (-).{extra}"),
        ));
    }
    Ok(())
}

/// Descriptions: 2-256 characters, not starting with http:// or https://.
pub fn check_description(value: &str) -> Result<()> {
    let n = value.chars().count();
    if !(2..=256).contains(&n) || value.starts_with("http://") || value.starts_with("https://") {
        return Err(Error::bad("InvalidDescription.Malformed", "The description has 2 to 256 characters and does not start with http:// or https://."));
    }
    Ok(())
}

#[cfg(test)]
mod sort_tests {
    use super::newest_first;

    #[test]
    fn newest_first_is_a_stable_descending_sort() {
        let mut v = vec![(1, 'a'), (3, 'b'), (2, 'c'), (3, 'd'), (1, 'e')];
        newest_first(&mut v, |x| (x.0, 0));
        assert_eq!(v, [(3, 'b'), (3, 'd'), (2, 'c'), (1, 'a'), (1, 'e')]);
        let mut w: Vec<(u64, u64)> = vec![(5, 1), (5, 2), (7, 0)];
        newest_first(&mut w, |x| *x);
        assert_eq!(w, [(7, 0), (5, 2), (5, 1)]);
    }
}
