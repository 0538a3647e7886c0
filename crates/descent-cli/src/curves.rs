//! Training curves: loss and test accuracy per epoch, one line per optimizer.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::CliError;
use crate::glyphs::Glyphs;
use crate::output::{extension, write_atomically};
use crate::plot::{bitmap_error, register_font, write_svg, PALETTE, SIZE};
use descent_train::Training;

/// Writes the curves of `trainings` to `path` (SVG or PNG, by its extension), with the learning rate of every
/// step under them when a `schedule` was set.
pub fn draw(path: &Path, dataset: &str, trainings: &[Training], schedule: bool) -> Result<(), CliError> {
    register_font();
    write_atomically(path, |file| match extension(path).as_str() {
        "svg" => write_svg(file, |root| render(root, dataset, trainings, schedule)),
        _ => {
            let root = Glyphs(BitMapBackend::new(file, SIZE)).into_drawing_area();
            render(&root, dataset, trainings, schedule)?;
            root.present().map_err(bitmap_error)
        }
    })
}

fn render<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    dataset: &str,
    trainings: &[Training],
    schedule: bool,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root.titled(dataset, ("sans-serif", 20)).map_err(|e| e.to_string())?;
    let root = if schedule {
        let (curves, lr_area) = root.split_vertically(root.dim_in_pixel().1 * 7 / 10);
        let series: Vec<(RGBColor, Vec<(f64, f64)>)> = trainings
            .iter()
            .enumerate()
            .map(|(index, training)| {
                let points = training.epochs.iter().flat_map(|e| {
                    let n = e.lrs.len().max(1) as f64;
                    e.lrs.iter().enumerate().map(move |(k, lr)| ((e.epoch - 1) as f64 + (k + 1) as f64 / n, *lr))
                });
                (PALETTE[index % PALETTE.len()], points.collect())
            })
            .collect();
        let epochs = trainings.iter().flat_map(|t| t.epochs.last().map(|e| e.epoch)).max().unwrap_or(1);
        crate::lr_panel::draw(&lr_area, "epoch", (0.0, epochs as f64), &series)?;
        curves
    } else {
        root
    };
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    let epochs = trainings.iter().flat_map(|t| t.epochs.last().map(|e| e.epoch)).max().unwrap_or(1).max(1);
    let losses = trainings.iter().flat_map(|t| t.epochs.iter().flat_map(|e| [e.train_loss, e.test_loss]));
    let top = losses.fold(0.0f64, f64::max).max(1e-3) * 1.05;
    let (lowest, highest) = trainings
        .iter()
        .flat_map(|t| t.epochs.iter().map(|e| e.test_accuracy))
        .fold((1.0f64, 0.0f64), |(lo, hi), a| (lo.min(a), hi.max(a)));
    let accuracy_floor = if lowest > highest { 0.0 } else { (lowest - 0.02).max(0.0) };

    let mut loss = ChartBuilder::on(&left)
        .caption("loss (solid: test, dashed: training)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(1.0..epochs as f64, 0.0..top)
        .map_err(|e| e.to_string())?;
    let whole = |x: &f64| format!("{x:.0}");
    loss.configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(242, 242, 242))
        .x_labels(epochs)
        .x_label_formatter(&whole)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;
    let mut accuracy = ChartBuilder::on(&right)
        .caption("test accuracy", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(1.0..epochs as f64, accuracy_floor..1.0)
        .map_err(|e| e.to_string())?;
    accuracy
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("test accuracy")
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(242, 242, 242))
        .x_labels(epochs)
        .x_label_formatter(&whole)
        .y_label_formatter(&|a| format!("{:.0}%", 100.0 * a))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;

    for (index, training) in trainings.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let points = |f: fn(&descent_train::Epoch) -> f64| -> Vec<(f64, f64)> {
            training.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect()
        };
        let mut label = training.entrant.label.clone();
        if training.diverged {
            label.push_str(" (diverged)");
        }
        loss.draw_series(LineSeries::new(points(|e| e.test_loss), color.stroke_width(2))).map_err(|e| e.to_string())?;
        loss.draw_series(DashedLineSeries::new(points(|e| e.train_loss), 6, 4, color.stroke_width(1)))
            .map_err(|e| e.to_string())?;
        accuracy
            .draw_series(LineSeries::new(points(|e| e.test_accuracy), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    accuracy
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())
}
