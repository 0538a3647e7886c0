//! OneCycleLR: one warm-up to a large η and one long anneal far below the start, with the momentum mirrored.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::base::{invalid, momenta};
use super::{Clock, Formula, PerGroup, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// How η moves between two values over a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anneal {
    /// Along a half cosine: end + (start − end)/2·(1 + cos(π·pct)).
    Cos,
    /// Along a line: start + (end − start)·pct.
    Linear,
}

impl Anneal {
    /// The value a fraction `pct` of the way from `start` to `end`, in PyTorch's operation order.
    pub(crate) fn at(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            Anneal::Cos => {
                let cos_out = (PI * pct).cos() + 1.0;
                end + (start - end) / 2.0 * cos_out
            }
            Anneal::Linear => (end - start) * pct + start,
        }
    }
}

/// `torch.optim.lr_scheduler.OneCycleLR` (Smith & Topin 2018, "super-convergence"): η rises from
/// max_lr/div_factor to `max_lr` over the first `pct_start` of the steps, then anneals to
/// max_lr/(div_factor·final_div_factor); with `three_phase`, it first comes back down to the start, then anneals.
/// The momentum (or β₁) moves between `max_momentum` and `base_momentum` the opposite way.
///
/// The schedule has `total_steps` steps (or `epochs·steps_per_epoch`); stepping past them is an error, as in
/// PyTorch. Building one sets each group's `initial_lr` to max_lr/div_factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneCycleLr {
    /// The peak η (required; one value, or one per group).
    pub max_lr: PerGroup,
    /// The steps in the cycle (or give `epochs` and `steps_per_epoch`).
    #[serde(default)]
    pub total_steps: Option<u64>,
    /// Epochs, with `steps_per_epoch`, when `total_steps` is not given.
    #[serde(default)]
    pub epochs: Option<u64>,
    /// Steps per epoch, with `epochs`.
    #[serde(default)]
    pub steps_per_epoch: Option<u64>,
    /// The fraction of the steps spent rising (default 0.3).
    #[serde(default = "default_pct_start")]
    pub pct_start: f64,
    /// `"cos"` (default) or `"linear"`.
    #[serde(default = "default_anneal")]
    pub anneal_strategy: Anneal,
    /// Whether the momentum or β₁ cycles too (default true).
    #[serde(default = "yes")]
    pub cycle_momentum: bool,
    /// The momentum at the peak of η (default 0.85).
    #[serde(default = "default_base_momentum")]
    pub base_momentum: PerGroup,
    /// The momentum at the ends (default 0.95).
    #[serde(default = "default_max_momentum")]
    pub max_momentum: PerGroup,
    /// The initial η is max_lr/div_factor (default 25).
    #[serde(default = "default_div_factor")]
    pub div_factor: f64,
    /// The final η is the initial η/final_div_factor (default 10⁴).
    #[serde(default = "default_final_div_factor")]
    pub final_div_factor: f64,
    /// Three phases (up, down to the start, anneal) instead of two (default false).
    #[serde(default)]
    pub three_phase: bool,
}

fn default_pct_start() -> f64 {
    0.3
}
fn default_anneal() -> Anneal {
    Anneal::Cos
}
fn yes() -> bool {
    true
}
fn default_base_momentum() -> PerGroup {
    PerGroup::All(0.85)
}
fn default_max_momentum() -> PerGroup {
    PerGroup::All(0.95)
}
fn default_div_factor() -> f64 {
    25.0
}
fn default_final_div_factor() -> f64 {
    1e4
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<OneCycleLr>(&["onecycle", "one_cycle"], "one warm-up to max_lr, one long anneal");

/// Which of a group's values a phase starts or ends at.
#[derive(Clone, Copy)]
enum Level {
    Initial,
    Max,
    Min,
}

/// A phase: where it ends, and where η and the momentum start and end.
struct Phase {
    end_step: f64,
    lr: (Level, Level),
    momentum: (Level, Level),
}

impl Hyperparameters for OneCycleLr {
    const CLASS: &'static str = "OneCycleLR";

    fn check(&self) -> Result<(), Error> {
        self.total()?;
        if !(0.0..=1.0).contains(&self.pct_start) {
            return Err(invalid(Self::CLASS, format!("expected a pct_start between 0 and 1, got {}", self.pct_start)));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.div_factor) || !positive(self.final_div_factor) {
            return Err(invalid(Self::CLASS, "div_factor and final_div_factor must be finite numbers > 0"));
        }
        if !self.max_lr.all(|v| v.is_finite()) {
            return Err(invalid(Self::CLASS, "max_lr must be finite"));
        }
        Ok(())
    }
}

impl OneCycleLr {
    /// The steps of the schedule.
    pub fn total(&self) -> Result<u64, Error> {
        match (self.total_steps, self.epochs, self.steps_per_epoch) {
            (Some(0), ..) => Err(invalid(Self::CLASS, "expected a positive integer total_steps, got 0")),
            (Some(total), ..) => Ok(total),
            (None, Some(0), _) => Err(invalid(Self::CLASS, "expected a positive integer epochs, got 0")),
            (None, _, Some(0)) => Err(invalid(Self::CLASS, "expected a positive integer steps_per_epoch, got 0")),
            (None, Some(epochs), Some(steps)) => Ok(epochs * steps),
            _ => Err(invalid(Self::CLASS, "you must define either total_steps OR (epochs AND steps_per_epoch)")),
        }
    }

    fn phases(&self, total: u64) -> Vec<Phase> {
        use Level::{Initial, Max, Min};
        let rise = self.pct_start * total as f64 - 1.0;
        let last = (total - 1) as f64;
        if self.three_phase {
            vec![
                Phase { end_step: rise, lr: (Initial, Max), momentum: (Max, Min) },
                Phase { end_step: 2.0 * self.pct_start * total as f64 - 2.0, lr: (Max, Initial), momentum: (Min, Max) },
                Phase { end_step: last, lr: (Initial, Min), momentum: (Max, Max) },
            ]
        } else {
            vec![
                Phase { end_step: rise, lr: (Initial, Max), momentum: (Max, Min) },
                Phase { end_step: last, lr: (Max, Min), momentum: (Min, Max) },
            ]
        }
    }
}

impl Formula for OneCycleLr {
    type State = ();

    fn prepare(&self, groups: &mut [View]) -> Result<(), Error> {
        let n = groups.len();
        for (group, max_lr) in groups.iter_mut().zip(self.max_lr.values(Self::CLASS, "max_lr", n)?) {
            group.initial_lr = Some(max_lr / self.div_factor);
        }
        if self.cycle_momentum {
            momenta(Self::CLASS, groups)?;
            self.base_momentum.values(Self::CLASS, "base_momentum", n)?;
            for (group, m) in groups.iter_mut().zip(self.max_momentum.values(Self::CLASS, "max_momentum", n)?) {
                group.momentum = Some(m);
            }
        }
        Ok(())
    }

    fn cycles_momentum(&self) -> bool {
        self.cycle_momentum
    }

    fn lrs(&self, _: &(), clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error> {
        let total = self.total()?;
        let step = clock.last_epoch;
        if step > total as i64 {
            return Err(Error::ScheduleEnded { scheduler: Self::CLASS, step, total });
        }
        let n = groups.len();
        let max_lrs = self.max_lr.values(Self::CLASS, "max_lr", n)?;
        let base_momenta = self.base_momentum.values(Self::CLASS, "base_momentum", n)?;
        let max_momenta = self.max_momentum.values(Self::CLASS, "max_momentum", n)?;
        let phases = self.phases(total);
        let mut lrs = Vec::with_capacity(n);
        for (g, group) in groups.iter_mut().enumerate() {
            let initial = group.initial();
            let lr_at = |level| match level {
                Level::Initial => initial,
                Level::Max => max_lrs[g],
                Level::Min => initial / self.final_div_factor,
            };
            let momentum_at = |level| match level {
                Level::Max => max_momenta[g],
                _ => base_momenta[g],
            };
            let mut start_step = 0.0;
            for (i, phase) in phases.iter().enumerate() {
                if step as f64 <= phase.end_step || i == phases.len() - 1 {
                    let pct = (step as f64 - start_step) / (phase.end_step - start_step);
                    lrs.push(self.anneal_strategy.at(lr_at(phase.lr.0), lr_at(phase.lr.1), pct));
                    if self.cycle_momentum {
                        let (from, to) = (momentum_at(phase.momentum.0), momentum_at(phase.momentum.1));
                        group.momentum = Some(self.anneal_strategy.at(from, to, pct));
                    }
                    break;
                }
                start_step = phase.end_step;
            }
        }
        Ok(lrs)
    }
}
