//! Behavioral risk for didgate: the score and reasons attached to every
//! request and passed to Cedar as `context.risk`.
//!
//! Owns: the `RiskAssessment` type the gateway and policies consume.
//! Does not own (yet): the per-identity online profiles and detections of the
//! risk issue; until they land every request is assessed as `neutral()`
//! (score 0, no factors, cold start), which the example policies treat as
//! low risk. The type is final so policies written today keep working.

use serde::Serialize;

/// The risk of one request: a score in [0, 1], the factors behind it, and
/// whether the identity has too little history to judge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskAssessment {
    pub score: f64,
    pub factors: Vec<String>,
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
