//! API-key records: what the server keeps about a key. The key itself is never stored.

use crate::{ApiKeyId, Scope, Scopes, Timestamp, WorkspaceId};

/// A stored API key (PRODUCT.md, "Auth"): the SHA-256 of the key, never the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    /// Public id, safe to show and log.
    pub id: ApiKeyId,
    /// The workspace the key acts in.
    pub workspace_id: WorkspaceId,
    /// Operator-chosen label.
    pub name: String,
    /// Lowercase hex SHA-256 of the full key; the indexed lookup column.
    pub key_hash: String,
    /// The first characters of the key (`wmk_` + 8), shown in listings to tell keys apart.
    pub prefix: String,
    /// What the key may do.
    pub scopes: Scopes,
    /// Tools the key may call; `None` allows every tool its scopes allow.
    pub tools: Option<Vec<String>>,
    /// Tool calls allowed per minute (token bucket refill rate).
    pub rate_limit_per_minute: u32,
    /// After this instant the key is refused.
    pub expires_at: Option<Timestamp>,
    /// When set, the key is refused.
    pub revoked_at: Option<Timestamp>,
    /// Last successful authentication, when recorded.
    pub last_used_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Why a stored key may not be used at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRefusal {
    /// The key was revoked.
    Revoked,
    /// The key's expiry has passed.
    Expired,
}

impl ApiKey {
    /// Checks revocation and expiry at `now`.
    ///
    /// # Errors
    /// The [`KeyRefusal`] that applies; revocation wins over expiry.
    pub fn usable_at(&self, now: Timestamp) -> Result<(), KeyRefusal> {
        if self.revoked_at.is_some() {
            return Err(KeyRefusal::Revoked);
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(KeyRefusal::Expired);
        }
        Ok(())
    }

    /// Whether the key holds `scope`.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }
}
