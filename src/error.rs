//! The one error of rowsnap's layers above the engine: a Code, a Message and
//! an HTTP status, as the ECS and OSS APIs return them. `window.ecs` and
//! `window.oss` turn it into a JS `Error` with `Code`, `Message`,
//! `HttpStatus` (and `RequestId`).
//!
//! The engine keeps its own [`EngineError`]; `From<EngineError>` gives the
//! codes a caller can act on (storage full, database closed) and
//! `InternalError` for the rest.

use std::fmt;

use crate::engine::{EngineError, StoreError};

/// An ECS or OSS API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: String,
    pub message: String,
    pub http_status: u16,
    /// What a caller can do about it, beside the code meant for people and
    /// ECS clients: callers match on this, never on `code` or `message`.
    pub kind: ErrorKind,
}

/// What kind of failure an [`Error`] is, for the code that reacts to it (the
/// pause of a machine on a failed read or write, the retry of work that
/// needs remote objects, the guest writes kept queued when storage is full).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// The request itself is refused (a parameter, a state, a quota of the
    /// API): asking again the same way gets the same answer.
    #[default]
    Refused,
    /// The work needs objects moved from or to a remote store first: its
    /// transaction was dropped, and it runs again once they are moved.
    Pending,
    /// The browser's storage for the site is full: nothing was written.
    QuotaExceeded,
    /// Data under a locked KMS key: the engine's data key, and the KMS key
    /// that unlocks it once the ECS layer has named it.
    KeyLocked { data_key: u64, key_id: Option<String> },
    /// This tab no longer holds the database (another tab upgraded,
    /// deleted or took it).
    Closed,
    /// The store failed (an aborted commit, a closing connection, a bug):
    /// nothing of the request was written.
    Io,
}

impl ErrorKind {
    /// The kind's name as `window.ecs` errors carry it (`Kind`).
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::Refused => "Refused",
            ErrorKind::Pending => "Pending",
            ErrorKind::QuotaExceeded => "QuotaExceeded",
            ErrorKind::KeyLocked { .. } => "KeyLocked",
            ErrorKind::Closed => "Closed",
            ErrorKind::Io => "Io",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.http_status, self.message)
    }
}

impl std::error::Error for Error {}

/// A part of the release bundle (a page, `crate::s3::client::open`) that could
/// not be fetched; asking again fetches it again.
#[cfg(all(target_arch = "wasm32", feature = "split"))]
impl From<wasm_split_helpers::SplitLoaderError> for Error {
    fn from(_: wasm_split_helpers::SplitLoaderError) -> Self {
        Error::new(503, "ServiceUnavailable.ConsolePart", "A part of the console could not be fetched from its server (is it reachable?); try again.")
    }
}

impl Error {
    pub fn new(http_status: u16, code: &str, message: impl Into<String>) -> Self {
        Error { code: code.to_string(), message: message.into(), http_status, kind: ErrorKind::Refused }
    }
    /// The same error, of kind `kind`.
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }
    /// 400: a parameter is wrong.
    pub fn bad(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }
    /// 404: a resource does not exist.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }
    /// 403: a state, permission or quota refuses the action.
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(403, code, message)
    }
    /// 500: a bug or damaged data (a record that does not parse, ...).
    pub fn internal(message: impl fmt::Display) -> Self {
        Self::new(500, "InternalError", message.to_string())
    }
    /// 503: this tab no longer holds the database.
    pub fn closed(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable.DatabaseClosed", message).with_kind(ErrorKind::Closed)
    }
    pub fn missing(name: &str) -> Self {
        Self::bad("MissingParameter", format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."))
    }
    pub fn invalid(name: &str, why: impl fmt::Display) -> Self {
        Self::bad("InvalidParameter", format!("The specified parameter \"{name}\" is not valid: {why}"))
    }
    /// OSS: 404 NoSuchBucket.
    pub fn no_bucket(b: &str) -> Self {
        Self::not_found("NoSuchBucket", format!("The bucket \"{b}\" does not exist."))
    }
    /// OSS: 404 NoSuchKey.
    pub fn no_key(b: &str, k: &str) -> Self {
        Self::not_found("NoSuchKey", format!("The object \"{k}\" does not exist in bucket \"{b}\"."))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::from(EngineError::Store(e))
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(StoreError::QuotaExceeded) => Error::new(
                507,
                "StorageQuotaExceeded",
                "The browser's storage quota for this site is exhausted. Nothing of this request was written; delete snapshots or disks, or allow more storage.",
            )
            .with_kind(ErrorKind::QuotaExceeded),
            EngineError::Store(StoreError::VersionChanged) => Error::closed("The database was upgraded or deleted by another tab; reload this page."),
            e @ EngineError::Store(_) => Error::internal(e).with_kind(ErrorKind::Io),
            EngineError::OutOfRange { offset, len, size } => {
                Error::invalid("Offset", format!("the range {offset}+{len} is outside the disk's {size} bytes"))
            }
            // Named with its KMS key by the ECS layer (`kms::data_key_locked`).
            EngineError::KeyUnavailable(dk) => {
                Error::forbidden("InvalidKMSKeyId.Locked", format!("data key {dk}")).with_kind(ErrorKind::KeyLocked { data_key: dk, key_id: None })
            }
            e @ EngineError::Tampered { .. } => Error::new(500, "InvalidDiskData.AuthenticationFailed", format!("{e}. The stored copy of this encrypted data was damaged.")),
            other => Error::internal(other),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::internal(e)
    }
}

/// The code of [`Error::pending`].
pub const PENDING: &str = "InvalidObjectStorage.Pending";

impl Error {
    /// A transaction needs objects of a remote store that are not here yet
    /// (or wrote objects not yet stored there): its work is dropped, the
    /// objects are moved outside any transaction, and the work runs again.
    pub fn pending() -> Self {
        Self::new(503, PENDING, "The data is in object storage and is being moved: retry.").with_kind(ErrorKind::Pending)
    }
    pub fn is_pending(&self) -> bool {
        self.kind == ErrorKind::Pending
    }
}
