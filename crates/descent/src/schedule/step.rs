//! StepLR: η multiplied by γ every `step_size` epochs.

use serde::{Deserialize, Serialize};

use super::base::{invalid, scaled, unchanged};
use super::{Clock, Formula, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// `torch.optim.lr_scheduler.StepLR`: η_e = η₀·γ^⌊e / step_size⌋, computed as PyTorch does, by multiplying the
/// current η by γ at every multiple of `step_size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepLr {
    /// The period of the decay, in epochs (required, > 0).
    pub step_size: u64,
    /// The factor applied each period (default 0.1).
    #[serde(default = "default_gamma")]
    pub gamma: f64,
}

fn default_gamma() -> f64 {
    0.1
}

pub(crate) const ENTRY: ScheduleEntry = ScheduleEntry::chainable::<StepLr>(&["step"], "η·γ every step_size epochs");

impl Hyperparameters for StepLr {
    const CLASS: &'static str = "StepLR";

    fn check(&self) -> Result<(), Error> {
        if self.step_size == 0 {
            return Err(invalid(Self::CLASS, "step_size must be a positive integer"));
        }
        check_gamma(Self::CLASS, self.gamma)
    }
}

/// A decay factor: finite and not negative.
pub(crate) fn check_gamma(scheduler: &'static str, gamma: f64) -> Result<(), Error> {
    if gamma.is_finite() && gamma >= 0.0 {
        Ok(())
    } else {
        Err(invalid(scheduler, format!("gamma must be a finite number >= 0, got {gamma}")))
    }
}

impl Formula for StepLr {
    type State = ();

    fn lrs(&self, _: &(), clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error> {
        let e = clock.last_epoch;
        if e == 0 || e.rem_euclid(self.step_size as i64) != 0 {
            return Ok(unchanged(groups));
        }
        Ok(scaled(groups, self.gamma))
    }

    fn closed_form(&self, clock: &Clock) -> Option<Vec<f64>> {
        let periods = clock.last_epoch.div_euclid(self.step_size as i64);
        Some(clock.base_lrs.iter().map(|base| base * self.gamma.powf(periods as f64)).collect())
    }
}
