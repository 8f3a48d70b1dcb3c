//! Typed identifiers. Each id is a prefixed string (`plan_01J…`), so ids of different kinds
//! cannot be confused in code, and a stray id in a log says what it names.

use std::fmt;

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with, including the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// Builds an id from a ULID (its 26-character Crockford base32 form).
            pub fn from_ulid(ulid: &str) -> Self {
                Self(format!("{}{}", Self::PREFIX, ulid))
            }

            /// Accepts a stored or client-supplied id. Returns `None` when `raw` does not carry
            /// this kind's prefix or is longer than 64 bytes.
            pub fn parse(raw: &str) -> Option<Self> {
                (raw.len() <= 64 && raw.len() > Self::PREFIX.len() && raw.starts_with(Self::PREFIX))
                    .then(|| Self(raw.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

define_id!(
    /// A workspace (tenant): `ws_<ulid>`.
    WorkspaceId,
    "ws_"
);
define_id!(
    /// An API key's public id (never the key itself): `key_<ulid>`.
    ApiKeyId,
    "key_"
);
define_id!(
    /// A plan's internal id: `plan_<ulid>`. Agents address plans by slug.
    PlanId,
    "plan_"
);
define_id!(
    /// A phase: `phase_<ulid>`. Agents address phases by order or name.
    PhaseId,
    "phase_"
);
define_id!(
    /// A task: `task_<ulid>`, stable across edits and reorders.
    TaskId,
    "task_"
);
define_id!(
    /// A phase checkpoint: `cp_<ulid>`.
    CheckpointId,
    "cp_"
);
