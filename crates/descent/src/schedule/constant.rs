//! ConstantLR: η scaled by a constant factor for the first epochs.

use serde::{Deserialize, Serialize};

use super::base::{invalid, scaled, unchanged};
use super::{Clock, Formula, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// `torch.optim.lr_scheduler.ConstantLR`: η·factor until epoch `total_iters`, then η.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConstantLr {
    /// The factor, in (0, 1] (default 1/3). PyTorch accepts 0, then divides by it at `total_iters`; here 0 is
    /// refused when the schedule is made.
    pub factor: f64,
    /// The epoch at which η returns to its base (default 5).
    pub total_iters: u64,
}

impl Default for ConstantLr {
    fn default() -> Self {
        ConstantLr { factor: 1.0 / 3.0, total_iters: 5 }
    }
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<ConstantLr>(&["constant"], "η·factor until total_iters, then η");

impl Hyperparameters for ConstantLr {
    const CLASS: &'static str = "ConstantLR";

    fn check(&self) -> Result<(), Error> {
        if !(self.factor > 0.0 && self.factor <= 1.0) {
            return Err(invalid(Self::CLASS, format!("factor must be in (0, 1], got {}", self.factor)));
        }
        Ok(())
    }
}

impl Formula for ConstantLr {
    type State = ();

    fn lrs(&self, _: &(), clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error> {
        Ok(match clock.last_epoch {
            0 => scaled(groups, self.factor),
            e if e != self.total_iters as i64 => unchanged(groups),
            _ => scaled(groups, 1.0 / self.factor),
        })
    }

    fn closed_form(&self, clock: &Clock) -> Option<Vec<f64>> {
        let done = if clock.last_epoch >= self.total_iters as i64 { 1.0 } else { 0.0 };
        Some(clock.base_lrs.iter().map(|base| base * (self.factor + done * (1.0 - self.factor))).collect())
    }
}
