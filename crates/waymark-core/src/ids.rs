//! Id and secret generation. Ids are ULIDs built from the injected clock, and monotonic within
//! the process (two ids minted in the same millisecond still sort in minting order), so rows
//! ordered by id are ordered by time even under a virtual clock.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rand::RngExt;
use waymark_domain::Timestamp;

static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());

/// A new ULID string at `now`, greater than every ULID this process minted before.
pub(crate) fn ulid(now: Timestamp) -> String {
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(millis);
    let mut generator = GENERATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match generator.generate_from_datetime(at) {
        Ok(id) => id.to_string(),
        // The random part overflowed within one millisecond (2^80 ids): fall back to a fresh one.
        Err(_) => ulid::Ulid::from_datetime(at).to_string(),
    }
}

/// `n` random characters of `[a-z0-9]`.
pub(crate) fn lowercase_alphanumerics(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

/// A random UUID v4 (for session ids, the original's format).
pub(crate) fn uuid_v4() -> String {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
