//! `descent race`: several optimizers from one start point, a table of how each did, and pictures.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use descent::optim::ARTICLE;
use descent_landscape::{default_grid, race, tune, CriticalKind, Entrant, Outcome, Run, Summary, Surface};
use serde_json::json;

use crate::args::{parse_entrant, ReportFormat, RunArgs, SurfaceArgs};
use crate::error::CliError;
use crate::limits;
use crate::numbers::human;
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
            for note in notes(&outcomes) {
                writeln!(out, "{note}")?;
            }
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
        story: None,
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

/// The table of a race: where each optimizer ended (the critical point it settled at, found by Newton's method
/// and classified by the Hessian), when it first came within `tolerance` of the nearest known minimum, and, on a
/// surface with a saddle point, whether it left the saddle and how far below it it went.
pub fn table(outcomes: &[Outcome], tolerance: f64, tuned: bool) -> Table {
    let lr = if tuned { "lr (tuned)" } else { "lr" };
    let within = format!("first within {}", human(tolerance));
    // The saddle's columns, where the saddle is the story: some run stalled at one, or no minimum is known.
    let saddle = outcomes.iter().any(|o| o.summary.saddle.as_ref().is_some_and(|e| e.stuck()))
        || outcomes.iter().all(|o| o.summary.nearest.is_none() && o.summary.saddle.is_some());
    let minima = outcomes.iter().any(|o| o.summary.nearest.is_some());
    let mut header = vec!["optimizer", lr, "final loss", "ended at"];
    if minima {
        header.push(&within);
    }
    if saddle {
        header.extend(["left the saddle", "below the saddle"]);
    }
    header.push("status");
    let mut table = Table::new(&header);
    for outcome in outcomes {
        let summary = &outcome.summary;
        let reached_at = summary.reached_at.map_or("-".to_owned(), |s| format!("step {s}"));
        let mut row = vec![
            outcome.entrant.label.clone(),
            human(outcome.entrant.spec.lr()),
            human(summary.final_loss),
            ended_at(outcome),
        ];
        if minima {
            row.push(reached_at);
        }
        if saddle {
            match &summary.saddle {
                Some(escape) => {
                    row.push(match (escape.arrived_at, escape.escaped_at) {
                        (Some(_), Some(step)) => format!("step {step}"),
                        (Some(_), None) => "no".to_owned(),
                        (None, _) => "never came near".to_owned(),
                    });
                    row.push(if summary.diverged { "-".to_owned() } else { human(escape.depth) });
                }
                None => row.extend(["-".to_owned(), "-".to_owned()]),
            }
        }
        row.push(status(summary, tolerance).to_owned());
        table.row(row);
    }
    table
}

/// What a reader may misread in a race's table, explained: one line each.
pub fn notes(outcomes: &[Outcome]) -> Vec<String> {
    let mut notes = Vec::new();
    let slow = outcomes.iter().find(|o| {
        let losses = &o.trajectory.losses;
        o.entrant.spec.class() == "Adadelta" && !o.summary.diverged && losses[losses.len() - 1] > 0.5 * losses[0]
    });
    if let Some(outcome) = slow {
        notes.push(format!(
            "({} barely moved: AdaDelta's first steps are about lr·√eps (lr·{:.0e} at its default eps) and grow only \
             as its running averages fill; it is slow to start, not broken)",
            outcome.entrant.label,
            1e-6f64.sqrt()
        ));
    }
    notes
}

/// Where a run ended, in words: the critical point it settled at, or where it still was.
fn ended_at(outcome: &Outcome) -> String {
    let summary = &outcome.summary;
    if summary.diverged {
        return "-".to_owned();
    }
    match &summary.ended_at {
        Some(p) if p.kind == CriticalKind::GlobalMinimum => format!("global minimum {}", point(&p.point)),
        Some(p) if p.kind == CriticalKind::Saddle => {
            format!("saddle point {}, J = {}", point(&p.point), human(p.value))
        }
        Some(p) => format!("{} {}, J = {}", p.kind.label(), point(&p.point), human(p.value)),
        None => format!("moving, at {}", point(outcome.trajectory.last_point())),
    }
}

fn status(summary: &Summary, tolerance: f64) -> &'static str {
    if summary.diverged {
        return "diverged";
    }
    let nearest = summary.nearest.as_ref().map(|(m, _)| m.kind);
    match (summary.ended_at.as_ref().map(|p| p.kind), &summary.saddle) {
        _ if summary.reached(tolerance) && nearest == Some(CriticalKind::GlobalMinimum) => "reached",
        (Some(CriticalKind::LocalMinimum), _) => "stuck in a local minimum",
        _ if summary.reached(tolerance) => "stuck in a local minimum",
        (Some(CriticalKind::Saddle), _) => "stuck at the saddle",
        (_, Some(escape)) if escape.stuck() => "stuck at the saddle",
        (_, Some(escape)) if summary.nearest.is_none() && escape.depth > 0.0 => "escaped the saddle",
        _ if summary.nearest.is_none() => "no known minimum",
        _ => "not reached",
    }
}

/// A point for a table cell: `(3, 2)`, `(-2.805, 3.131)`, the first three coordinates of longer ones.
fn point(p: &[f64]) -> String {
    let coordinate = |v: &f64| {
        let text = format!("{v:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        if text == "-0" {
            "0".to_owned()
        } else {
            text.to_owned()
        }
    };
    let mut parts: Vec<String> =
        p.iter().take(3).map(|v| if v.abs() < 1e5 { coordinate(v) } else { human(*v) }).collect();
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
                "ended_at": s.ended_at.as_ref().map(|p| json!({
                    "point": p.point, "value": p.value, "kind": p.kind.label(),
                })),
                "saddle": s.saddle.as_ref().map(|e| json!({
                    "point": e.saddle.point, "radius": e.radius, "arrived_at": e.arrived_at,
                    "escaped_at": e.escaped_at, "depth": e.depth,
                })),
                "diverged": s.diverged,
                "steps_taken": o.trajectory.points.len() - 1,
            })
        })
        .collect()
}
