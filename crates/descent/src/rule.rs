//! The contract between an optimizer's hyperparameters and the code that applies its update.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::kernel::{Clipped, GradMap};
use crate::optimizer::Slot;
use crate::{Error, Float, Lane, ParamState, Shape, StateLayout};

/// An optimizer's hyperparameters together with its update: the one trait a new optimizer implements.
///
/// Each optimizer (`Sgd`, `Adam`, …) is a plain struct of hyperparameters, with PyTorch's names and defaults, that
/// implements this trait. [`Optimizer`](crate::Optimizer) does the bookkeeping (parameter groups, state, step
/// counts, validation of inputs, checkpoints); the rule says what state a parameter needs and what happens to it.
///
/// A step of one parameter runs in stages, each optional:
/// 1. (The optimizer's global stage, over all gradients: clipping. Rules do not see it.)
/// 2. [`Rule::tensor_stage`] sees the whole parameter with its shape, its gradient and its state: per-tensor norms,
///    matrix operations, factored statistics, named scalars such as NAdam's `mu_product`.
/// 3. [`Rule::coefficients`] turns the hyperparameters, the step count and the scalar state into the per-step
///    scalars, computed in `f64` and rounded to the element type once, as PyTorch does with Python floats;
/// 4. [`Rule::update`] applies the rule to every element in one fused pass: the parameter, its gradient and its
///    element-wise state tensors (in the order of [`Rule::layout`]), compiled per instruction set and threaded.
///
/// Hyperparameters are read and written by name through serde (their field names are the names users write in
/// specs and that checkpoints store), so the struct must serialize to an object of plain values.
///
/// The crate documentation's "Writing your own optimizer" shows a complete rule.
pub trait Rule: Clone + Debug + PartialEq + Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The optimizer's class name, e.g. `"Adam"` (PyTorch's where there is one): how errors and checkpoints name it.
    const NAME: &'static str;

    /// Rejects hyperparameters PyTorch rejects (and non-finite ones).
    fn validate(&self) -> Result<(), Error>;

    /// The state a parameter of `shape` needs with these hyperparameters, or why such a parameter cannot be
    /// optimized (Muon on a vector, say). Called when a parameter is registered, so a layout that cannot work is an
    /// error then, never mid-step.
    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error>;

    /// The optimizer-wide state (shared by all parameters, like L-BFGS's history) these hyperparameters need: tensors
    /// of their own shapes, scalars and a step counter, created when the optimizer is built from its first group's
    /// hyperparameters. Element-wise tensors have no parameter to take a shape from, and are refused.
    fn global_layout(&self) -> Result<StateLayout, Error> {
        Ok(StateLayout::new())
    }

    /// Whether the rule has a global stage ([`Rule::global_stage`]); rules that override it set this. Such a rule
    /// needs every gradient of a step at once, so it cannot step one parameter at a time.
    const GLOBAL_STAGE: bool = false;

    /// The global stage: runs once per step, before any parameter is updated, with every gradient and the
    /// optimizer-wide state (after its step counter has advanced), using the first group's hyperparameters.
    fn global_stage<T: Float>(&self, stage: &mut GlobalStage<'_, Self, T>) {
        let _ = stage;
    }

    /// Whether the parameter must first be moved to a look-ahead point, where the gradient is then evaluated
    /// ([`Rule::look_ahead`]); such a rule runs only through [`Optimizer::step_with_closure`](crate::Optimizer).
    const LOOKS_AHEAD: bool = false;

    /// Whether the rule has a per-tensor stage ([`Rule::tensor_stage`]); rules that override it set this.
    const TENSOR_STAGE: bool = false;

    /// Whether the per-tensor stage sets only the parameter's named scalars, from the hyperparameters and the step
    /// count alone (NAdam's `mu_product`, Schedule-Free's weights), never reading its values, gradient, state
    /// tensors or shape. Every piece of such a parameter would get the same scalars, so it can still be stepped
    /// in pieces ([`Spec::splits`](crate::Spec::splits)).
    const SCALAR_TENSOR_STAGE: bool = false;

    /// Whether these hyperparameters do the whole step in the per-tensor stage, and skip the element-wise pass:
    /// state kept compact (8-bit, bfloat16), which the fused pass cannot hold. [`Rule::tensor_stage`] then runs
    /// even if [`Rule::TENSOR_STAGE`] is false.
    fn steps_in_tensor_stage(&self) -> bool {
        false
    }

    /// The per-tensor stage: runs before the element-wise rule, once per parameter and step, with the whole
    /// parameter, its gradient and its state (after the step counter has advanced). Its code is compiled for the
    /// target's baseline instruction set; long loops belong in a [`Loop`](crate::Loop) (a closure in
    /// [`Inline`](crate::Inline), say) run through [`with_best_isa`](crate::with_best_isa), which compiles them
    /// for the CPU's (hardware fused multiply-adds).
    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        let _ = stage;
    }

    /// Whether the rule trains at one point and is evaluated at another ([`Rule::move_point`]): Schedule-Free's
    /// parameters hold the point where gradients are taken, and the point to evaluate is an average of it and its
    /// state. [`Optimizer::evaluate`](crate::Optimizer::evaluate) moves them for the evaluation and back.
    const EVALUATION_POINT: bool = false;

    /// Moves one parameter, which has state, from its training point to its evaluation point or back.
    fn move_point<T: Float>(&self, to: Point, param: &mut [T], state: &ParamState<T>) {
        let _ = (to, param, state);
    }

    /// The per-step scalars [`Rule::update`] needs, already in the lane type.
    type Coefficients<L: Lane>: Send + Sync;

    /// Computes the per-step scalars for one parameter.
    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> Self::Coefficients<L>;

    /// Updates one element (or one lane of elements): `param` and `state` in place, from `grad`.
    fn update<L: Lane>(c: &Self::Coefficients<L>, param: &mut L, grad: L, state: &mut [L]);

    /// The point where the gradient is evaluated, for rules that [look ahead](Rule::LOOKS_AHEAD); `param` for
    /// the others. `c` is computed for the step about to be taken.
    #[inline(always)]
    fn look_ahead<L: Lane>(c: &Self::Coefficients<L>, param: L, state: &[L]) -> L {
        let _ = (c, state);
        param
    }
}

/// The two points of a rule with an [evaluation point](Rule::EVALUATION_POINT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Where gradients are taken and steps are made: what the parameters hold between steps.
    Training,
    /// Where the model is evaluated (its loss, its accuracy, the weights to keep).
    Evaluation,
}

/// Where a parameter is in its optimization when it is updated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepContext<'a> {
    /// The step number `t`, counting this step (1 on the first); the optimizer's `f32` counter, as an `f64`, or
    /// 0 for rules that do not count steps.
    pub t: f64,
    /// Whether the parameter's state was created for this step (SGD starts its momentum buffer from the gradient).
    pub first: bool,
    /// The parameter's named scalar state, in the order of its layout, after the per-tensor stage.
    pub scalars: &'a [(&'static str, f64)],
    /// The optimizer-wide scalar state ([`Rule::global_layout`]), after the global stage.
    pub global: &'a [(&'static str, f64)],
}

impl StepContext<'_> {
    /// The named scalar `name` of the parameter's state.
    ///
    /// # Panics
    /// If the rule's layout has no such scalar: a bug in the rule.
    pub fn scalar(&self, name: &str) -> f64 {
        match self.scalars.iter().find(|(n, _)| *n == name) {
            Some(&(_, value)) => value,
            None => panic!("the state layout has no scalar {name:?}"),
        }
    }

    /// The optimizer-wide scalar `name`.
    ///
    /// # Panics
    /// If the rule's global layout has no such scalar: a bug in the rule.
    pub fn global_scalar(&self, name: &str) -> f64 {
        match self.global.iter().find(|(n, _)| *n == name) {
            Some(&(_, value)) => value,
            None => panic!("the global layout has no scalar {name:?}"),
        }
    }
}

/// What [`Rule::global_stage`] sees: every parameter and gradient of the step, every parameter's state and
/// hyperparameters (read-only: the element-wise pass writes them), and the optimizer-wide state.
#[derive(Debug)]
pub struct GlobalStage<'a, R, T> {
    /// One entry per parameter, in position order, `None` for a parameter without a gradient this step; as given
    /// to the step (before clipping: [`GlobalStage::seen`] applies it).
    pub grads: &'a [Option<&'a [T]>],
    /// The parameters' values before the step, in position order.
    pub params: &'a [&'a mut [T]],
    /// The optimizer-wide state.
    pub state: &'a mut ParamState<T>,
    pub(crate) slots: &'a [Slot<T>],
    pub(crate) groups: &'a [R],
    pub(crate) clip: Option<Clipped<T>>,
}

impl<R, T: Float> GlobalStage<'_, R, T> {
    /// The state of the parameter at `position`, if it has any yet (a parameter's first step creates it after
    /// this stage).
    pub fn param_state(&self, position: usize) -> Option<&ParamState<T>> {
        self.slots.get(position).and_then(|slot| slot.state.as_ref())
    }

    /// The hyperparameters of the group of the parameter at `position`.
    ///
    /// # Panics
    /// If there is no such parameter.
    pub fn hyperparameters(&self, position: usize) -> &R {
        &self.groups[self.slots[position].group]
    }

    /// Every group's hyperparameters, in order.
    pub fn groups(&self) -> &[R] {
        self.groups
    }

    /// A gradient value as the element-wise rule will see it: after the optimizer's clipping, if any.
    #[inline]
    pub fn seen(&self, grad: T) -> T {
        match self.clip {
            Some(clipped) => clipped.map(grad),
            None => grad,
        }
    }
}

/// What [`Rule::tensor_stage`] sees of one parameter.
#[derive(Debug)]
pub struct TensorStage<'a, T> {
    /// The parameter's shape.
    pub shape: &'a Shape,
    /// The parameter's values, row-major.
    pub param: &'a mut [T],
    /// Its gradient (after the global stage's clipping, if any).
    pub grad: &'a [T],
    /// Its state: every tensor and scalar of its layout, and the step counter (already advanced).
    pub state: &'a mut ParamState<T>,
}

/// The element-wise part of a rule that does its whole step in the per-tensor stage (Muon, Adafactor, …): no
/// coefficients and no update. Used inside the rule's `impl Rule` block.
macro_rules! no_elementwise_update {
    () => {
        type Coefficients<L: $crate::Lane> = ();

        fn coefficients<L: $crate::Lane>(&self, _step: &$crate::StepContext<'_>) {}

        #[inline(always)]
        fn update<L: $crate::Lane>(_: &(), _param: &mut L, _grad: L, _state: &mut [L]) {}
    };
}
pub(crate) use no_elementwise_update;
