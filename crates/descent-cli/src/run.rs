//! `descent run`: one optimizer's trajectory on a surface, printed as CSV or JSON.

use std::io::Write;

use clap::{Args, ValueEnum};
use descent::Spec;
use descent_landscape::{run, Trajectory};
use serde_json::json;

use crate::args::{parse_spec, RunArgs, SurfaceArgs};
use crate::error::CliError;

/// Arguments of `descent run`.
#[derive(Debug, Args)]
pub struct RunCommand {
    #[command(flatten)]
    surface: SurfaceArgs,

    /// The optimizer: a name, or name(key=value, ...) with PyTorch's names and Python's values, such as
    /// 'sgd(lr=0.01, momentum=0.9, nesterov=True)'. Unset keys take PyTorch's defaults.
    #[arg(long, short, visible_alias = "optimizers", value_name = "SPEC", value_parser = parse_spec)]
    optimizer: Spec,

    #[command(flatten)]
    run: RunArgs,

    /// csv: a header `step,x0,x1,...,loss`, then one row per point, from the start (step 0); json: the same
    /// points with the resolved hyperparameters. With --lr-schedule, each row also has the `lr` of the step that
    /// led to it.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
}

/// The output formats of `descent run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Csv,
    Json,
}

/// Runs the command, printing to `out`.
pub fn execute(command: &RunCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let (surface, start) = command.surface.resolve()?;
    let config = command.run.run(start)?;
    let trajectory = run(surface.as_ref(), &command.optimizer, &config)?;
    if trajectory.diverged {
        eprintln!(
            "warning: diverged at step {}: the point or the loss is no longer finite, so the run stopped there",
            trajectory.points.len() - 1
        );
    }
    match command.format {
        Format::Csv => write_csv(&trajectory, config.schedule.is_some(), out),
        Format::Json => {
            let document = json!({
                "function": surface.name(),
                "formula": surface.formula(),
                "dimension": surface.dim(),
                "optimizer": command.optimizer.name(),
                "spec": command.optimizer.to_string(),
                "hyperparameters": command.optimizer.hyperparameters(),
                "dtype": config.precision.name(),
                "start": config.start,
                "steps": config.steps,
                "noise": config.noise.map(|n| json!({"sigma": n.sigma(), "seed": n.seed()})),
                "lr_schedule": config.schedule.as_ref().map(ToString::to_string),
                "clip": config.clip.map(|c| json!({"max_norm": c.max_norm, "norm_type": c.norm_type, "value": c.value})),
                "diverged": trajectory.diverged,
                "evaluations": trajectory.evaluations.last(),
            });
            write_json(&document, &rows(&trajectory, config.schedule.is_some()), out)
        }
    }
}

/// Full precision: Rust's shortest representation that reads back to the same value.
/// With `lrs`, a last column holds the learning rate of the step that led to each point (empty at the start).
fn write_csv(trajectory: &Trajectory, lrs: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let dim = trajectory.points[0].len();
    let header: Vec<String> = (0..dim).map(|i| format!("x{i}")).collect();
    writeln!(out, "step,{},loss{}", header.join(","), if lrs { ",lr" } else { "" })?;
    for (step, (point, loss)) in trajectory.points.iter().zip(&trajectory.losses).enumerate() {
        let coordinates: Vec<String> = point.iter().map(|v| format!("{v:?}")).collect();
        let lr = match (lrs, step.checked_sub(1).and_then(|s| trajectory.lrs.get(s))) {
            (true, Some(lr)) => format!(",{lr:?}"),
            (true, None) => ",".to_owned(),
            (false, _) => String::new(),
        };
        writeln!(out, "{step},{},{loss:?}{lr}", coordinates.join(","))?;
    }
    Ok(())
}

/// The document, indented, with its `trajectory` last: one point on each line, so that 300 steps take 300 lines.
fn write_json(document: &serde_json::Value, rows: &[serde_json::Value], out: &mut dyn Write) -> Result<(), CliError> {
    let head = serde_json::to_string_pretty(document).map_err(std::io::Error::from)?;
    let head = head.strip_suffix("\n}").unwrap_or(&head);
    writeln!(out, "{head},\n  \"trajectory\": [")?;
    for (k, row) in rows.iter().enumerate() {
        let comma = if k + 1 < rows.len() { "," } else { "" };
        writeln!(out, "    {row}{comma}")?;
    }
    writeln!(out, "  ]\n}}")?;
    Ok(())
}

fn rows(trajectory: &Trajectory, lrs: bool) -> Vec<serde_json::Value> {
    trajectory
        .points
        .iter()
        .zip(&trajectory.losses)
        .zip(&trajectory.evaluations)
        .enumerate()
        .map(|(step, ((point, loss), evaluations))| {
            let mut row = json!({"step": step, "x": point, "loss": loss, "evaluations": evaluations});
            if let (true, Some(lr)) = (lrs, step.checked_sub(1).and_then(|s| trajectory.lrs.get(s))) {
                row["lr"] = json!(lr);
            }
            row
        })
        .collect()
}
