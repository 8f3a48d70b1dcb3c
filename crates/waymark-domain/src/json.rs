//! Opaque JSON documents carried through the domain.

/// A JSON document as text, written by a client and returned unchanged.
///
/// The domain does not parse it; the core checks shape and size when it enters the system
/// (for example that a plan's `context` is an object of at most 256 KiB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// The empty JSON object, `{}`.
    pub fn empty_object() -> Self {
        Self("{}".to_owned())
    }

    /// Wraps text the caller has already checked to be valid JSON.
    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The size of the JSON text in bytes.
    pub fn len_bytes(&self) -> usize {
        self.0.len()
    }
}

impl Default for JsonText {
    fn default() -> Self {
        Self::empty_object()
    }
}
