//! An optimizer's whole state as plain data (PyTorch's `state_dict`), and loading it back with every check made
//! before anything changes.

use serde_json::{Map, Value};

use crate::state::StateTensor;
use crate::{hyper, CompactData, CompactTensor, Error, Float, Optimizer, ParamState, Rule, Shape};

/// Everything an optimizer holds, as plain data: its kind, the hyperparameters of each group, and each parameter's
/// name, shape and state. What [`checkpoint`](crate::checkpoint) writes to and reads from files.
#[derive(Debug, Clone, PartialEq)]
pub struct StateDict<T> {
    /// The rule's class name ([`Rule::NAME`]), e.g. `"Adam"`.
    pub optimizer: String,
    /// The groups, in order.
    pub groups: Vec<GroupRecord>,
    /// The parameters, in position order.
    pub params: Vec<ParamRecord<T>>,
    /// The optimizer-wide state, for rules that keep one ([`Rule::global_layout`]).
    pub global: Option<StateRecord<T>>,
}

/// One parameter group of a [`StateDict`].
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    /// The group's optimizer, in the state of a [`Composite`](crate::Composite) of several (`None` otherwise: the
    /// group is the dict's optimizer's).
    pub optimizer: Option<String>,
    /// Every hyperparameter, under PyTorch's keys.
    pub hyperparameters: Map<String, Value>,
    /// The positions of the group's parameters.
    pub params: Vec<usize>,
}

/// One parameter of a [`StateDict`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRecord<T> {
    /// The name it was registered with, if any.
    pub name: Option<String>,
    /// Its shape.
    pub shape: Shape,
    /// Its state, once it has any.
    pub state: Option<StateRecord<T>>,
}

/// One parameter's state in a [`StateDict`].
#[derive(Debug, Clone, PartialEq)]
pub struct StateRecord<T> {
    /// The step counter, for optimizers that count steps.
    pub step: Option<f32>,
    /// The state tensors: name, shape and values.
    pub tensors: Vec<(String, Shape, Vec<T>)>,
    /// The named scalars.
    pub scalars: Vec<(String, f64)>,
    /// The compact tensors (8-bit codes and their scales, bfloat16 values): name, shape and values.
    pub compact: Vec<(String, Shape, CompactData)>,
}

impl<R: Rule, T: Float> Optimizer<R, T> {
    /// The optimizer's whole state as plain data (PyTorch's `state_dict()`).
    pub fn state_dict(&self) -> StateDict<T> {
        let groups = self
            .groups
            .iter()
            .enumerate()
            .map(|(g, hyper)| GroupRecord {
                optimizer: None,
                hyperparameters: hyper::to_object(hyper),
                params: (0..self.params.len()).filter(|&p| self.params[p].group == g).collect(),
            })
            .collect();
        let params = self
            .params
            .iter()
            .map(|slot| ParamRecord {
                name: slot.cold.param.name.clone(),
                shape: slot.cold.param.shape.clone(),
                state: slot.state.as_ref().map(record),
            })
            .collect();
        StateDict { optimizer: R::NAME.to_owned(), groups, params, global: self.global_state().map(record) }
    }

    /// Replaces the hyperparameters and every parameter's state with those of `dict` (PyTorch's
    /// `load_state_dict`).
    ///
    /// The dict must come from an optimizer of the same kind over the same parameters: same names, shapes and
    /// groups, hyperparameters this rule accepts, and for each parameter the state its layout asks for, with
    /// tensors of the right names, shapes and sizes. Everything is checked first: on error, the optimizer is as it
    /// was.
    pub fn load_state_dict(&mut self, dict: &StateDict<T>) -> Result<(), Error> {
        let mismatch = |message: String| Err(Error::StateMismatch(message));
        if dict.optimizer != R::NAME {
            return mismatch(format!("the state is of a {} optimizer, not {}", dict.optimizer, R::NAME));
        }
        if dict.params.len() != self.params.len() {
            return mismatch(format!(
                "the state has {} parameters, the optimizer {}",
                dict.params.len(),
                self.params.len()
            ));
        }
        if dict.groups.len() != self.groups.len() {
            return mismatch(format!(
                "the state has {} groups, the optimizer {}",
                dict.groups.len(),
                self.groups.len()
            ));
        }
        let mut groups = Vec::with_capacity(dict.groups.len());
        for (g, record) in dict.groups.iter().enumerate() {
            let ours: Vec<usize> = (0..self.params.len()).filter(|&p| self.params[p].group == g).collect();
            if record.optimizer.as_deref().is_some_and(|name| name != R::NAME) {
                return mismatch(format!(
                    "group {g} is of {} in the state, not {}",
                    record.optimizer.as_deref().unwrap_or(""),
                    R::NAME
                ));
            }
            if record.params != ours {
                return mismatch(format!("group {g} holds parameters {:?} in the state, {ours:?} here", record.params));
            }
            let hyper: R = serde_json::from_value(Value::Object(record.hyperparameters.clone()))
                .map_err(|e| Error::StateMismatch(format!("group {g}: {}", hyper::serde_message(&e))))?;
            hyper.validate()?;
            groups.push(hyper);
        }
        let layout = groups[0].global_layout()?;
        layout.check_global(R::NAME)?;
        let global = match (&dict.global, layout.is_empty()) {
            (None, true) => None,
            (Some(saved), false) => Some(restore("the optimizer-wide state", saved, layout.create(&Shape::from(0)))?),
            (None, false) => {
                return mismatch(format!("the state has no optimizer-wide state, and {} keeps one", R::NAME))
            }
            (Some(_), true) => {
                return mismatch("the state has optimizer-wide state, and these hyperparameters keep none".into())
            }
        };
        let mut loaded = Vec::with_capacity(self.params.len());
        for (position, (slot, record)) in self.params.iter().zip(&dict.params).enumerate() {
            let label = slot.cold.param.label(position);
            if record.name != slot.cold.param.name {
                return mismatch(format!("parameter {label} is called {:?} in the state", record.name));
            }
            if record.shape != slot.cold.param.shape {
                return mismatch(format!(
                    "parameter {label} has shape {} in the state, {} here",
                    record.shape, slot.cold.param.shape
                ));
            }
            let layout = groups[slot.group].layout(&slot.cold.param.shape)?;
            layout.check(R::NAME, &slot.cold.param.shape)?;
            let expected = layout.create::<T>(&slot.cold.param.shape);
            let state = match &record.state {
                None if layout.eager => {
                    return mismatch(format!("parameter {label} has no state, and {} creates it up front", R::NAME))
                }
                None => None,
                Some(_) if layout.is_empty() => {
                    return mismatch(format!("parameter {label} has state, and these hyperparameters keep none"))
                }
                Some(saved) => Some(restore(&format!("parameter {label}"), saved, expected)?),
            };
            loaded.push((layout, state));
        }
        for (slot, (layout, state)) in self.params.iter_mut().zip(loaded) {
            slot.set_layout(layout);
            slot.state = state;
        }
        self.groups = groups;
        self.set_global_state(global);
        Ok(())
    }
}

/// A state as plain data.
pub(crate) fn record<T: Clone>(state: &ParamState<T>) -> StateRecord<T> {
    StateRecord {
        step: state.step,
        tensors: state.tensors.iter().map(|t| (t.name.to_owned(), t.shape.clone(), t.values.clone())).collect(),
        scalars: state.scalars.iter().map(|(name, value)| ((*name).to_owned(), *value)).collect(),
        compact: state.compact.iter().map(|c| (c.name.to_owned(), c.shape.clone(), c.data.clone())).collect(),
    }
}

/// `saved` in the shape of `expected` (a fresh state of the layout), if it has exactly the layout's entries.
fn restore<T: Float>(label: &str, saved: &StateRecord<T>, expected: ParamState<T>) -> Result<ParamState<T>, Error> {
    let mismatch = |message: String| Err(Error::StateMismatch(format!("{label}: {message}")));
    if saved.step.is_some() != expected.step.is_some() {
        let has = if saved.step.is_some() { "has" } else { "has no" };
        return mismatch(format!("the state {has} step counter, unlike this optimizer's"));
    }
    let names = |tensors: Vec<&str>| tensors.join(", ");
    let saved_names: Vec<&str> = saved
        .tensors
        .iter()
        .map(|(n, _, _)| n.as_str())
        .chain(saved.compact.iter().map(|(n, _, _)| n.as_str()))
        .collect();
    if saved_names != expected.names() {
        return mismatch(format!("state tensors [{}], expected [{}]", names(saved_names), names(expected.names())));
    }
    let saved_scalars: Vec<&str> = saved.scalars.iter().map(|(n, _)| n.as_str()).collect();
    let expected_scalars: Vec<&str> = expected.scalars.iter().map(|(n, _)| *n).collect();
    if saved_scalars != expected_scalars {
        return mismatch(format!("scalars [{}], expected [{}]", names(saved_scalars), names(expected_scalars)));
    }
    let mut tensors = Vec::with_capacity(expected.tensors.len());
    for ((name, shape, values), fresh) in saved.tensors.iter().zip(expected.tensors) {
        if *shape != fresh.shape || values.len() != fresh.values.len() {
            return mismatch(format!("{name} has shape {shape} and {} values, expected {}", values.len(), fresh.shape));
        }
        tensors.push(StateTensor { name: fresh.name, shape: fresh.shape, values: values.clone() });
    }
    let mut compact = Vec::with_capacity(expected.compact.len());
    for ((name, shape, data), fresh) in saved.compact.iter().zip(expected.compact) {
        if *shape != fresh.shape || data.len() != fresh.data.len() || data.kind() != fresh.data.kind() {
            return mismatch(format!(
                "{name} has shape {shape} and {} {} values, expected {} of {}",
                data.len(),
                data.kind().name(),
                fresh.shape,
                fresh.data.kind().name()
            ));
        }
        compact.push(CompactTensor { name: fresh.name, shape: fresh.shape, data: data.clone() });
    }
    let scalars = expected.scalars.iter().zip(&saved.scalars).map(|((name, _), (_, value))| (*name, *value)).collect();
    Ok(ParamState { step: saved.step, tensors, elementwise: expected.elementwise, scalars, compact })
}
