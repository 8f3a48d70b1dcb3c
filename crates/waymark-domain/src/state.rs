//! Workspace state: named values an agent keeps with a plan, upserted on (plan, key).

use std::fmt;

use crate::status::StatusTable;
use crate::{DomainError, JsonText, PlanId, Timestamp};

/// A state key: 1–128 characters of `[A-Za-z0-9_.:-]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateKey(String);

impl StateKey {
    /// Accepts a client key.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] naming the rule.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::Invalid {
                field: "key",
                message: "key must be 1-128 characters of letters, digits, '_', '.', ':' and '-'".into(),
            })
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a state value holds (the original's `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateType {
    /// Any JSON (the default).
    Json,
    /// Markdown text.
    Markdown,
    /// Source code.
    Code,
    /// A pointer elsewhere (a URL, a path, an id).
    Reference,
}

impl StatusTable for StateType {
    const ENTITY: &'static str = "type";
    const ALL: &'static [Self] = &[Self::Json, Self::Markdown, Self::Code, Self::Reference];

    fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Markdown => "markdown",
            Self::Code => "code",
            Self::Reference => "reference",
        }
    }

    fn allowed_targets(self) -> &'static [Self] {
        &[]
    }
}

/// The category a value lands in when none is given.
pub const DEFAULT_CATEGORY: &str = "general";

/// Checks a category: 1–64 characters of `[A-Za-z0-9_.:-]`.
///
/// # Errors
/// [`DomainError::Invalid`].
pub fn check_category(raw: &str) -> Result<(), DomainError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::Invalid {
            field: "category",
            message: "category must be 1-64 characters of letters, digits, '_', '.', ':' and '-'".into(),
        })
    }
}

/// One stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateEntry {
    /// The plan it belongs to (tenancy goes through the plan).
    pub plan_id: PlanId,
    /// Key, unique within the plan.
    pub key: StateKey,
    /// The JSON value (never null).
    pub value: JsonText,
    /// What it holds.
    pub kind: StateType,
    /// Optional description.
    pub description: Option<String>,
    /// Grouping for `state_list`.
    pub category: String,
    /// First written.
    pub created_at: Timestamp,
    /// Last written.
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::{StateKey, check_category};

    #[test]
    fn keys_and_categories_follow_the_rules() {
        for ok in ["a", "build.status", "ns:key-1_x", &"k".repeat(128)] {
            assert!(StateKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "slash/key", &"k".repeat(129), "é"] {
            assert!(StateKey::parse(bad).is_err(), "{bad}");
        }
        assert!(check_category("general").is_ok());
        assert!(check_category("").is_err());
    }
}
