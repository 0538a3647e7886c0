//! The contract between an optimizer's hyperparameters and the code that applies its update.

use std::fmt::Debug;

use crate::{Error, Lane};

/// An optimizer's hyperparameters together with its element-wise update rule.
///
/// Each optimizer (`Sgd`, `Adam`, …) is a plain struct of hyperparameters, with PyTorch's names and defaults, that
/// implements this trait. [`Optimizer`](crate::Optimizer) does the bookkeeping (parameter groups, state, step
/// counts, validation of inputs); the rule says what happens to one element.
///
/// A step of one parameter runs in two stages:
/// 1. [`Rule::coefficients`] turns the hyperparameters and the step count into the per-step scalars, computed in
///    `f64` and rounded to the element type once, as PyTorch does with Python floats;
/// 2. [`Rule::update`] applies the rule to every element: the parameter, its gradient and its state values (in the
///    order of [`Rule::state_names`]).
pub trait Rule: Clone + Debug + PartialEq + Send + Sync + 'static {
    /// PyTorch's class name, e.g. `"Adam"`.
    const NAME: &'static str;

    /// Rejects hyperparameters PyTorch rejects (and non-finite ones).
    fn validate(&self) -> Result<(), Error>;

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (validated by the caller through [`Rule::validate`]).
    fn set_lr(&mut self, lr: f64);

    /// PyTorch's names of the per-parameter state tensors these hyperparameters need, in PyTorch's order.
    fn state_names(&self) -> &'static [&'static str];

    /// Whether the state has a `step` counter (every optimizer but SGD).
    fn counts_steps(&self) -> bool {
        true
    }

    /// Whether state is created when the optimizer is built rather than at a parameter's first gradient (Adagrad).
    fn eager_state(&self) -> bool {
        false
    }

    /// The value every state tensor starts with (PyTorch's `initial_accumulator_value` for Adagrad; zero otherwise).
    fn initial_state_value(&self) -> f64 {
        0.0
    }

    /// The per-step scalars [`Rule::update`] needs, already in the lane type.
    type Coefficients<L: Lane>: Send + Sync;

    /// Computes the per-step scalars for one parameter.
    fn coefficients<L: Lane>(&self, step: StepCount) -> Self::Coefficients<L>;

    /// Updates one element (or one lane of elements): `param` and `state` in place, from `grad`.
    fn update<L: Lane>(c: &Self::Coefficients<L>, param: &mut L, grad: L, state: &mut [L]);
}

/// Where a parameter is in its optimization when it is updated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepCount {
    /// The step number `t`, counting this step (1 on the first); the optimizer's `f32` counter, as an `f64`.
    pub t: f64,
    /// Whether the parameter's state was created for this step (SGD starts its momentum buffer from the gradient).
    pub first: bool,
}
