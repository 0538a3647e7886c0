//! `descent schedule`: the learning rate of each optimizer step under a schedule, printed and drawn.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use descent::schedule::{Preview, ScheduleSpec};
use serde_json::json;

use crate::args::parse_schedule;
use crate::error::CliError;
use crate::function::{parse_point, Point};
use crate::output::check_writable;
use crate::table::Table;
use crate::{limits, schedule_plot};

/// Arguments of `descent schedule`.
#[derive(Debug, Args)]
#[command(after_help = SYNTAX)]
pub struct ScheduleCommand {
    /// The schedule (see below).
    #[arg(value_name = "SPEC", value_parser = parse_schedule)]
    spec: ScheduleSpec,

    /// The learning rate the optimizer starts with.
    #[arg(long, default_value_t = 0.1, value_name = "LR", allow_hyphen_values = true)]
    lr: f64,

    /// The number of optimizer steps, at most 1,000,000.
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = limits::count(limits::MAX_STEPS))]
    steps: usize,

    /// Several parameter groups, with these starting learning rates (instead of --lr).
    #[arg(long, value_name = "LR0,LR1,...", value_parser = parse_point, conflicts_with = "lr")]
    groups: Option<Point>,

    /// table: aligned columns; csv: `step,lr` (`step,lr0,lr1,...` with several groups), then one row per step;
    /// json: the same rows under "rows". Row t holds the learning rate in effect for the t-th optimizer step (and
    /// the momentum or β₁, where the schedule cycles it), in full precision.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Draw the schedule into FILE (.svg or .png).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

const SYNTAX: &str = "\
A schedule is a scheduler written like an optimizer: PyTorch's class name (any
case) or an alias, with PyTorch's arguments in Python's syntax. Compose them
with `*` (ChainedScheduler: both step, their factors multiply) and
`until N then` (SequentialLR: the next takes over at step N):
  CosineAnnealingLR(T_max=100, eta_min=1e-4)
  MultiStepLR(milestones=[30, 80], gamma=0.1)
  OneCycleLR(max_lr=0.1, total_steps=500)
  LambdaLR(lr_lambda=\"0.95^epoch\")
  warmup(start_factor=0.1, total_iters=5) until 5 then cosine(T_max=95)
  WSD(total_steps=1000, warmup_steps=50, decay=\"1-sqrt\")
Aliases: step, multistep, constant, linear or warmup, exponential, polynomial,
cosine, plateau, cyclic, onecycle, sgdr, swa, wsd, lambda, multiplicative (see
`descent list`).

Example:
  descent schedule 'OneCycleLR(max_lr=0.1, total_steps=200)' --steps 200 \\
      --plot onecycle.svg";

/// The output formats of `descent schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

/// The rows of `steps` steps of `spec` on groups starting at `lrs` ([`ScheduleSpec::preview`]).
pub fn rows(spec: &ScheduleSpec, lrs: &[f64], steps: usize) -> Result<Preview, CliError> {
    if spec.watches_metric() {
        return Err(CliError::Usage(
            "ReduceLROnPlateau follows a metric (the loss), so it has no schedule to print; use it in run, race or train"
                .to_owned(),
        ));
    }
    spec.preview(lrs, steps).map_err(|e| CliError::Usage(e.to_string()))
}

/// Runs the command, printing to `out`.
pub fn execute(command: &ScheduleCommand, out: &mut dyn Write) -> Result<(), CliError> {
    if let Some(path) = &command.plot {
        check_writable(path, &["svg", "png"])?;
    }
    let lrs = command.groups.clone().map_or_else(|| vec![command.lr], |p| p.0);
    if let Some(lr) = lrs.iter().find(|lr| !lr.is_finite() || **lr < 0.0) {
        return Err(CliError::Usage(format!("a learning rate must be a finite number >= 0, got {lr}")));
    }
    let rows = rows(&command.spec, &lrs, command.steps)?;
    let names = |prefix: &str| -> Vec<String> {
        match lrs.len() {
            1 => vec![prefix.to_owned()],
            n => (0..n).map(|g| format!("{prefix}{g}")).collect(),
        }
    };
    let mut header = vec!["step".to_owned()];
    header.extend(names("lr"));
    if rows.momenta.is_some() {
        header.extend(names("momentum"));
    }
    let cells = |t: usize| -> Vec<String> {
        let mut cells = vec![(t + 1).to_string()];
        cells.extend(rows.lrs[t].iter().map(|v| format!("{v:?}")));
        if let Some(momenta) = &rows.momenta {
            cells.extend(momenta[t].iter().map(|v| format!("{v:?}")));
        }
        cells
    };
    match command.format {
        Format::Table => {
            let mut table = Table::new(&header.iter().map(String::as_str).collect::<Vec<_>>());
            (0..rows.lrs.len()).for_each(|t| table.row(cells(t)));
            write!(out, "{table}")?;
        }
        Format::Csv => {
            writeln!(out, "{}", header.join(","))?;
            for t in 0..rows.lrs.len() {
                writeln!(out, "{}", cells(t).join(","))?;
            }
        }
        Format::Json => {
            let document = json!({"schedule": command.spec.to_string(), "lrs": lrs, "steps": command.steps});
            let head = serde_json::to_string_pretty(&document).map_err(std::io::Error::from)?;
            writeln!(out, "{},\n  \"rows\": [", head.strip_suffix("\n}").unwrap_or(&head))?;
            for t in 0..rows.lrs.len() {
                let mut row = json!({"step": t + 1, "lr": rows.lrs[t]});
                if let Some(momenta) = &rows.momenta {
                    row["momentum"] = json!(momenta[t]);
                }
                writeln!(out, "    {row}{}", if t + 1 < rows.lrs.len() { "," } else { "" })?;
            }
            writeln!(out, "  ]\n}}")?;
        }
    }
    if let Some(path) = &command.plot {
        schedule_plot::draw(path, &command.spec.to_string(), &rows)?;
        eprintln!("Wrote {}", path.display());
    }
    Ok(())
}
