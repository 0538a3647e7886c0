//! `descent`: watch gradient-descent optimizers walk loss surfaces with local minima and saddle points.

mod args;
mod bench;
mod curves;
mod error;
mod explorer;
mod function;
mod gif_palette;
mod glyphs;
mod limits;
mod list;
mod lr_panel;
mod numbers;
mod output;
mod plot;
mod progress;
mod race;
mod run;
mod schedule;
mod schedule_plot;
mod serve;
mod table;
mod tour;
mod train;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::error::{ContextKind, ErrorKind};
use clap::{Parser, Subcommand};

use crate::error::CliError;

/// Gradient-descent optimizers on loss landscapes.
///
/// A loss J(θ) has ravines, local minima and saddle points. SGD, Momentum, Nesterov, AdaGrad, RMSprop, AdaDelta
/// and Adam answer them differently; descent runs them (with PyTorch's exact rules and defaults) on standard test
/// surfaces or on your own expression, and shows where each one goes.
#[derive(Debug, Parser)]
#[command(name = "descent", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "\
Examples:
  # the article's three pictures, into ./tour
  descent tour
  # optimizers, their defaults, schedulers, and the surfaces
  descent list
  descent run -f rosenbrock -o 'adam(lr=0.05)' --start -1.5,2 --steps 2000
  descent race -f himmelblau --start 0,0 --tune --plot race.svg
  descent race -f 'x^2 - y^2' --start=-1,0.01 -o sgd 'rmsprop(lr=0.01)' \\
      --animate saddle.gif
  # an MLP on the embedded MNIST digits, once per optimizer of the article
  descent train --epochs 3 --plot curves.svg
  # ns per parameter against the memory-bandwidth limit
  descent bench --params 10000000 --threads 2
  # a learning-rate schedule, printed and drawn
  descent schedule 'cosine(T_max=100)' --steps 100 --plot cosine.svg
  # the explorer, in a browser: drive the optimizers yourself
  descent serve --open

An optimizer SPEC is a name or name(key=value, ...) with PyTorch's names and
Python's values:
  sgd(lr=0.01, momentum=0.9, nesterov=True)
  adam(lr=1e-3, betas=(0.9, 0.99), amsgrad=true)";

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one optimizer on a surface and print its trajectory (CSV or JSON).
    Run(run::RunCommand),
    /// Race several optimizers from one start point: a table of where each ended, and pictures.
    Race(race::RaceCommand),
    /// Draw the article's pictures: the seven optimizers on a bowl, among local minima and at a saddle point.
    Tour(tour::TourCommand),
    /// List the optimizers with their defaults and the surfaces with their known minima.
    List(list::ListCommand),
    /// Train a neural network on digits (or clothing) once per optimizer and compare the curves.
    Train(train::TrainCommand),
    /// Time optimizer steps against the memory-bandwidth limit measured in the same run.
    Bench(bench::BenchCommand),
    /// Print and draw the learning rate of each step under a schedule, without training anything.
    Schedule(schedule::ScheduleCommand),
    /// Serve the explorer: a page on which to drive the optimizers across the landscapes, in a browser.
    Serve(serve::ServeCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = error.print();
                    ExitCode::SUCCESS
                }
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = error.print();
                    ExitCode::from(2)
                }
                ErrorKind::ValueValidation => {
                    // The value, cut short (clap's message would repeat it in full), and why it was refused.
                    let context = |kind| error.get(kind).map(ToString::to_string).unwrap_or_default();
                    let value: String = context(ContextKind::InvalidValue).chars().take(40).collect();
                    let reason = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
                    let message = format!("invalid value {value:?} for {}: {reason}", context(ContextKind::InvalidArg));
                    eprintln!("error: {}", one_line(&message));
                    ExitCode::from(2)
                }
                _ => {
                    // clap's first paragraph says what is wrong (the rest repeats the usage): one line of it.
                    let text = error.to_string();
                    let first: Vec<&str> = text.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
                    eprintln!("{} (see --help)", one_line(&first.join(" ")));
                    ExitCode::from(2)
                }
            };
        }
    };
    count_threads_once();
    if let Err(error) = output::clean_up_on_signals() {
        eprintln!("error: {}", one_line(&error.to_string()));
        return ExitCode::from(2);
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = execute(&cli.command, &mut out).and_then(|()| out.flush().map_err(CliError::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped reading (`descent run ... | head`) is not an error.
        Err(CliError::Print(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(CliError::Reported) => ExitCode::from(2),
        Err(error) => {
            eprintln!("error: {}", one_line(&error.to_string()));
            ExitCode::from(2)
        }
    }
}

/// Fixes the thread count candle's matrix products use, from the start. Unless `RAYON_NUM_THREADS` says it, candle
/// counts the cores again at every matrix product (on Linux by parsing /proc/cpuinfo), which cost about 15% of an
/// epoch of `descent train`; the count is candle's own, taken once, so nothing else changes. It runs before any
/// other thread starts.
fn count_threads_once() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", candle_core::utils::get_num_threads().to_string());
    }
}

/// `text` as one line of bounded length: line breaks escaped, and cut after [`MAX_MESSAGE`] characters.
fn one_line(text: &str) -> String {
    let escaped = text.replace('\r', "\\r").replace('\n', "\\n");
    match escaped.char_indices().nth(MAX_MESSAGE) {
        Some((end, _)) => format!("{}…", &escaped[..end]),
        None => escaped,
    }
}

/// The longest error message printed, in characters.
const MAX_MESSAGE: usize = 400;

fn execute(command: &Command, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        Command::Run(command) => run::execute(command, out),
        Command::Race(command) => race::execute(command, out),
        Command::Tour(command) => tour::execute(command, out),
        Command::List(command) => list::execute(command, out),
        Command::Train(command) => train::execute(command, out),
        Command::Bench(command) => bench::execute(command, out),
        Command::Schedule(command) => schedule::execute(command, out),
        Command::Serve(command) => serve::execute(command, out),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
