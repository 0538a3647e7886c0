//! MultiStepLR: η multiplied by γ at each milestone.

use serde::{Deserialize, Serialize};

use super::base::{invalid, scaled, unchanged};
use super::step::check_gamma;
use super::{Clock, Formula, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// `torch.optim.lr_scheduler.MultiStepLR`: η multiplied by γ at each epoch in `milestones` (by γ^k at a milestone
/// listed k times, as PyTorch's `Counter` does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiStepLr {
    /// The epochs at which η decays, in increasing order (required).
    pub milestones: Vec<u64>,
    /// The factor applied at each milestone (default 0.1).
    #[serde(default = "default_gamma")]
    pub gamma: f64,
}

fn default_gamma() -> f64 {
    0.1
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<MultiStepLr>(&["multistep", "multi_step"], "η·γ at each milestone");

impl Hyperparameters for MultiStepLr {
    const CLASS: &'static str = "MultiStepLR";

    /// Milestones must not decrease (PyTorch sorts them silently; a list out of order is almost surely a typo).
    fn check(&self) -> Result<(), Error> {
        if self.milestones.windows(2).any(|w| w[1] < w[0]) {
            return Err(invalid(Self::CLASS, format!("milestones must be increasing, got {:?}", self.milestones)));
        }
        check_gamma(Self::CLASS, self.gamma)
    }
}

impl Formula for MultiStepLr {
    type State = ();

    fn lrs(&self, _: &(), clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error> {
        let count = self.milestones.iter().filter(|&&m| m as i64 == clock.last_epoch).count();
        if count == 0 {
            return Ok(unchanged(groups));
        }
        Ok(scaled(groups, self.gamma.powf(count as f64)))
    }

    fn closed_form(&self, clock: &Clock) -> Option<Vec<f64>> {
        let passed = self.milestones.iter().filter(|&&m| m as i64 <= clock.last_epoch).count();
        Some(clock.base_lrs.iter().map(|base| base * self.gamma.powf(passed as f64)).collect())
    }
}
