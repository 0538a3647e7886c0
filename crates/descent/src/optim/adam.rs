//! Adam: momentum and RMSprop's per-coordinate scaling, with bias correction.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::torch_ops::{addcdiv, addcmul, scalar, Lerp, Prelude};
use crate::validate::adam_family;
use crate::{Error, Lane, Rule, Shape, StateLayout, StepContext};

/// Adam (Kingma and Ba, 2014): PyTorch's `torch.optim.Adam`.
///
/// Keeps a decaying average of past gradients (the first moment, like momentum) and of past squared gradients (the
/// second moment, like RMSprop), corrects both for their start at zero, and steps along the first divided by the
/// root of the second. In the article's notation:
///
/// ```text
/// m_t = β₁·m_{t−1} + (1 − β₁)·g_t
/// v_t = β₂·v_{t−1} + (1 − β₂)·g_t²
/// m̂_t = m_t / (1 − β₁ᵗ)        v̂_t = v_t / (1 − β₂ᵗ)
/// θ  ← θ − η·m̂_t / (√v̂_t + ε)
/// ```
///
/// The bias corrections divide by 1 − βᵗ, β to the power of the step number t (not by 1 − β): they matter in the
/// first steps and fade as βᵗ → 0.
///
/// PyTorch's rule, followed exactly (λ = `weight_decay`):
///
/// ```text
/// g ← ∇J(θ) (−∇J(θ) if maximize)
/// θ ← θ·(1 − η·λ)   if decoupled_weight_decay      g ← g + λ·θ   otherwise (if λ ≠ 0)
/// m ← m + (1 − β₁)·(g − m)
/// v ← β₂·v + (1 − β₂)·g²
/// v̄ ← max(v̄, v) and use v̄ for v below            amsgrad only
/// θ ← θ − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// ε is added to the bias-corrected root √v̂, outside the root (not the paper's ε̂ = ε·√(1 − β₂ᵗ)); AMSGrad takes
/// the maximum of the raw v. With `decoupled_weight_decay` this is AdamW ([`AdamW`](crate::AdamW)).
///
/// State: `step`, `exp_avg` (m), `exp_avg_sq` (v), and `max_exp_avg_sq` (v̄) with AMSGrad.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Adam {
    /// Learning rate η (default 1e-3).
    pub lr: f64,
    /// Decays (β₁, β₂) of the first and second moments (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term ε added to the denominator (default 1e-8).
    pub eps: f64,
    /// Weight decay λ: an L2 penalty added to the gradient, or decoupled (default 0).
    pub weight_decay: f64,
    /// Use the maximum of past second moments, AMSGrad (default false).
    pub amsgrad: bool,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
    /// Decay the weights directly, as AdamW does, instead of adding λ·θ to the gradient (default false).
    pub decoupled_weight_decay: bool,
}

impl Default for Adam {
    fn default() -> Self {
        Adam {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
        }
    }
}

/// [`Adam`]'s (and [`AdamW`](crate::AdamW)'s) per-step scalars.
#[derive(Debug, Clone, Copy)]
pub struct AdamCoefficients<L> {
    prelude: Prelude<L>,
    first_moment: Lerp<L>,
    beta2: L,
    one_minus_beta2: L,
    bias_correction2_sqrt: L,
    eps: L,
    neg_step_size: L,
}

impl Adam {
    pub(crate) fn validate_as(&self, optimizer: &'static str) -> Result<(), Error> {
        adam_family(optimizer, self.lr, self.eps, self.betas, self.weight_decay)
    }
}

impl Rule for Adam {
    const NAME: &'static str = "Adam";

    fn validate(&self) -> Result<(), Error> {
        self.validate_as(Self::NAME)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        let layout = StateLayout::new().step().elementwise("exp_avg", 0.0).elementwise("exp_avg_sq", 0.0);
        Ok(if self.amsgrad { layout.elementwise("max_exp_avg_sq", 0.0) } else { layout })
    }

    type Coefficients<L: Lane> = AdamCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> AdamCoefficients<L> {
        let (beta1, beta2) = self.betas;
        let bias_correction1 = 1.0 - beta1.powf(step.t);
        let bias_correction2 = 1.0 - beta2.powf(step.t);
        AdamCoefficients {
            prelude: Prelude::new(self.lr, self.weight_decay, self.decoupled_weight_decay, self.maximize),
            first_moment: Lerp::new(1.0 - beta1),
            beta2: scalar(beta2),
            one_minus_beta2: scalar(1.0 - beta2),
            // Python's `bias_correction2 ** 0.5`, which is pow(x, 0.5), not sqrt(x).
            bias_correction2_sqrt: scalar(bias_correction2.powf(0.5)),
            eps: scalar(self.eps),
            neg_step_size: scalar(-(self.lr / bias_correction1)),
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &AdamCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let g = c.prelude.apply(param, grad);
        // The state's length (known when the loop is compiled) says whether this is AMSGrad.
        let (exp_avg, exp_avg_sq, max_exp_avg_sq) = match state {
            [exp_avg, exp_avg_sq] => (exp_avg, exp_avg_sq, None),
            [exp_avg, exp_avg_sq, max_exp_avg_sq] => (exp_avg, exp_avg_sq, Some(max_exp_avg_sq)),
            _ => unreachable!("Adam keeps two or three state tensors"),
        };
        *exp_avg = c.first_moment.apply(*exp_avg, g);
        *exp_avg_sq = addcmul(*exp_avg_sq * c.beta2, g, g, c.one_minus_beta2);
        let second_moment = match max_exp_avg_sq {
            Some(max_exp_avg_sq) => {
                *max_exp_avg_sq = max_exp_avg_sq.maximum(*exp_avg_sq);
                *max_exp_avg_sq
            }
            None => *exp_avg_sq,
        };
        let denom = second_moment.sqrt() / c.bias_correction2_sqrt + c.eps;
        *param = addcdiv(*param, *exp_avg, denom, c.neg_step_size);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("adam", "Adam: momentum and RMSprop's scaling, with bias correction", Adam::default())
        .torch("torch.optim.Adam");
    registry.add(entry).expect("built-in names are distinct");
}
