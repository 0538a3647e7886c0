//! Schedule-Free AdamW: AdamW without a learning-rate schedule, evaluated at an average of its iterates.

use serde::{Deserialize, Serialize};

use super::schedule_free::{self, Averaging};
use crate::registry::{Entry, Registry};
use crate::torch_ops::{add_scaled, addcmul, scalar, Lerp};
use crate::validate::{finite, non_negative, unit_exclusive, unit_open};
use crate::{Error, Float, Lane, ParamState, Point, Rule, Shape, StateLayout, StepContext, TensorStage};

/// Schedule-Free AdamW (Defazio et al. 2024, "The Road Less Scheduled"; the AlgoPerf 2024 self-tuning track's
/// winner), as the authors' package `schedulefree` computes it (`AdamWScheduleFree`).
///
/// A learning-rate schedule that decays to zero needs the length of the run in advance. Schedule-Free needs none:
/// it keeps a base sequence z that takes plain steps with a constant rate, and evaluates the model at x, a running
/// average of z, which does what a decaying schedule would do. Gradients are taken at y, between the two; β₁ plays
/// the role of momentum. In the article's notation, with c_t the weight of step t in the average (below):
///
/// ```text
/// v ← β₂·v + (1 − β₂)·g²                          g: the gradient at y
/// d ← g/(√(v/(1 − β₂ᵗ)) + ε) + λ·y
/// x ← (1 − c_t)·x + c_t·z,  then  z ← z − η_t·d       (z starts at θ)
/// y = (1 − β₁)·z + β₁·x
/// ```
///
/// The parameters hold y between steps (`y ← lerp(y, z, c_t) + η_t·(β₁·(1 − c_t) − 1)·d`, the reference's form,
/// with z updated after), and x only while [`Optimizer::evaluate`](crate::Optimizer::evaluate) runs: evaluate the
/// model there, never at y. η_t warms up linearly over `warmup_steps` steps, and c_t = w_t/Σw with
/// w_t = t^r·(max η)^weight_lr_power. No scheduler is needed (a scheduler may still change η).
///
/// Followed operation by operation (the reference's default `foreach` path): v by `mul` and `addcmul`, the
/// denominator by division, square root and addition, the decay and both steps by `add(alpha=…)`, the average by
/// `lerp`. Where the reference differs: it counts steps and keeps `lr_max` and `weight_sum` per parameter group,
/// advancing on every step; descent keeps them per parameter, as torch.optim counts steps, so they agree for
/// parameters that get a gradient on every step. The reference divides the caller's gradient in place; descent
/// leaves it as given. It must be switched to training with `train()` before its first step; descent starts in
/// training and goes to evaluation only inside `evaluate`.
///
/// State: `step`, `lr_max` and `weight_sum` (scalars), `z`, `exp_avg_sq` (v).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleFreeAdamW {
    /// Learning rate η (default 0.0025).
    pub lr: f64,
    /// (β₁, β₂): the interpolation between z and x where gradients are taken, and the decay of v
    /// (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term added to the denominator ε (default 1e-8).
    pub eps: f64,
    /// Weight decay λ, applied at y (default 0).
    pub weight_decay: f64,
    /// Steps of linear learning-rate warm-up (default 0).
    pub warmup_steps: u64,
    /// The power r of t in the average's weights (default 0).
    pub r: f64,
    /// The power of the largest learning rate so far in the average's weights (default 2).
    pub weight_lr_power: f64,
}

impl Default for ScheduleFreeAdamW {
    fn default() -> Self {
        ScheduleFreeAdamW {
            lr: 0.0025,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: 2.0,
        }
    }
}

impl ScheduleFreeAdamW {
    fn averaging(&self) -> Averaging {
        Averaging { lr: self.lr, warmup_steps: self.warmup_steps, r: self.r, weight_lr_power: self.weight_lr_power }
    }
}

/// [`ScheduleFreeAdamW`]'s per-step scalars, rounded to the element type as PyTorch rounds them.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleFreeAdamWCoefficients<L> {
    first: bool,
    beta2: L,
    one_minus_beta2: L,
    bias_correction2: L,
    eps: L,
    weight_decay: Option<L>,
    average: Lerp<L>,
    y_step: L,
    minus_lr: L,
}

impl Rule for ScheduleFreeAdamW {
    const NAME: &'static str = "AdamWScheduleFree";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        unit_exclusive(Self::NAME, "betas[0]", self.betas.0)?;
        unit_open(Self::NAME, "betas[1]", self.betas.1)?;
        non_negative(Self::NAME, "eps", self.eps)?;
        non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        non_negative(Self::NAME, "r", self.r)?;
        finite(Self::NAME, "weight_lr_power", self.weight_lr_power)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(Averaging::layout(StateLayout::new()).elementwise("z", 0.0).elementwise("exp_avg_sq", 0.0))
    }

    const TENSOR_STAGE: bool = true;
    const SCALAR_TENSOR_STAGE: bool = true;

    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        self.averaging().advance(stage.state);
    }

    const EVALUATION_POINT: bool = true;

    fn move_point<T: Float>(&self, to: Point, param: &mut [T], state: &ParamState<T>) {
        schedule_free::move_point(self.betas.0, to, param, state);
    }

    type Coefficients<L: Lane> = ScheduleFreeAdamWCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> ScheduleFreeAdamWCoefficients<L> {
        let (beta1, beta2) = self.betas;
        let weights = self.averaging().weights(step);
        ScheduleFreeAdamWCoefficients {
            first: step.first,
            beta2: scalar(beta2),
            one_minus_beta2: scalar(1.0 - beta2),
            bias_correction2: scalar(1.0 - beta2.powf(step.t)),
            eps: scalar(self.eps),
            weight_decay: (self.weight_decay != 0.0).then(|| scalar(self.weight_decay)),
            average: Lerp::new(weights.ckp1),
            y_step: scalar(weights.lr * (beta1 * (1.0 - weights.ckp1) - 1.0)),
            minus_lr: scalar(-weights.lr),
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &ScheduleFreeAdamWCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let [z, exp_avg_sq] = state else { unreachable!("Schedule-Free AdamW keeps two state tensors") };
        if c.first {
            *z = *param;
        }
        *exp_avg_sq = addcmul(*exp_avg_sq * c.beta2, grad, grad, c.one_minus_beta2);
        let mut d = grad / ((*exp_avg_sq / c.bias_correction2).sqrt() + c.eps);
        if let Some(weight_decay) = c.weight_decay {
            d = add_scaled(d, *param, weight_decay);
        }
        *param = add_scaled(c.average.apply(*param, *z), d, c.y_step);
        *z = add_scaled(*z, d, c.minus_lr);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new(
        "adamw_schedulefree",
        "Schedule-Free AdamW: no schedule, evaluated at an average",
        ScheduleFreeAdamW::default(),
    );
    registry.add(entry).expect("built-in names are distinct");
}
