//! Schedule-Free SGD: SGD with momentum without a learning-rate schedule, evaluated at an average of its iterates.

use serde::{Deserialize, Serialize};

use super::schedule_free::{self, Averaging};
use crate::registry::{Entry, Registry};
use crate::torch_ops::{add_scaled, scalar, Lerp};
use crate::validate::{finite, non_negative, unit_exclusive};
use crate::{Error, Float, Lane, ParamState, Point, Rule, Shape, StateLayout, StepContext, TensorStage};

/// Schedule-Free SGD (Defazio et al. 2024, "The Road Less Scheduled"), as the authors' package `schedulefree`
/// computes it (`SGDScheduleFree`).
///
/// The same idea as [`ScheduleFreeAdamW`](crate::ScheduleFreeAdamW) with plain gradient steps: a base sequence
/// z steps with a constant rate, the model is evaluated at x, a running average of z, and gradients are taken at y,
/// between the two, which replaces momentum. In the article's notation, with c_t the weight of step t:
///
/// ```text
/// d ← g + λ·y                                     g: the gradient at y
/// x ← (1 − c_t)·x + c_t·z,  then  z ← z − η_t·d       (z starts at θ)
/// y = (1 − β)·z + β·x                              β: momentum
/// ```
///
/// The parameters hold y between steps and x only while [`Optimizer::evaluate`](crate::Optimizer::evaluate)
/// runs. η_t warms up linearly over `warmup_steps` steps; c_t = w_t/Σw with w_t = t^r·(max η)^weight_lr_power.
/// The default rate, 1.0, is the reference's: Schedule-Free SGD takes larger rates than SGD (10–50×).
///
/// Followed operation by operation (the reference's default `foreach` path). Where the reference differs: it
/// keeps its step count, `lr_max` and `weight_sum` per parameter group, descent per parameter (they agree for
/// parameters that get a gradient on every step); it adds the weight decay into the caller's gradient, descent
/// leaves the gradient as given.
///
/// State: `step`, `lr_max` and `weight_sum` (scalars), `z`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleFreeSgd {
    /// Learning rate η (default 1.0).
    pub lr: f64,
    /// The interpolation β between x and z where gradients are taken (default 0.9).
    pub momentum: f64,
    /// Weight decay λ, applied at y (default 0).
    pub weight_decay: f64,
    /// Steps of linear learning-rate warm-up (default 0).
    pub warmup_steps: u64,
    /// The power r of t in the average's weights (default 0).
    pub r: f64,
    /// The power of the largest learning rate so far in the average's weights (default 2).
    pub weight_lr_power: f64,
}

impl Default for ScheduleFreeSgd {
    fn default() -> Self {
        ScheduleFreeSgd { lr: 1.0, momentum: 0.9, weight_decay: 0.0, warmup_steps: 0, r: 0.0, weight_lr_power: 2.0 }
    }
}

impl ScheduleFreeSgd {
    fn averaging(&self) -> Averaging {
        Averaging { lr: self.lr, warmup_steps: self.warmup_steps, r: self.r, weight_lr_power: self.weight_lr_power }
    }
}

/// [`ScheduleFreeSgd`]'s per-step scalars, rounded to the element type as PyTorch rounds them.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleFreeSgdCoefficients<L> {
    first: bool,
    weight_decay: Option<L>,
    average: Lerp<L>,
    y_step: L,
    minus_lr: L,
}

impl Rule for ScheduleFreeSgd {
    const NAME: &'static str = "SGDScheduleFree";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        unit_exclusive(Self::NAME, "momentum", self.momentum)?;
        non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        non_negative(Self::NAME, "r", self.r)?;
        finite(Self::NAME, "weight_lr_power", self.weight_lr_power)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(Averaging::layout(StateLayout::new()).elementwise("z", 0.0))
    }

    const TENSOR_STAGE: bool = true;
    const SCALAR_TENSOR_STAGE: bool = true;

    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        self.averaging().advance(stage.state);
    }

    const EVALUATION_POINT: bool = true;

    fn move_point<T: Float>(&self, to: Point, param: &mut [T], state: &ParamState<T>) {
        schedule_free::move_point(self.momentum, to, param, state);
    }

    type Coefficients<L: Lane> = ScheduleFreeSgdCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> ScheduleFreeSgdCoefficients<L> {
        let weights = self.averaging().weights(step);
        ScheduleFreeSgdCoefficients {
            first: step.first,
            weight_decay: (self.weight_decay != 0.0).then(|| scalar(self.weight_decay)),
            average: Lerp::new(weights.ckp1),
            y_step: scalar(weights.lr * (self.momentum * (1.0 - weights.ckp1) - 1.0)),
            minus_lr: scalar(-weights.lr),
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &ScheduleFreeSgdCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let [z] = state else { unreachable!("Schedule-Free SGD keeps one state tensor") };
        if c.first {
            *z = *param;
        }
        let d = match c.weight_decay {
            Some(weight_decay) => add_scaled(grad, *param, weight_decay),
            None => grad,
        };
        *param = add_scaled(c.average.apply(*param, *z), d, c.y_step);
        *z = add_scaled(*z, d, c.minus_lr);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new(
        "sgd_schedulefree",
        "Schedule-Free SGD: no schedule, evaluated at an average",
        ScheduleFreeSgd::default(),
    );
    registry.add(entry).expect("built-in names are distinct");
}
