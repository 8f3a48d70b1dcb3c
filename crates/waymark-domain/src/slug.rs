//! Plan slugs: the public handle of a plan within its workspace.

use std::fmt;

use crate::DomainError;

/// A plan slug: 1–255 characters of `[a-z0-9-]`, unique per workspace.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

/// The longest slug accepted.
const MAX_LEN: usize = 255;
/// Length of the random suffix of a generated slug.
const SUFFIX_LEN: usize = 6;

impl Slug {
    /// Accepts a client-supplied slug.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] when empty, longer than 255 characters, or containing anything
    /// but lowercase ASCII letters, digits and hyphens.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::Invalid {
                field: "slug",
                message: "slug must be 1-255 characters of lowercase letters, digits and hyphens".to_owned(),
            })
        }
    }

    /// Generates a slug from a title: the slugified title, `-`, and `suffix` (the original's
    /// six random alphanumerics, lowercased here so the result is a valid slug).
    ///
    /// Non-ASCII letters and punctuation become hyphens; an all-punctuation title becomes
    /// `plan`. The title part is cut so the whole slug stays within 255 characters.
    pub fn generate(title: &str, suffix: &str) -> Self {
        let mut base = String::with_capacity(title.len());
        for c in title.chars() {
            if c.is_ascii_alphanumeric() {
                base.push(c.to_ascii_lowercase());
            } else if !base.ends_with('-') {
                base.push('-');
            }
        }
        let mut base = base.trim_matches('-').to_owned();
        if base.is_empty() {
            base.push_str("plan");
        }
        let suffix: String = suffix
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .take(SUFFIX_LEN)
            .collect();
        base.truncate(MAX_LEN - 1 - suffix.len());
        let base = base.trim_end_matches('-');
        Self(format!("{base}-{suffix}"))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_the_slug_alphabet() {
        assert!(Slug::parse("auth-rework-2").is_ok());
        for bad in ["", "Caps", "under_score", "spa ce", "ünï", &"a".repeat(256)] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(Slug::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn generate_slugifies_and_appends_the_suffix() {
        assert_eq!(Slug::generate("Auth Rework: Phase 2!", "AbC123").as_str(), "auth-rework-phase-2-abc123");
        assert_eq!(Slug::generate("¿¿¿", "x1y2z3").as_str(), "plan-x1y2z3");
        let long = Slug::generate(&"word ".repeat(100), "qwerty");
        assert!(long.as_str().len() <= 255);
        assert!(Slug::parse(long.as_str()).is_ok());
        assert!(long.as_str().ends_with("-qwerty"));
    }
}
