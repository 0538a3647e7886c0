//! Optimizers chosen at run time: behind a trait object, or driving one parameter vector through a gradient closure.

use std::fmt::Debug;

use crate::{Error, Float, LookaheadOptimizer, Optimizer, Param, ParamState, Rule};

/// The operations of an [`Optimizer`], for an optimizer whose rule is chosen at run time (`Box<dyn DynOptimizer<T>>`,
/// built by [`Spec::build`](crate::Spec::build)).
pub trait DynOptimizer<T: Float>: Debug + Send + Sync {
    /// PyTorch's class name of the rule, e.g. `"Adam"`.
    fn name(&self) -> &'static str;

    /// See [`Optimizer::step`].
    fn step(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<(), Error>;

    /// See [`Optimizer::step_param`].
    fn step_param(&mut self, position: usize, param: &mut [T], grad: &[T]) -> Result<(), Error>;

    /// See [`Optimizer::group_count`].
    fn group_count(&self) -> usize;

    /// See [`Optimizer::lr`].
    fn lr(&self, group: usize) -> Result<f64, Error>;

    /// See [`Optimizer::set_lr`].
    fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error>;

    /// See [`Optimizer::state`].
    fn state(&self, position: usize) -> Option<&ParamState<T>>;
}

impl<R: Rule, T: Float> DynOptimizer<T> for Optimizer<R, T> {
    fn name(&self) -> &'static str {
        R::NAME
    }

    fn step(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<(), Error> {
        Optimizer::step(self, params, grads)
    }

    fn step_param(&mut self, position: usize, param: &mut [T], grad: &[T]) -> Result<(), Error> {
        Optimizer::step_param(self, position, param, grad)
    }

    fn group_count(&self) -> usize {
        Optimizer::group_count(self)
    }

    fn lr(&self, group: usize) -> Result<f64, Error> {
        Optimizer::lr(self, group)
    }

    fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        Optimizer::set_lr(self, group, lr)
    }

    fn state(&self, position: usize) -> Option<&ParamState<T>> {
        Optimizer::state(self, position)
    }
}

/// Any optimizer applied to one parameter vector whose gradient it asks for through a closure: what a loss
/// landscape needs, and the only way to run [`LookaheadNesterov`](crate::LookaheadNesterov), which needs the
/// gradient away from the parameters.
///
/// Built by [`Spec::build_flat`](crate::Spec::build_flat).
#[derive(Debug)]
pub struct FlatOptimizer<T: Float> {
    kind: Kind<T>,
}

#[derive(Debug)]
enum Kind<T: Float> {
    /// A rule that needs the gradient at the parameters.
    AtParams { optimizer: Box<dyn DynOptimizer<T>>, grad: Vec<T> },
    /// The look-ahead form, which asks for the gradient itself.
    Lookahead(LookaheadOptimizer<T>),
}

impl<T: Float> FlatOptimizer<T> {
    pub(crate) fn at_params<R: Rule>(hyper: R, len: usize) -> Result<Self, Error> {
        let optimizer = Box::new(Optimizer::<R, T>::new(hyper, [Param::new(len)])?);
        Ok(FlatOptimizer { kind: Kind::AtParams { optimizer, grad: vec![T::default(); len] } })
    }

    pub(crate) fn lookahead(optimizer: LookaheadOptimizer<T>) -> Self {
        FlatOptimizer { kind: Kind::Lookahead(optimizer) }
    }

    /// Takes one step: calls `gradient_at(point, grad)` once, which must write the gradient at `point` into every
    /// element of `grad`, then updates `theta`. Returns what the closure returned.
    ///
    /// The point is `theta` itself for every optimizer but the look-ahead Nesterov, which asks at θ + γ·v. A `theta`
    /// of the wrong length is an error and changes nothing (the closure is not called).
    pub fn step<R>(&mut self, theta: &mut [T], mut gradient_at: impl FnMut(&[T], &mut [T]) -> R) -> Result<R, Error> {
        match &mut self.kind {
            Kind::AtParams { optimizer, grad } => {
                if theta.len() != grad.len() {
                    return Err(Error::ParameterLengthMismatch {
                        param: "#0".to_owned(),
                        expected: grad.len(),
                        got: theta.len(),
                    });
                }
                let result = gradient_at(theta, grad);
                optimizer.step(&mut [theta], &[Some(grad)])?;
                Ok(result)
            }
            Kind::Lookahead(optimizer) => optimizer.step(theta, gradient_at),
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match &self.kind {
            Kind::AtParams { optimizer, .. } => optimizer.lr(0).expect("one group"),
            Kind::Lookahead(optimizer) => optimizer.lr(),
        }
    }

    /// Sets the learning rate.
    pub fn set_lr(&mut self, lr: f64) -> Result<(), Error> {
        match &mut self.kind {
            Kind::AtParams { optimizer, .. } => optimizer.set_lr(0, lr),
            Kind::Lookahead(optimizer) => optimizer.set_lr(lr),
        }
    }
}
