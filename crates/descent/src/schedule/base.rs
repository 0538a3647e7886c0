//! PyTorch's `LRScheduler` base class: the epoch counter, `base_lrs`, the initial step, and the chainable step that
//! every scheduler's formula plugs into.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hyper::Hyperparameters;
use crate::Error;

/// A parameter group as schedulers see it: PyTorch's `group["lr"]`, `group["initial_lr"]` and the momentum or β₁.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct View {
    pub lr: f64,
    pub initial_lr: Option<f64>,
    /// `momentum`, or `betas[0]`; `None` if the group's optimizer has neither.
    pub momentum: Option<f64>,
}

impl View {
    /// The group's `initial_lr`: a scheduler built on it has recorded one.
    pub fn initial(&self) -> f64 {
        self.initial_lr.unwrap_or(self.lr)
    }
}

/// A scheduler behind a trait object: one of PyTorch's classes, or a composition of them.
pub(crate) trait Schedule: Debug + Send + Sync {
    /// PyTorch's constructor, after the hyperparameters were checked: records `initial_lr`, sets what the class
    /// sets, and takes the initial step.
    fn start(&mut self, groups: &mut [View]) -> Result<(), Error>;
    /// `scheduler.step()`, or `step(metric)` for ReduceLROnPlateau.
    fn step(&mut self, groups: &mut [View], metric: Option<f64>) -> Result<(), Error>;
    /// `_initial_step()`: the step a constructor takes, again (SequentialLR restarts its first child so).
    fn initial_step(&mut self, groups: &mut [View]) -> Result<(), Error>;
    /// `_update_lr(0)`: back to epoch 0 with the closed form, where SequentialLR hands over to this scheduler.
    fn restart(&mut self, groups: &mut [View]) -> Result<(), Error>;
    /// SequentialLR's `recursive_undo`: one epoch back, undoing the constructor's step.
    fn undo(&mut self);
    fn needs_metric(&self) -> bool {
        false
    }
    /// Whether it sets the groups' momentum or β₁ too.
    fn cycles_momentum(&self) -> bool;
    fn state(&self) -> Value;
    fn load(&mut self, state: &Value) -> Result<(), Error>;
    fn clone_box(&self) -> Box<dyn Schedule>;
}

/// `LRScheduler`'s counters: `base_lrs`, `last_epoch`, `_step_count` and `_is_initial`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Clock {
    pub base_lrs: Vec<f64>,
    pub last_epoch: i64,
    pub step_count: u64,
    pub is_initial: bool,
}

/// One scheduler's rule, as its class's `get_lr` (and `_get_closed_form_lr`, if it has one) in PyTorch.
pub(crate) trait Formula: Hyperparameters + Debug + Clone + Send + Sync + 'static {
    /// What the scheduler keeps besides the clock (CosineAnnealingWarmRestarts's `T_cur` and `T_i`).
    type State: Debug + Clone + Default + Serialize + DeserializeOwned + Send + Sync;

    /// The constructor's checks against the groups and its writes to them, before `initial_lr` is recorded.
    fn prepare(&self, _groups: &mut [View]) -> Result<(), Error> {
        Ok(())
    }

    /// The `base_lrs` a class sets after its constructor's step, replacing the groups' `initial_lr` (CyclicLR).
    fn own_base_lrs(&self, _groups: usize) -> Result<Option<Vec<f64>>, Error> {
        Ok(None)
    }

    /// Whether it sets the groups' momentum or β₁ too.
    fn cycles_momentum(&self) -> bool {
        false
    }

    /// What `step()` does before `get_lr` (and `_update_lr(0)` does not).
    fn advance(&self, _state: &mut Self::State, _clock: &Clock) {}

    /// `get_lr()`: the new learning rate of each group (and its momentum, written into the groups).
    fn lrs(&self, state: &Self::State, clock: &Clock, groups: &mut [View]) -> Result<Vec<f64>, Error>;

    /// `_get_closed_form_lr()`, for the classes that have one.
    fn closed_form(&self, _clock: &Clock) -> Option<Vec<f64>> {
        None
    }
}

/// A [`Formula`] with PyTorch's `LRScheduler` machinery around it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Chainable<F: Formula> {
    pub formula: F,
    pub state: F::State,
    pub clock: Clock,
}

impl<F: Formula> Chainable<F> {
    pub fn new(formula: F) -> Self {
        let clock = Clock { base_lrs: Vec::new(), last_epoch: -1, step_count: 0, is_initial: false };
        Chainable { formula, state: F::State::default(), clock }
    }

    fn write(groups: &mut [View], lrs: Vec<f64>) {
        for (group, lr) in groups.iter_mut().zip(lrs) {
            group.lr = lr;
        }
    }
}

impl<F: Formula> Schedule for Chainable<F> {
    fn start(&mut self, groups: &mut [View]) -> Result<(), Error> {
        self.formula.prepare(groups)?;
        for group in groups.iter_mut() {
            group.initial_lr.get_or_insert(group.lr);
        }
        self.clock.base_lrs = groups.iter().map(View::initial).collect();
        self.initial_step(groups)?;
        if let Some(base_lrs) = self.formula.own_base_lrs(groups.len())? {
            self.clock.base_lrs = base_lrs;
        }
        Ok(())
    }

    fn step(&mut self, groups: &mut [View], _metric: Option<f64>) -> Result<(), Error> {
        self.clock.step_count += 1;
        self.clock.last_epoch += 1;
        self.formula.advance(&mut self.state, &self.clock);
        let lrs = self.formula.lrs(&self.state, &self.clock, groups)?;
        Self::write(groups, lrs);
        Ok(())
    }

    fn initial_step(&mut self, groups: &mut [View]) -> Result<(), Error> {
        self.clock.step_count = 0;
        self.clock.is_initial = true;
        let stepped = self.step(groups, None);
        self.clock.is_initial = false;
        stepped
    }

    fn restart(&mut self, groups: &mut [View]) -> Result<(), Error> {
        self.clock.last_epoch = 0;
        let lrs = match self.formula.closed_form(&self.clock) {
            Some(lrs) => lrs,
            None => self.formula.lrs(&self.state, &self.clock, groups)?,
        };
        Self::write(groups, lrs);
        Ok(())
    }

    fn undo(&mut self) {
        self.clock.last_epoch -= 1;
    }

    fn cycles_momentum(&self) -> bool {
        self.formula.cycles_momentum()
    }

    fn state(&self) -> Value {
        serde_json::to_value(self).expect("a scheduler's state serializes")
    }

    fn load(&mut self, state: &Value) -> Result<(), Error> {
        let loaded: Self = serde_json::from_value(state.clone()).map_err(|e| {
            Error::StateMismatch(format!("{} scheduler state: {}", F::CLASS, crate::hyper::serde_message(&e)))
        })?;
        if loaded.clock.base_lrs.len() != self.clock.base_lrs.len() {
            return Err(Error::StateMismatch(format!(
                "{} scheduler state has {} groups, the scheduler has {}",
                F::CLASS,
                loaded.clock.base_lrs.len(),
                self.clock.base_lrs.len()
            )));
        }
        *self = loaded;
        Ok(())
    }

    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(self.clone())
    }
}

/// The groups' current learning rates: what most formulas return when the epoch changes nothing.
pub(crate) fn unchanged(groups: &[View]) -> Vec<f64> {
    groups.iter().map(|g| g.lr).collect()
}

/// Every group's learning rate times `factor`.
pub(crate) fn scaled(groups: &[View], factor: f64) -> Vec<f64> {
    groups.iter().map(|g| g.lr * factor).collect()
}

/// The groups' momentum, which a scheduler that cycles it needs (PyTorch's check of `momentum` or `betas`).
pub(crate) fn momenta(scheduler: &'static str, groups: &[View]) -> Result<(), Error> {
    if groups.iter().all(|g| g.momentum.is_some()) {
        Ok(())
    } else {
        Err(invalid(scheduler, "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"))
    }
}

/// An invalid scheduler argument, as PyTorch's `ValueError`.
pub(crate) fn invalid(scheduler: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidSchedule { scheduler, message: message.into() }
}
