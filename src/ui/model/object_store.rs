//! The Settings page's Object Storage section: the S3-compatible bucket
//! form, its requests (`TestObjectStore`, `SetObjectStore`: service
//! actions, `service::key_action`) and the status line of
//! `DescribeObjectStore`.

use serde_json::{json, Value};

use super::dialogs::Input;

#[derive(Clone, Debug, PartialEq)]
pub struct ObjectStoreForm {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub path_style: bool,
    pub key_id: String,
    pub secret: String,
    pub token: String,
    pub remember: bool,
}

impl Default for ObjectStoreForm {
    fn default() -> Self {
        ObjectStoreForm {
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: String::new(),
            // Most self-hosted servers (SeaweedFS, MinIO) want path style; OSS and AWS take both.
            path_style: true,
            key_id: String::new(),
            secret: String::new(),
            token: String::new(),
            remember: false,
        }
    }
}

/// A field changed: (its label, what it holds).
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectStoreAction(pub Input);

impl ObjectStoreAction {
    pub fn of(i: Input) -> Option<ObjectStoreAction> {
        const LABELS: [&str; 8] = [
            "Endpoint URL",
            "S3 Region",
            "Bucket Name",
            "Path-style addressing",
            "Access Key ID",
            "Access Key Secret",
            "Security Token",
            "Remember on this device",
        ];
        LABELS.contains(&i.label.as_str()).then_some(ObjectStoreAction(i))
    }
}

impl ObjectStoreForm {
    pub fn reduce(mut self, ObjectStoreAction(i): ObjectStoreAction) -> Self {
        let v = i.value.trim().to_string();
        match i.label.as_str() {
            "Endpoint URL" => self.endpoint = v,
            "S3 Region" => self.region = v,
            "Bucket Name" => self.bucket = v,
            "Path-style addressing" => self.path_style = i.checked,
            "Access Key ID" => self.key_id = v,
            "Access Key Secret" => self.secret = i.value,
            "Security Token" => self.token = v,
            _ => self.remember = i.checked,
        }
        self
    }

    /// Why the form cannot be sent yet (None: it can).
    pub fn problem(&self) -> Option<&'static str> {
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            Some("Give the endpoint's URL (http:// or https://).")
        } else if self.bucket.is_empty() {
            Some("Give the bucket's name (make the bucket and its CORS rule outside rowsnap).")
        } else if self.key_id.is_empty() || self.secret.is_empty() {
            Some("Give the access key ID and secret.")
        } else {
            None
        }
    }

    /// The configuration `TestObjectStore` and `SetObjectStore` take.
    pub fn request(&self) -> Value {
        let mut v = json!({"Endpoint": self.endpoint, "Region": self.region, "Bucket": self.bucket, "PathStyle": self.path_style,
            "AccessKeyId": self.key_id, "AccessKeySecret": self.secret, "Remember": self.remember});
        if !self.token.is_empty() {
            v["SecurityToken"] = json!(self.token);
        }
        v
    }
}

/// The status line of `DescribeObjectStore`.
pub fn status_line(v: &Value) -> String {
    if v["Connected"] != true {
        return "Normal snapshots are kept in the embedded object storage (this browser's IndexedDB): clearing the browser's data deletes them.".into();
    }
    let mut s = format!(
        "Normal snapshots are uploaded to the bucket {} at {} (under {}){}.",
        v["Bucket"].as_str().unwrap_or_default(),
        v["Endpoint"].as_str().unwrap_or_default(),
        v["Prefix"].as_str().unwrap_or_default(),
        if v["Remembered"] == true { "; the credentials are remembered on this device" } else { "; the credentials are kept only until this tab closes" }
    );
    if let Some(e) = v["LastError"].as_str() {
        s.push_str(&format!(" Uploads wait: {e}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_checks_and_builds_its_request() {
        let f = [
            "Endpoint URL=http://127.0.0.1:8333 ",
            "Bucket Name=snaps",
            "Access Key ID=AK",
            "Access Key Secret= s e c ",
            "Security Token=",
            "Days to advance=3",
        ]
        .iter()
        .map(|a| a.split_once('=').unwrap())
        .filter_map(|(l, v)| ObjectStoreAction::of(Input::text(l, v)))
        .fold(ObjectStoreForm::default(), ObjectStoreForm::reduce);
        assert_eq!(f.problem(), None);
        assert_eq!(
            f.request(),
            json!({"Endpoint": "http://127.0.0.1:8333", "Region": "us-east-1", "Bucket": "snaps", "PathStyle": true, "AccessKeyId": "AK", "AccessKeySecret": " s e c ", "Remember": false})
        );
        let f =
            f.reduce(ObjectStoreAction(Input::check("Remember on this device", true))).reduce(ObjectStoreAction(Input::check("Path-style addressing", false)));
        assert_eq!((f.request()["Remember"].as_bool(), f.request()["PathStyle"].as_bool()), (Some(true), Some(false)));
        let f = f.reduce(ObjectStoreAction(Input::text("Security Token", "tok")));
        assert_eq!(f.request()["SecurityToken"], "tok");
        assert_eq!(ObjectStoreForm::default().problem(), Some("Give the endpoint's URL (http:// or https://)."));
    }

    #[test]
    fn the_status_says_where_snapshots_go() {
        assert!(status_line(&json!({"Connected": false})).contains("embedded"));
        let s = status_line(
            &json!({"Connected": true, "Bucket": "b", "Endpoint": "http://e", "Prefix": "rowsnap/x/", "Remembered": false, "LastError": "InvalidObjectStorage.Unreachable: down"}),
        );
        assert_eq!(s, "Normal snapshots are uploaded to the bucket b at http://e (under rowsnap/x/); the credentials are kept only until this tab closes. Uploads wait: InvalidObjectStorage.Unreachable: down");
    }
}
