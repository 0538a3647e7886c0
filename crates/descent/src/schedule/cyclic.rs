//! CyclicLR: η cycling between two bounds, with the momentum cycling the other way.

use serde::{Deserialize, Serialize};

use super::base::{invalid, momenta};
use super::{Clock, Formula, PerGroup, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// How the amplitude of a [`CyclicLr`] changes from cycle to cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CyclicMode {
    /// The same triangle every cycle.
    Triangular,
    /// The amplitude halves every cycle.
    Triangular2,
    /// The amplitude decays by γ every iteration.
    ExpRange,
}

/// `torch.optim.lr_scheduler.CyclicLR` (Smith 2017): η goes from `base_lr` up to `max_lr` in `step_size_up`
/// iterations and back in `step_size_down`, with the amplitude scaled per [`CyclicMode`]. With `cycle_momentum`,
/// the momentum (or β₁) moves the opposite way, between `max_momentum` and `base_momentum`.
///
/// Building one sets each group's η to `base_lr` (and its momentum to `max_momentum`). PyTorch's custom
/// `scale_fn` is not available; `scale_mode` is accepted and, as in PyTorch without a `scale_fn`, has no effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CyclicLr {
    /// The lower bound of η (required; one value, or one per group).
    pub base_lr: PerGroup,
    /// The upper bound of η (required).
    pub max_lr: PerGroup,
    /// Iterations of the rising half (default 2000).
    #[serde(default = "default_up")]
    pub step_size_up: u64,
    /// Iterations of the falling half (default: `step_size_up`).
    #[serde(default)]
    pub step_size_down: Option<u64>,
    /// The amplitude policy (default `"triangular"`).
    #[serde(default = "default_mode")]
    pub mode: CyclicMode,
    /// The decay of `exp_range` (default 1).
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// `"cycle"` or `"iterations"`: without a custom `scale_fn`, the mode decides (default `"cycle"`).
    #[serde(default = "default_scale_mode")]
    pub scale_mode: String,
    /// Whether the momentum or β₁ cycles too (default true).
    #[serde(default = "yes")]
    pub cycle_momentum: bool,
    /// The momentum at the top of η (default 0.8).
    #[serde(default = "default_base_momentum")]
    pub base_momentum: PerGroup,
    /// The momentum at the bottom of η (default 0.9).
    #[serde(default = "default_max_momentum")]
    pub max_momentum: PerGroup,
}

fn default_up() -> u64 {
    2000
}
fn default_mode() -> CyclicMode {
    CyclicMode::Triangular
}
fn default_gamma() -> f64 {
    1.0
}
fn default_scale_mode() -> String {
    "cycle".to_owned()
}
fn yes() -> bool {
    true
}
fn default_base_momentum() -> PerGroup {
    PerGroup::All(0.8)
}
fn default_max_momentum() -> PerGroup {
    PerGroup::All(0.9)
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<CyclicLr>(&["cyclic"], "η cycling between base_lr and max_lr");

impl Hyperparameters for CyclicLr {
    const CLASS: &'static str = "CyclicLR";

    fn check(&self) -> Result<(), Error> {
        if self.step_size_up == 0 && self.step_size_down.unwrap_or(0) == 0 {
            return Err(invalid(Self::CLASS, "step_size_up + step_size_down must be positive"));
        }
        if !matches!(self.scale_mode.as_str(), "cycle" | "iterations") {
            return Err(invalid(
                Self::CLASS,
                format!("scale_mode must be \"cycle\" or \"iterations\", got {:?}", self.scale_mode),
            ));
        }
        let finite = |v: f64| v.is_finite();
        if !(self.base_lr.all(finite) && self.max_lr.all(finite) && self.gamma.is_finite()) {
            return Err(invalid(Self::CLASS, "base_lr, max_lr and gamma must be finite"));
        }
        Ok(())
    }
}

impl CyclicLr {
    /// The scale of the amplitude at a cycle (or iteration).
    fn scale(&self, cycle: f64, epoch: i64) -> f64 {
        match self.mode {
            CyclicMode::Triangular => 1.0,
            CyclicMode::Triangular2 => 1.0 / 2.0_f64.powf(cycle - 1.0),
            CyclicMode::ExpRange => self.gamma.powf(epoch as f64),
        }
    }
}

impl Formula for CyclicLr {
    type State = ();

    fn prepare(&self, groups: &mut [View]) -> Result<(), Error> {
        let n = groups.len();
        let base_lrs = self.base_lr.values(Self::CLASS, "base_lr", n)?;
        self.max_lr.values(Self::CLASS, "max_lr", n)?;
        for (group, lr) in groups.iter_mut().zip(base_lrs) {
            group.lr = lr;
        }
        if self.cycle_momentum {
            momenta(Self::CLASS, groups)?;
            self.base_momentum.values(Self::CLASS, "base_momentum", n)?;
            let max = self.max_momentum.values(Self::CLASS, "max_momentum", n)?;
            for (group, m) in groups.iter_mut().zip(max) {
                group.momentum = Some(m);
            }
        }
        Ok(())
    }

    fn own_base_lrs(&self, groups: usize) -> Result<Option<Vec<f64>>, Error> {
        self.base_lr.values(Self::CLASS, "base_lr", groups).map(Some)
    }

    fn cycles_momentum(&self) -> bool {
        self.cycle_momentum
    }

    fn lrs(&self, _: &(), clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error> {
        let n = groups.len();
        let up = self.step_size_up as f64;
        let total = up + self.step_size_down.map_or(up, |d| d as f64);
        let ratio = up / total;
        let e = clock.last_epoch;
        let cycle = (1.0 + e as f64 / total).floor();
        let x = 1.0 + e as f64 / total - cycle;
        let scale_factor = if x <= ratio { x / ratio } else { (x - 1.0) / (ratio - 1.0) };
        let scale = self.scale(cycle, e);
        let max_lrs = self.max_lr.values(Self::CLASS, "max_lr", n)?;
        let lrs = clock.base_lrs.iter().zip(max_lrs).map(|(base, max)| base + (max - base) * scale_factor * scale);
        let lrs = lrs.collect();
        if self.cycle_momentum {
            let base = self.base_momentum.values(Self::CLASS, "base_momentum", n)?;
            let max = self.max_momentum.values(Self::CLASS, "max_momentum", n)?;
            for ((group, base), max) in groups.iter_mut().zip(base).zip(max) {
                group.momentum = Some(max - (max - base) * scale_factor * scale);
            }
        }
        Ok(lrs)
    }
}
