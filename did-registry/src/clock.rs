//! The process's clocks, shared by every crate of the gateway.
//!
//! [`unix_ms`] is the wall clock every time check uses (credential and
//! presentation validity, did:ethr `validTo`, sessions, the replay cache).
//! It never goes back: if the system clock steps backwards (a bad NTP
//! answer, a manual change), it holds at the latest time it has read until
//! the system clock passes it again. A token or key that has expired stays
//! expired, and a presentation the replay cache has forgotten because it
//! expired cannot become valid again. The cost is fail-closed: after a large
//! backward step, fresh tokens may look expired until real time catches up
//! (logged, once a minute while it lasts). Forward steps are followed.
//!
//! [`monotonic_ms`] measures elapsed time (how long since a chain last
//! answered): it is unaffected by any step of the system clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The latest time handed out.
static LATEST_MS: AtomicI64 = AtomicI64::new(0);
/// When a backward step was last logged.
static WARNED_MS: AtomicI64 = AtomicI64::new(0);
/// Shifts the system clock's reading; only tests set it.
static SHIFT_MS: AtomicI64 = AtomicI64::new(0);

/// Now, in Unix milliseconds (never earlier than any earlier reading).
pub fn unix_ms() -> i64 {
    let system = system_ms().saturating_add(SHIFT_MS.load(Ordering::Relaxed));
    let latest = LATEST_MS.fetch_max(system, Ordering::Relaxed);
    if system >= latest {
        return system;
    }
    let behind = latest - system;
    if behind > 1_000 {
        let warned = WARNED_MS.load(Ordering::Relaxed);
        if latest.saturating_sub(warned) > 60_000
            && WARNED_MS
                .compare_exchange(warned, latest, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                behind_ms = behind,
                "the system clock went back; the clock holds until it catches up"
            );
        }
    }
    latest
}

/// Now, in Unix seconds (see [`unix_ms`]).
pub fn unix_secs() -> i64 {
    unix_ms().div_euclid(1000)
}

/// Milliseconds since an arbitrary point early in the process, never 0 and
/// never going back: for measuring how long ago something happened.
pub fn monotonic_ms() -> i64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    i64::try_from(start.elapsed().as_millis())
        .unwrap_or(i64::MAX)
        .saturating_add(1)
}

fn system_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Step the system clock as [`unix_ms`] reads it by `delta_ms` (a
/// fault-injection test's "the system clock jumped"). Process-wide: never
/// for production use.
#[doc(hidden)]
pub fn step_system_clock_for_tests(delta_ms: i64) {
    SHIFT_MS.fetch_add(delta_ms, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_never_go_back() {
        let (a, m) = (unix_ms(), monotonic_ms());
        assert!(unix_ms() >= a && monotonic_ms() >= m && m > 0);
        assert!(a > 1_600_000_000_000, "a real time: {a}");
    }
}
