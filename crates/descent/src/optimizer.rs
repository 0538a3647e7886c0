//! The optimizer: parameter groups, per-parameter state, and the step that applies a rule to all parameters.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::{kernel, Error, Float, Group, Param, ParamState, Rule, StepCount};

/// An optimizer with update rule `R` (`Sgd`, `Adam`, …) over parameters of element type `T` (`f32` or `f64`).
///
/// The caller owns the parameters and their gradients as plain slices and hands them to [`Optimizer::step`]; the
/// optimizer owns the hyperparameters of each parameter group and each parameter's state.
///
/// Parameters are identified by their position across all groups, in the order they were registered (PyTorch's
/// `state_dict` ids), or by the name they were registered with.
///
/// ```
/// use descent::{Adam, Optimizer, Param};
///
/// let mut x = vec![1.0_f64, -2.0];
/// let mut opt = Optimizer::new(Adam { lr: 0.1, ..Adam::default() }, [Param::named("x", 2)])?;
/// for _ in 0..200 {
///     let grad: Vec<f64> = x.iter().map(|v| 2.0 * v).collect(); // ∇ of x₀² + x₁²
///     opt.step(&mut [&mut x], &[Some(&grad)])?;
/// }
/// assert!(x.iter().all(|v| v.abs() < 1e-2));
/// assert_eq!(opt.state_named("x").unwrap().step(), Some(200.0));
/// # Ok::<(), descent::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer<R: Rule, T: Float> {
    groups: Vec<R>,
    params: Vec<Slot<T>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Slot<T> {
    param: Param,
    group: usize,
    state: Option<ParamState<T>>,
}

impl<T> Slot<T> {
    /// How errors name the parameter: its name, or its position.
    fn label(&self, position: usize) -> String {
        match &self.param.name {
            Some(name) => format!("{name:?}"),
            None => format!("#{position}"),
        }
    }
}

impl<R: Rule, T: Float> Optimizer<R, T> {
    /// An optimizer with one parameter group.
    pub fn new(hyper: R, params: impl IntoIterator<Item = Param>) -> Result<Self, Error> {
        Self::with_groups([Group::new(hyper, params)])
    }

    /// An optimizer with several parameter groups, each with its own hyperparameters.
    pub fn with_groups(groups: impl IntoIterator<Item = Group<R>>) -> Result<Self, Error> {
        let mut optimizer = Optimizer { groups: Vec::new(), params: Vec::new() };
        for group in groups {
            optimizer.add_group(group)?;
        }
        if optimizer.params.is_empty() {
            return Err(Error::EmptyParameterList);
        }
        Ok(optimizer)
    }

    /// Adds a parameter group (PyTorch's `add_param_group`); its parameters take the next positions.
    pub fn add_group(&mut self, group: Group<R>) -> Result<(), Error> {
        group.hyper.validate()?;
        let mut names: HashSet<&str> = self.params.iter().filter_map(|s| s.param.name()).collect();
        for name in group.params.iter().filter_map(Param::name) {
            if !names.insert(name) {
                return Err(Error::DuplicateParameterName(name.to_owned()));
            }
        }
        let index = self.groups.len();
        for param in group.params {
            let state = group.hyper.eager_state().then(|| new_state(&group.hyper, param.len));
            self.params.push(Slot { param, group: index, state });
        }
        self.groups.push(group.hyper);
        Ok(())
    }

    /// Updates every parameter that has a gradient.
    ///
    /// `params` and `grads` hold one entry per registered parameter, in position order. A parameter whose
    /// gradient is `None` is skipped as PyTorch skips a parameter whose `.grad` is `None`: no state is created, its
    /// step counter does not advance and no weight decay is applied. A gradient of zeros is not skipped.
    ///
    /// Every count and length is checked before anything is written: on error, no parameter and no state has
    /// changed. Non-finite gradient values are not an error; as in PyTorch, they propagate into the parameter and
    /// the state.
    ///
    /// A large step runs on rayon's threads (its global pool, or the pool it is called from with
    /// `ThreadPool::install`), all tensors in one parallel pass; results do not depend on the number of threads.
    pub fn step(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<(), Error> {
        self.check(params, grads)?;
        let Optimizer { groups, params: slots } = self;
        let (count, work) = slots
            .iter()
            .zip(grads)
            .filter(|(_, grad)| grad.is_some())
            .fold((0, 0), |(count, work), (slot, _)| (count + 1, work + slot.param.len));
        let groups = groups.as_slice();
        if work <= 2 * kernel::CHUNK {
            // Too little work to pay for threads.
            for ((slot, param), grad) in slots.iter_mut().zip(params.iter_mut()).zip(grads) {
                update_param(groups, slot, param, *grad);
            }
        } else {
            // One parallel pass over all tensors; tensors of more than a chunk split further inside the kernel.
            let per_task = (kernel::CHUNK * count / work).max(1);
            slots
                .par_iter_mut()
                .zip(params.par_iter_mut())
                .zip(grads.par_iter())
                .with_min_len(per_task)
                .for_each(|((slot, param), grad)| update_param(groups, slot, param, *grad));
        }
        Ok(())
    }

    /// Updates only the parameter at `position`, with its gradient: what a framework that hands out one tensor at
    /// a time needs. Stepping every parameter this way, in any order, gives exactly what one [`Optimizer::step`]
    /// gives (each parameter has its own state and step count).
    ///
    /// A position past the last parameter or a length other than the registered one is an error, and nothing
    /// changes.
    pub fn step_param(&mut self, position: usize, param: &mut [T], grad: &[T]) -> Result<(), Error> {
        let count = self.params.len();
        let slot = self.params.get_mut(position).ok_or(Error::NoSuchParameter { position, count })?;
        let expected = slot.param.len;
        if param.len() != expected {
            return Err(Error::ParameterLengthMismatch { param: slot.label(position), expected, got: param.len() });
        }
        if grad.len() != expected {
            return Err(Error::GradientLengthMismatch { param: slot.label(position), expected, got: grad.len() });
        }
        update_param(&self.groups, slot, param, Some(grad));
        Ok(())
    }

    fn check(&self, params: &[&mut [T]], grads: &[Option<&[T]>]) -> Result<(), Error> {
        let expected = self.params.len();
        for (what, got) in [("parameters", params.len()), ("gradients", grads.len())] {
            if got != expected {
                return Err(Error::CountMismatch { what, expected, got });
            }
        }
        for (position, ((slot, param), grad)) in self.params.iter().zip(params).zip(grads).enumerate() {
            let expected = slot.param.len;
            if param.len() != expected {
                return Err(Error::ParameterLengthMismatch { param: slot.label(position), expected, got: param.len() });
            }
            if let Some(grad) = grad {
                if grad.len() != expected {
                    return Err(Error::GradientLengthMismatch {
                        param: slot.label(position),
                        expected,
                        got: grad.len(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The number of parameter groups.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The hyperparameters of group `group`.
    pub fn hyperparameters(&self, group: usize) -> Result<&R, Error> {
        self.groups.get(group).ok_or(Error::NoSuchGroup { index: group, count: self.groups.len() })
    }

    /// Replaces the hyperparameters of group `group`, after validating them.
    ///
    /// Changes that would need other state tensors (turning on AMSGrad, say) are refused for groups whose
    /// parameters already have state.
    pub fn set_hyperparameters(&mut self, group: usize, hyper: R) -> Result<(), Error> {
        self.hyperparameters(group)?;
        hyper.validate()?;
        let needed = (hyper.state_names(), hyper.counts_steps());
        let mismatch = self
            .params
            .iter()
            .filter(|slot| slot.group == group)
            .filter_map(|slot| slot.state.as_ref())
            .find(|state| (state.names, state.step.is_some()) != needed);
        if let Some(state) = mismatch {
            return Err(Error::StateLayoutChange {
                optimizer: R::NAME,
                from: describe_layout(state.names, state.step.is_some()),
                to: describe_layout(needed.0, needed.1),
            });
        }
        self.groups[group] = hyper;
        Ok(())
    }

    /// The learning rate of group `group`.
    pub fn lr(&self, group: usize) -> Result<f64, Error> {
        self.hyperparameters(group).map(Rule::lr)
    }

    /// Sets the learning rate of group `group` (what a learning-rate scheduler does).
    pub fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        let mut hyper = self.hyperparameters(group)?.clone();
        hyper.set_lr(lr);
        hyper.validate()?;
        self.groups[group] = hyper;
        Ok(())
    }

    /// The number of registered parameters.
    pub fn param_count(&self) -> usize {
        self.params.len()
    }

    /// The parameter at `position`: its name and length.
    pub fn param(&self, position: usize) -> Option<&Param> {
        self.params.get(position).map(|slot| &slot.param)
    }

    /// The position of the parameter registered as `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|slot| slot.param.name() == Some(name))
    }

    /// The group of the parameter at `position`.
    pub fn group_of(&self, position: usize) -> Option<usize> {
        self.params.get(position).map(|slot| slot.group)
    }

    /// The state of the parameter at `position`, once it has any (PyTorch's `state_dict()["state"][position]`).
    pub fn state(&self, position: usize) -> Option<&ParamState<T>> {
        self.params.get(position).and_then(|slot| slot.state.as_ref())
    }

    /// The state of the parameter registered as `name`.
    pub fn state_named(&self, name: &str) -> Option<&ParamState<T>> {
        self.position(name).and_then(|position| self.state(position))
    }
}

/// Steps one parameter that has a gradient: creates its state at its first gradient, counts the step, applies the
/// rule of its group.
fn update_param<R: Rule, T: Float>(groups: &[R], slot: &mut Slot<T>, param: &mut [T], grad: Option<&[T]>) {
    let Some(grad) = grad else { return };
    let hyper = &groups[slot.group];
    let first = slot.state.is_none();
    let state = match &mut slot.state {
        Some(state) => Some(state),
        None if has_state(hyper) => Some(slot.state.insert(new_state(hyper, slot.param.len))),
        None => None,
    };
    let (t, tensors) = match state {
        Some(state) => {
            let t = state.step.as_mut().map_or(0.0, |step| {
                *step += 1.0;
                f64::from(*step)
            });
            (t, state.tensors.as_mut_slice())
        }
        None => (0.0, &mut [][..]),
    };
    let coefficients = hyper.coefficients::<T>(StepCount { t, first });
    kernel::apply::<R, T>(&coefficients, param, grad, tensors);
}

fn has_state<R: Rule>(hyper: &R) -> bool {
    hyper.counts_steps() || !hyper.state_names().is_empty()
}

fn new_state<R: Rule, T: Float>(hyper: &R, len: usize) -> ParamState<T> {
    ParamState::new(hyper.state_names(), hyper.counts_steps(), len, T::from_f64(hyper.initial_state_value()))
}

fn describe_layout(names: &[&str], counts_steps: bool) -> String {
    let mut all: Vec<&str> = Vec::new();
    if counts_steps {
        all.push("step");
    }
    all.extend(names);
    format!("[{}]", all.join(", "))
}
