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
        Error { code: code.to_string(), message: message.into(), http_status }
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
        Self::new(503, "ServiceUnavailable.DatabaseClosed", message)
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
            ),
            EngineError::Store(StoreError::VersionChanged) => Error::closed("The database was upgraded or deleted by another tab; reload this page."),
            EngineError::OutOfRange { offset, len, size } => {
                Error::invalid("Offset", format!("the range {offset}+{len} is outside the disk's {size} bytes"))
            }
            // Named with its KMS key by the ECS layer (`kms::data_key_locked`).
            EngineError::KeyUnavailable(dk) => Error::forbidden("InvalidKMSKeyId.Locked", format!("data key {dk}")),
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
        Self::new(503, PENDING, "The data is in object storage and is being moved: retry.")
    }
    pub fn is_pending(&self) -> bool {
        self.code == PENDING
    }
}
