//! The learning-rate panel drawn under a picture when a schedule is set: one line per optimizer, in its colour.

use plotters::coord::Shift;
use plotters::prelude::*;

/// Draws `series` (each optimizer's colour and its (x, lr) points) in `area`, with `x_desc` under the x axis: on a
/// log scale when the rates span more than a factor of ten, so that optimizers of different base rates all show.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x_desc: &str,
    x_range: (f64, f64),
    series: &[(RGBColor, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let values = series.iter().flat_map(|(_, points)| points.iter().map(|p| p.1)).filter(|v| v.is_finite());
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if low > high {
        return Ok(());
    }
    let mut builder = ChartBuilder::on(area);
    builder.margin(14).margin_top(4).x_label_area_size(34).y_label_area_size(64);
    let (x0, x1) = (x_range.0, x_range.1.max(x_range.0 + 1.0));
    // The same axes and lines on either scale (two chart types, hence a macro).
    macro_rules! finish {
        ($chart:expr, $format:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .x_label_formatter(&|x| format!("{x}"))
                .y_desc("learning rate")
                .light_line_style(RGBColor(238, 238, 238))
                .y_label_formatter(&$format)
                .label_style(("sans-serif", 12))
                .draw()
                .map_err(e)?;
            for (color, points) in series {
                chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2))).map_err(e)?;
            }
        }};
    }
    if low > 0.0 && high / low > 10.0 {
        finish!(
            builder.build_cartesian_2d(x0..x1, (low / 1.5..high * 1.5).log_scale()).map_err(e)?,
            |v: &f64| format!("{v:.0e}")
        );
    } else {
        let pad = ((high - low) * 0.08).max(high.abs() * 0.05).max(1e-12);
        finish!(builder.build_cartesian_2d(x0..x1, (low - pad).max(0.0)..high + pad).map_err(e)?, |v: &f64| format!(
            "{v:.2e}"
        ));
    }
    Ok(())
}
