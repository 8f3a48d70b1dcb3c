//! API-key scopes: `read` and `write` (PRODUCT.md, "Auth").

use crate::DomainError;

/// One permission a key may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Call read-only tools.
    Read,
    /// Call tools that change state.
    Write,
}

impl Scope {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// A set of scopes, a subset of {read, write}.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scopes {
    read: bool,
    write: bool,
}

impl Scopes {
    /// Both scopes.
    pub const ALL: Self = Self { read: true, write: true };
    /// Only `read`.
    pub const READ: Self = Self { read: true, write: false };

    /// Parses a comma-separated list such as `read,write`.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for an unknown scope or an empty list.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let mut scopes = Self::default();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "read" => scopes.read = true,
                "write" => scopes.write = true,
                other => {
                    return Err(DomainError::invalid(
                        "scopes",
                        format!("scopes must be a comma-separated list of: read, write (got '{other}')"),
                    ));
                }
            }
        }
        if scopes == Self::default() {
            return Err(DomainError::invalid("scopes", "scopes must name at least one of: read, write"));
        }
        Ok(scopes)
    }

    /// Whether the set holds `scope`.
    pub fn contains(self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read,
            Scope::Write => self.write,
        }
    }

    /// The scopes in canonical order (`read` before `write`).
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        [(self.read, Scope::Read), (self.write, Scope::Write)]
            .into_iter()
            .filter_map(|(held, scope)| held.then_some(scope))
    }

    /// The canonical text form, `read,write`.
    pub fn to_list(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_rejects_unknown() {
        assert_eq!(Scopes::parse("write, read").unwrap().to_list(), "read,write");
        assert_eq!(Scopes::parse("read").unwrap(), Scopes::READ);
        assert!(Scopes::parse("admin").is_err());
        assert!(Scopes::parse("").is_err());
        assert!(!Scopes::READ.contains(Scope::Write));
    }
}
