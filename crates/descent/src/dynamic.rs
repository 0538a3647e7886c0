//! Optimizers chosen at run time: behind a trait object, or driving one parameter vector through a gradient closure.

use std::fmt::Debug;

use serde_json::Value;

use crate::{Clip, Error, Float, Group, Optimizer, Param, ParamState, Point, Rule, Spec, StateDict};

/// A closure step's closure: writes the gradients at the points, returns the loss (see
/// [`Optimizer::step_with_closure`]).
pub type Closure<'a, T> = dyn FnMut(&[&[T]], &mut [&mut [T]]) -> f64 + 'a;

/// The operations of an [`Optimizer`], for an optimizer whose rule is chosen at run time (`Box<dyn DynOptimizer<T>>`,
/// built by [`Spec::build`] or [`Spec::build_groups`]). Every method is the `Optimizer` method of the same name.
pub trait DynOptimizer<T: Float>: Debug + Send + Sync {
    /// The optimizer's class name, e.g. `"Adam"` (`"Muon+AdamW"` for a [`Composite`](crate::Composite)).
    fn name(&self) -> String;

    /// See [`Optimizer::step`].
    fn step(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<(), Error>;

    /// See [`Optimizer::step_with_closure`].
    fn step_with_closure(&mut self, params: &mut [&mut [T]], closure: &mut Closure<'_, T>) -> Result<f64, Error>;

    /// See [`Optimizer::step_param`].
    fn step_param(&mut self, position: usize, param: &mut [T], grad: &[T]) -> Result<(), Error>;

    /// See [`Optimizer::needs_all_gradients`].
    fn needs_all_gradients(&self) -> bool;

    /// See [`Optimizer::has_evaluation_point`].
    fn has_evaluation_point(&self) -> bool;

    /// See [`Optimizer::move_point`].
    fn move_point(&self, position: usize, param: &mut [T], to: Point) -> Result<(), Error>;

    /// See [`Optimizer::evaluate`].
    fn evaluate(&mut self, params: &mut [&mut [T]], f: &mut dyn FnMut(&[&[T]])) -> Result<(), Error> {
        let expected = self.param_count();
        if params.len() != expected {
            return Err(Error::CountMismatch { what: "parameters", expected, got: params.len() });
        }
        for (position, param) in params.iter().enumerate() {
            let registered = self.param(position).expect("counted");
            if param.len() != registered.len() {
                let (label, expected) = (registered.label(position), registered.len());
                return Err(Error::ParameterLengthMismatch { param: label, expected, got: param.len() });
            }
        }
        for (position, param) in params.iter_mut().enumerate() {
            self.move_point(position, param, Point::Evaluation)?;
        }
        f(&params.iter().map(|p| &**p).collect::<Vec<_>>());
        for (position, param) in params.iter_mut().enumerate() {
            self.move_point(position, param, Point::Training)?;
        }
        Ok(())
    }

    /// See [`Optimizer::group_count`].
    fn group_count(&self) -> usize;

    /// Adds a group with the hyperparameters of `spec`, which must name this optimizer's rule type. See
    /// [`Optimizer::add_group`].
    fn add_group(&mut self, spec: &Spec, params: Vec<Param>) -> Result<(), Error>;

    /// Removes a group and its parameters, returning its parameters. See [`Optimizer::remove_group`].
    fn remove_group(&mut self, group: usize) -> Result<Vec<Param>, Error>;

    /// See [`Optimizer::hyperparameter`].
    fn hyperparameter(&self, group: usize, name: &str) -> Result<Value, Error>;

    /// See [`Optimizer::set_hyperparameter`].
    fn set_hyperparameter(&mut self, group: usize, name: &str, value: Value) -> Result<(), Error>;

    /// Every hyperparameter of group `group`, as a JSON object with PyTorch's keys.
    fn hyperparameters(&self, group: usize) -> Result<Value, Error>;

    /// See [`Optimizer::lr`].
    fn lr(&self, group: usize) -> Result<f64, Error>;

    /// See [`Optimizer::set_lr`].
    fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error>;

    /// See [`Optimizer::set_clip`].
    fn set_clip(&mut self, clip: Option<Clip>) -> Result<(), Error>;

    /// The clipping [`set_clip`](DynOptimizer::set_clip) set, if any. See [`Optimizer::clip`].
    fn clip(&self) -> Option<Clip>;

    /// See [`Optimizer::last_grad_norm`].
    fn last_grad_norm(&self) -> Option<f64>;

    /// See [`Optimizer::param_count`].
    fn param_count(&self) -> usize;

    /// See [`Optimizer::param`].
    fn param(&self, position: usize) -> Option<&Param>;

    /// See [`Optimizer::group_of`].
    fn group_of(&self, position: usize) -> Option<usize>;

    /// See [`Optimizer::state`].
    fn state(&self, position: usize) -> Option<&ParamState<T>>;

    /// See [`Optimizer::global_state`].
    fn global_state(&self) -> Option<&ParamState<T>>;

    /// See [`Optimizer::state_dict`].
    fn state_dict(&self) -> StateDict<T>;

    /// See [`Optimizer::load_state_dict`].
    fn load_state_dict(&mut self, dict: &StateDict<T>) -> Result<(), Error>;
}

impl<R: Rule, T: Float> DynOptimizer<T> for Optimizer<R, T> {
    fn name(&self) -> String {
        R::NAME.to_owned()
    }

    fn step(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<(), Error> {
        Optimizer::step(self, params, grads)
    }

    fn step_with_closure(&mut self, params: &mut [&mut [T]], closure: &mut Closure<'_, T>) -> Result<f64, Error> {
        Optimizer::step_with_closure(self, params, closure)
    }

    fn step_param(&mut self, position: usize, param: &mut [T], grad: &[T]) -> Result<(), Error> {
        Optimizer::step_param(self, position, param, grad)
    }

    fn needs_all_gradients(&self) -> bool {
        Optimizer::needs_all_gradients(self)
    }

    fn has_evaluation_point(&self) -> bool {
        Optimizer::has_evaluation_point(self)
    }

    fn move_point(&self, position: usize, param: &mut [T], to: Point) -> Result<(), Error> {
        Optimizer::move_point(self, position, param, to)
    }

    fn group_count(&self) -> usize {
        Optimizer::group_count(self)
    }

    fn add_group(&mut self, spec: &Spec, params: Vec<Param>) -> Result<(), Error> {
        let hyper = spec.rule::<R>().ok_or(Error::MixedOptimizers { first: R::NAME, other: spec.class() })?;
        Optimizer::add_group(self, Group::new(hyper.clone(), params))
    }

    fn remove_group(&mut self, group: usize) -> Result<Vec<Param>, Error> {
        Optimizer::remove_group(self, group).map(|group| group.params)
    }

    fn hyperparameter(&self, group: usize, name: &str) -> Result<Value, Error> {
        Optimizer::hyperparameter(self, group, name)
    }

    fn set_hyperparameter(&mut self, group: usize, name: &str, value: Value) -> Result<(), Error> {
        Optimizer::set_hyperparameter(self, group, name, value)
    }

    fn hyperparameters(&self, group: usize) -> Result<Value, Error> {
        Ok(Value::Object(crate::hyper::to_object(Optimizer::hyperparameters(self, group)?)))
    }

    fn lr(&self, group: usize) -> Result<f64, Error> {
        Optimizer::lr(self, group)
    }

    fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        Optimizer::set_lr(self, group, lr)
    }

    fn set_clip(&mut self, clip: Option<Clip>) -> Result<(), Error> {
        Optimizer::set_clip(self, clip)
    }

    fn clip(&self) -> Option<Clip> {
        Optimizer::clip(self).copied()
    }

    fn last_grad_norm(&self) -> Option<f64> {
        Optimizer::last_grad_norm(self)
    }

    fn param_count(&self) -> usize {
        Optimizer::param_count(self)
    }

    fn param(&self, position: usize) -> Option<&Param> {
        Optimizer::param(self, position)
    }

    fn group_of(&self, position: usize) -> Option<usize> {
        Optimizer::group_of(self, position)
    }

    fn state(&self, position: usize) -> Option<&ParamState<T>> {
        Optimizer::state(self, position)
    }

    fn global_state(&self) -> Option<&ParamState<T>> {
        Optimizer::global_state(self)
    }

    fn state_dict(&self) -> StateDict<T> {
        Optimizer::state_dict(self)
    }

    fn load_state_dict(&mut self, dict: &StateDict<T>) -> Result<(), Error> {
        Optimizer::load_state_dict(self, dict)
    }
}

/// Any optimizer applied to one parameter vector whose gradient it asks for through a closure: what a loss
/// landscape needs, and the way to run the article's look-ahead Nesterov
/// ([`LookaheadNesterov`](crate::LookaheadNesterov)), which needs the gradient away from the parameters.
///
/// Built by [`Spec::build_flat`].
#[derive(Debug)]
pub struct FlatOptimizer<T: Float> {
    optimizer: Box<dyn DynOptimizer<T>>,
    len: usize,
    evaluations: u64,
}

impl<T: Float> FlatOptimizer<T> {
    pub(crate) fn new(optimizer: Box<dyn DynOptimizer<T>>, len: usize) -> Self {
        FlatOptimizer { optimizer, len, evaluations: 0 }
    }

    /// Takes one step: calls `gradient_at(point, grad)`, which must write the gradient at `point` into every
    /// element of `grad` and return the loss there, then updates `theta`. Returns the loss at the first point.
    ///
    /// The point is `theta` itself for most optimizers, θ + γ·v for the look-ahead ones; L-BFGS calls the closure
    /// as often as its iterations and line search need, at points of its choosing (so the loss must be the true
    /// one). A `theta` of the wrong length is an error and changes nothing (the closure is not called).
    pub fn step(&mut self, theta: &mut [T], mut gradient_at: impl FnMut(&[T], &mut [T]) -> f64) -> Result<f64, Error> {
        if theta.len() != self.len {
            return Err(Error::ParameterLengthMismatch {
                param: "#0".to_owned(),
                expected: self.len,
                got: theta.len(),
            });
        }
        let evaluations = &mut self.evaluations;
        self.optimizer.step_with_closure(&mut [theta], &mut |points, grads| {
            *evaluations += 1;
            gradient_at(points[0], grads[0])
        })
    }

    /// How many times the steps so far have called their closure: one per step, except for L-BFGS.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// The optimizer, for what a flat view does not offer: schedulers, clipping, hyperparameters by name.
    pub fn optimizer_mut(&mut self) -> &mut (dyn DynOptimizer<T> + 'static) {
        self.optimizer.as_mut()
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        self.optimizer.lr(0).unwrap_or(f64::NAN)
    }

    /// Sets the learning rate.
    pub fn set_lr(&mut self, lr: f64) -> Result<(), Error> {
        self.optimizer.set_lr(0, lr)
    }
}
