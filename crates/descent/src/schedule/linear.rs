//! LinearLR: η scaled by a factor that moves linearly, for warm-up or decay.

use serde::{Deserialize, Serialize};

use super::base::{invalid, scaled, unchanged};
use super::{Clock, Formula, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// `torch.optim.lr_scheduler.LinearLR`: η·f_e with f moving linearly from `start_factor` at epoch 0 to
/// `end_factor` at epoch `total_iters`, then η·end_factor. With a small start factor, it is a linear warm-up
/// (alias `warmup`).
///
/// PyTorch computes it recursively: η_e = η_{e−1}·(1 + (end − start) / (T·start + (e − 1)(end − start))).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearLr {
    /// The factor at epoch 0, in (0, 1] (default 1/3).
    pub start_factor: f64,
    /// The factor from epoch `total_iters` on, in [0, 1] (default 1).
    pub end_factor: f64,
    /// The epochs the factor takes to move (default 5).
    pub total_iters: u64,
}

impl Default for LinearLr {
    fn default() -> Self {
        LinearLr { start_factor: 1.0 / 3.0, end_factor: 1.0, total_iters: 5 }
    }
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<LinearLr>(&["linear", "warmup"], "η·factor, the factor moving linearly");

impl Hyperparameters for LinearLr {
    const CLASS: &'static str = "LinearLR";

    fn check(&self) -> Result<(), Error> {
        if !(self.start_factor > 0.0 && self.start_factor <= 1.0) {
            return Err(invalid(Self::CLASS, format!("start_factor must be in (0, 1], got {}", self.start_factor)));
        }
        if !(0.0..=1.0).contains(&self.end_factor) {
            return Err(invalid(Self::CLASS, format!("end_factor must be in [0, 1], got {}", self.end_factor)));
        }
        if self.total_iters == 0 {
            return Err(invalid(Self::CLASS, "total_iters must be a positive integer"));
        }
        Ok(())
    }
}

impl Formula for LinearLr {
    type State = ();

    fn lrs(&self, _: &(), clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error> {
        let e = clock.last_epoch;
        if e == 0 {
            return Ok(scaled(groups, self.start_factor));
        }
        if clock.is_initial || e > self.total_iters as i64 {
            return Ok(unchanged(groups));
        }
        let slope = self.end_factor - self.start_factor;
        let ratio = 1.0 + slope / (self.total_iters as f64 * self.start_factor + (e - 1) as f64 * slope);
        Ok(scaled(groups, ratio))
    }

    fn closed_form(&self, clock: &Clock) -> Option<Vec<f64>> {
        let done = (self.total_iters as i64).min(clock.last_epoch) as f64;
        let factor = self.start_factor + (self.end_factor - self.start_factor) * done / self.total_iters as f64;
        Some(clock.base_lrs.iter().map(|base| base * factor).collect())
    }
}
