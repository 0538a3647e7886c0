//! Schedulers composed: PyTorch's ChainedScheduler (`A * B`) and SequentialLR (`A until N then B`).

use serde_json::{json, Value};

use super::base::{Schedule, View};
use crate::Error;

/// `ChainedScheduler`: every scheduler steps in turn on the same groups, so their factors multiply.
#[derive(Debug)]
pub(crate) struct Chain {
    pub parts: Vec<Box<dyn Schedule>>,
}

/// `SequentialLR`: one scheduler at a time, the next taking over (at its own epoch 0) at each milestone.
#[derive(Debug)]
pub(crate) struct Sequence {
    pub parts: Vec<Box<dyn Schedule>>,
    pub milestones: Vec<u64>,
    pub last_epoch: i64,
}

fn clone_all(parts: &[Box<dyn Schedule>]) -> Vec<Box<dyn Schedule>> {
    parts.iter().map(|p| p.clone_box()).collect()
}

fn states(parts: &[Box<dyn Schedule>]) -> Value {
    Value::Array(parts.iter().map(|p| p.state()).collect())
}

/// Loads each part's state from `state`'s `"parts"`, all or none.
fn load_all(parts: &mut [Box<dyn Schedule>], state: &Value) -> Result<(), Error> {
    let saved = state
        .get("parts")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::StateMismatch("a composed scheduler's state has no parts".into()))?;
    if saved.len() != parts.len() {
        return Err(Error::StateMismatch(format!(
            "the state has {} schedulers, the composition {}",
            saved.len(),
            parts.len()
        )));
    }
    let mut loaded = clone_all(parts);
    for (part, state) in loaded.iter_mut().zip(saved) {
        part.load(state)?;
    }
    for (part, new) in parts.iter_mut().zip(loaded) {
        *part = new;
    }
    Ok(())
}

impl Schedule for Chain {
    fn start(&mut self, _groups: &mut [View]) -> Result<(), Error> {
        Ok(())
    }

    fn step(&mut self, groups: &mut [View], _metric: Option<f64>) -> Result<(), Error> {
        self.parts.iter_mut().try_for_each(|p| p.step(groups, None))
    }

    fn initial_step(&mut self, groups: &mut [View]) -> Result<(), Error> {
        self.step(groups, None)
    }

    fn restart(&mut self, groups: &mut [View]) -> Result<(), Error> {
        self.parts.iter_mut().try_for_each(|p| p.restart(groups))
    }

    fn undo(&mut self) {
        self.parts.iter_mut().for_each(|p| p.undo());
    }

    fn cycles_momentum(&self) -> bool {
        self.parts.iter().any(|p| p.cycles_momentum())
    }

    fn state(&self) -> Value {
        json!({ "parts": states(&self.parts) })
    }

    fn load(&mut self, state: &Value) -> Result<(), Error> {
        load_all(&mut self.parts, state)
    }

    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(Chain { parts: clone_all(&self.parts) })
    }
}

impl Sequence {
    /// Which part runs at epoch `epoch`: `bisect_right(milestones, epoch)`.
    fn part_at(&self, epoch: i64) -> usize {
        self.milestones.iter().filter(|&&m| m as i64 <= epoch).count()
    }
}

impl Schedule for Sequence {
    /// PyTorch's constructor: every group back to its `initial_lr`, every part's constructor step undone, and the
    /// first part's taken again.
    fn start(&mut self, groups: &mut [View]) -> Result<(), Error> {
        self.last_epoch += 1;
        for group in groups.iter_mut() {
            group.lr = group.initial();
        }
        self.undo_parts();
        let first = self.part_at(0);
        self.parts[first].initial_step(groups)
    }

    fn step(&mut self, groups: &mut [View], _metric: Option<f64>) -> Result<(), Error> {
        self.last_epoch += 1;
        let index = self.part_at(self.last_epoch);
        if index > 0 && self.milestones[index - 1] as i64 == self.last_epoch {
            self.parts[index].restart(groups)
        } else {
            self.parts[index].step(groups, None)
        }
    }

    fn initial_step(&mut self, groups: &mut [View]) -> Result<(), Error> {
        self.step(groups, None)
    }

    fn restart(&mut self, groups: &mut [View]) -> Result<(), Error> {
        self.step(groups, None)
    }

    fn undo(&mut self) {
        self.undo_parts();
    }

    fn cycles_momentum(&self) -> bool {
        self.parts.iter().any(|p| p.cycles_momentum())
    }

    fn state(&self) -> Value {
        json!({ "last_epoch": self.last_epoch, "parts": states(&self.parts) })
    }

    fn load(&mut self, state: &Value) -> Result<(), Error> {
        let last_epoch = state
            .get("last_epoch")
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::StateMismatch("SequentialLR state has no last_epoch".into()))?;
        load_all(&mut self.parts, state)?;
        self.last_epoch = last_epoch;
        Ok(())
    }

    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(Sequence {
            parts: clone_all(&self.parts),
            milestones: self.milestones.clone(),
            last_epoch: self.last_epoch,
        })
    }
}

impl Sequence {
    /// PyTorch's `recursive_undo` over the parts.
    fn undo_parts(&mut self) {
        self.parts.iter_mut().for_each(|p| p.undo());
    }
}
