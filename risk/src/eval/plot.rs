//! Hand-written SVG ROC plots: FPR on a log axis (1e-4 … 1), TPR linear,
//! the chance diagonal, one series per scorer. Output depends only on the
//! input (fixed number formatting, no clocks, no maps).

use std::fmt::Write;

use super::metrics::RocPoint;

/// One curve on a plot.
pub struct Series<'a> {
    pub name: &'a str,
    pub auc: f64,
    pub points: &'a [RocPoint],
}

const W: f64 = 520.0;
const H: f64 = 400.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 52.0;
/// The left end of the FPR axis.
pub const MIN_FPR: f64 = 1e-4;
const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

fn x(fpr: f64) -> f64 {
    let decades = -MIN_FPR.log10();
    let f = if fpr.is_nan() {
        MIN_FPR
    } else {
        fpr.clamp(MIN_FPR, 1.0)
    };
    let t = (f.log10() + decades) / decades;
    LEFT + t * (W - LEFT - RIGHT)
}

fn y(tpr: f64) -> f64 {
    let t = if tpr.is_nan() {
        0.0
    } else {
        tpr.clamp(0.0, 1.0)
    };
    H - BOTTOM - t * (H - TOP - BOTTOM)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A ROC plot as an SVG document.
pub fn roc_svg(title: &str, series: &[Series<'_>]) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Grid and ticks.
    let (x0, x1, y0, y1) = (x(MIN_FPR), x(1.0), y(0.0), y(1.0));
    for (k, label) in ["10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "1"].iter().enumerate() {
        let xv = x(10f64.powi(k as i32 - 4));
        let _ = writeln!(
            s,
            r##"<line x1="{xv:.1}" y1="{y1:.1}" x2="{xv:.1}" y2="{y0:.1}" stroke="#e0e0e0"/><line x1="{xv:.1}" y1="{y0:.1}" x2="{xv:.1}" y2="{:.1}" stroke="black"/><text x="{xv:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            y0 + 5.0,
            y0 + 19.0
        );
    }
    for k in 0..=5 {
        let v = k as f64 / 5.0;
        let yv = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{x0:.1}" y1="{yv:.1}" x2="{x1:.1}" y2="{yv:.1}" stroke="#e0e0e0"/><line x1="{:.1}" y1="{yv:.1}" x2="{x0:.1}" y2="{yv:.1}" stroke="black"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.1}</text>"##,
            x0 - 5.0,
            x0 - 8.0,
            yv + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{x0:.1}" y="{y1:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
        x1 - x0,
        y0 - y1
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">false-positive rate (benign events, log scale)</text>"#,
        (x0 + x1) / 2.0,
        H - 12.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">true-positive rate</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
    // Chance: TPR = FPR, a curve on a log axis.
    let mut diag = String::new();
    for k in 0..=80 {
        let f = 10f64.powf(-4.0 + 4.0 * k as f64 / 80.0);
        let _ = write!(diag, "{:.1},{:.1} ", x(f), y(f));
    }
    let _ = writeln!(
        s,
        r##"<polyline class="chance" points="{}" fill="none" stroke="#999999" stroke-dasharray="4 3"/>"##,
        diag.trim_end()
    );
    for (i, ser) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut pts = String::new();
        for p in ser.points {
            let _ = write!(pts, "{:.1},{:.1} ", x(p.fpr), y(p.tpr));
        }
        let _ = writeln!(
            s,
            r#"<polyline class="series" data-name="{}" points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            escape(ser.name),
            pts.trim_end()
        );
        // Legend (bottom right, inside the plot).
        let ly = y0 - 14.0 - 18.0 * (series.len() - 1 - i) as f64;
        let lx = x1 - 170.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{} (AUC {:.3})</text>"#,
            lx + 22.0,
            lx + 28.0,
            ly + 4.0,
            escape(ser.name),
            ser.auc
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn svg_has_axes_both_series_and_is_deterministic() {
        let a = [
            RocPoint { fpr: 0.0, tpr: 0.0 },
            RocPoint {
                fpr: 0.001,
                tpr: 0.6,
            },
            RocPoint { fpr: 1.0, tpr: 1.0 },
        ];
        let b = [
            RocPoint { fpr: 0.0, tpr: 0.0 },
            RocPoint { fpr: 1.0, tpr: 1.0 },
        ];
        let series = [
            Series {
                name: "didgate",
                auc: 0.93,
                points: &a,
            },
            Series {
                name: "freeman <&>",
                auc: 0.5,
                points: &b,
            },
        ];
        let svg = roc_svg("ROC: account takeover", &series);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(r#"data-name="didgate""#));
        assert!(svg.contains(r#"data-name="freeman &lt;&amp;&gt;""#));
        assert_eq!(svg.matches("class=\"series\"").count(), 2);
        assert!(svg.contains("class=\"chance\""));
        assert!(svg.contains("10⁻⁴") && svg.contains("AUC 0.930"));
        assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
        assert_eq!(svg, roc_svg("ROC: account takeover", &series));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
