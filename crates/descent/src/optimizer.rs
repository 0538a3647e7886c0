//! The optimizer: parameter groups, per-parameter state, and the staged step that applies a rule to all parameters.

use std::collections::HashSet;

use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::kernel::{self, AsGiven, Clipped, GradMap};
use crate::{
    hyper, Clip, Error, Float, GlobalStage, Group, Param, ParamState, Point, Rule, Shape, StateLayout, StepContext,
    TensorStage,
};

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
    pub(crate) groups: Vec<R>,
    pub(crate) params: Vec<Slot<T>>,
    clip: Option<Clip>,
    last_grad_norm: Option<f64>,
    /// The optimizer-wide state ([`Rule::global_layout`]), if the rule keeps any.
    global: Option<ParamState<T>>,
    cache: SharedCoefficients<R, T>,
}

/// Each group's coefficients for the step being taken, computed once per group instead of once per tensor: with
/// thousands of small tensors, Adam's three powers per tensor would otherwise cost as much as moving its data.
/// Reused from step to step, so that a step allocates nothing.
struct SharedCoefficients<R: Rule, T: Float>(Vec<Option<Shared<R::Coefficients<T>>>>);

/// Coefficients computed for step `t` (and `first`), for parameters without scalar state.
struct Shared<C> {
    t: f64,
    first: bool,
    coefficients: C,
}

/// A cache is not part of an optimizer's value.
impl<R: Rule, T: Float> Clone for SharedCoefficients<R, T> {
    fn clone(&self) -> Self {
        SharedCoefficients(Vec::new())
    }
}

impl<R: Rule, T: Float> PartialEq for SharedCoefficients<R, T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<R: Rule, T: Float> std::fmt::Debug for SharedCoefficients<R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCoefficients")
    }
}

/// One registered parameter: what every step reads inline, the rest behind a pointer, so that a step over
/// thousands of small tensors walks as little memory as it can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slot<T> {
    /// The number of elements.
    pub(crate) len: usize,
    pub(crate) group: usize,
    /// Whether the layout keeps any state (plain SGD's keeps none).
    keeps_state: bool,
    pub(crate) state: Option<ParamState<T>>,
    pub(crate) cold: Box<Cold<T>>,
}

impl<T> Slot<T> {
    /// Gives the parameter a new state layout (its state, if any, must already fit it).
    pub(crate) fn set_layout(&mut self, layout: StateLayout) {
        self.keeps_state = !layout.is_empty();
        self.cold.layout = layout;
    }
}

/// What a step seldom reads of a parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cold<T> {
    pub(crate) param: Param,
    pub(crate) layout: StateLayout,
    /// Buffers of closure steps (the gradient, the look-ahead point) and of clipped gradients for per-tensor
    /// stages: allocated at first use, reused after.
    scratch: Scratch<T>,
}

#[derive(Debug, Clone, Default)]
struct Scratch<T> {
    grad: Vec<T>,
    point: Vec<T>,
}

/// Scratch space is not part of an optimizer's value.
impl<T> PartialEq for Scratch<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<R: Rule, T: Float> Optimizer<R, T> {
    /// An optimizer with one parameter group.
    pub fn new(hyper: R, params: impl IntoIterator<Item = Param>) -> Result<Self, Error> {
        Self::with_groups([Group::new(hyper, params)])
    }

    /// An optimizer with several parameter groups, each with its own hyperparameters.
    pub fn with_groups(groups: impl IntoIterator<Item = Group<R>>) -> Result<Self, Error> {
        let mut optimizer = Optimizer {
            groups: Vec::new(),
            params: Vec::new(),
            clip: None,
            last_grad_norm: None,
            global: None,
            cache: SharedCoefficients(Vec::new()),
        };
        for group in groups {
            optimizer.add_group(group)?;
        }
        if optimizer.params.is_empty() {
            return Err(Error::EmptyParameterList);
        }
        let layout = optimizer.groups[0].global_layout()?;
        layout.check_global(R::NAME)?;
        optimizer.global = (!layout.is_empty()).then(|| layout.create(&Shape::from(0)));
        Ok(optimizer)
    }

    /// Adds a parameter group (PyTorch's `add_param_group`); its parameters take the next positions. Every
    /// parameter's shape and state layout is checked first: on error, nothing is added.
    pub fn add_group(&mut self, group: Group<R>) -> Result<(), Error> {
        group.hyper.validate()?;
        let mut names: HashSet<&str> = self.params.iter().filter_map(|s| s.cold.param.name()).collect();
        let mut layouts = Vec::with_capacity(group.params.len());
        for (offset, param) in group.params.iter().enumerate() {
            param.check(self.params.len() + offset)?;
            if let Some(name) = param.name() {
                if !names.insert(name) {
                    return Err(Error::DuplicateParameterName(name.to_owned()));
                }
            }
            let layout = group.hyper.layout(&param.shape)?;
            layout.check(R::NAME, &param.shape)?;
            layouts.push(layout);
        }
        let index = self.groups.len();
        for (param, layout) in group.params.into_iter().zip(layouts) {
            let state = layout.eager.then(|| layout.create(&param.shape));
            let cold = Box::new(Cold { param, layout, scratch: Scratch::default() });
            let keeps_state = !cold.layout.is_empty();
            self.params.push(Slot { len: cold.param.len(), group: index, keeps_state, state, cold });
        }
        self.groups.push(group.hyper);
        Ok(())
    }

    /// Removes parameter group `group` with its parameters and their state; the parameters after it move up.
    /// The last group cannot be removed (an optimizer has parameters).
    pub fn remove_group(&mut self, group: usize) -> Result<Group<R>, Error> {
        self.hyperparameters(group)?;
        if self.groups.len() == 1 {
            return Err(Error::EmptyParameterList);
        }
        let hyper = self.groups.remove(group);
        let mut params = Vec::new();
        self.params.retain(|slot| {
            let keep = slot.group != group;
            if !keep {
                params.push(slot.cold.param.clone());
            }
            keep
        });
        for slot in &mut self.params {
            if slot.group > group {
                slot.group -= 1;
            }
        }
        Ok(Group { hyper, params })
    }

    /// Sets the global stage: clipping of all gradients by their total norm and/or by value, applied inside the
    /// fused pass at every step until changed (`None` turns it off).
    pub fn set_clip(&mut self, clip: Option<Clip>) -> Result<(), Error> {
        if let Some(clip) = &clip {
            clip.validate()?;
        }
        self.clip = clip;
        Ok(())
    }

    /// The global stage's clipping, if any.
    pub fn clip(&self) -> Option<&Clip> {
        self.clip.as_ref()
    }

    /// The total gradient norm the last step measured when clipping by norm (before clipping, as PyTorch's
    /// `clip_grad_norm_` returns it).
    pub fn last_grad_norm(&self) -> Option<f64> {
        self.last_grad_norm
    }

    /// Updates every parameter that has a gradient.
    ///
    /// `params` and `grads` hold one entry per registered parameter, in position order. A parameter whose
    /// gradient is `None` is skipped as PyTorch skips a parameter whose `.grad` is `None`: no state is created, its
    /// step counter does not advance and no weight decay is applied. A gradient of zeros is not skipped.
    ///
    /// Every count and length is checked before anything is written: on error, no parameter and no state has
    /// changed. Non-finite gradient values are not an error (unless clipping by norm is asked to refuse them); as
    /// in PyTorch, they propagate into the parameter and the state.
    ///
    /// A large step runs on rayon's threads (its global pool, or the pool it is called from with
    /// `ThreadPool::install`), all tensors in one parallel pass; results do not depend on the number of threads.
    pub fn step(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<(), Error> {
        self.check(params, grads)?;
        if R::LOOKS_AHEAD {
            return Err(Error::NeedsClosure { optimizer: R::NAME });
        }
        let clip = self.clip_stage(grads)?;
        self.rule_global_stage(params, grads, clip);
        match clip {
            Some(clipped) => self.update_all(params, grads, clipped),
            None => self.update_all(params, grads, AsGiven),
        }
        Ok(())
    }

    /// Takes one step with gradients the closure computes: PyTorch's `step(closure)`.
    ///
    /// `closure(points, grads)` must write the gradient of the loss at `points` (one slice per parameter, in
    /// position order) into every element of `grads`, and return the loss. The points are the parameters
    /// themselves, except for rules that [look ahead](Rule::LOOKS_AHEAD), which ask at the look-ahead point
    /// (the article's Nesterov momentum). Every parameter then takes a step. Returns the closure's loss.
    ///
    /// The gradient buffers are the optimizer's own, allocated at the first closure step and reused after.
    pub fn step_with_closure(
        &mut self,
        params: &mut [&mut [T]],
        mut closure: impl FnMut(&[&[T]], &mut [&mut [T]]) -> f64,
    ) -> Result<f64, Error> {
        self.check_params(params)?;
        for slot in &mut self.params {
            let len = slot.len;
            slot.cold.scratch.grad.resize(len, T::default());
            if R::LOOKS_AHEAD {
                slot.cold.scratch.point.resize(len, T::default());
            }
        }
        let mut fresh = vec![false; self.params.len()];
        if R::LOOKS_AHEAD {
            for ((slot, param), fresh) in self.params.iter_mut().zip(params.iter()).zip(&mut fresh) {
                let hyper = &self.groups[slot.group];
                if slot.state.is_none() && slot.keeps_state {
                    slot.state = Some(slot.cold.layout.create(&slot.cold.param.shape));
                    *fresh = true;
                }
                let (t, scalars, tensors) = match &slot.state {
                    Some(state) => (
                        state.step.map_or(0.0, |s| f64::from(s + 1.0)),
                        state.scalars.as_slice(),
                        &state.tensors[..state.elementwise],
                    ),
                    None => (0.0, &[][..], &[][..]),
                };
                let global = self.global.as_ref().map_or(&[][..], |g| g.scalars.as_slice());
                let c = hyper.coefficients::<T>(&StepContext { t, first: *fresh, scalars, global });
                kernel::look_ahead::<R, T>(&c, param, tensors, &mut slot.cold.scratch.point);
            }
        }
        let mut grads: Vec<Vec<T>> = self.params.iter_mut().map(|s| std::mem::take(&mut s.cold.scratch.grad)).collect();
        let loss = {
            let points: Vec<&[T]> = if R::LOOKS_AHEAD {
                self.params.iter().map(|s| s.cold.scratch.point.as_slice()).collect()
            } else {
                params.iter().map(|p| &**p).collect()
            };
            let mut grad_slices: Vec<&mut [T]> = grads.iter_mut().map(Vec::as_mut_slice).collect();
            closure(&points, &mut grad_slices)
        };
        let grad_refs: Vec<Option<&[T]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
        let result = self.clip_stage(&grad_refs).map(|clip| {
            self.rule_global_stage(params, &grad_refs, clip);
            let global = self.global.as_ref().map_or(&[][..], |g| g.scalars.as_slice());
            let groups = self.groups.as_slice();
            for (((slot, param), grad), &fresh) in self.params.iter_mut().zip(params.iter_mut()).zip(&grads).zip(&fresh)
            {
                let hyper = &groups[slot.group];
                let env = StepEnv { fresh, cached: None, global };
                match clip {
                    Some(clipped) => update_param(hyper, slot, param, grad, clipped, env),
                    None => update_param(hyper, slot, param, grad, AsGiven, env),
                }
            }
        });
        for (slot, grad) in self.params.iter_mut().zip(grads) {
            slot.cold.scratch.grad = grad;
        }
        result.map(|()| loss)
    }

    /// Updates only the parameter at `position`, with its gradient: what a framework that hands out one tensor at
    /// a time needs. Stepping every parameter this way, in any order, gives exactly what one [`Optimizer::step`]
    /// gives (each parameter has its own state and step count). The global stage (clipping), which needs every
    /// gradient, does not run.
    ///
    /// A position past the last parameter or a length other than the registered one is an error, and nothing
    /// changes.
    pub fn step_param(&mut self, position: usize, param: &mut [T], grad: &[T]) -> Result<(), Error> {
        let count = self.params.len();
        let slot = self.params.get(position).ok_or(Error::NoSuchParameter { position, count })?;
        check_lengths(slot, position, param.len(), Some(grad.len()))?;
        if R::LOOKS_AHEAD {
            return Err(Error::NeedsClosure { optimizer: R::NAME });
        }
        if R::GLOBAL_STAGE {
            return Err(Error::NeedsAllGradients { optimizer: R::NAME });
        }
        let global = self.global.as_ref().map_or(&[][..], |g| g.scalars.as_slice());
        let slot = &mut self.params[position];
        let env = StepEnv { fresh: false, cached: None, global };
        update_param(&self.groups[slot.group], slot, param, grad, AsGiven, env);
        Ok(())
    }

    /// Whether the rule needs every gradient of a step at once ([`Rule::GLOBAL_STAGE`]: Prodigy's estimate), so
    /// that it steps through [`Optimizer::step`] and not [`Optimizer::step_param`].
    pub fn needs_all_gradients(&self) -> bool {
        R::GLOBAL_STAGE
    }

    /// Whether the rule evaluates the model at another point than it trains at ([`Rule::EVALUATION_POINT`]:
    /// Schedule-Free). For such a rule, evaluate through [`Optimizer::evaluate`].
    pub fn has_evaluation_point(&self) -> bool {
        R::EVALUATION_POINT
    }

    /// Runs `f` with the parameters at the point where the model is to be evaluated, then moves them back to the
    /// training point; returns what `f` returns.
    ///
    /// For most rules the two points are the same and the parameters are not touched. Schedule-Free trains at
    /// one point y and is evaluated at another, x: evaluating (test loss, accuracy, weights to keep) at y
    /// rather than x gives worse numbers. The optimizer is borrowed while `f` runs, so no step can be taken at
    /// the evaluation point:
    ///
    /// ```compile_fail
    /// # use descent::{Optimizer, Param, ScheduleFreeAdamW};
    /// # let mut opt = Optimizer::<_, f64>::new(ScheduleFreeAdamW::default(), [Param::vector(1)]).unwrap();
    /// # let mut x = vec![1.0];
    /// opt.evaluate(&mut [&mut x], |_| opt.step(&mut [&mut vec![0.0]], &[Some(&[1.0])]));
    /// ```
    ///
    /// The move and its return round as the reference's `eval()` and `train()` do (a `lerp` each way), so the
    /// training point can change in its last bit. Parameters without state yet (no step taken) do not move.
    /// Counts and lengths are checked first: on error, nothing moves and `f` does not run.
    pub fn evaluate<O>(&mut self, params: &mut [&mut [T]], f: impl FnOnce(&[&[T]]) -> O) -> Result<O, Error> {
        self.check_params(params)?;
        self.move_all(params, Point::Evaluation);
        let result = f(&params.iter().map(|p| &**p).collect::<Vec<_>>());
        self.move_all(params, Point::Training);
        Ok(result)
    }

    /// Moves parameter `position` to point `to` ([`Rule::move_point`]); for adapters that hold their parameters
    /// one at a time and move them all around an evaluation, as [`Optimizer::evaluate`] does. A parameter
    /// without state, or a rule without an evaluation point, does not move.
    ///
    /// A position past the last parameter or a length other than the registered one is an error, and nothing
    /// changes.
    pub fn move_point(&self, position: usize, param: &mut [T], to: Point) -> Result<(), Error> {
        let count = self.params.len();
        let slot = self.params.get(position).ok_or(Error::NoSuchParameter { position, count })?;
        check_lengths(slot, position, param.len(), None)?;
        if let (true, Some(state)) = (R::EVALUATION_POINT, &slot.state) {
            self.groups[slot.group].move_point(to, param, state);
        }
        Ok(())
    }

    fn move_all(&self, params: &mut [&mut [T]], to: Point) {
        if !R::EVALUATION_POINT {
            return;
        }
        for (slot, param) in self.params.iter().zip(params.iter_mut()) {
            if let Some(state) = &slot.state {
                self.groups[slot.group].move_point(to, param, state);
            }
        }
    }

    fn check_params(&self, params: &[&mut [T]]) -> Result<(), Error> {
        let expected = self.params.len();
        if params.len() != expected {
            return Err(Error::CountMismatch { what: "parameters", expected, got: params.len() });
        }
        for (position, (slot, param)) in self.params.iter().zip(params).enumerate() {
            check_lengths(slot, position, param.len(), None)?;
        }
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
            check_lengths(slot, position, param.len(), grad.map(<[T]>::len))?;
        }
        Ok(())
    }

    /// The optimizer's own global stage: measures what clipping needs over every gradient, before anything is
    /// written.
    fn clip_stage(&mut self, grads: &[Option<&[T]>]) -> Result<Option<Clipped<T>>, Error> {
        let Some(clip) = &self.clip else { return Ok(None) };
        let (scale, norm) = clip.scale(grads.iter().flatten().copied())?;
        self.last_grad_norm = norm;
        Ok(Some(Clipped { scale: scale.map(T::from_f64), bound: clip.value.map(T::from_f64) }))
    }

    /// The rule's global stage, with the optimizer-wide state (its step counter advanced first).
    fn rule_global_stage(&mut self, params: &[&mut [T]], grads: &[Option<&[T]>], clip: Option<Clipped<T>>) {
        let Optimizer { groups, params: slots, global, .. } = self;
        if let (true, Some(state)) = (R::GLOBAL_STAGE, global) {
            if let Some(step) = &mut state.step {
                *step += 1.0;
            }
            groups[0].global_stage(&mut GlobalStage { grads, params, state, slots, groups, clip });
        }
    }

    fn update_all<G: GradMap<T>>(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>], map: G) {
        let Optimizer { groups, params: slots, cache: shared, global, .. } = self;
        let global = global.as_ref().map_or(&[][..], |g| g.scalars.as_slice());
        shared.0.clear();
        shared.0.resize_with(groups.len(), || None);
        let (mut count, mut work, mut largest) = (0, 0, 0);
        for (slot, _) in slots.iter().zip(grads).filter(|(_, grad)| grad.is_some()) {
            count += 1;
            work += slot.len;
            largest = largest.max(slot.len);
            let entry = &mut shared.0[slot.group];
            // Coefficients that read scalar state are the parameter's own.
            if entry.is_none() && slot.cold.layout.scalars.is_empty() {
                let (t, first) = next_step(slot);
                let context = StepContext { t, first, scalars: &[], global };
                let coefficients = groups[slot.group].coefficients(&context);
                *entry = Some(Shared { t, first, coefficients });
            }
        }
        let (groups, shared) = (groups.as_slice(), shared.0.as_slice());
        let one = |slot: &mut Slot<T>, param: &mut [T], grad: &Option<&[T]>| {
            if let Some(grad) = grad {
                let env = StepEnv { fresh: false, cached: shared[slot.group].as_ref(), global };
                update_param(&groups[slot.group], slot, param, grad, map, env);
            }
        };
        // Subnormal numbers count as zero in the kernels (`kernel::FlushDenormals`). Where no tensor's update can
        // wait on another thread (no tensor larger than a chunk, no per-tensor stage), the setting is made once per
        // thread's run of tensors rather than once per tensor, which would cost as much as stepping a tensor of a
        // hundred values; a thread waiting in a join may run other work of the pool, which must not see it.
        let flat =
            !R::TENSOR_STAGE && largest <= kernel::CHUNK && groups.iter().all(|hyper| !hyper.steps_in_tensor_stage());
        let flush = || flat.then(kernel::FlushDenormals::new);
        if work <= 2 * kernel::CHUNK {
            // Too little work to pay for threads.
            let _flush = flush();
            for ((slot, param), grad) in slots.iter_mut().zip(params.iter_mut()).zip(grads) {
                one(slot, param, grad);
            }
        } else {
            // One parallel pass over all tensors; tensors of more than a chunk split further inside the kernel.
            let per_task = (kernel::CHUNK * count / work).max(1);
            slots
                .par_iter_mut()
                .zip(params.par_iter_mut())
                .zip(grads.par_iter())
                .with_min_len(per_task)
                .for_each_init(flush, |_flush, ((slot, param), grad)| one(slot, param, grad));
        }
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
    /// Changes that would need other state (turning on AMSGrad, say) are refused for groups whose parameters
    /// already have state.
    pub fn set_hyperparameters(&mut self, group: usize, hyper: R) -> Result<(), Error> {
        self.hyperparameters(group)?;
        hyper.validate()?;
        let mut layouts = Vec::new();
        for (position, slot) in self.params.iter().enumerate().filter(|(_, slot)| slot.group == group) {
            let layout = hyper.layout(&slot.cold.param.shape)?;
            layout.check(R::NAME, &slot.cold.param.shape)?;
            if let Some(state) = slot.state.as_ref().filter(|state| !layout.fits(state, &slot.cold.param.shape)) {
                return Err(Error::StateLayoutChange {
                    optimizer: R::NAME,
                    param: slot.cold.param.label(position),
                    from: state.describe(),
                    to: layout.describe(),
                });
            }
            layouts.push(layout);
        }
        let mut layouts = layouts.into_iter();
        for slot in self.params.iter_mut().filter(|slot| slot.group == group) {
            slot.set_layout(layouts.next().expect("one layout per parameter of the group"));
        }
        self.groups[group] = hyper;
        Ok(())
    }

    /// The hyperparameter `name` (PyTorch's key: `"lr"`, `"betas"`, `"momentum"`, …) of group `group`, as JSON.
    pub fn hyperparameter(&self, group: usize, name: &str) -> Result<Value, Error> {
        hyper::get(self.hyperparameters(group)?, name)
    }

    /// Sets the hyperparameter `name` of group `group` (what a scheduler does with `lr`, `momentum` or `betas`).
    /// The value is checked as the optimizer checks it when built; on error, the group is as it was.
    pub fn set_hyperparameter(&mut self, group: usize, name: &str, value: Value) -> Result<(), Error> {
        let mut changes = Map::new();
        changes.insert(name.to_owned(), value);
        let changed = hyper::with(self.hyperparameters(group)?, &changes)?;
        self.set_hyperparameters(group, changed)
    }

    /// The learning rate of group `group`.
    pub fn lr(&self, group: usize) -> Result<f64, Error> {
        let value = self.hyperparameter(group, "lr")?;
        value.as_f64().ok_or(Error::HyperparameterValue {
            optimizer: R::NAME,
            name: "lr".to_owned(),
            message: format!("{value} is not a number"),
        })
    }

    /// Sets the learning rate of group `group` (what a learning-rate scheduler does).
    pub fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        let value = serde_json::Number::from_f64(lr).map(Value::Number).unwrap_or(Value::Null);
        match self.set_hyperparameter(group, "lr", value) {
            Err(Error::HyperparameterValue { .. }) if !lr.is_finite() => Err(Error::InvalidHyperparameter {
                optimizer: R::NAME,
                name: "lr",
                value: lr,
                expected: "a finite number >= 0",
            }),
            other => other,
        }
    }

    /// The number of registered parameters.
    pub fn param_count(&self) -> usize {
        self.params.len()
    }

    /// The parameter at `position`: its name and shape.
    pub fn param(&self, position: usize) -> Option<&Param> {
        self.params.get(position).map(|slot| &slot.cold.param)
    }

    /// The position of the parameter registered as `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|slot| slot.cold.param.name() == Some(name))
    }

    /// The group of the parameter at `position`.
    pub fn group_of(&self, position: usize) -> Option<usize> {
        self.params.get(position).map(|slot| slot.group)
    }

    /// The state of the parameter at `position`, once it has any (PyTorch's `state_dict()["state"][position]`).
    pub fn state(&self, position: usize) -> Option<&ParamState<T>> {
        self.params.get(position).and_then(|slot| slot.state.as_ref())
    }

    /// The optimizer-wide state, if the rule keeps any ([`Rule::global_layout`]).
    pub fn global_state(&self) -> Option<&ParamState<T>> {
        self.global.as_ref()
    }

    pub(crate) fn set_global_state(&mut self, state: Option<ParamState<T>>) {
        self.global = state;
    }

    /// The state of the parameter registered as `name`.
    pub fn state_named(&self, name: &str) -> Option<&ParamState<T>> {
        self.position(name).and_then(|position| self.state(position))
    }
}

fn check_lengths<T>(slot: &Slot<T>, position: usize, param: usize, grad: Option<usize>) -> Result<(), Error> {
    let expected = slot.len;
    if param != expected {
        return Err(Error::ParameterLengthMismatch { param: slot.cold.param.label(position), expected, got: param });
    }
    match grad {
        Some(got) if got != expected => {
            Err(Error::GradientLengthMismatch { param: slot.cold.param.label(position), expected, got })
        }
        _ => Ok(()),
    }
}

/// The step number and first-step flag the parameter's next step will have.
fn next_step<T>(slot: &Slot<T>) -> (f64, bool) {
    match &slot.state {
        Some(state) => (state.step.map_or(0.0, |step| f64::from(step + 1.0)), false),
        None if slot.cold.layout.step => (1.0, true),
        None => (0.0, true),
    }
}

/// What a parameter's step needs besides its own data.
struct StepEnv<'a, C> {
    /// The state was created for this step (by a closure step).
    fresh: bool,
    /// The group's coefficients, used if they were computed for this parameter's step.
    cached: Option<&'a Shared<C>>,
    /// The optimizer-wide scalars.
    global: &'a [(&'static str, f64)],
}

/// Steps one parameter that has a gradient: creates its state at its first gradient, counts the step, runs the
/// per-tensor stage and the rule of its group.
fn update_param<R: Rule, T: Float, G: GradMap<T>>(
    hyper: &R,
    slot: &mut Slot<T>,
    param: &mut [T],
    grad: &[T],
    map: G,
    env: StepEnv<'_, R::Coefficients<T>>,
) {
    let StepEnv { fresh, cached: shared, global } = env;
    let first = fresh || slot.state.is_none();
    if slot.state.is_none() && slot.keeps_state {
        slot.state = Some(slot.cold.layout.create(&slot.cold.param.shape));
    }
    let Slot { state, cold, .. } = slot;
    let Cold { param: registered, scratch, .. } = &mut **cold;
    let reuse = |t: f64, scalars: &[(&'static str, f64)]| {
        shared.filter(|s| s.t == t && s.first == first && scalars.is_empty()).map(|s| &s.coefficients)
    };
    let Some(state) = state else {
        if let Some(c) = reuse(0.0, &[]) {
            return kernel::apply::<R, T, G>(c, param, grad, &mut [], map);
        }
        let c = hyper.coefficients::<T>(&StepContext { t: 0.0, first, scalars: &[], global });
        return kernel::apply::<R, T, G>(&c, param, grad, &mut [], map);
    };
    let t = state.step.as_mut().map_or(0.0, |step| {
        *step += 1.0;
        f64::from(*step)
    });
    let whole_step = hyper.steps_in_tensor_stage();
    if R::TENSOR_STAGE || whole_step {
        // The per-tensor stage sees the gradient the element-wise rule will see.
        let seen = if G::AS_GIVEN {
            grad
        } else {
            scratch.point.clear();
            scratch.point.extend(grad.iter().map(|&g| map.map(g)));
            &scratch.point
        };
        hyper.tensor_stage(&mut TensorStage { shape: &registered.shape, param, grad: seen, state });
        if whole_step {
            return;
        }
    }
    let ParamState { tensors, elementwise, scalars, .. } = state;
    if let Some(c) = reuse(t, scalars) {
        return kernel::apply::<R, T, G>(c, param, grad, &mut tensors[..*elementwise], map);
    }
    let c = hyper.coefficients::<T>(&StepContext { t, first, scalars, global });
    kernel::apply::<R, T, G>(&c, param, grad, &mut tensors[..*elementwise], map);
}
