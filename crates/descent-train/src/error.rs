//! The errors of training: each says in one line what was wrong.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that stops a training run before or while it trains.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A setting, dataset or checkpoint that cannot be used (the message says which and why).
    #[error("{0}")]
    Invalid(String),

    /// An optimizer or scheduler that refused a step or a setting.
    #[error("{0}")]
    Optimizer(#[from] descent::Error),

    /// A failure inside the deep-learning framework.
    #[error("{0}")]
    Candle(#[from] candle_core::Error),

    /// A file that cannot be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
}
