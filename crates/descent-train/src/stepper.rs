//! What steps the model: one process's optimizer, or the ranks' sharded one.

use std::rc::Rc;

use descent::{DynOptimizer, StateDict};
use descent_candle::DescentOptimizer;
use descent_mpi::{Communicator, ShardedVars, Stage};

use crate::error::TrainError;

/// The processes that train one model together: every rank runs the same run, takes its share of every batch,
/// and keeps the optimizer state of its share of the parameters (see [`descent_mpi::Sharded`]).
#[derive(Clone)]
pub struct Ranks {
    /// The ranks, e.g. `descent_mpi::MpiWorld` (its `mpi` feature) under `mpirun`.
    pub comm: Rc<dyn Communicator>,
    /// How much of the optimizer's memory is split.
    pub stage: Stage,
}

impl std::fmt::Debug for Ranks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ranks").field("rank", &self.comm.rank()).field("size", &self.comm.size()).finish()
    }
}

impl Ranks {
    /// The part of a batch of `len` images rank `rank` takes: contiguous, the sizes differing by one at most.
    pub fn share(&self, len: usize) -> std::ops::Range<usize> {
        let (rank, size) = (self.comm.rank(), self.comm.size());
        len * rank / size..len * (rank + 1) / size
    }
}

/// One process's optimizer, or the sharded one of several.
pub(crate) enum Stepper {
    Local(DescentOptimizer),
    Sharded(ShardedVars),
}

impl Stepper {
    /// The optimizer's groups, for schedulers and learning rates.
    pub(crate) fn groups(&mut self) -> &mut (dyn DynOptimizer<f32> + 'static) {
        match self {
            Stepper::Local(optimizer) => optimizer.optimizer_f32_mut().expect("the MLP's variables are f32"),
            Stepper::Sharded(sharded) => sharded.sharded_mut().optimizer_mut(),
        }
    }

    /// Runs `f` at the optimizer's evaluation point (Schedule-Free's average; the weights themselves otherwise).
    pub(crate) fn evaluate<R>(&mut self, f: impl FnOnce() -> candle_core::Result<R>) -> Result<R, TrainError> {
        match self {
            Stepper::Local(optimizer) => Ok(optimizer.evaluate(f)?),
            Stepper::Sharded(sharded) => sharded.evaluate(f).map_err(|e| TrainError::Invalid(e.to_string())),
        }
    }

    /// The optimizer-state bytes this process holds.
    pub(crate) fn state_bytes(&self) -> usize {
        match self {
            Stepper::Local(optimizer) => {
                let optimizer = optimizer.optimizer_f32().expect("the MLP's variables are f32");
                (0..optimizer.param_count())
                    .filter_map(|p| optimizer.state(p))
                    .chain(optimizer.global_state())
                    .map(descent::ParamState::bytes)
                    .sum()
            }
            Stepper::Sharded(sharded) => sharded.sharded().state_bytes(),
        }
    }

    /// Loads a whole state (a sharded one's merged): each rank keeps its share.
    pub(crate) fn load_state_dict(&mut self, whole: &StateDict<f32>) -> Result<(), String> {
        match self {
            Stepper::Local(_) => self.groups().load_state_dict(whole).map_err(|e| e.to_string()),
            Stepper::Sharded(sharded) => sharded.sharded_mut().load_state_dict(whole).map_err(|e| e.to_string()),
        }
    }
}
