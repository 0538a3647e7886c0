//! A scheduler at work on an optimizer's groups.

use serde_json::{json, Value};

use super::base::{Schedule, View};
use super::{LrGroups, ScheduleSpec};
use crate::Error;

/// A learning-rate schedule driving the groups of an optimizer (or plain [`LrGroup`](super::LrGroup)s).
///
/// Build it after the optimizer, with the groups it will drive ([`Scheduler::new`] applies the epoch-0 value), and
/// call [`step`](Self::step) after each optimizer step (or each epoch). Each step reads the groups' current
/// learning rates (another scheduler, or the caller, may have changed them), computes the new ones, and writes
/// them back. A step that fails (OneCycleLR past its end, a learning rate the optimizer refuses) changes neither
/// the groups nor the scheduler.
///
/// ```
/// use descent::schedule::{ScheduleSpec, Scheduler};
/// use descent::{Param, Spec};
///
/// let mut optimizer = "sgd(lr=0.1, momentum=0.9)".parse::<Spec>()?.build::<f32>([Param::vector(3)])?;
/// let spec: ScheduleSpec = "OneCycleLR(max_lr=1.0, total_steps=12)".parse()?;
/// let mut scheduler = Scheduler::new(&spec, optimizer.as_mut())?;
/// assert_eq!(optimizer.lr(0)?, 0.040000000000000036); // max_lr/25, through the cosine
/// assert_eq!(optimizer.hyperparameter(0, "momentum")?, 0.95);
/// for _ in 0..12 {
///     // optimizer.step(…) here
///     scheduler.step(optimizer.as_mut())?;
/// }
/// assert!(scheduler.step(optimizer.as_mut()).is_err()); // past total_steps, as in PyTorch
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Scheduler {
    spec: ScheduleSpec,
    schedule: Box<dyn Schedule>,
    groups: Vec<View>,
}

impl Clone for Scheduler {
    fn clone(&self) -> Self {
        Scheduler { spec: self.spec.clone(), schedule: self.schedule.clone_box(), groups: self.groups.clone() }
    }
}

impl Scheduler {
    /// The scheduler `spec` on `target`'s groups: checks it against them, records their `initial_lr`, and applies
    /// the epoch-0 values.
    pub fn new<G: LrGroups + ?Sized>(spec: &ScheduleSpec, target: &mut G) -> Result<Self, Error> {
        let mut groups = (0..target.group_count())
            .map(|g| Ok(View { lr: target.lr(g)?, initial_lr: None, momentum: target.momentum(g)? }))
            .collect::<Result<Vec<_>, Error>>()?;
        let found = groups.clone();
        let schedule = spec.build(&mut groups)?;
        let scheduler = Scheduler { spec: spec.clone(), schedule, groups };
        scheduler.write(target, &found)?;
        Ok(scheduler)
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &ScheduleSpec {
        &self.spec
    }

    /// One step of the schedule (after an optimizer step, or an epoch).
    pub fn step<G: LrGroups + ?Sized>(&mut self, target: &mut G) -> Result<(), Error> {
        if self.schedule.needs_metric() {
            return Err(Error::Metric {
                scheduler: "ReduceLROnPlateau",
                message: "steps on a metric (the loss): use step_with_metric",
            });
        }
        self.advance(target, None)
    }

    /// One step of ReduceLROnPlateau, with the metric it watches.
    pub fn step_with_metric<G: LrGroups + ?Sized>(&mut self, target: &mut G, metric: f64) -> Result<(), Error> {
        if !self.schedule.needs_metric() {
            return Err(Error::Metric { scheduler: "scheduler", message: "does not step on a metric: use step" });
        }
        self.advance(target, Some(metric))
    }

    /// Whether it steps on a metric (ReduceLROnPlateau).
    pub fn watches_metric(&self) -> bool {
        self.schedule.needs_metric()
    }

    /// Whether it sets the momentum or β₁ too (CyclicLR, OneCycleLR).
    pub fn cycles_momentum(&self) -> bool {
        self.schedule.cycles_momentum()
    }

    /// The learning rate of each group after the last step: PyTorch's `get_last_lr()`.
    pub fn last_lr(&self) -> Vec<f64> {
        self.groups.iter().map(|g| g.lr).collect()
    }

    /// The momentum or β₁ of each group after the last step (`None` for an optimizer without one).
    pub fn last_momentum(&self) -> Vec<Option<f64>> {
        self.groups.iter().map(|g| g.momentum).collect()
    }

    /// Everything the scheduler has counted and recorded, as JSON: with its spec, enough to resume it bit for bit.
    /// Store it with the optimizer's state, e.g. in a [`Checkpoint`](crate::checkpoint::Checkpoint)'s `metadata`
    /// (as `descent train` does), and give it back to [`load_state`](Self::load_state) after building the same
    /// scheduler on the restored optimizer.
    pub fn state(&self) -> Value {
        json!({
            "spec": self.spec.to_string(),
            "groups": serde_json::to_value(&self.groups).expect("groups serialize"),
            "schedule": self.schedule.state(),
        })
    }

    /// Restores a [`state`](Self::state) saved from a scheduler of the same spec and groups; on error, nothing
    /// changes.
    pub fn load_state(&mut self, state: &Value) -> Result<(), Error> {
        let spec = state.get("spec").and_then(Value::as_str).unwrap_or_default();
        if spec != self.spec.to_string() {
            return Err(Error::StateMismatch(format!("the state is of schedule {spec:?}, not {}", self.spec)));
        }
        let groups: Vec<View> = state
            .get("groups")
            .and_then(|g| serde_json::from_value(g.clone()).ok())
            .ok_or_else(|| Error::StateMismatch("the scheduler state has no readable groups".into()))?;
        if groups.len() != self.groups.len() {
            return Err(Error::StateMismatch(format!(
                "the scheduler state has {} groups, the scheduler {}",
                groups.len(),
                self.groups.len()
            )));
        }
        let mut schedule = self.schedule.clone_box();
        schedule.load(state.get("schedule").unwrap_or(&Value::Null))?;
        self.schedule = schedule;
        self.groups = groups;
        Ok(())
    }

    fn advance<G: LrGroups + ?Sized>(&mut self, target: &mut G, metric: Option<f64>) -> Result<(), Error> {
        if target.group_count() != self.groups.len() {
            return Err(Error::InvalidSchedule {
                scheduler: "scheduler",
                message: format!("built for {} groups, the optimizer has {}", self.groups.len(), target.group_count()),
            });
        }
        let before = self.clone();
        for (g, group) in self.groups.iter_mut().enumerate() {
            group.lr = target.lr(g)?;
            group.momentum = target.momentum(g)?;
        }
        let stepped = self.schedule.step(&mut self.groups, metric).and_then(|()| self.write(target, &before.groups));
        if stepped.is_err() {
            *self = before;
        }
        stepped
    }

    /// Writes the groups' values into `target`; if the target refuses one, puts `before` back.
    fn write<G: LrGroups + ?Sized>(&self, target: &mut G, before: &[View]) -> Result<(), Error> {
        let written = write_views(&self.groups, target);
        if written.is_err() {
            write_views(before, target).ok();
        }
        written
    }
}

fn write_views<G: LrGroups + ?Sized>(groups: &[View], target: &mut G) -> Result<(), Error> {
    groups.iter().enumerate().try_for_each(|(g, group)| {
        target.set_lr(g, group.lr)?;
        match group.momentum {
            Some(m) if target.momentum(g)? != Some(m) => target.set_momentum(g, m),
            _ => Ok(()),
        }
    })
}
