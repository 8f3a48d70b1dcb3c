//! Identifiers: instance ids (caller-supplied or ULID), run ids and the ULIDs of every row.
//!
//! Rules from the seed (reference §2.3): a caller-supplied instance id is 1–191 characters of
//! `[A-Za-z0-9._:-]`; generated instance ids and run ids are 26-character ULIDs.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// `workflow_id_kind` in `list_workflows`: what a `workflow_id` names.
pub const WORKFLOW_ID_KIND: &str = "workflow_instance_id";
/// `run_id_kind` in `list_workflows`: what a `run_id` names.
pub const RUN_ID_KIND: &str = "workflow_run_id";

/// The longest caller-supplied instance id, in characters (the seed's 191).
pub const MAX_INSTANCE_ID_LEN: usize = 191;

/// An id that did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// An instance id outside `[A-Za-z0-9._:-]{1,191}`.
    #[error("instance_id must be 1-191 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'")]
    InvalidInstanceId,
    /// A run id that is not a 26-character ULID.
    #[error("run_id must be a 26-character ULID")]
    InvalidRunId,
}

/// A workflow instance id (`workflow_id`): the stable public handle of a workflow, unique per
/// namespace and kept across continue-as-new.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(String);

impl InstanceId {
    /// Accepts a caller-supplied id.
    ///
    /// # Errors
    /// [`IdError::InvalidInstanceId`] unless `raw` is 1–191 characters of `[A-Za-z0-9._:-]`.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_INSTANCE_ID_LEN
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if valid { Ok(Self(raw.to_owned())) } else { Err(IdError::InvalidInstanceId) }
    }

    /// A generated id: a fresh ULID at `now`.
    pub fn generate(now: Timestamp) -> Self {
        Self(ulid(now))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A run id (`run_id`): one execution generation of an instance, a 26-character ULID.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// Accepts a stored or client-supplied run id.
    ///
    /// # Errors
    /// [`IdError::InvalidRunId`] unless `raw` is a ULID.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        ulid::Ulid::from_string(raw).map(|_| Self(raw.to_owned())).map_err(|_| IdError::InvalidRunId)
    }

    /// A fresh run id at `now`.
    pub fn generate(now: Timestamp) -> Self {
        Self(ulid(now))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A 64-bit seed derived from the id, for the run's deterministic random numbers.
    pub(crate) fn seed(&self) -> u64 {
        // FNV-1a: stable across processes and versions, unlike `DefaultHasher`.
        self.0.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    }
}

/// The tenant a workflow belongs to (in Waymark, the workspace id). Every query is scoped by
/// it; one namespace never sees another's workflows.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Namespace(String);

impl Namespace {
    /// A namespace named `name` (opaque to the engine).
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! display_as_str {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
display_as_str!(InstanceId, RunId, Namespace);

static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());

/// A new ULID string at `now`, greater than every ULID this process minted before, so rows
/// ordered by id are ordered by time even under a virtual clock.
pub fn ulid(now: Timestamp) -> String {
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(millis);
    let mut generator = GENERATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match generator.generate_from_datetime(at) {
        Ok(id) => id.to_string(),
        // The random part overflowed within one millisecond (2^80 ids): fall back to a fresh one.
        Err(_) => ulid::Ulid::from_datetime(at).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_follow_the_seed_rule() {
        assert!(InstanceId::parse("order-42:retry_1.a").is_ok());
        assert!(InstanceId::parse(&"a".repeat(191)).is_ok());
        assert_eq!(InstanceId::parse(&"a".repeat(192)), Err(IdError::InvalidInstanceId));
        assert_eq!(InstanceId::parse(""), Err(IdError::InvalidInstanceId));
        assert_eq!(InstanceId::parse("has space"), Err(IdError::InvalidInstanceId));
        assert_eq!(InstanceId::parse("slash/no"), Err(IdError::InvalidInstanceId));
        assert_eq!(InstanceId::parse("é"), Err(IdError::InvalidInstanceId));
    }

    #[test]
    fn run_ids_are_ulids() {
        let now = chrono::Utc::now();
        let id = RunId::generate(now);
        assert_eq!(id.as_str().len(), 26);
        assert_eq!(RunId::parse(id.as_str()), Ok(id));
        assert_eq!(RunId::parse("not-a-ulid"), Err(IdError::InvalidRunId));
    }
}
