//! Time as a dependency: the service and the workflow engine never read the wall clock
//! directly, so tests can use a virtual clock (`waymark-testkit`). The [`Clock`] trait is the
//! engine's, so one clock drives both.

pub use waymark_engine::time::{Clock, SystemClock, iso, truncate_to_millis};
