//! Opaque listing cursors (docs/tools.md, "Paging").
//!
//! A cursor names the list it pages and the sort key of the last item shown, so the next page
//! starts after that item (keyset paging: rows inserted meanwhile never shift a page). On the
//! wire it is base64url (no padding) of a JSON array `[list, key…]`; clients treat it as
//! opaque. A cursor that does not decode, or that comes from another list, is
//! `validation_error`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::SecondsFormat;
use waymark_domain::Timestamp;

use crate::ServiceError;

/// Encodes a cursor for `list` after the item with sort key `key`.
pub(crate) fn encode(list: &str, key: &[&str]) -> String {
    let parts: Vec<&str> = std::iter::once(list).chain(key.iter().copied()).collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&parts).unwrap_or_default())
}

fn invalid() -> ServiceError {
    ServiceError::validation("cursor is invalid; pass the next_cursor of a previous page of the same list")
}

/// Decodes a cursor of `list` into its `N` key parts.
///
/// # Errors
/// `validation_error` when it does not decode, names another list, or has another shape.
pub(crate) fn decode<const N: usize>(list: &str, raw: &str) -> Result<[String; N], ServiceError> {
    let bytes = URL_SAFE_NO_PAD.decode(raw.as_bytes()).map_err(|_| invalid())?;
    let parts: Vec<String> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    match parts.split_first() {
        Some((name, key)) if name == list => <[String; N]>::try_from(key.to_vec()).map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}

/// Decodes an optional cursor (absent or empty: the first page).
///
/// # Errors
/// As [`decode`].
pub(crate) fn decode_opt<const N: usize>(list: &str, raw: Option<&str>) -> Result<Option<[String; N]>, ServiceError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => decode(list, raw).map(Some),
    }
}

/// A timestamp as a cursor part (every digit kept, so it compares equal to the stored value).
pub(crate) fn time(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// A cursor part back to a timestamp.
///
/// # Errors
/// `validation_error`.
pub(crate) fn parse_time(raw: &str) -> Result<Timestamp, ServiceError> {
    chrono::DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&chrono::Utc)).map_err(|_| invalid())
}

/// A cursor part back to a number.
///
/// # Errors
/// `validation_error`.
pub(crate) fn parse_number(raw: &str) -> Result<u64, ServiceError> {
    raw.parse().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_lists_and_garbage() {
        let c = encode("plans", &["2026-01-01T00:00:00.000000001Z", "plan_01"]);
        assert!(c.len() < 512, "argument schemas allow 512 characters");
        let [at, id] = decode::<2>("plans", &c).unwrap();
        assert_eq!((at.as_str(), id.as_str()), ("2026-01-01T00:00:00.000000001Z", "plan_01"));
        assert_eq!(parse_time(&at).map(time).unwrap(), at);
        assert_eq!(decode::<2>("sessions", &c).unwrap_err().code, crate::ErrorCode::ValidationError);
        assert!(decode::<1>("plans", &c).is_err());
        assert!(decode::<2>("plans", "not base64!").is_err());
        assert!(decode::<2>("plans", &URL_SAFE_NO_PAD.encode(b"{}")).is_err());
        assert_eq!(decode_opt::<2>("plans", None).unwrap(), None);
        assert_eq!(decode_opt::<2>("plans", Some("")).unwrap(), None);
    }
}
