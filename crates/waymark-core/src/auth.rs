//! Workspaces and API keys (PRODUCT.md, "Auth").
//!
//! A key is `wmk_` + 256 random bits from the OS in base62, shown once. Only its SHA-256 is
//! stored. Verification hashes the presented key, finds the row by the indexed hash, compares
//! the digests in constant time and checks revocation and expiry. A verified key is cached for
//! [`crate::ServiceConfig::auth_cache_ttl`] (5 s by default), so revocation takes effect within
//! that bound and the hot path does no database read for auth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::TryRng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use waymark_domain::{ApiKey, ApiKeyId, KeyRefusal, Scopes, Workspace, WorkspaceId, WorkspaceName};

use crate::clock::iso;
use crate::{ErrorCode, Principal, Service, ServiceError, Transport, ids};

/// The prefix of every Waymark API key.
pub const KEY_PREFIX: &str = "wmk_";
/// Default per-minute call budget of a new key: 100 calls a second sustained, a minute's worth
/// at once, so no ordinary agent loop meets it (docs/OPERATIONS.md, "Rate limits"). The
/// original's 100 a minute stopped an agent polling `get_workflow_result` within a minute.
pub const DEFAULT_RATE_LIMIT: u32 = 6000;

/// Why a presented key was refused. Every variant is HTTP 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No key was presented.
    #[error("Missing API key. Use Authorization: Bearer <key>")]
    Missing,
    /// The key is malformed or unknown.
    #[error("Invalid API key")]
    Invalid,
    /// The key was revoked.
    #[error("API key has been revoked")]
    Revoked,
    /// The key has expired.
    #[error("API key has expired")]
    Expired,
    /// The database could not be asked.
    #[error("Authentication is temporarily unavailable")]
    Unavailable,
}

/// What to create a key with.
#[derive(Clone, Debug)]
pub struct NewKey {
    /// Workspace name.
    pub workspace: String,
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: Scopes,
    /// Days until expiry; `None` never expires.
    pub expires_in_days: Option<u32>,
    /// Calls per minute.
    pub rate_limit_per_minute: u32,
    /// Tool allow-list; `None` allows all tools.
    pub tools: Option<Vec<String>>,
}

/// A key as listed: never the key or its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyView {
    /// Public id.
    pub id: String,
    /// Workspace name.
    pub workspace: String,
    /// Label.
    pub name: String,
    /// First characters of the key.
    pub prefix: String,
    /// `read,write`.
    pub scopes: String,
    /// Allow-list, if any.
    pub tools: Option<Vec<String>>,
    /// Calls per minute.
    pub rate_limit_per_minute: u32,
    /// `active`, `revoked` or `expired`.
    pub status: &'static str,
    /// ISO-8601.
    pub expires_at: Option<String>,
    /// ISO-8601.
    pub revoked_at: Option<String>,
    /// ISO-8601.
    pub created_at: String,
}

/// A freshly created key: the only time the key itself is available.
#[derive(Clone, Debug)]
pub struct CreatedKey {
    /// The key to hand to the client. Never logged, never stored.
    pub key: String,
    /// Its listing.
    pub view: KeyView,
}

/// A bootstrap whose workspace and key are written but not committed
/// ([`Service::begin_bootstrap`]): commit it once the key is where its owner will find it;
/// drop it to create nothing.
pub struct PendingBootstrap {
    tx: waymark_store::Tx,
    created: CreatedKey,
}

impl std::fmt::Debug for PendingBootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingBootstrap").field("key_id", &self.created.view.id).finish_non_exhaustive()
    }
}

impl PendingBootstrap {
    /// The new key (`wmk_…`), not yet usable.
    pub fn key(&self) -> &str {
        &self.created.key
    }

    /// The new key's listing.
    pub fn view(&self) -> &KeyView {
        &self.created.view
    }

    /// Commits the workspace `default` and its key.
    ///
    /// # Errors
    /// Storage failures; nothing is created then.
    pub async fn commit(self) -> Result<CreatedKey, ServiceError> {
        self.tx.commit().await?;
        Ok(self.created)
    }
}

/// A workspace as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkspaceView {
    /// Public id.
    pub id: String,
    /// Name.
    pub name: String,
    /// ISO-8601.
    pub created_at: String,
}

impl From<&Workspace> for WorkspaceView {
    fn from(ws: &Workspace) -> Self {
        Self { id: ws.id.to_string(), name: ws.name.to_string(), created_at: iso(ws.created_at) }
    }
}

/// A verified key, its workspace's name, and when it was verified.
type CachedKey = (Arc<ApiKey>, WorkspaceName, Instant);

/// Verified keys by hash.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    entries: Mutex<HashMap<String, CachedKey>>,
}

/// The hex SHA-256 of a key.
fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes bytes as base62 (`0-9A-Za-z`), most significant digit first.
fn base62(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut number: Vec<u8> = bytes.to_vec();
    let mut digits = Vec::new();
    while number.iter().any(|&b| b != 0) {
        let mut remainder: u32 = 0;
        for byte in &mut number {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = u8::try_from(acc / 62).unwrap_or(0);
            remainder = acc % 62;
        }
        digits.push(ALPHABET[remainder as usize]);
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// A new key: `wmk_` + 256 bits from the operating system's CSPRNG, base62.
fn generate_key() -> Result<String, ServiceError> {
    let mut bytes = [0u8; 32];
    rand::rngs::SysRng.try_fill_bytes(&mut bytes).map_err(|e| ServiceError::internal(&e))?;
    Ok(format!("{KEY_PREFIX}{:0>43}", base62(&bytes)))
}

fn key_status(key: &ApiKey, now: waymark_domain::Timestamp) -> &'static str {
    match key.usable_at(now) {
        Ok(()) => "active",
        Err(KeyRefusal::Revoked) => "revoked",
        Err(KeyRefusal::Expired) => "expired",
    }
}

impl Service {
    /// Verifies a presented key and returns its principal.
    ///
    /// # Errors
    /// [`AuthError`]; every variant means HTTP 401.
    pub async fn authenticate(&self, presented: &str, transport: Transport) -> Result<Principal, AuthError> {
        let presented = presented.trim();
        if presented.is_empty() {
            return Err(AuthError::Missing);
        }
        if !presented.starts_with(KEY_PREFIX) || presented.len() > 128 {
            return Err(AuthError::Invalid);
        }
        let hash = hash_key(presented);
        let now = self.now();
        let cached = {
            let entries = self.inner.keys.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            entries
                .get(&hash)
                .filter(|(_, _, at)| at.elapsed() < self.inner.config.auth_cache_ttl)
                .map(|(key, ws, _)| (Arc::clone(key), ws.clone()))
        };
        let (key, workspace) = match cached {
            Some(hit) => hit,
            None => {
                let (key, workspace) = self.lookup_key(&hash).await?;
                let key = Arc::new(key);
                let mut entries = self.inner.keys.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                entries.insert(hash.clone(), (Arc::clone(&key), workspace.clone(), Instant::now()));
                (key, workspace)
            }
        };
        if !bool::from(key.key_hash.as_bytes().ct_eq(hash.as_bytes())) {
            return Err(AuthError::Invalid);
        }
        key.usable_at(now).map_err(|refusal| match refusal {
            KeyRefusal::Revoked => AuthError::Revoked,
            KeyRefusal::Expired => AuthError::Expired,
        })?;
        Ok(Principal {
            workspace_id: key.workspace_id.clone(),
            workspace,
            key_id: Some(key.id.clone()),
            scopes: key.scopes,
            tools: key.tools.as_ref().map(|t| t.clone().into()),
            rate_limit_per_minute: Some(key.rate_limit_per_minute),
            transport,
            call: None,
        })
    }

    async fn lookup_key(&self, hash: &str) -> Result<(ApiKey, WorkspaceName), AuthError> {
        let found = async {
            let tx = self.inner.store.read().await?;
            let Some(key) = tx.api_key_by_hash(hash).await? else { return Ok(None) };
            let ws = tx.workspace_by_id(&key.workspace_id).await?;
            Ok::<_, waymark_store::Error>(ws.map(|ws| (key, ws.name)))
        }
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "key lookup failed");
            AuthError::Unavailable
        })?;
        found.ok_or(AuthError::Invalid)
    }

    /// Owner access to a workspace by name (CLI, stdio `--workspace`, library).
    ///
    /// # Errors
    /// `not_found` when the workspace does not exist.
    pub async fn owner_principal(&self, workspace: &str, transport: Transport) -> Result<Principal, ServiceError> {
        let ws = self.workspace(workspace).await?;
        Ok(Principal::owner(ws.id, ws.name, transport))
    }

    async fn workspace(&self, name: &str) -> Result<Workspace, ServiceError> {
        let name = WorkspaceName::parse(name)?;
        let tx = self.inner.store.read().await?;
        tx.workspace_by_name(&name).await?.ok_or_else(|| {
            ServiceError::not_found(format!(
                "Workspace not found: {name} (create it with `waymark workspace create {name}`)"
            ))
        })
    }

    /// Creates a workspace.
    ///
    /// # Errors
    /// `validation_error` for a bad name, `conflict` when it exists.
    pub async fn create_workspace(&self, name: &str) -> Result<WorkspaceView, ServiceError> {
        let name = WorkspaceName::parse(name)?;
        let now = self.now();
        let ws = Workspace { id: WorkspaceId::from_ulid(&ids::ulid(now)), name, created_at: now };
        let tx = self.inner.store.write().await?;
        match tx.insert_workspace(&ws).await {
            Err(waymark_store::Error::Conflict) => {
                return Err(ServiceError::conflict(format!("Workspace '{}' already exists", ws.name)));
            }
            other => other?,
        }
        tx.commit().await?;
        Ok(WorkspaceView::from(&ws))
    }

    /// Creates the workspace if it does not exist; returns it either way.
    ///
    /// # Errors
    /// `validation_error` for a bad name.
    pub async fn ensure_workspace(&self, name: &str) -> Result<WorkspaceView, ServiceError> {
        match self.create_workspace(name).await {
            Err(e) if e.code == ErrorCode::Conflict => Ok(WorkspaceView::from(&self.workspace(name).await?)),
            other => other,
        }
    }

    /// Every workspace, by name.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list_workspaces(&self) -> Result<Vec<WorkspaceView>, ServiceError> {
        let tx = self.inner.store.read().await?;
        Ok(tx.list_workspaces().await?.iter().map(WorkspaceView::from).collect())
    }

    /// Creates a key. The returned [`CreatedKey::key`] is the only copy.
    ///
    /// # Errors
    /// `not_found` for an unknown workspace, `validation_error` for bad options.
    pub async fn create_key(&self, new: NewKey) -> Result<CreatedKey, ServiceError> {
        let ws = self.workspace(&new.workspace).await?;
        let (record, key) = self.new_key_record(&ws, new)?;
        let tx = self.inner.store.write().await?;
        tx.insert_api_key(&record).await?;
        tx.commit().await?;
        let view = self.key_view(&record, &ws.name);
        Ok(CreatedKey { key, view })
    }

    /// Validates `new` and makes the row of a new key in `ws`, and the key itself.
    fn new_key_record(&self, ws: &Workspace, new: NewKey) -> Result<(ApiKey, String), ServiceError> {
        if new.name.is_empty() || new.name.len() > 255 {
            return Err(ServiceError::validation("name must be 1-255 characters"));
        }
        if new.rate_limit_per_minute == 0 {
            return Err(ServiceError::validation("rate limit must be at least 1 call per minute"));
        }
        if let Some(unknown) = new.tools.iter().flatten().find(|t| self.catalogue().get(t).is_none()) {
            return Err(ServiceError::validation(format!("Unknown tool in allow-list: {unknown}")));
        }
        let key = generate_key()?;
        let now = self.now();
        let record = ApiKey {
            id: ApiKeyId::from_ulid(&ids::ulid(now)),
            workspace_id: ws.id.clone(),
            name: new.name,
            key_hash: hash_key(&key),
            prefix: key.chars().take(KEY_PREFIX.len() + 8).collect(),
            scopes: new.scopes,
            tools: new.tools,
            rate_limit_per_minute: new.rate_limit_per_minute,
            expires_at: new.expires_in_days.map(|d| now + chrono::Duration::days(i64::from(d))),
            revoked_at: None,
            last_used_at: None,
            created_at: now,
        };
        Ok((record, key))
    }

    fn key_view(&self, key: &ApiKey, workspace: &WorkspaceName) -> KeyView {
        KeyView {
            id: key.id.to_string(),
            workspace: workspace.to_string(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            scopes: key.scopes.to_list(),
            tools: key.tools.clone(),
            rate_limit_per_minute: key.rate_limit_per_minute,
            status: key_status(key, self.now()),
            expires_at: key.expires_at.map(iso),
            revoked_at: key.revoked_at.map(iso),
            created_at: iso(key.created_at),
        }
    }

    /// Lists keys, of one workspace or of all.
    ///
    /// # Errors
    /// `not_found` for an unknown workspace.
    pub async fn list_keys(&self, workspace: Option<&str>) -> Result<Vec<KeyView>, ServiceError> {
        let filter = match workspace {
            Some(name) => Some(self.workspace(name).await?.id),
            None => None,
        };
        let tx = self.inner.store.read().await?;
        let names: HashMap<WorkspaceId, WorkspaceName> =
            tx.list_workspaces().await?.into_iter().map(|w| (w.id, w.name)).collect();
        let keys = tx.list_api_keys(filter.as_ref()).await?;
        Ok(keys.iter().filter_map(|k| names.get(&k.workspace_id).map(|ws| self.key_view(k, ws))).collect())
    }

    /// Revokes a key by id. Takes effect within the auth cache TTL.
    ///
    /// # Errors
    /// `not_found` for an unknown id.
    pub async fn revoke_key(&self, id: &str) -> Result<KeyView, ServiceError> {
        let key_id = ApiKeyId::parse(id).ok_or_else(|| ServiceError::not_found(format!("API key not found: {id}")))?;
        let tx = self.inner.store.write().await?;
        if tx.api_key_by_id(&key_id).await?.is_none() {
            return Err(ServiceError::not_found(format!("API key not found: {id}")));
        }
        tx.revoke_api_key(&key_id, self.now()).await?;
        let key = tx
            .api_key_by_id(&key_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("API key not found: {id}")))?;
        let ws = tx.workspace_by_id(&key.workspace_id).await?;
        tx.commit().await?;
        let ws_name = ws.map(|w| w.name).ok_or_else(|| ServiceError::not_found(format!("API key not found: {id}")))?;
        Ok(self.key_view(&key, &ws_name))
    }

    /// On an empty database, creates the workspace `default` and one read+write key, and
    /// returns the key (once). Returns `None` when any workspace exists. Safe to race: the
    /// loser of two concurrent bootstraps gets `None`.
    ///
    /// # Errors
    /// Storage failures; nothing is created then.
    pub async fn bootstrap(&self) -> Result<Option<CreatedKey>, ServiceError> {
        match self.begin_bootstrap().await? {
            Some(pending) => Ok(Some(pending.commit().await?)),
            None => Ok(None),
        }
    }

    /// [`Service::bootstrap`] in two steps, so the key can be handed over before it exists:
    /// on an empty database, writes the workspace `default` and its read+write key in a
    /// transaction left open, and returns it with the key; [`PendingBootstrap::commit`] makes
    /// them durable, and dropping it creates nothing. `None` when any workspace exists (or a
    /// concurrent bootstrap won). On SQLite the transaction holds the database's writer until
    /// it ends.
    ///
    /// # Errors
    /// Storage failures; nothing is created then.
    pub async fn begin_bootstrap(&self) -> Result<Option<PendingBootstrap>, ServiceError> {
        let tx = self.inner.store.write().await?;
        if tx.count_workspaces().await? > 0 {
            return Ok(None);
        }
        let now = self.now();
        let name = WorkspaceName::parse("default")?;
        let ws = Workspace { id: WorkspaceId::from_ulid(&ids::ulid(now)), name, created_at: now };
        match tx.insert_workspace(&ws).await {
            Err(waymark_store::Error::Conflict) => return Ok(None),
            other => other?,
        }
        let new = NewKey {
            workspace: ws.name.to_string(),
            name: "bootstrap".into(),
            scopes: Scopes::ALL,
            expires_in_days: None,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT,
            tools: None,
        };
        let (record, key) = self.new_key_record(&ws, new)?;
        tx.insert_api_key(&record).await?;
        let view = self.key_view(&record, &ws.name);
        Ok(Some(PendingBootstrap { tx, created: CreatedKey { key, view } }))
    }

    /// Forgets cached key verifications (tests and `key revoke` in-process).
    pub fn clear_auth_cache(&self) {
        self.inner.keys.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

/// How long a verified key is trusted without asking the database.
pub const DEFAULT_AUTH_CACHE_TTL: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::{KEY_PREFIX, base62, generate_key, hash_key};

    #[test]
    fn keys_are_wmk_plus_43_base62_characters() {
        let key = generate_key().unwrap();
        assert!(key.starts_with(KEY_PREFIX));
        assert_eq!(key.len(), KEY_PREFIX.len() + 43);
        assert!(key[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(generate_key().unwrap(), key);
    }

    #[test]
    fn base62_encodes_big_endian() {
        assert_eq!(base62(&[0, 61]), "z");
        assert_eq!(base62(&[0, 62]), "10");
        assert_eq!(base62(&[1, 0]), "48");
    }

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
