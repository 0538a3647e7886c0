//! CosineAnnealingLR: η annealed from its base to η_min along a half cosine.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::base::{invalid, unchanged};
use super::{Clock, Formula, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// `torch.optim.lr_scheduler.CosineAnnealingLR` (SGDR without restarts, Loshchilov & Hutter 2017):
/// η_e = η_min + (η₀ − η_min)·(1 + cos(π·e/T_max))/2. After T_max it rises again, as PyTorch's does.
///
/// PyTorch computes it recursively, η_e = η_min + (η_{e−1} − η_min)·(1 + cos(πe/T))/(1 + cos(π(e−1)/T)), with a
/// special step at the bottom of each period; so does this, and the values agree to the last bit (the recursive
/// form gives 0.10000000000000006 where the closed form gives 0.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosineAnnealingLr {
    /// The half period, in epochs (required, > 0).
    #[serde(rename = "T_max")]
    pub t_max: u64,
    /// The smallest η (default 0).
    #[serde(default)]
    pub eta_min: f64,
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<CosineAnnealingLr>(&["cosine", "cos"], "η annealed to eta_min along a half cosine");

impl Hyperparameters for CosineAnnealingLr {
    const CLASS: &'static str = "CosineAnnealingLR";

    fn check(&self) -> Result<(), Error> {
        if self.t_max == 0 {
            return Err(invalid(Self::CLASS, "T_max must be a positive integer"));
        }
        if !self.eta_min.is_finite() {
            return Err(invalid(Self::CLASS, format!("eta_min must be finite, got {}", self.eta_min)));
        }
        Ok(())
    }
}

impl Formula for CosineAnnealingLr {
    type State = ();

    fn lrs(&self, _: &(), clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error> {
        let (e, t, eta_min) = (clock.last_epoch, self.t_max as i64, self.eta_min);
        if clock.is_initial {
            return Ok(unchanged(groups));
        }
        if clock.step_count == 1 && e > 0 {
            return Ok(clock
                .base_lrs
                .iter()
                .map(|base| eta_min + (base - eta_min) * (1.0 + (e as f64 * PI / t as f64).cos()) / 2.0)
                .collect());
        }
        if (e - 1 - t).rem_euclid(2 * t) == 0 {
            let cos = (PI / t as f64).cos();
            return Ok(groups
                .iter()
                .zip(&clock.base_lrs)
                .map(|(g, base)| g.lr + (base - eta_min) * (1.0 - cos) / 2.0)
                .collect());
        }
        let ratio = (1.0 + (PI * e as f64 / t as f64).cos()) / (1.0 + (PI * (e - 1) as f64 / t as f64).cos());
        Ok(groups.iter().map(|g| ratio * (g.lr - eta_min) + eta_min).collect())
    }

    fn closed_form(&self, clock: &Clock) -> Option<Vec<f64>> {
        let cos = (PI * clock.last_epoch as f64 / self.t_max as f64).cos();
        Some(clock.base_lrs.iter().map(|base| self.eta_min + (base - self.eta_min) * (1.0 + cos) / 2.0).collect())
    }
}
