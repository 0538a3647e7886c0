//! ExponentialLR: η multiplied by γ every epoch.

use serde::{Deserialize, Serialize};

use super::base::{scaled, unchanged};
use super::step::check_gamma;
use super::{Clock, Formula, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// `torch.optim.lr_scheduler.ExponentialLR`: η_e = η_{e−1}·γ (so η₀·γ^e, rounded once per epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExponentialLr {
    /// The factor applied every epoch (required).
    pub gamma: f64,
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<ExponentialLr>(&["exponential", "exp"], "η·γ every epoch");

impl Hyperparameters for ExponentialLr {
    const CLASS: &'static str = "ExponentialLR";

    fn check(&self) -> Result<(), Error> {
        check_gamma(Self::CLASS, self.gamma)
    }
}

impl Formula for ExponentialLr {
    type State = ();

    fn lrs(&self, _: &(), clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error> {
        Ok(if clock.is_initial { unchanged(groups) } else { scaled(groups, self.gamma) })
    }

    fn closed_form(&self, clock: &Clock) -> Option<Vec<f64>> {
        Some(clock.base_lrs.iter().map(|base| base * self.gamma.powf(clock.last_epoch as f64)).collect())
    }
}
