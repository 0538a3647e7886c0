//! The command's errors: each is printed as one line, and the process exits with code 2.

use std::io;
use std::path::PathBuf;

use descent::SpecError;
use descent_landscape::LandscapeError;
use thiserror::Error;

/// Everything that stops a command.
#[derive(Debug, Error)]
pub enum CliError {
    /// An optimizer spec that does not parse or validate.
    #[error("{0}")]
    Spec(#[from] SpecError),

    /// A surface, start point, run length or noise that is not accepted.
    #[error("{0}")]
    Landscape(#[from] LandscapeError),

    /// An optimizer or scheduler that refused a step or a setting.
    #[error("{0}")]
    Optimizer(#[from] descent::Error),

    /// A value on the command line that is wrong in some other way.
    #[error("{0}")]
    Usage(String),

    /// An output file that cannot be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },

    /// An error already written to standard error (by every rank of a run under mpirun, before MPI finalizes).
    #[error("the error above")]
    Reported,

    /// A training run that cannot start or go on.
    #[error("{0}")]
    Train(#[from] descent_train::TrainError),

    /// A failure inside the deep-learning framework.
    #[error("{0}")]
    Candle(#[from] candle_core::Error),

    /// A failure printing to standard output (a closed pipe, say).
    #[error("cannot print: {0}")]
    Print(#[from] io::Error),
}
