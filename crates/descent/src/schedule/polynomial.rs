//! PolynomialLR: η decayed to 0 along a polynomial.

use serde::{Deserialize, Serialize};

use super::base::{invalid, scaled, unchanged};
use super::{Clock, Formula, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// `torch.optim.lr_scheduler.PolynomialLR`: η_e = η₀·(1 − min(T, e)/T)^power, computed recursively as PyTorch
/// does: η_e = η_{e−1}·((1 − e/T) / (1 − (e − 1)/T))^power.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolynomialLr {
    /// The epochs until η reaches 0 (default 5).
    pub total_iters: u64,
    /// The power (default 1: linear).
    pub power: f64,
}

impl Default for PolynomialLr {
    fn default() -> Self {
        PolynomialLr { total_iters: 5, power: 1.0 }
    }
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<PolynomialLr>(&["polynomial", "poly"], "η·(1 − e/T)^power, down to 0");

impl Hyperparameters for PolynomialLr {
    const CLASS: &'static str = "PolynomialLR";

    fn check(&self) -> Result<(), Error> {
        if self.total_iters == 0 {
            return Err(invalid(Self::CLASS, "total_iters must be a positive integer"));
        }
        if !self.power.is_finite() {
            return Err(invalid(Self::CLASS, format!("power must be finite, got {}", self.power)));
        }
        Ok(())
    }
}

impl Formula for PolynomialLr {
    type State = ();

    fn lrs(&self, _: &(), clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error> {
        let (e, t) = (clock.last_epoch, self.total_iters as f64);
        if clock.is_initial || e > self.total_iters as i64 {
            return Ok(unchanged(groups));
        }
        let factor = ((1.0 - e as f64 / t) / (1.0 - (e - 1) as f64 / t)).powf(self.power);
        Ok(scaled(groups, factor))
    }

    fn closed_form(&self, clock: &Clock) -> Option<Vec<f64>> {
        let t = self.total_iters as f64;
        let done = (self.total_iters as i64).min(clock.last_epoch) as f64;
        Some(clock.base_lrs.iter().map(|base| base * (1.0 - done / t).powf(self.power)).collect())
    }
}
