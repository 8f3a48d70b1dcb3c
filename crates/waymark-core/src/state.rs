//! Workspace-state use cases: `state_set`, `state_get`, `state_list`, `state_delete`
//! (seed-000 §2.5, with AGENT-TOOLS.md: key and size rules, `type`, `description`, and a
//! delete tool).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_domain::state::{DEFAULT_CATEGORY, check_category};
use waymark_domain::{JsonText, StateEntry, StateKey, StateType};

use crate::clock::iso;
use crate::plan::load;
use crate::view::{JsonValue, MAX_DOCUMENT_BYTES, Status, next_cursor, parse_cursor, value};
use crate::{Principal, Service, ServiceError};

fn state_not_found(key: &str) -> ServiceError {
    ServiceError::not_found(format!("State not found: {key}"))
}

/// A stored value.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StateView {
    /// Key.
    pub key: String,
    /// The value.
    pub value: Value,
    /// `json`, `markdown`, `code` or `reference`.
    #[serde(rename = "type")]
    pub kind: Status<StateType>,
    /// Description.
    pub description: Option<String>,
    /// Category (`general` by default).
    pub category: String,
    /// ISO-8601.
    pub updated_at: String,
}

impl From<&StateEntry> for StateView {
    fn from(e: &StateEntry) -> Self {
        Self {
            key: e.key.to_string(),
            value: value(&e.value),
            kind: Status(e.kind),
            description: e.description.clone(),
            category: e.category.clone(),
            updated_at: iso(e.updated_at),
        }
    }
}

/// Arguments of `state_set`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateSetParams {
    /// The plan's slug.
    #[schemars(length(min = 1, max = 255))]
    pub plan_slug: String,
    /// Key: 1-128 characters of letters, digits, '_', '.', ':' and '-'.
    #[schemars(length(min = 1, max = 128), pattern(r"^[A-Za-z0-9_.:-]+$"))]
    pub key: String,
    /// The value: any JSON except null, at most 256 KiB.
    pub value: JsonValue,
    /// What the value holds (default `json`).
    #[serde(rename = "type")]
    pub kind: Option<Status<StateType>>,
    /// What the value is for.
    #[schemars(length(max = 2000))]
    pub description: Option<String>,
    /// Grouping for state_list (default `general`).
    #[schemars(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_.:-]+$"))]
    pub category: Option<String>,
}

/// Result of `state_set`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StateSetView {
    /// The value as stored.
    pub state: StateView,
}

/// Arguments of `state_get` and `state_delete`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateKeyParams {
    /// The plan's slug.
    #[schemars(length(min = 1, max = 255))]
    pub plan_slug: String,
    /// Key.
    #[schemars(length(min = 1, max = 128))]
    pub key: String,
}

/// Result of `state_get`: the original's flat shape.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StateGetView {
    /// The value and its attributes, at the top level.
    #[serde(flatten)]
    pub state: StateView,
}

/// Arguments of `state_list`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateListParams {
    /// The plan's slug.
    #[schemars(length(min = 1, max = 255))]
    pub plan_slug: String,
    /// Only this category.
    #[schemars(length(min = 1, max = 64))]
    pub category: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[schemars(length(max = 64))]
    pub cursor: Option<String>,
}

/// Result of `state_list`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StateListView {
    /// Values, by key.
    pub states: Vec<StateView>,
    /// How many match in all.
    pub total: u64,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Result of `state_delete`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StateDeleteView {
    /// The key removed.
    pub deleted: String,
}

impl Service {
    /// `state_set`: stores a value under (plan, key), replacing any earlier one.
    ///
    /// # Errors
    /// `not_found` (plan), `validation_error` ("value is required", size, key and category
    /// rules), `invalid_transition` (archived plan).
    pub async fn state_set(&self, principal: &Principal, params: StateSetParams) -> Result<StateSetView, ServiceError> {
        let key = StateKey::parse(&params.key)?;
        let category = params.category.unwrap_or_else(|| DEFAULT_CATEGORY.to_owned());
        check_category(&category)?;
        let value = params.value.0;
        if value.is_null() || value.as_str() == Some("") {
            return Err(ServiceError::validation("value is required"));
        }
        let text = value.to_string();
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(ServiceError::validation(format!("value exceeds maximum size of {MAX_DOCUMENT_BYTES} bytes")));
        }
        let tx = self.store().write().await?;
        let mut loaded = load(&tx, principal, &params.plan_slug).await?;
        loaded.plan.ensure_writable()?;
        let now = self.now();
        let created_at = tx.state(&loaded.plan.id, &key).await?.map_or(now, |old| old.created_at);
        let entry = StateEntry {
            plan_id: loaded.plan.id.clone(),
            key,
            value: JsonText::from_trusted(text),
            kind: params.kind.map_or(StateType::Json, |k| k.0),
            description: params.description.filter(|d| !d.trim().is_empty()),
            category,
            created_at,
            updated_at: now,
        };
        tx.upsert_state(&entry).await?;
        loaded.plan.updated_at = now;
        tx.update_plan(&loaded.plan).await?;
        self.commit(tx, principal).await?;
        Ok(StateSetView { state: StateView::from(&entry) })
    }

    /// `state_get`: one value, flat.
    ///
    /// # Errors
    /// `not_found` ("Plan not found: {slug}", "State not found: {key}").
    pub async fn state_get(&self, principal: &Principal, params: StateKeyParams) -> Result<StateGetView, ServiceError> {
        let tx = self.store().read().await?;
        let loaded = load(&tx, principal, &params.plan_slug).await?;
        let key = StateKey::parse(&params.key).map_err(|_| state_not_found(&params.key))?;
        let entry = tx.state(&loaded.plan.id, &key).await?.ok_or_else(|| state_not_found(&params.key))?;
        Ok(StateGetView { state: StateView::from(&entry) })
    }

    /// `state_list`: a plan's values by key, optionally of one category, paged.
    ///
    /// # Errors
    /// `not_found`, `validation_error` (bad cursor).
    pub async fn state_list(
        &self,
        principal: &Principal,
        params: StateListParams,
    ) -> Result<StateListView, ServiceError> {
        let offset = parse_cursor(params.cursor.as_deref())?;
        let limit = u64::from(params.limit.unwrap_or(100).clamp(1, 1000));
        let tx = self.store().read().await?;
        let loaded = load(&tx, principal, &params.plan_slug).await?;
        let (entries, total) = tx.list_states(&loaded.plan.id, params.category.as_deref(), offset, limit).await?;
        let states: Vec<StateView> = entries.iter().map(StateView::from).collect();
        let next_cursor = next_cursor(offset, states.len(), total);
        Ok(StateListView { states, total, next_cursor })
    }

    /// `state_delete`: removes one value.
    ///
    /// # Errors
    /// `not_found`, `invalid_transition` (archived plan).
    pub async fn state_delete(
        &self,
        principal: &Principal,
        params: StateKeyParams,
    ) -> Result<StateDeleteView, ServiceError> {
        let tx = self.store().write().await?;
        let mut loaded = load(&tx, principal, &params.plan_slug).await?;
        loaded.plan.ensure_writable()?;
        let key = StateKey::parse(&params.key).map_err(|_| state_not_found(&params.key))?;
        if !tx.delete_state(&loaded.plan.id, &key).await? {
            return Err(state_not_found(&params.key));
        }
        loaded.plan.updated_at = self.now();
        tx.update_plan(&loaded.plan).await?;
        self.commit(tx, principal).await?;
        Ok(StateDeleteView { deleted: params.key })
    }
}
