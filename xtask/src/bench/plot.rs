//! The scaling plots: one SVG per axis, throughput above and client CPU per
//! record below, a line per client and workload. The axis values are evenly
//! spaced whatever their size (1, 10, 100, 1,000, 4,000 partitions read as a
//! log scale; 0 and 5 ms of linger as two columns).

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
/// Which number of a point a panel shows.
type Measure = fn(&(u64, f64, f64)) -> f64;

/// One line of a plot.
#[derive(Debug, Clone)]
pub struct Curve {
    /// The legend's text.
    pub label: String,
    /// The client, which picks the colour.
    pub client: usize,
    /// The workload, which picks the marker.
    pub marker: usize,
    /// (axis value, records/s, CPU µs per record).
    pub points: Vec<(u64, f64, f64)>,
}

/// Draws `curves` over the axis values `xs` (written as `labels`) into the
/// SVG file `path`.
pub fn draw(
    path: &Path,
    title: &str,
    xs: &[u64],
    labels: &[String],
    curves: &[Curve],
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (960, 960)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (top, bottom) = root.split_vertically(480);
    let column = |x: u64| xs.iter().position(|v| *v == x).unwrap_or(0);
    let panels: [(&Area, &str, Measure); 2] = [
        (&top, "records/s", |p| p.1),
        (&bottom, "client CPU µs per record", |p| p.2),
    ];
    for (area, measure, value) in panels {
        let highest = curves
            .iter()
            .flat_map(|c| c.points.iter().map(value))
            .fold(0.0_f64, f64::max);
        let top_y = if highest > 0.0 { highest * 1.15 } else { 1.0 };
        #[allow(clippy::cast_precision_loss)]
        let last = (xs.len().max(2) - 1) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{measure} by {title}"), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.3..last + 0.3, 0.0..top_y)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_labels(xs.len().max(2))
            .x_label_formatter(&|x| {
                let nearest = x.round();
                if (x - nearest).abs() > 0.01 || nearest < 0.0 {
                    return String::new();
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                labels.get(nearest as usize).cloned().unwrap_or_default()
            })
            .x_desc(title)
            .y_desc(measure)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for curve in curves {
            let colour = Palette99::pick(curve.client * 3).to_rgba();
            #[allow(clippy::cast_precision_loss)]
            let points: Vec<(f64, f64)> = curve
                .points
                .iter()
                .map(|p| (column(p.0) as f64, value(p)))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                .map_err(|e| anyhow!("{e}"))?
                .label(&curve.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
            let style = colour.filled();
            match curve.marker % 3 {
                0 => chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, style))),
                1 => chart.draw_series(points.iter().map(|p| TriangleMarker::new(*p, 5, style))),
                _ => chart.draw_series(points.iter().map(|p| Cross::new(*p, 4, style))),
            }
            .map_err(|e| anyhow!("{e}"))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
