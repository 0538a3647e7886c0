//! AdamW: Adam with decoupled weight decay.

use serde::{Deserialize, Serialize};

use crate::optim::adam::AdamCoefficients;
use crate::registry::{Entry, Registry};
use crate::{Adam, Error, Float, Lane, Rule, Shape, StateLayout, StateType, StepContext, TensorStage};

/// AdamW (Loshchilov and Hutter, 2017): PyTorch's `torch.optim.AdamW`.
///
/// Adam whose weight decay shrinks the weights directly, θ ← θ·(1 − η·λ) at the start of each step, instead of
/// adding λ·θ to the gradient where Adam's scaling would weaken it for coordinates with large gradients. Everything
/// else is [`Adam`]'s rule; as in PyTorch, this is `Adam` with `decoupled_weight_decay`, and a default weight
/// decay of 1e-2. The decay uses the group's current η, so a learning-rate scheduler scales it too.
///
/// State: `step`, `exp_avg`, `exp_avg_sq`, and `max_exp_avg_sq` with AMSGrad; with `state="int8"`, `"bf16"` or
/// `"bf16_stochastic"`, compact moments as [`Adam`]'s (8-bit: as `bitsandbytes`' AdamW8bit).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamW {
    /// Learning rate η (default 1e-3).
    pub lr: f64,
    /// Decays (β₁, β₂) of the first and second moments (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term ε added to the denominator (default 1e-8).
    pub eps: f64,
    /// Decoupled weight decay λ (default 1e-2).
    pub weight_decay: f64,
    /// Use the maximum of past second moments, AMSGrad (default false).
    pub amsgrad: bool,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
    /// How the moments are kept (default `"f32"`: in the parameters' type; `"bf16"`, `"bf16_stochastic"`,
    /// `"int8"`: see [`StateType`]).
    pub state: StateType,
}

impl Default for AdamW {
    fn default() -> Self {
        AdamW { weight_decay: 1e-2, ..AdamW::from(Adam::default()) }
    }
}

impl From<Adam> for AdamW {
    /// Adam's hyperparameters, with the weight decay decoupled.
    fn from(adam: Adam) -> Self {
        let Adam { lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay: _, state } = adam;
        AdamW { lr, betas, eps, weight_decay, amsgrad, maximize, state }
    }
}

impl From<AdamW> for Adam {
    /// The same optimizer, as `Adam` with `decoupled_weight_decay`.
    fn from(adamw: AdamW) -> Self {
        let AdamW { lr, betas, eps, weight_decay, amsgrad, maximize, state } = adamw;
        Adam { lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay: true, state }
    }
}

impl Rule for AdamW {
    const NAME: &'static str = "AdamW";

    fn validate(&self) -> Result<(), Error> {
        Adam::from(*self).validate_as(Self::NAME)
    }

    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error> {
        Adam::from(*self).layout(shape)
    }

    fn steps_in_tensor_stage(&self) -> bool {
        self.state.is_compact()
    }

    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        Adam::from(*self).tensor_stage(stage);
    }

    type Coefficients<L: Lane> = AdamCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> AdamCoefficients<L> {
        Adam::from(*self).coefficients(step)
    }

    #[inline(always)]
    fn update<L: Lane>(c: &AdamCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        Adam::update(c, param, grad, state)
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry =
        Entry::new("adamw", "AdamW: Adam with decoupled weight decay", AdamW::default()).torch("torch.optim.AdamW");
    registry.add(entry).expect("built-in names are distinct");
}
