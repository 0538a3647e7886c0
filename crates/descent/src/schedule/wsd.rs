//! Warmup–stable–decay: a linear warm-up, a long plateau, and a short decay at the end.

use serde::{Deserialize, Serialize};

use super::base::invalid;
use super::{Clock, Formula, ScheduleEntry, View};
use crate::hyper::Hyperparameters;
use crate::Error;

/// The shape of the decay of a [`Wsd`] schedule, over its progress p from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decay {
    /// 1 − p.
    #[serde(rename = "linear")]
    Linear,
    /// (1 + cos(π·p))/2.
    #[serde(rename = "cosine")]
    Cosine,
    /// 1 − √p: the shape Hägele et al. (2024) found to match a cosine schedule's final loss.
    #[serde(rename = "1-sqrt")]
    OneMinusSqrt,
}

/// Warmup–stable–decay (Hu et al. 2024, MiniCPM; Hägele et al. 2024), the schedule of modern language-model
/// training, which needs no fixed length for most of the run: η₀·f(e) with
///
/// - warm-up, e < W: f = r + (1 − r)·e/W, from the floor r = `min_lr_ratio` up to 1;
/// - plateau, until the last D = round(`decay_fraction`·`total_steps`) steps: f = 1;
/// - decay over those D steps, with progress p = (e − (T − D))/D: f = r + (1 − r)·decay(p);
/// - after `total_steps`: f = r.
///
/// It follows Hugging Face `transformers`' `get_wsd_schedule` (linear warm-up) step for step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wsd {
    /// The steps of the whole schedule, T (required).
    pub total_steps: u64,
    /// The warm-up steps, W (default 0).
    #[serde(default)]
    pub warmup_steps: u64,
    /// The fraction of `total_steps` spent decaying (default 0.2).
    #[serde(default = "default_fraction")]
    pub decay_fraction: f64,
    /// `"1-sqrt"` (default), `"linear"` or `"cosine"`.
    #[serde(default = "default_decay")]
    pub decay: Decay,
    /// The floor r, as a fraction of η₀ (default 0).
    #[serde(default)]
    pub min_lr_ratio: f64,
}

fn default_fraction() -> f64 {
    0.2
}
fn default_decay() -> Decay {
    Decay::OneMinusSqrt
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::chainable::<Wsd>(&["wsd", "warmup_stable_decay"], "warm-up, plateau, decay at the end");

impl Hyperparameters for Wsd {
    const CLASS: &'static str = "WSD";

    fn check(&self) -> Result<(), Error> {
        if self.total_steps == 0 {
            return Err(invalid(Self::CLASS, "total_steps must be a positive integer"));
        }
        if !(0.0..=1.0).contains(&self.decay_fraction) {
            return Err(invalid(Self::CLASS, format!("decay_fraction must be in [0, 1], got {}", self.decay_fraction)));
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return Err(invalid(Self::CLASS, format!("min_lr_ratio must be in [0, 1], got {}", self.min_lr_ratio)));
        }
        if self.warmup_steps + self.decay_steps() > self.total_steps {
            return Err(invalid(
                Self::CLASS,
                format!(
                    "warmup_steps ({}) and the decay ({} steps) are longer than total_steps ({})",
                    self.warmup_steps,
                    self.decay_steps(),
                    self.total_steps
                ),
            ));
        }
        Ok(())
    }
}

impl Wsd {
    /// D, the steps of the decay.
    pub fn decay_steps(&self) -> u64 {
        (self.decay_fraction * self.total_steps as f64).round() as u64
    }

    /// f(e), the factor η₀ is multiplied by at epoch `e`.
    pub fn factor(&self, e: i64) -> f64 {
        let (warmup, decay) = (self.warmup_steps as i64, self.decay_steps() as i64);
        let stable_end = self.total_steps as i64 - decay;
        let floor = self.min_lr_ratio;
        if e < warmup {
            let progress = e as f64 / warmup.max(1) as f64;
            return (progress * (1.0 - floor) + floor).max(0.0);
        }
        if e < stable_end {
            return 1.0;
        }
        if e < stable_end + decay {
            let progress = (e - stable_end) as f64 / decay.max(1) as f64;
            let shape = match self.decay {
                Decay::Linear => 1.0 - progress,
                Decay::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * 0.5 * 2.0 * progress).cos()),
                Decay::OneMinusSqrt => 1.0 - progress.sqrt(),
            };
            return (shape * (1.0 - floor) + floor).max(0.0);
        }
        floor
    }
}

impl Formula for Wsd {
    type State = ();

    fn lrs(&self, _: &(), clock: &Clock, _groups: &mut [View]) -> Result<Vec<f64>, Error> {
        let factor = self.factor(clock.last_epoch);
        Ok(clock.base_lrs.iter().map(|base| base * factor).collect())
    }
}
