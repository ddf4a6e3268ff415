//! ECS errors: a Code, a Message and an HTTP status, as the ECS API returns them.

use std::fmt;

use crate::engine::{EngineError, StoreError};

/// An ECS API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsError {
    pub code: String,
    pub message: String,
    pub http_status: u16,
}

impl fmt::Display for EcsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.http_status, self.message)
    }
}

impl std::error::Error for EcsError {}

impl EcsError {
    pub fn new(http_status: u16, code: &str, message: impl Into<String>) -> Self {
        EcsError { code: code.to_string(), message: message.into(), http_status }
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
    pub fn missing(name: &str) -> Self {
        Self::bad("MissingParameter", format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."))
    }
    pub fn invalid(name: &str, why: impl fmt::Display) -> Self {
        Self::bad("InvalidParameter", format!("The specified parameter \"{name}\" is not valid: {why}"))
    }
}

impl From<EngineError> for EcsError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(StoreError::QuotaExceeded) => EcsError::new(
                507,
                "StorageQuotaExceeded",
                "The browser's storage quota for this site is exhausted. Nothing of this request was written; delete snapshots or disks, or allow more storage.",
            ),
            EngineError::Store(StoreError::VersionChanged) => EcsError::new(
                503,
                "ServiceUnavailable.DatabaseClosed",
                "The database was upgraded or deleted by another tab; reload this page.",
            ),
            EngineError::OutOfRange { offset, len, size } => EcsError::invalid(
                "Offset",
                format!("the range {offset}+{len} is outside the disk's {size} bytes"),
            ),
            other => EcsError::new(500, "InternalError", other.to_string()),
        }
    }
}
