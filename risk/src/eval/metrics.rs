//! Detection metrics over scored events.
//!
//! Conventions:
//! - Higher scores mean "more likely an attack"; NaN counts as 1 (as
//!   [`crate::RiskAssessment::clamp_score`] does: fail closed).
//! - An event is flagged at threshold `τ` when `score ≥ τ`.
//! - The threshold for a target false-positive rate `α` is the lowest `τ`
//!   whose realised benign FPR (benign events scoring `≥ τ`, over all benign
//!   events) does not exceed `α`. Candidates are the benign scores and the
//!   floats just above them, so a run of tied benign scores straddling the
//!   `α` quantile is left unflagged rather than pushing the FPR over `α`.
//! - AUC is the Mann–Whitney statistic: the probability that a random
//!   positive outscores a random negative, ties counting one half.

/// One point of a ROC curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RocPoint {
    pub fpr: f64,
    pub tpr: f64,
}

fn clean(s: f64) -> f64 {
    if s.is_nan() {
        1.0
    } else {
        s
    }
}

/// Scores sorted ascending, NaN replaced.
pub fn sorted(scores: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = scores.iter().map(|&s| clean(s)).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// ROC AUC with ties counted one half. `negatives_sorted` ascending (see
/// [`sorted`]). 0.5 when either side is empty.
pub fn auc(positives: &[f64], negatives_sorted: &[f64]) -> f64 {
    if positives.is_empty() || negatives_sorted.is_empty() {
        return 0.5;
    }
    let mut wins = 0.0;
    for &p in positives {
        let p = clean(p);
        let below = negatives_sorted.partition_point(|&n| n < p);
        let not_above = negatives_sorted.partition_point(|&n| n <= p);
        wins += below as f64 + 0.5 * (not_above - below) as f64;
    }
    wins / (positives.len() as f64 * negatives_sorted.len() as f64)
}

/// The threshold for target FPR `alpha` (see the module conventions).
/// With no negatives, 0 (everything is flagged).
pub fn threshold_at_fpr(negatives_sorted: &[f64], alpha: f64) -> f64 {
    let n = negatives_sorted.len();
    if n == 0 {
        return 0.0;
    }
    let allowed = (alpha.clamp(0.0, 1.0) * n as f64 + 1e-9).floor() as usize;
    if allowed >= n {
        return negatives_sorted[0];
    }
    // The (allowed+1)-th largest benign score must not be flagged: the
    // threshold is just above it. Any lower candidate would flag it.
    let v = negatives_sorted[n - 1 - allowed];
    v.next_up()
}

/// The fraction of `scores` at or above `threshold`.
pub fn rate_at(scores: &[f64], threshold: f64) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.iter().filter(|&&s| clean(s) >= threshold).count() as f64 / scores.len() as f64
}

/// The ROC curve: one point per distinct score (descending thresholds),
/// from (0, 0) to (1, 1). `negatives_sorted` ascending.
pub fn roc_curve(positives: &[f64], negatives_sorted: &[f64]) -> Vec<RocPoint> {
    let pos = sorted(positives);
    let (np, nn) = (pos.len() as f64, negatives_sorted.len() as f64);
    let mut points = vec![RocPoint { fpr: 0.0, tpr: 0.0 }];
    if pos.is_empty() || negatives_sorted.is_empty() {
        points.push(RocPoint { fpr: 1.0, tpr: 1.0 });
        return points;
    }
    let (mut i, mut j) = (pos.len(), negatives_sorted.len());
    while i > 0 || j > 0 {
        let next = match (i > 0, j > 0) {
            (true, true) => pos[i - 1].max(negatives_sorted[j - 1]),
            (true, false) => pos[i - 1],
            _ => negatives_sorted[j - 1],
        };
        while i > 0 && pos[i - 1] >= next {
            i -= 1;
        }
        while j > 0 && negatives_sorted[j - 1] >= next {
            j -= 1;
        }
        points.push(RocPoint {
            fpr: (negatives_sorted.len() - j) as f64 / nn,
            tpr: (pos.len() - i) as f64 / np,
        });
    }
    points
}

/// Thin a ROC curve for plotting on a log-FPR axis (from `min_fpr`):
/// keeps the end points and any point that moves visibly.
pub fn thin(points: &[RocPoint], min_fpr: f64) -> Vec<RocPoint> {
    let mut out: Vec<RocPoint> = Vec::new();
    let x = |p: &RocPoint| p.fpr.max(min_fpr).log10();
    for (k, p) in points.iter().enumerate() {
        let keep = match out.last() {
            None => true,
            Some(last) => {
                k + 1 == points.len()
                    || (x(p) - x(last)).abs() > 0.004
                    || (p.tpr - last.tpr).abs() > 0.004
            }
        };
        if keep {
            out.push(*p);
        }
    }
    out
}

/// Per attack instance (events in stream order, as `(instance, score)`):
/// how many of the instance's events came before the first flagged one
/// (`None`: never flagged).
pub fn detection_delays(
    events: impl IntoIterator<Item = (u32, f64)>,
    threshold: f64,
) -> Vec<(u32, Option<usize>)> {
    let mut seen: std::collections::BTreeMap<u32, (usize, Option<usize>)> = Default::default();
    for (instance, score) in events {
        let entry = seen.entry(instance).or_insert((0, None));
        if entry.1.is_none() {
            if clean(score) >= threshold {
                entry.1 = Some(entry.0);
            }
            entry.0 += 1;
        }
    }
    seen.into_iter().map(|(k, (_, d))| (k, d)).collect()
}

/// The median of the detected instances' delays, and the detected fraction.
pub fn summarise_delays(delays: &[(u32, Option<usize>)]) -> (Option<f64>, f64) {
    let mut detected: Vec<usize> = delays.iter().filter_map(|(_, d)| *d).collect();
    detected.sort_unstable();
    let fraction = if delays.is_empty() {
        0.0
    } else {
        detected.len() as f64 / delays.len() as f64
    };
    let median = match detected.len() {
        0 => None,
        n if n % 2 == 1 => Some(detected[n / 2] as f64),
        n => Some((detected[n / 2 - 1] + detected[n / 2]) as f64 / 2.0),
    };
    (median, fraction)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn auc_extremes_and_ties() {
        let neg = sorted(&[0.1, 0.2, 0.3]);
        assert_eq!(auc(&[0.5, 0.9], &neg), 1.0);
        assert_eq!(auc(&[0.0, 0.05], &neg), 0.0);
        assert_eq!(auc(&[0.2], &sorted(&[0.2, 0.2])), 0.5);
        // All tied: 0.5, not 0 or 1.
        assert_eq!(auc(&[0.5; 4], &sorted(&[0.5; 6])), 0.5);
        // One win, one tie, one loss against [0.1, 0.2, 0.3] for 0.2: (1 + 0.5) / 3.
        assert!((auc(&[0.2], &neg) - 0.5).abs() < 1e-12);
        assert!((auc(&[0.25], &neg) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(auc(&[], &neg), 0.5);
        // NaN is maximal.
        assert_eq!(auc(&[f64::NAN], &neg), 1.0);
    }

    #[test]
    fn threshold_respects_the_target_fpr_and_ties() {
        let neg: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let neg = sorted(&neg);
        let t = threshold_at_fpr(&neg, 0.01);
        assert!(
            (rate_at(&neg, t) - 0.01).abs() < 1e-12,
            "{}",
            rate_at(&neg, t)
        );
        let t = threshold_at_fpr(&neg, 0.001);
        assert_eq!(rate_at(&neg, t), 0.001);
        assert_eq!(rate_at(&[0.995, 0.5, 0.9995], t), 1.0 / 3.0);
        // Ties straddling the quantile are not flagged.
        let mut tied = vec![0.0; 980];
        tied.extend([0.7; 30]);
        let tied = sorted(&tied);
        let t = threshold_at_fpr(&tied, 0.01);
        assert!(t > 0.7 && rate_at(&tied, t) == 0.0);
        assert_eq!(threshold_at_fpr(&[], 0.01), 0.0);
        assert_eq!(threshold_at_fpr(&neg, 1.0), 0.0);
    }

    #[test]
    fn roc_curve_runs_corner_to_corner() {
        let neg = sorted(&[0.1, 0.2, 0.3, 0.4]);
        let roc = roc_curve(&[0.35, 0.5], &neg);
        assert_eq!(roc.first(), Some(&RocPoint { fpr: 0.0, tpr: 0.0 }));
        assert_eq!(roc.last(), Some(&RocPoint { fpr: 1.0, tpr: 1.0 }));
        assert_eq!(roc[1], RocPoint { fpr: 0.0, tpr: 0.5 });
        assert_eq!(
            roc[2],
            RocPoint {
                fpr: 0.25,
                tpr: 0.5
            }
        );
        assert_eq!(
            roc[3],
            RocPoint {
                fpr: 0.25,
                tpr: 1.0
            }
        );
        // A tie moves diagonally in one step.
        let roc = roc_curve(&[0.2], &sorted(&[0.2]));
        assert_eq!(
            roc,
            vec![
                RocPoint { fpr: 0.0, tpr: 0.0 },
                RocPoint { fpr: 1.0, tpr: 1.0 }
            ]
        );
        let thinned = thin(&roc_curve(&[0.35, 0.5], &neg), 1e-4);
        assert_eq!(thinned.last(), Some(&RocPoint { fpr: 1.0, tpr: 1.0 }));
    }

    #[test]
    fn delays_count_events_before_the_first_flag() {
        let events = [(0, 0.1), (1, 0.9), (0, 0.2), (0, 0.95), (0, 0.1), (2, 0.0)];
        let d = detection_delays(events, 0.9);
        assert_eq!(d, vec![(0, Some(2)), (1, Some(0)), (2, None)]);
        let (median, fraction) = summarise_delays(&d);
        assert_eq!(median, Some(1.0));
        assert!((fraction - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(summarise_delays(&[]), (None, 0.0));
    }
}
