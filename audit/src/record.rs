//! One decision of the gateway, as the decision log records it: the record
//! and its id.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How a request was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
    StepUp,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::StepUp => "step_up",
        }
    }
}

/// One row of the decision log.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    pub id: String,
    pub ts_ms: i64,
    pub gateway: Arc<str>,
    pub route: Option<Arc<str>>,
    pub method: String,
    pub host: String,
    pub path: String,
    pub client_ip: IpAddr,
    pub subject: Option<String>,
    pub auth_method: Option<&'static str>,
    pub credential_types: Vec<String>,
    pub issuers: Vec<String>,
    pub effect: Effect,
    /// Status of a refusal; `None` when forwarded.
    pub status: Option<u16>,
    pub reason: &'static str,
    pub policies: Vec<String>,
    pub risk_score: f64,
    /// The factors behind the score, largest first.
    pub risk_factors: Vec<risk::Factor>,
    /// SHA-256 of the policy set in force: the one that decided, or for a
    /// refusal before the policy was asked, the one loaded then.
    pub policy_set: [u8; 32],
    /// Ids of the credentials presented (those that have one).
    pub credential_ids: Vec<String>,
}

impl DecisionRecord {
    /// A decision as it starts: denied until a step of the request path
    /// says otherwise, with nothing yet known of who asks, what they ask
    /// for or what the policy said. Callers fill in what they know with
    /// struct update syntax (`..DecisionRecord::new(…)`).
    pub fn new(id: String, ts_ms: i64, gateway: Arc<str>, client_ip: IpAddr) -> Self {
        Self {
            id,
            ts_ms,
            gateway,
            route: None,
            method: String::new(),
            host: String::new(),
            path: String::new(),
            client_ip,
            subject: None,
            auth_method: None,
            credential_types: Vec::new(),
            issuers: Vec::new(),
            effect: Effect::Deny,
            status: None,
            reason: "allowed",
            policies: Vec::new(),
            risk_score: 0.0,
            risk_factors: Vec::new(),
            policy_set: [0; 32],
            credential_ids: Vec::new(),
        }
    }
}

/// A new decision id: a UUIDv7 (time-ordered: ids sort as decisions were
/// made, which is how the log is read newest first), with a counter in the
/// same millisecond and 62 random bits from the thread's CSPRNG.
/// `Uuid::now_v7` asks the kernel for randomness (a `getrandom` system call)
/// on every id, which showed on the request path.
///
/// `now_ms` is the caller's clock (the gateway's never-backwards wall
/// clock); ids stay ordered even if it stalls.
pub fn new_id(now_ms: i64) -> String {
    use std::sync::atomic::AtomicU64;
    // Milliseconds << 12 | a 12-bit counter within the millisecond.
    static LAST: AtomicU64 = AtomicU64::new(0);
    // UUIDv7 holds 48 bits of milliseconds (until the year 10889).
    let now = u64::try_from(now_ms).unwrap_or(0).min((1 << 48) - 1);
    let mut prev = LAST.load(Ordering::Relaxed);
    let stamp = loop {
        let next = if now > prev >> 12 {
            now << 12
        } else {
            prev.saturating_add(1)
        };
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => prev = seen,
        }
    };
    let mut bytes: [u8; 10] = rand::random();
    // rand_a: the counter (the builder keeps its low 12 bits).
    bytes[..2].copy_from_slice(&((stamp & 0xfff) as u16).to_be_bytes());
    uuid::Builder::from_unix_timestamp_millis(stamp >> 12, &bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::new_id;

    #[test]
    fn ids_are_uuid_v7_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..10_000)
            .map(|i| new_id(1_700_000_000_000 + i / 100))
            .collect();
        for id in &ids {
            let u = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version_num(), 7, "{id}");
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids, "ids sort as they were made");
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "no two alike");
    }
}
