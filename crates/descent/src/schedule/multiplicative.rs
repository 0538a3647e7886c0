//! MultiplicativeLR: η multiplied every epoch by a factor written as a formula in `epoch`.

use serde::{Deserialize, Serialize};

use super::base::unchanged;
use super::{Clock, Formula, LrLambda, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// `torch.optim.lr_scheduler.MultiplicativeLR`: η_e = η_{e−1}·λ(e), with λ a formula in `epoch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiplicativeLr {
    /// λ (required).
    pub lr_lambda: LrLambda,
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<MultiplicativeLr>(&["multiplicative"], "η·λ(epoch) every epoch");

impl Hyperparameters for MultiplicativeLr {
    const CLASS: &'static str = "MultiplicativeLR";

    fn check(&self) -> Result<(), Error> {
        Ok(())
    }
}

impl Formula for MultiplicativeLr {
    type State = ();

    fn prepare(&self, groups: &mut [View]) -> Result<(), Error> {
        self.lr_lambda.check_groups(Self::CLASS, groups.len())
    }

    fn lrs(&self, _: &(), clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error> {
        if clock.is_initial {
            return Ok(unchanged(groups));
        }
        let e = clock.last_epoch;
        Ok(groups.iter().enumerate().map(|(g, group)| group.lr * self.lr_lambda.factor(g, e)).collect())
    }
}
