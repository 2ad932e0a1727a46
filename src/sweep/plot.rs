//! The SVG plot of a sweep: lost samples (and the lost fraction, on the right axis) against the
//! stop moment, one line per flag setting. Plain SVG written by hand: no plotting dependency
//! for a handful of polylines.

use std::fmt::Write;

/// One line of the plot.
pub struct Line {
    pub label: String,
    /// (stream time of the stop in seconds, lost samples, sent samples).
    pub points: Vec<(f64, u64, u64)>,
}

const W: f64 = 800.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 4] = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the plot.
pub fn render(title: &str, lines: &[Line]) -> String {
    let xmax = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(0.0, f64::max)
        .max(1e-9);
    let ymax = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let smax = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.2))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let x = |v: f64| LEFT + v / xmax * (W - LEFT - RIGHT);
    let y = |v: f64| H - BOTTOM - v / ymax * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        esc(title)
    );
    // Axes and ticks.
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#,
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM
    );
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="black"/>"#,
        H - BOTTOM
    );
    let _ = writeln!(
        s,
        r#"<line x1="{}" y1="{TOP}" x2="{}" y2="{}" stroke="black"/>"#,
        W - RIGHT,
        W - RIGHT,
        H - BOTTOM
    );
    for i in 0..=5 {
        let f = i as f64 / 5.0;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{:.1}</text>"#,
            x(f * xmax),
            H - BOTTOM + 18.0,
            f * xmax
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{:.0}</text>"#,
            LEFT - 6.0,
            y(f * ymax) + 4.0,
            f * ymax
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="start">{:.1}%</text>"#,
            W - RIGHT + 6.0,
            y(f * ymax) + 4.0,
            f * ymax / smax * 100.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">stop moment (stream time, s)</text>"#,
        W / 2.0,
        H - 20.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">lost samples</text>"#,
        H / 2.0,
        H / 2.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" transform="rotate(90 {} {})" text-anchor="middle">lost fraction of sent</text>"#,
        W - 14.0,
        H / 2.0,
        W - 14.0,
        H / 2.0
    );
    for (i, line) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = line
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.0), y(p.1 as f64)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="12" height="12" fill="{color}"/>"#,
            LEFT + 10.0,
            TOP + 4.0 + 18.0 * i as f64
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            LEFT + 28.0,
            TOP + 14.0 + 18.0 * i as f64,
            esc(&line.label)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_polyline_per_line() {
        let svg = render(
            "t <&>",
            &[
                Line {
                    label: "flag=off".into(),
                    points: vec![(0.0, 0, 10), (5.0, 7, 100)],
                },
                Line {
                    label: "flag=on".into(),
                    points: vec![(0.0, 0, 10), (5.0, 0, 100)],
                },
            ],
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("t &lt;&amp;&gt;"));
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
