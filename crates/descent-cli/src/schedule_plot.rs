//! The picture of a schedule: the learning rate (and the momentum, where it cycles) against the step.

use std::path::Path;

use descent::schedule::Preview;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::CliError;
use crate::glyphs::Glyphs;
use crate::numbers::human;
use crate::output::{extension, write_atomically};
use crate::plot::{bitmap_error, register_font, write_svg, SIZE};

/// Line colours of the groups (Okabe–Ito: blue, vermillion, bluish green, reddish purple).
const GROUP_COLORS: [RGBColor; 4] =
    [RGBColor(0, 114, 178), RGBColor(213, 94, 0), RGBColor(0, 158, 115), RGBColor(204, 121, 167)];

/// Writes the picture of `rows` to `path` (SVG or PNG, by its extension), titled `title`.
pub fn draw(path: &Path, title: &str, rows: &Preview) -> Result<(), CliError> {
    register_font();
    write_atomically(path, |file| match extension(path).as_str() {
        "svg" => write_svg(file, |root| render(root, title, rows)),
        _ => {
            let root = Glyphs(BitMapBackend::new(file, SIZE)).into_drawing_area();
            render(&root, title, rows)?;
            root.present().map_err(bitmap_error)
        }
    })
}

fn render<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, rows: &Preview) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let title: String = title.chars().take(110).collect();
    let root = root.titled(&title, ("sans-serif", 16)).map_err(e)?;
    let panels = if rows.momenta.is_some() { root.split_evenly((2, 1)) } else { vec![root] };
    let steps = rows.lrs.len();
    let groups = rows.lrs.first().map_or(0, Vec::len);
    let series = |values: &[Vec<f64>], g: usize| -> Vec<(f64, f64)> {
        values.iter().enumerate().map(|(t, row)| ((t + 1) as f64, row[g])).collect()
    };
    let mut charts: Vec<(&str, &[Vec<f64>])> = vec![("learning rate", &rows.lrs)];
    if let Some(momenta) = &rows.momenta {
        charts.push(("momentum or β₁", momenta));
    }
    for ((label, values), panel) in charts.into_iter().zip(&panels) {
        let (low, high) =
            values.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        let pad = ((high - low) * 0.05).max(high.abs() * 1e-3).max(1e-12);
        let mut chart = ChartBuilder::on(panel)
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(1.0..steps.max(2) as f64, (low - pad).min(0.0f64.max(low - pad))..high + pad)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(label)
            .light_line_style(RGBColor(235, 235, 235))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| human(*y))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(e)?;
        for g in 0..groups {
            let color = GROUP_COLORS[g % GROUP_COLORS.len()];
            let drawn = chart.draw_series(LineSeries::new(series(values, g), color.stroke_width(2))).map_err(e)?;
            if groups > 1 {
                drawn
                    .label(format!("group {g}"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            }
        }
        if groups > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(e)?;
        }
    }
    Ok(())
}
