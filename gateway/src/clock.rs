//! The gateway's clocks: the process-wide ones of `did_registry::clock`
//! (shared with credential and DID checks), so that every time check in the
//! process reads one wall clock that never goes back.

pub use did_registry::clock::{monotonic_ms, step_system_clock_for_tests, unix_ms, unix_secs};
