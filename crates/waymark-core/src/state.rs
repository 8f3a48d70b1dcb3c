//! Workspace-state use cases: `state_set`, `state_get`, `state_list`, `state_delete`
//! (seed-000 §2.5, with AGENT-TOOLS.md: key and size rules, `type`, `description`, and a
//! delete tool).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_domain::state::{DEFAULT_CATEGORY, check_category};
use waymark_domain::{JsonText, StateEntry, StateKey, StateType};

use crate::clock::iso;
use crate::plan::{SLACK_BYTES, find, page_limit};
use crate::view::budget::{RESULT_BUDGET_BYTES, chunk, clip_json_text, clip_opt, fill, is_false, json_len};
use crate::view::{ITEM_JSON_BYTES, ITEM_TEXT_BYTES, JsonValue, MAX_DOCUMENT_BYTES, Status, cursor};
use crate::{ErrorCode, Principal, Service, ServiceError};

/// The largest value (bytes of JSON) `state_get` and `state_set` return whole; a larger one
/// is read in parts of this size through `value_text` and `next_cursor`.
pub const STATE_VALUE_BYTES: usize = 40_000;

fn bad_cursor() -> ServiceError {
    ServiceError::validation("cursor is invalid; pass the next_cursor of a previous page of the same list")
}

fn state_not_found(key: &str) -> ServiceError {
    ServiceError::not_found(format!("State not found: {key}"))
}

/// A stored value.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StateView {
    /// Key.
    pub key: String,
    /// The value, or, when it is too large for this result, the marker
    /// `{"$truncated": true, "$size_bytes": N, "$preview": "<its JSON text, cut>"}`
    /// (state_get reads it whole).
    pub value: Value,
    /// `json`, `markdown`, `code` or `reference`.
    #[serde(rename = "type")]
    pub kind: Status<StateType>,
    /// Description (clipped, ending in `…`, in listings).
    pub description: Option<String>,
    /// Category (`general` by default).
    pub category: String,
    /// ISO-8601.
    pub updated_at: String,
    /// Present and true when `value` or `description` was clipped.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

impl StateView {
    /// The entry with its value shown whole up to `value_bytes` and its description up to
    /// `description_bytes`.
    fn clipped(e: &StateEntry, value_bytes: usize, description_bytes: usize) -> Self {
        let (value, mut truncated) = clip_json_text(e.value.as_str(), value_bytes);
        Self {
            key: e.key.to_string(),
            value,
            kind: Status(e.kind),
            description: clip_opt(e.description.as_deref(), description_bytes, &mut truncated),
            category: e.category.clone(),
            updated_at: iso(e.updated_at),
            truncated,
        }
    }
}

/// Arguments of `state_set`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateSetParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
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

/// Arguments of `state_delete`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateKeyParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub plan_slug: String,
    /// Key.
    #[schemars(length(min = 1, max = 128))]
    pub key: String,
}

/// Arguments of `state_get`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateGetParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub plan_slug: String,
    /// Key.
    #[schemars(length(min = 1, max = 128))]
    pub key: String,
    /// From `next_cursor`.
    #[schemars(length(max = 1024))]
    pub cursor: Option<String>,
}

/// Result of `state_get`: the original's flat shape. A value larger than 40,000 bytes of JSON
/// comes in parts: `value` is then the `$truncated` marker, `value_text` the next part of the
/// value's JSON text and `next_cursor` the call for the part after it; join the parts and
/// parse them.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StateGetView {
    /// The value and its attributes, at the top level.
    #[serde(flatten)]
    pub state: StateView,
    /// Bytes of the value's JSON text (only when it comes in parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_size_bytes: Option<u64>,
    /// This part of the value's JSON text (only when it comes in parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_text: Option<String>,
    /// Pass as `cursor` (same plan_slug and key) for the next part; null on the last part or
    /// for a value shown whole.
    pub next_cursor: Option<String>,
}

/// Arguments of `state_list`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateListParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub plan_slug: String,
    /// Only this category.
    #[schemars(length(min = 1, max = 64))]
    pub category: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// From `next_cursor`.
    #[schemars(length(max = 1024))]
    pub cursor: Option<String>,
}

/// Result of `state_list`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StateListView {
    /// Values, by key; a value past 600 bytes of JSON is shown as its `$truncated` marker
    /// (state_get reads it whole).
    pub states: Vec<StateView>,
    /// How many match in all.
    pub total: u64,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
    /// True when more values follow (`next_cursor`) or a value or description was clipped.
    pub truncated: bool,
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
        let mut plan = find(&tx, principal, &params.plan_slug).await?;
        plan.ensure_writable()?;
        let now = self.now();
        let created_at = tx.state(&plan.id, &key).await?.map_or(now, |old| old.created_at);
        let entry = StateEntry {
            plan_id: plan.id.clone(),
            key,
            value: JsonText::from_trusted(text),
            kind: params.kind.map_or(StateType::Json, |k| k.0),
            description: params.description.filter(|d| !d.trim().is_empty()),
            category,
            created_at,
            updated_at: now,
        };
        tx.upsert_state(&entry).await?;
        plan.updated_at = now;
        tx.update_plan(&plan).await?;
        self.commit(tx, principal).await?;
        Ok(StateSetView { state: StateView::clipped(&entry, STATE_VALUE_BYTES, usize::MAX) })
    }

    /// `state_get`: one value, flat; a value too large for one result comes in parts
    /// (`value_text`, `next_cursor`).
    ///
    /// # Errors
    /// `not_found` ("Plan not found: {slug}", "State not found: {key}"), `validation_error`
    /// for a bad cursor, `conflict` when the value changed since the cursor was made.
    pub async fn state_get(&self, principal: &Principal, params: StateGetParams) -> Result<StateGetView, ServiceError> {
        let from = cursor::decode_opt::<3>("state_value", params.cursor.as_deref())?;
        let tx = self.store().read().await?;
        let plan = find(&tx, principal, &params.plan_slug).await?;
        let key = StateKey::parse(&params.key).map_err(|_| state_not_found(&params.key))?;
        let entry = tx.state(&plan.id, &key).await?.ok_or_else(|| state_not_found(&params.key))?;
        let offset = match from {
            None => None,
            Some([of_key, version, offset]) => {
                if of_key != params.key {
                    return Err(bad_cursor());
                }
                if version != cursor::time(entry.updated_at) {
                    return Err(ServiceError::new(
                        ErrorCode::Conflict,
                        format!("State {} changed since the cursor was made; read it again without cursor", params.key),
                    ));
                }
                Some(usize::try_from(cursor::parse_number(&offset)?).map_err(|_| bad_cursor())?)
            }
        };
        let state = StateView::clipped(&entry, STATE_VALUE_BYTES, usize::MAX);
        if !state.truncated && offset.is_none() {
            return Ok(StateGetView { state, value_size_bytes: None, value_text: None, next_cursor: None });
        }
        let mut state = StateView::clipped(&entry, ITEM_JSON_BYTES, usize::MAX);
        state.truncated = true;
        let text = entry.value.as_str();
        let room = RESULT_BUDGET_BYTES.saturating_sub(json_len(&state) + SLACK_BYTES).min(STATE_VALUE_BYTES);
        let (part, rest) = chunk(text, offset.unwrap_or(0), room)
            .filter(|_| offset.is_none_or(|o| o < text.len()))
            .ok_or_else(bad_cursor)?;
        let next_cursor = rest
            .map(|at| cursor::encode("state_value", &[&params.key, &cursor::time(entry.updated_at), &at.to_string()]));
        Ok(StateGetView { state, value_size_bytes: Some(text.len() as u64), value_text: Some(part), next_cursor })
    }

    /// `state_list`: a plan's values by key, optionally of one category, paged by key and by
    /// the result budget.
    ///
    /// # Errors
    /// `not_found`, `validation_error` (bad cursor).
    pub async fn state_list(
        &self,
        principal: &Principal,
        params: StateListParams,
    ) -> Result<StateListView, ServiceError> {
        let after = cursor::decode_opt::<1>("states", params.cursor.as_deref())?
            .map(|[key]| StateKey::parse(&key).map_err(|_| bad_cursor()))
            .transpose()?;
        let limit = page_limit(params.limit.unwrap_or(100).clamp(1, 1000));
        let tx = self.store().read().await?;
        let plan = find(&tx, principal, &params.plan_slug).await?;
        let (entries, total) =
            tx.list_states(&plan.id, params.category.as_deref(), after.as_ref(), limit as u64 + 1).await?;
        let (states, more) = fill(
            entries.iter().map(|e| StateView::clipped(e, ITEM_JSON_BYTES, ITEM_TEXT_BYTES)),
            limit,
            RESULT_BUDGET_BYTES - SLACK_BYTES,
        );
        let next_cursor = if more { states.last().map(|s| cursor::encode("states", &[&s.key])) } else { None };
        let truncated = next_cursor.is_some() || states.iter().any(|s| s.truncated);
        Ok(StateListView { states, total, next_cursor, truncated })
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
        let mut plan = find(&tx, principal, &params.plan_slug).await?;
        plan.ensure_writable()?;
        let key = StateKey::parse(&params.key).map_err(|_| state_not_found(&params.key))?;
        if !tx.delete_state(&plan.id, &key).await? {
            return Err(state_not_found(&params.key));
        }
        plan.updated_at = self.now();
        tx.update_plan(&plan).await?;
        self.commit(tx, principal).await?;
        Ok(StateDeleteView { deleted: params.key })
    }
}
