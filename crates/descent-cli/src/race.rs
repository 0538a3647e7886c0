//! `descent race`: several optimizers from one start point, a table of how each did, and pictures.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use descent::optim::ARTICLE;
use descent_landscape::{default_grid, race, tune, CriticalKind, Entrant, Outcome, Run, Surface};
use serde_json::json;

use crate::args::{parse_entrant, ReportFormat, RunArgs, SurfaceArgs};
use crate::error::CliError;
use crate::limits;
use crate::output::check_writable;
use crate::plot::{self, Scene, PICTURE_FORMATS};
use crate::progress;
use crate::table::Table;

/// Arguments of `descent race`.
#[derive(Debug, Args)]
pub struct RaceCommand {
    #[command(flatten)]
    surface: SurfaceArgs,

    /// The optimizers, each a spec such as adam or 'sgd(lr=0.01, momentum=0.9)' [default: the seven of the
    /// article at PyTorch's defaults: sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam].
    #[arg(long, short = 'o', visible_alias = "optimizer", num_args = 1.., value_name = "SPEC", value_parser = parse_entrant)]
    optimizers: Vec<Entrant>,

    #[command(flatten)]
    run: RunArgs,

    /// Choose each optimizer's learning rate first: the one of a log grid from 1e-4 to 10 with the lowest final
    /// loss, so that the race is fair.
    #[arg(long)]
    tune: bool,

    /// Draw the surface's contour map with every trajectory, as SVG or PNG.
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    plot: Option<PathBuf>,

    /// Draw an animated GIF in which the trajectories advance step by step.
    #[arg(long, value_name = "FILE.gif")]
    animate: Option<PathBuf>,

    /// The distance from a known minimum that counts as reaching it.
    #[arg(long, default_value_t = 1e-3, value_name = "D", allow_hyphen_values = true)]
    tolerance: f64,

    /// table: aligned columns; json: one object per optimizer.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
}

/// Entrants from built-in (label, spec) pairs.
pub fn entrants(pairs: &[(&str, &str)]) -> Vec<Entrant> {
    pairs
        .iter()
        .map(|(label, spec)| Entrant { label: label.to_string(), spec: spec.parse().expect("built-in specs parse") })
        .collect()
}

/// Runs the command, printing to `out`.
pub fn execute(command: &RaceCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let (surface, start) = command.surface.resolve()?;
    let config = command.run.run(start)?;
    config.check(surface.as_ref())?;
    if !(command.tolerance.is_finite() && command.tolerance >= 0.0) {
        return Err(CliError::Usage(format!("invalid --tolerance {} (expected a distance >= 0)", command.tolerance)));
    }
    if let Some(path) = &command.plot {
        check_writable(path, &PICTURE_FORMATS)?;
    }
    if let Some(path) = &command.animate {
        check_writable(path, &["gif"])?;
    }
    limits::check_optimizers(command.optimizers.len())?;
    let mut entrants = if command.optimizers.is_empty() { entrants(&ARTICLE) } else { command.optimizers.clone() };
    if command.tune {
        entrants = tune_all(surface.as_ref(), &entrants, &config)?;
    }
    let outcomes = race(surface.as_ref(), &entrants, &config, command.tolerance)?;
    match command.format {
        ReportFormat::Table => {
            writeln!(out, "{}", heading(surface.as_ref(), &config))?;
            write!(out, "{}", table(&outcomes, command.tolerance, command.tune))?;
            if !command.tune && command.optimizers.is_empty() {
                writeln!(out, "(learning rates are PyTorch's defaults; --tune chooses each optimizer's best)")?;
            }
        }
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &json_report(&outcomes, command.tolerance))
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
    }
    // A report that cannot be printed stops the command before it writes any picture.
    out.flush()?;
    let scene = Scene {
        surface: surface.as_ref(),
        start: &config.start,
        outcomes: &outcomes,
        schedule: config.schedule.is_some(),
    };
    if let Some(path) = &command.plot {
        plot::draw(path, &scene)?;
    }
    if let Some(path) = &command.animate {
        draw_animation(path, &scene, config.steps)?;
    }
    let written: Vec<String> =
        [&command.plot, &command.animate].into_iter().flatten().map(|p| p.display().to_string()).collect();
    if command.format == ReportFormat::Table && !written.is_empty() {
        writeln!(out, "Wrote {}", written.join(", "))?;
    }
    Ok(())
}

/// Writes the animation of `scene`, with a progress bar.
pub fn draw_animation(path: &std::path::Path, scene: &Scene, steps: usize) -> Result<(), CliError> {
    let bar = progress::bar(plot::frame_count(steps) as u64, "animating");
    let result = plot::animate(path, scene, &|| bar.inc(1));
    bar.finish_and_clear();
    result
}

/// Tunes every entrant's learning rate, with a progress bar.
fn tune_all(surface: &dyn Surface, entrants: &[Entrant], config: &Run) -> Result<Vec<Entrant>, CliError> {
    let grid = default_grid();
    let bar = progress::bar((entrants.len() * grid.len()) as u64, "tuning");
    let tuned = entrants
        .iter()
        .map(|entrant| {
            let tuned = tune(surface, &entrant.spec, config, &grid, &|| bar.inc(1))?;
            Ok(Entrant { label: entrant.label.clone(), spec: tuned.spec })
        })
        .collect::<Result<Vec<_>, CliError>>();
    bar.finish_and_clear();
    tuned
}

/// The line above a race's table.
pub fn heading(surface: &dyn Surface, config: &Run) -> String {
    let start: Vec<String> = config.start.iter().map(|v| format!("{v}")).collect();
    let mut heading = format!(
        "{}: J = {}, from ({}), {} steps, {}",
        surface.name(),
        surface.formula(),
        start.join(", "),
        config.steps,
        config.precision.name()
    );
    if let Some(noise) = config.noise {
        heading.push_str(&format!(", gradient noise σ = {} (seed {})", noise.sigma(), noise.seed()));
    }
    heading
}

/// The table of a race.
pub fn table(outcomes: &[Outcome], tolerance: f64, tuned: bool) -> Table {
    let lr = if tuned { "lr (tuned)" } else { "lr" };
    let within = format!("first within {tolerance:e}");
    let mut table =
        Table::new(&["optimizer", lr, "final loss", "nearest known minimum", "distance", &within, "status"]);
    for outcome in outcomes {
        let summary = &outcome.summary;
        let (nearest, distance) = match &summary.nearest {
            Some((minimum, d)) => {
                (format!("{} {}", kind_name(minimum.kind), point(&minimum.point)), format!("{d:.2e}"))
            }
            None => ("-".to_owned(), "-".to_owned()),
        };
        let reached_at = summary.reached_at.map_or("-".to_owned(), |s| format!("step {s}"));
        let status = if summary.diverged {
            "diverged"
        } else if summary.nearest.is_none() {
            "no known minimum"
        } else if summary.reached(tolerance) {
            "reached"
        } else {
            "not reached"
        };
        table.row(vec![
            outcome.entrant.label.clone(),
            format!("{:.3e}", outcome.entrant.spec.lr()),
            format!("{:.4e}", summary.final_loss),
            nearest,
            distance,
            reached_at,
            status.to_owned(),
        ]);
    }
    table
}

fn kind_name(kind: CriticalKind) -> &'static str {
    match kind {
        CriticalKind::GlobalMinimum => "global",
        CriticalKind::LocalMinimum => "local",
        CriticalKind::Saddle => "saddle",
        CriticalKind::Maximum => "maximum",
    }
}

/// A point for a table cell: `(3, 2)`, `(-2.805, 3.131)`, the first three coordinates of longer ones.
fn point(p: &[f64]) -> String {
    let mut parts: Vec<String> =
        p.iter().take(3).map(|v| format!("{:.4}", v).trim_end_matches('0').trim_end_matches('.').to_owned()).collect();
    if p.len() > 3 {
        parts.push("…".to_owned());
    }
    format!("({})", parts.join(", "))
}

fn json_report(outcomes: &[Outcome], tolerance: f64) -> serde_json::Value {
    outcomes
        .iter()
        .map(|o| {
            let s = &o.summary;
            json!({
                "optimizer": o.entrant.label,
                "spec": o.entrant.spec.to_string(),
                "hyperparameters": o.entrant.spec.hyperparameters(),
                "final_loss": s.final_loss,
                "final_point": o.trajectory.last_point(),
                "nearest_minimum": s.nearest.as_ref().map(|(m, _)| json!({
                    "point": m.point, "value": m.value, "kind": m.kind.label(),
                })),
                "distance": s.nearest.as_ref().map(|(_, d)| d),
                "reached": s.reached(tolerance),
                "reached_at": s.reached_at,
                "diverged": s.diverged,
                "steps_taken": o.trajectory.points.len() - 1,
            })
        })
        .collect()
}
