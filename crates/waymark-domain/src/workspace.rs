//! Workspaces: the tenants. Every object belongs to exactly one.

use std::fmt;

use crate::{DomainError, Timestamp, WorkspaceId};

/// A workspace name: 1–64 characters of `[a-z0-9_-]`, starting with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkspaceName(String);

impl WorkspaceName {
    /// Accepts an operator-supplied name.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] when the name breaks the format.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let mut bytes = raw.bytes();
        let ok = raw.len() <= 64
            && bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::invalid(
                "workspace",
                format!(
                    "workspace name '{raw}' must be 1-64 characters of lowercase letters, digits, '-' and '_', starting with a letter or digit"
                ),
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkspaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for WorkspaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A workspace as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workspace {
    /// Internal id.
    pub id: WorkspaceId,
    /// Unique name, used by operators and `--workspace`.
    pub name: WorkspaceName,
    /// Creation time.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_format() {
        assert!(WorkspaceName::parse("default").is_ok());
        assert!(WorkspaceName::parse("team_a-2").is_ok());
        for bad in ["", "-lead", "Caps", "sp ace", &"a".repeat(65)] {
            assert!(WorkspaceName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
