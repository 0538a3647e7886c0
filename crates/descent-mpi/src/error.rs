//! The errors of sharded optimizers: each is reported on every rank, so that no rank waits for another that
//! gave up.

use thiserror::Error;

/// Everything that stops a sharded optimizer from being built, stepping, saving or loading. A step or load that
/// fails changes no parameter and no state on any rank.
#[derive(Debug, Error)]
pub enum ShardError {
    /// The optimizer, or the inputs it was given on this rank, refused.
    #[error("{0}")]
    Optimizer(#[from] descent::Error),

    /// An optimizer whose step couples every parameter, so that its state cannot be split by parameter.
    #[error("{optimizer} cannot be sharded: {reason}")]
    Unshardable {
        /// The optimizer's class.
        optimizer: String,
        /// Why not.
        reason: &'static str,
    },

    /// The ranks were given different parameters or optimizers.
    #[error(
        "the {ranks} ranks disagree on the parameters or the optimizer: every rank must build the same model \
         and the same spec (this rank's: {this})"
    )]
    Disagreement {
        /// The number of ranks.
        ranks: usize,
        /// What this rank has.
        this: String,
    },

    /// Another rank refused the step or load (its own error says why); this rank changed nothing either.
    #[error("rank {rank} of {ranks} could not go on (it reports why); nothing was changed")]
    OtherRank {
        /// The lowest rank that failed.
        rank: usize,
        /// The number of ranks.
        ranks: usize,
    },

    /// A file of a sharded checkpoint that is missing, unreadable or does not fit the others.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },

    /// MPI was initialized already in this process.
    #[error("MPI can be initialized once per process, and it was already")]
    AlreadyInitialized,
}
