//! Behavioral risk for didgate: the score and reasons attached to every
//! request and passed to Cedar as `context.risk`.
//!
//! Owns: the per-identity online profiles and detections ([`Engine`]), the
//! event format it learns from ([`event`]), the Freeman et al. (NDSS 2016)
//! baseline ([`freeman`]) and the evaluation harness ([`eval`]).

pub mod engine;
pub mod eval;
pub mod event;
pub mod freeman;
mod profile;

pub use engine::{factors, Engine, RiskConfig};
pub use event::{Event, EventError, EventRecord, Kind};
pub use profile::Profile;

use serde::Serialize;

/// One reason behind a score: a stable name (what policies match in
/// `context.risk.factors`) and how much it contributed, in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Factor {
    pub name: &'static str,
    pub weight: f64,
}

/// The risk of one request: a score in [0, 1], the factors behind it
/// (largest first), and whether the identity has too little history to judge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskAssessment {
    pub score: f64,
    pub factors: Vec<Factor>,
    pub cold_start: bool,
}

impl RiskAssessment {
    /// No evidence either way: score 0, no factors, cold start.
    pub fn neutral() -> Self {
        Self {
            score: 0.0,
            factors: Vec::new(),
            cold_start: true,
        }
    }

    /// Clamp a raw score into [0, 1] (NaN counts as maximal risk: fail closed).
    pub fn clamp_score(raw: f64) -> f64 {
        if raw.is_nan() {
            1.0
        } else {
            raw.clamp(0.0, 1.0)
        }
    }

    /// The factor names, largest contribution first.
    pub fn factor_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.factors.iter().map(|f| f.name)
    }
}

/// Anything that scores a time-ordered stream of events, learning as it goes:
/// the engine, and the baselines it is evaluated against.
pub trait Scorer {
    /// A short name for reports.
    fn name(&self) -> &'static str;
    /// Score `event` from what was learned so far, then learn from it.
    fn score_and_learn(&mut self, event: &Event<'_>) -> RiskAssessment;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutral_is_zero_and_cold() {
        let r = RiskAssessment::neutral();
        assert_eq!(r.score, 0.0);
        assert!(r.cold_start && r.factors.is_empty());
    }

    #[test]
    fn nan_fails_closed() {
        assert_eq!(RiskAssessment::clamp_score(f64::NAN), 1.0);
        assert_eq!(RiskAssessment::clamp_score(-3.0), 0.0);
        assert_eq!(RiskAssessment::clamp_score(7.0), 1.0);
    }
}
