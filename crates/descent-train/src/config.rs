//! The settings of a training run, shared by every optimizer it trains.

use std::path::PathBuf;

use descent::average::Averaging;
use descent::schedule::ScheduleSpec;
use descent::Clip;
use serde::Serialize;

/// When a learning-rate schedule steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleEvery {
    /// After every optimizer step.
    Batch,
    /// After every epoch.
    Epoch,
}

/// A parameter group: the variables whose names contain `pattern` take the hyperparameters `keys` (e.g.
/// `weight_decay=0`) on top of each optimizer's.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// A part of the variables' names (the MLP's are `layers.N.weight` and `layers.N.bias`).
    pub pattern: String,
    /// `KEY=VALUE,...`, as in a spec's parentheses.
    pub keys: String,
}

/// How every optimizer of a run trains: the network, the epochs and batches, and what happens around the steps.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// The sizes of the hidden layers (the input and output sizes come from the dataset).
    pub hidden: Vec<usize>,
    /// Passes over the training images (in all, counting those of a resumed run).
    pub epochs: usize,
    /// Images per optimizer step.
    pub batch_size: usize,
    /// The seed of the initial weights and of the order of the batches.
    pub seed: u64,
    /// Parameter groups; a variable joins the first that matches, or else the optimizer's own.
    pub groups: Vec<GroupSpec>,
    /// A learning-rate schedule.
    pub schedule: Option<ScheduleSpec>,
    /// When the schedule steps (ReduceLROnPlateau: after every epoch, on the test loss, whatever this says).
    pub schedule_every: ScheduleEvery,
    /// Gradient clipping.
    pub clip: Option<Clip>,
    /// An average of the weights kept beside them (SWA: updated after every epoch; EMA: after every step).
    pub average: Option<Averaging>,
    /// After every epoch, save each optimizer's run to `DIR/<n>-<optimizer>.safetensors`, atomically.
    pub checkpoint: Option<PathBuf>,
    /// Continue the runs saved in this folder up to `epochs`, and keep saving there unless `checkpoint` says
    /// otherwise.
    pub resume: Option<PathBuf>,
}

impl Default for TrainConfig {
    /// One hidden layer of 256, 5 epochs of batches of 128, seed 0, nothing else.
    fn default() -> Self {
        TrainConfig {
            hidden: vec![256],
            epochs: 5,
            batch_size: 128,
            seed: 0,
            groups: Vec::new(),
            schedule: None,
            schedule_every: ScheduleEvery::Epoch,
            clip: None,
            average: None,
            checkpoint: None,
            resume: None,
        }
    }
}
