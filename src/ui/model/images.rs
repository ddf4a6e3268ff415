//! The Create Custom Image dialog's form (snapshots as an image's disks),
//! and the Import Image and Export Image dialogs' forms (objects of the
//! embedded OSS in and out).

use serde_json::{json, Value};

use super::dialogs::Input;
use super::rows::SnapshotRow;

/// Create Custom Image from snapshots: a system-disk snapshot and any
/// data-disk snapshots (the only way a local snapshot makes an image, seed
/// 000), sent as DiskDeviceMapping.N, the system disk first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageForm {
    pub name: String,
    /// The system-disk snapshot (empty: none chosen).
    pub system: String,
    /// The data-disk snapshots, in the order checked.
    pub data: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ImageAction {
    Name(String),
    System(String),
    /// A data-disk snapshot (un)checked.
    Data(String, bool),
}

impl ImageAction {
    /// The data-disk snapshots' checkboxes are named by their IDs.
    pub fn of(i: Input) -> Option<ImageAction> {
        Some(match i.label.as_str() {
            "Image Name" => ImageAction::Name(i.value),
            "System Disk Snapshot" => ImageAction::System(i.value),
            _ => ImageAction::Data(i.label, i.checked),
        })
    }
}

impl ImageForm {
    /// From a snapshot's row action: that snapshot as the system disk, or as a data disk.
    pub fn new(snap: &SnapshotRow) -> Self {
        let id = snap.snapshot_id.clone();
        let system = snap.source_disk_type == "system";
        ImageForm { name: String::new(), system: if system { id.clone() } else { String::new() }, data: if system { vec![] } else { vec![id] } }
    }

    pub fn reduce(mut self, action: ImageAction) -> Self {
        match action {
            ImageAction::Name(v) => self.name = v,
            ImageAction::System(v) => self.system = v,
            ImageAction::Data(id, on) => {
                self.data.retain(|x| *x != id);
                if on {
                    self.data.push(id);
                }
            }
        }
        self
    }

    /// CreateImage's parameters: DiskDeviceMapping.1 the system disk, then
    /// the data disks (without a system disk ECS refuses: OperationDenied).
    pub fn request(&self) -> Value {
        let mut params = json!({});
        let disks = (!self.system.is_empty()).then_some(&self.system).into_iter().chain(&self.data);
        for (n, id) in (1..).zip(disks) {
            params[format!("DiskDeviceMapping.{n}.SnapshotId")] = json!(id);
        }
        if !self.name.is_empty() {
            params["ImageName"] = json!(self.name);
        }
        params
    }
}

/// Import Image: a file of an OSS bucket as a custom image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportForm {
    pub name: String,
    pub bucket: String,
    pub object: String,
    /// QCOW2, RAW, or empty: detected from the file (a qcow2 starts with its magic).
    pub format: String,
    /// GiB, as typed; empty: the image's own size.
    pub size: String,
    pub os_type: String,
    pub platform: String,
    pub architecture: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ImportAction {
    Name(String),
    /// Also clears the object (it was of the other bucket).
    Bucket(String),
    /// Also guesses the format from the object's name.
    Object(String),
    Format(String),
    Size(String),
    OsType(String),
    Platform(String),
    Architecture(String),
}

impl ImportAction {
    pub fn of(i: Input) -> Option<ImportAction> {
        use ImportAction as A;
        let f = match i.label.as_str() {
            "Image Name" => A::Name,
            "OSS Bucket" => A::Bucket,
            "OSS Object" => A::Object,
            "Image Format" => A::Format,
            "Disk Image Size" => A::Size,
            "Operating System" => A::OsType,
            "Platform" => A::Platform,
            "Architecture" => A::Architecture,
            _ => return None,
        };
        Some(f(i.value))
    }
}

/// The format an object's name tells (`.raw`/`.img`, `.qcow2`), else empty (detect).
pub fn format_of(object: &str) -> &'static str {
    let lower = object.to_ascii_lowercase();
    if lower.ends_with(".raw") || lower.ends_with(".img") {
        "RAW"
    } else if lower.ends_with(".qcow2") {
        "QCOW2"
    } else {
        ""
    }
}

impl Default for ImportForm {
    fn default() -> Self {
        ImportForm {
            name: String::new(),
            bucket: String::new(),
            object: String::new(),
            format: String::new(),
            size: String::new(),
            os_type: "linux".into(),
            platform: "Ubuntu".into(),
            architecture: "x86_64".into(),
        }
    }
}

impl ImportForm {
    pub fn reduce(mut self, action: ImportAction) -> Self {
        use ImportAction as A;
        match action {
            A::Name(v) => self.name = v,
            A::Bucket(v) => (self.bucket, self.object) = (v, String::new()),
            A::Object(v) => (self.format, self.object) = (format_of(&v).into(), v),
            A::Format(v) => self.format = v,
            A::Size(v) => self.size = v,
            A::OsType(v) => self.os_type = v,
            A::Platform(v) => self.platform = v,
            A::Architecture(v) => self.architecture = v,
        }
        self
    }

    /// ImportImage's parameters.
    pub fn request(&self) -> Value {
        let mut params = json!({
            "OSType": self.os_type,
            "Platform": self.platform,
            "Architecture": self.architecture,
            "DiskDeviceMapping.1.OSSBucket": self.bucket,
            "DiskDeviceMapping.1.OSSObject": self.object,
        });
        if !self.format.is_empty() {
            params["DiskDeviceMapping.1.Format"] = json!(self.format);
        }
        if !self.name.is_empty() {
            params["ImageName"] = json!(self.name);
        }
        if !self.size.is_empty() {
            params["DiskDeviceMapping.1.DiskImageSize"] = json!(self.size);
        }
        params
    }
}

/// Export Image: a custom image's system disk to an OSS bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportForm {
    pub image_id: String,
    pub bucket: String,
    pub prefix: String,
    /// qcow2 or raw.
    pub format: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExportAction {
    Bucket(String),
    Prefix(String),
    Format(String),
}

impl ExportAction {
    pub fn of(i: Input) -> Option<ExportAction> {
        let f = match i.label.as_str() {
            "OSS Bucket" => ExportAction::Bucket,
            "OSS Prefix" => ExportAction::Prefix,
            "Image Format" => ExportAction::Format,
            _ => return None,
        };
        Some(f(i.value))
    }
}

impl ExportForm {
    pub fn new(image_id: &str) -> Self {
        ExportForm { image_id: image_id.into(), bucket: String::new(), prefix: "exports/".into(), format: "qcow2".into() }
    }

    pub fn reduce(mut self, action: ExportAction) -> Self {
        match action {
            ExportAction::Bucket(v) => self.bucket = v,
            ExportAction::Prefix(v) => self.prefix = v,
            ExportAction::Format(v) => self.format = v,
        }
        self
    }

    /// ExportImage's parameters.
    pub fn request(&self) -> Value {
        json!({"ImageId": self.image_id, "OSSBucket": self.bucket, "OSSPrefix": self.prefix, "ImageFormat": self.format})
    }
}

#[cfg(test)]
mod tests {
    use super::ImportAction as A;
    use super::*;

    fn snap(id: &str, disk_type: &str) -> SnapshotRow {
        SnapshotRow { snapshot_id: id.into(), source_disk_type: disk_type.into(), ..SnapshotRow::default() }
    }

    #[test]
    fn custom_image_maps_the_system_disk_first_then_the_data_disks() {
        let f = ImageForm::new(&snap("s-sys", "system"));
        assert_eq!(f.request(), json!({"DiskDeviceMapping.1.SnapshotId": "s-sys"}));
        // From the Images page: nothing chosen yet.
        assert_eq!(ImageForm::default().reduce(ImageAction::System("s-sys".into())), f);
        // From a data-disk (local) snapshot: a data disk, and a system disk is chosen for it.
        let f = ImageForm::new(&snap("s-data", "data"));
        assert_eq!((f.system.as_str(), f.data.clone()), ("", vec!["s-data".to_string()]));
        assert_eq!(f.request(), json!({"DiskDeviceMapping.1.SnapshotId": "s-data"}), "sent as it is: ECS says a system disk is missing");
        let inputs = [Input::text("System Disk Snapshot", "s-sys"), Input::check("s-more", true), Input::text("Image Name", "golden")];
        let f = inputs.into_iter().filter_map(ImageAction::of).fold(f, ImageForm::reduce);
        assert_eq!(
            f.request(),
            json!({"DiskDeviceMapping.1.SnapshotId": "s-sys", "DiskDeviceMapping.2.SnapshotId": "s-data",
                "DiskDeviceMapping.3.SnapshotId": "s-more", "ImageName": "golden"})
        );
        // Unchecked, a data disk leaves; checked twice, it is there once.
        let f = f.reduce(ImageAction::Data("s-data".into(), false)).reduce(ImageAction::Data("s-more".into(), true));
        assert_eq!(f.data, ["s-more"]);
        assert_eq!(f.request()["DiskDeviceMapping.2.SnapshotId"], "s-more");
        assert!(f.request().get("DiskDeviceMapping.3.SnapshotId").is_none());
    }

    #[test]
    fn import_asks_for_little_by_default() {
        let f = ImportForm::default().reduce(A::Bucket("b".into())).reduce(A::Object("disk.bin".into()));
        assert_eq!(
            f.request(),
            json!({"OSType": "linux", "Platform": "Ubuntu", "Architecture": "x86_64",
                "DiskDeviceMapping.1.OSSBucket": "b", "DiskDeviceMapping.1.OSSObject": "disk.bin"})
        );
    }

    #[test]
    fn the_objects_name_sets_the_format_until_one_is_chosen() {
        assert_eq!((format_of("a/B.QCOW2"), format_of("x.raw"), format_of("x.img"), format_of("x.vhd")), ("QCOW2", "RAW", "RAW", ""));
        let f = ImportForm::default().reduce(A::Bucket("b".into())).reduce(A::Object("u.qcow2".into()));
        assert_eq!(f.format, "QCOW2");
        let f = f.reduce(A::Format("RAW".into()));
        assert_eq!(f.request()["DiskDeviceMapping.1.Format"], "RAW");
        // Another object guesses again; another bucket clears the object.
        let f = f.reduce(A::Object("plain".into()));
        assert_eq!(f.format, "");
        let f = f.reduce(A::Bucket("c".into()));
        assert_eq!((f.bucket.as_str(), f.object.as_str()), ("c", ""));
    }

    #[test]
    fn import_sends_what_was_chosen() {
        let inputs = [
            ("Image Name", "mine"),
            ("OSS Bucket", "b"),
            ("OSS Object", "u.img"),
            ("Disk Image Size", "30"),
            ("Operating System", "windows"),
            ("Platform", "Windows Server 2022"),
            ("Architecture", "arm64"),
            ("Not a field", "x"),
        ];
        let f = inputs.iter().filter_map(|(l, v)| ImportAction::of(Input::text(l, v))).fold(ImportForm::default(), ImportForm::reduce);
        assert_eq!(
            f.request(),
            json!({"OSType": "windows", "Platform": "Windows Server 2022", "Architecture": "arm64",
                "DiskDeviceMapping.1.OSSBucket": "b", "DiskDeviceMapping.1.OSSObject": "u.img", "DiskDeviceMapping.1.Format": "RAW",
                "ImageName": "mine", "DiskDeviceMapping.1.DiskImageSize": "30"})
        );
    }

    #[test]
    fn export_defaults_to_qcow2_under_exports() {
        let f = ExportForm::new("m-1");
        assert_eq!(f.request(), json!({"ImageId": "m-1", "OSSBucket": "", "OSSPrefix": "exports/", "ImageFormat": "qcow2"}));
        let f = [("OSS Bucket", "b"), ("OSS Prefix", "out/"), ("Image Format", "raw")]
            .iter()
            .filter_map(|(l, v)| ExportAction::of(Input::text(l, v)))
            .fold(f, ExportForm::reduce);
        assert_eq!(f.request(), json!({"ImageId": "m-1", "OSSBucket": "b", "OSSPrefix": "out/", "ImageFormat": "raw"}));
    }
}
