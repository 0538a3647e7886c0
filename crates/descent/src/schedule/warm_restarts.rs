//! CosineAnnealingWarmRestarts: cosine annealing that restarts from the base η, with periods that may grow.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::base::invalid;
use super::{Clock, Formula, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// `torch.optim.lr_scheduler.CosineAnnealingWarmRestarts` (SGDR, Loshchilov & Hutter 2017):
/// η = η_min + (η₀ − η_min)·(1 + cos(π·T_cur/T_i))/2, where T_cur counts the epochs since the last restart and the
/// period T_i starts at T_0 and is multiplied by T_mult at each restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosineAnnealingWarmRestarts {
    /// The first period, in epochs (required, > 0).
    #[serde(rename = "T_0")]
    pub t_0: u64,
    /// The factor by which each period is longer than the last (default 1, ≥ 1).
    #[serde(rename = "T_mult", default = "one")]
    pub t_mult: u64,
    /// The smallest η (default 0).
    #[serde(default)]
    pub eta_min: f64,
}

fn one() -> u64 {
    1
}

/// Where in its period the schedule is: PyTorch's `T_cur` and `T_i`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Period {
    t_cur: u64,
    t_i: u64,
}

pub(crate) const ENTRY: ScheduleEntry = ScheduleEntry::chainable::<CosineAnnealingWarmRestarts>(
    &["cosine_restarts", "warm_restarts", "sgdr"],
    "cosine annealing restarted every T_i epochs",
);

impl Hyperparameters for CosineAnnealingWarmRestarts {
    const CLASS: &'static str = "CosineAnnealingWarmRestarts";

    fn check(&self) -> Result<(), Error> {
        if self.t_0 == 0 {
            return Err(invalid(Self::CLASS, "expected a positive integer T_0"));
        }
        if self.t_mult == 0 {
            return Err(invalid(Self::CLASS, "expected an integer T_mult >= 1"));
        }
        if !self.eta_min.is_finite() {
            return Err(invalid(Self::CLASS, format!("eta_min must be finite, got {}", self.eta_min)));
        }
        Ok(())
    }
}

impl Formula for CosineAnnealingWarmRestarts {
    type State = Period;

    /// PyTorch's own `step()`: the constructor's step starts the first period; each later step moves T_cur on
    /// and restarts when it reaches T_i.
    fn advance(&self, period: &mut Period, clock: &Clock) {
        if clock.last_epoch == 0 {
            *period = Period { t_cur: 0, t_i: self.t_0 };
            return;
        }
        period.t_cur += 1;
        if period.t_cur >= period.t_i {
            period.t_cur %= period.t_i;
            period.t_i *= self.t_mult;
        }
    }

    fn lrs(&self, period: &Period, clock: &Clock, _groups: &mut [View]) -> Result<Vec<f64>, Error> {
        let cos = (PI * period.t_cur as f64 / period.t_i as f64).cos();
        Ok(clock.base_lrs.iter().map(|base| self.eta_min + (base - self.eta_min) * (1.0 + cos) / 2.0).collect())
    }
}
