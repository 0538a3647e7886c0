//! SWALR: the anneal to a constant η that stochastic weight averaging runs at.

use serde::{Deserialize, Serialize};

use super::base::invalid;
use super::{Anneal, Clock, Formula, PerGroup, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// `torch.optim.swa_utils.SWALR` (Izmailov et al. 2018): η moves from its current value to `swa_lr` over
/// `anneal_epochs` epochs (along a half cosine or a line), then stays there while the weights are averaged.
///
/// As PyTorch, each step recovers the η the anneal started from out of the current η, so that it composes with
/// what came before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Swalr {
    /// The η to anneal to (required; one value, or one per group).
    pub swa_lr: PerGroup,
    /// The epochs of the anneal (default 10; 0 jumps at once).
    #[serde(default = "default_epochs")]
    pub anneal_epochs: u64,
    /// `"cos"` (default) or `"linear"`.
    #[serde(default = "default_anneal")]
    pub anneal_strategy: Anneal,
}

fn default_epochs() -> u64 {
    10
}
fn default_anneal() -> Anneal {
    Anneal::Cos
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<Swalr>(&["swa", "swalr"], "anneal to swa_lr, for weight averaging");

impl Hyperparameters for Swalr {
    const CLASS: &'static str = "SWALR";

    fn check(&self) -> Result<(), Error> {
        if !self.swa_lr.all(|v| v.is_finite() && v >= 0.0) {
            return Err(invalid(Self::CLASS, "swa_lr must be a finite number >= 0"));
        }
        Ok(())
    }
}

impl Swalr {
    /// The anneal's progress α at fraction `t` of its epochs.
    fn alpha(&self, t: f64) -> f64 {
        match self.anneal_strategy {
            Anneal::Cos => (1.0 - (std::f64::consts::PI * t).cos()) / 2.0,
            Anneal::Linear => t,
        }
    }
}

impl Formula for Swalr {
    type State = ();

    fn prepare(&self, groups: &mut [View]) -> Result<(), Error> {
        self.swa_lr.values(Self::CLASS, "swa_lr", groups.len()).map(drop)
    }

    fn lrs(&self, _: &(), clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error> {
        let swa_lrs = self.swa_lr.values(Self::CLASS, "swa_lr", groups.len())?;
        let mut step = clock.step_count as i64 - 1;
        if self.anneal_epochs == 0 {
            step = step.max(1);
        }
        let epochs = self.anneal_epochs.max(1) as f64;
        let prev_alpha = self.alpha(((step - 1) as f64 / epochs).clamp(0.0, 1.0));
        let alpha = self.alpha((step as f64 / epochs).clamp(0.0, 1.0));
        Ok(groups
            .iter()
            .zip(swa_lrs)
            .map(|(group, swa_lr)| {
                let start =
                    if prev_alpha == 1.0 { swa_lr } else { (group.lr - prev_alpha * swa_lr) / (1.0 - prev_alpha) };
                swa_lr * alpha + start * (1.0 - alpha)
            })
            .collect())
    }
}
