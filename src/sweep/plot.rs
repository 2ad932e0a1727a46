//! The plot of a sweep: lost samples against the stop moment, one line per setting, with the
//! bucket boundaries and the flush ticks marked, drawn with plotters as SVG, or as PNG when
//! the file name says so. The right axis reads the same loss as a share of the stream's
//! samples. The x axis starts where the moments start; plotters puts the ticks on round
//! numbers.

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// One line of the plot: a setting's loss at each stop moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    /// (stream time of the stop in seconds, lost samples), sorted by time.
    pub points: Vec<(f64, u64)>,
}

/// What the plot shows besides its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub title: String,
    pub lines: Vec<Line>,
    /// Bucket starts, in seconds of stream time.
    pub buckets: Vec<f64>,
    /// Flush ticks, in seconds of stream time.
    pub ticks: Vec<f64>,
    /// Samples in the whole stream, for the right axis.
    pub stream_samples: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot draw plot {path}: {why}")]
    Draw { path: String, why: String },
    #[error(
        "cannot draw the labels of {path}: no TrueType font found (looked for {looked}); \
         set LASTBUCKET_FONT to a .ttf file"
    )]
    NoFont { path: String, looked: String },
}

const W: u32 = 960;
const H: u32 = 480;
/// Line colors: red for the first setting (flag off comes first), then blue, green, purple.
const COLORS: [RGBColor; 6] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x8c, 0x56, 0x4b),
];
pub const BUCKET_COLOR: RGBColor = RGBColor(0xb0, 0xb0, 0xb0);
pub const TICK_COLOR: RGBColor = RGBColor(0x17, 0xbe, 0xcf);

/// Draws `plot` into `path`: PNG when the name ends in `.png`, SVG otherwise.
pub fn write(path: &Path, plot: &Plot) -> Result<(), PlotError> {
    let name = path.display().to_string();
    font(&name)?;
    let fail = |why: String| PlotError::Draw {
        path: name.clone(),
        why,
    };
    let png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if png {
        let root = BitMapBackend::new(path, (W, H)).into_drawing_area();
        draw(&root, plot).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))
    } else {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
            draw(&root, plot).map_err(|e| fail(e.to_string()))?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        if path.as_os_str() == "-" {
            crate::stdout::write(svg.as_bytes()).map_err(|e| fail(e.to_string()))
        } else {
            std::fs::write(path, svg).map_err(|e| fail(e.to_string()))
        }
    }
}

/// Where a TrueType font for the labels may be, in the order they are tried.
fn font_candidates() -> Vec<String> {
    let mut v: Vec<String> = std::env::var("LASTBUCKET_FONT").into_iter().collect();
    v.extend(
        [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            "/System/Library/Fonts/Supplemental/Arial.ttf",
            "/Library/Fonts/Arial.ttf",
        ]
        .map(String::from),
    );
    v
}

/// Registers the labels' font with plotters, once per process (plotters keeps it for the
/// life of the process, hence the leak of one font file).
fn font(path: &str) -> Result<(), PlotError> {
    static FONT: OnceLock<bool> = OnceLock::new();
    let ok = *FONT.get_or_init(|| {
        font_candidates().iter().any(|f| {
            let Ok(bytes) = std::fs::read(f) else {
                return false;
            };
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::NoFont {
            path: path.to_string(),
            looked: font_candidates().join(", "),
        })
    }
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, plot: &Plot) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let points = plot.lines.iter().flat_map(|l| l.points.iter());
    let (x0, x1) = points
        .clone()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (x0, x1) = if x0 > x1 {
        (0.0, 1.0)
    } else if x1 - x0 < 1e-9 {
        (x0, x0 + 1.0)
    } else {
        (x0, x1)
    };
    let ymax = points.map(|p| p.1).max().unwrap_or(0).max(1) as f64 * 1.05;
    let share = 100.0 / plot.stream_samples.max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(&plot.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .right_y_label_area_size(64)
        .build_cartesian_2d(x0..x1, 0.0..ymax)?
        .set_secondary_coord(x0..x1, 0.0..ymax * share);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("stop moment (seconds of stream time)")
        .y_desc("lost samples")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("lost, % of the stream's samples")
        .y_label_formatter(&|v| format!("{v}%"))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .draw()?;
    let inside = |t: &&f64| **t >= x0 && **t <= x1;
    let marks = [
        (&plot.buckets, BUCKET_COLOR, "bucket start"),
        (&plot.ticks, TICK_COLOR, "flush tick"),
    ];
    for (times, color, label) in marks {
        let mut first = true;
        for t in times.iter().filter(inside) {
            let mark = chart.draw_series(DashedLineSeries::new(
                [(*t, 0.0), (*t, ymax)],
                4,
                4,
                color.stroke_width(1),
            ))?;
            if std::mem::take(&mut first) {
                mark.label(label).legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(1))
                });
            }
        }
    }
    for (i, line) in plot.lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = line.points.iter().map(|p| (p.0, p.1 as f64)).collect();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
            .label(line.label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 2, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()?;
    Ok(())
}
