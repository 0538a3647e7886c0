//! ReduceLROnPlateau: η cut by a factor when a watched metric stops improving.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::base::{invalid, Schedule, View};
use super::{PerGroup, ScheduleEntry};
use crate::hyper::Hyperparameters;
use crate::Error;

/// Whether a [`ReduceLrOnPlateau`]'s metric improves downwards (a loss) or upwards (an accuracy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateauMode {
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// How a [`ReduceLrOnPlateau`]'s threshold is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    /// Relative to the best value: better means beyond best·(1 ∓ threshold).
    Rel,
    /// Absolute: better means beyond best ∓ threshold.
    Abs,
}

/// `torch.optim.lr_scheduler.ReduceLROnPlateau`: each step reads a metric (the loss, say); after more than
/// `patience` steps without improvement, η ← max(η·factor, min_lr), skipped if the change is below `eps`; then
/// `cooldown` steps pass before bad steps count again.
///
/// It steps with the metric ([`Scheduler::step_with_metric`](super::Scheduler::step_with_metric)), and neither
/// takes an initial step nor records `initial_lr`, as in PyTorch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReduceLrOnPlateau {
    /// `"min"` (default) or `"max"`.
    pub mode: PlateauMode,
    /// The factor η is cut by, in [0, 1) (default 0.1).
    pub factor: f64,
    /// Steps without improvement tolerated (default 10).
    pub patience: u64,
    /// The smallest change that counts as an improvement (default 10⁻⁴).
    pub threshold: f64,
    /// `"rel"` (default) or `"abs"`.
    pub threshold_mode: ThresholdMode,
    /// Steps after a cut before bad steps count again (default 0).
    pub cooldown: u64,
    /// The smallest η (default 0; one value, or one per group).
    pub min_lr: PerGroup,
    /// A cut smaller than this is skipped (default 10⁻⁸).
    pub eps: f64,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        ReduceLrOnPlateau {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: PerGroup::All(0.0),
            eps: 1e-8,
        }
    }
}

pub(crate) const ENTRY: ScheduleEntry =
    ScheduleEntry::watching::<ReduceLrOnPlateau>(&["plateau", "reduce_on_plateau"], "η·factor when the loss stalls");

impl Hyperparameters for ReduceLrOnPlateau {
    const CLASS: &'static str = "ReduceLROnPlateau";

    fn check(&self) -> Result<(), Error> {
        if !(0.0..1.0).contains(&self.factor) {
            return Err(invalid(Self::CLASS, format!("factor should be in [0, 1), got {}", self.factor)));
        }
        if !(self.threshold.is_finite() && self.eps.is_finite() && self.min_lr.all(f64::is_finite)) {
            return Err(invalid(Self::CLASS, "threshold, min_lr and eps must be finite"));
        }
        Ok(())
    }
}

/// A [`ReduceLrOnPlateau`] at work: its hyperparameters and what it has seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Plateau {
    hyper: ReduceLrOnPlateau,
    min_lrs: Vec<f64>,
    #[serde(with = "any_float")]
    best: f64,
    num_bad_epochs: u64,
    cooldown_counter: u64,
    last_epoch: i64,
}

impl Plateau {
    pub fn new(hyper: ReduceLrOnPlateau) -> Self {
        let best = match hyper.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        };
        Plateau { hyper, min_lrs: Vec::new(), best, num_bad_epochs: 0, cooldown_counter: 0, last_epoch: 0 }
    }

    fn is_better(&self, a: f64) -> bool {
        let (best, threshold) = (self.best, self.hyper.threshold);
        match (self.hyper.mode, self.hyper.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + threshold,
        }
    }
}

impl Schedule for Plateau {
    fn start(&mut self, groups: &mut [View]) -> Result<(), Error> {
        self.min_lrs = self.hyper.min_lr.values(ReduceLrOnPlateau::CLASS, "min_lr", groups.len())?;
        Ok(())
    }

    fn step(&mut self, groups: &mut [View], metric: Option<f64>) -> Result<(), Error> {
        let Some(current) = metric else {
            return Err(Error::Metric {
                scheduler: ReduceLrOnPlateau::CLASS,
                message: "steps on a metric (the loss): step it with one",
            });
        };
        self.last_epoch += 1;
        if self.is_better(current) {
            self.best = current;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.hyper.patience {
            for (group, min_lr) in groups.iter_mut().zip(&self.min_lrs) {
                let old = group.lr;
                let new = (old * self.hyper.factor).max(*min_lr);
                if old - new > self.hyper.eps {
                    group.lr = new;
                }
            }
            self.cooldown_counter = self.hyper.cooldown;
            self.num_bad_epochs = 0;
        }
        Ok(())
    }

    fn initial_step(&mut self, _groups: &mut [View]) -> Result<(), Error> {
        Ok(())
    }

    fn restart(&mut self, _groups: &mut [View]) -> Result<(), Error> {
        Ok(())
    }

    fn undo(&mut self) {
        self.last_epoch -= 1;
    }

    fn needs_metric(&self) -> bool {
        true
    }

    fn cycles_momentum(&self) -> bool {
        false
    }

    fn state(&self) -> Value {
        serde_json::to_value(self).expect("a scheduler's state serializes")
    }

    fn load(&mut self, state: &Value) -> Result<(), Error> {
        let loaded: Plateau = serde_json::from_value(state.clone()).map_err(|e| {
            Error::StateMismatch(format!("ReduceLROnPlateau state: {}", crate::hyper::serde_message(&e)))
        })?;
        if loaded.min_lrs.len() != self.min_lrs.len() {
            return Err(Error::StateMismatch(format!(
                "ReduceLROnPlateau state has {} groups, the scheduler has {}",
                loaded.min_lrs.len(),
                self.min_lrs.len()
            )));
        }
        *self = loaded;
        Ok(())
    }

    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(self.clone())
    }
}

/// An `f64` in JSON, infinities and NaN included (as the strings `"inf"`, `"-inf"` and `"nan"`): the best value
/// starts infinite.
mod any_float {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            serializer.serialize_f64(*value)
        } else {
            serializer.serialize_str(&value.to_string().to_lowercase())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Number(f64),
            Text(String),
        }
        match Stored::deserialize(deserializer)? {
            Stored::Number(v) => Ok(v),
            Stored::Text(text) => text.parse().map_err(|_| serde::de::Error::custom(format!("not a number: {text:?}"))),
        }
    }
}
