//! NAdam: Adam with Nesterov momentum.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::torch_ops::{addcdiv, addcmul, scalar, Lerp, Prelude};
use crate::validate::{adam_family, non_negative};
use crate::{Error, Float, Lane, Rule, Shape, StateLayout, StepContext, TensorStage};

/// NAdam (Dozat, 2016): PyTorch's `torch.optim.NAdam`.
///
/// Adam whose first moment takes a Nesterov look-ahead: the step uses the momentum that the next step will have, as
/// Nesterov momentum evaluates the gradient where the momentum is about to carry θ. Dozat also lets the momentum
/// warm up with the schedule μ_t = β₁·(1 − ½·0.96^(t·ψ)) (ψ = `momentum_decay`), and corrects the first moment's
/// bias with the product of the μ's. In the article's notation:
///
/// ```text
/// m_t = β₁·m_{t−1} + (1 − β₁)·g_t            v_t = β₂·v_{t−1} + (1 − β₂)·g_t²
/// θ  ← θ − η·( (1 − μ_t)·g_t / (1 − Π_{i≤t} μ_i) + μ_{t+1}·m_t / (1 − Π_{i≤t+1} μ_i) ) / (√(v_t / (1 − β₂ᵗ)) + ε)
/// ```
///
/// PyTorch's rule, followed exactly (λ = `weight_decay`): g ← −∇J(θ) if maximize; θ ← θ·(1 − η·λ) with
/// `decoupled_weight_decay`, else g ← g + λ·θ; then the moments as in Adam (m by `lerp`), the product
/// Π μ kept as an `f32` (`mu_product`, multiplied by μ_t rounded to `f32`), the denominator √(v / (1 − β₂ᵗ)) + ε
/// (dividing before the root, unlike Adam), and θ updated by two separately rounded `addcdiv`s, the gradient term
/// first. optax's `nadam` is a different algorithm (Adam with Nesterov momentum, no μ schedule).
///
/// State: `step`, `mu_product` (a scalar, starting at 1), `exp_avg` (m), `exp_avg_sq` (v).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NAdam {
    /// Learning rate η (default 2e-3).
    pub lr: f64,
    /// Decays (β₁, β₂) of the first and second moments (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term ε added to the denominator (default 1e-8).
    pub eps: f64,
    /// Weight decay λ: an L2 penalty added to the gradient, or decoupled (default 0).
    pub weight_decay: f64,
    /// ψ of the momentum schedule μ_t = β₁·(1 − ½·0.96^(t·ψ)) (default 4e-3).
    pub momentum_decay: f64,
    /// Decay the weights directly, as AdamW does, instead of adding λ·θ to the gradient (default false).
    pub decoupled_weight_decay: bool,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for NAdam {
    fn default() -> Self {
        NAdam {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl NAdam {
    /// μ_t, the momentum of step `t`.
    fn mu(&self, t: f64) -> f64 {
        self.betas.0 * (1.0 - 0.5 * 0.96f64.powf(t * self.momentum_decay))
    }
}

/// [`NAdam`]'s per-step scalars.
#[derive(Debug, Clone, Copy)]
pub struct NAdamCoefficients<L> {
    prelude: Prelude<L>,
    first_moment: Lerp<L>,
    beta2: L,
    one_minus_beta2: L,
    bias_correction2: L,
    eps: L,
    grad_step: L,
    momentum_step: L,
}

impl Rule for NAdam {
    const NAME: &'static str = "NAdam";

    fn validate(&self) -> Result<(), Error> {
        adam_family(Self::NAME, self.lr, self.eps, self.betas, self.weight_decay)?;
        non_negative(Self::NAME, "momentum_decay", self.momentum_decay)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new()
            .step()
            .scalar("mu_product", 1.0)
            .elementwise("exp_avg", 0.0)
            .elementwise("exp_avg_sq", 0.0))
    }

    const TENSOR_STAGE: bool = true;
    const SCALAR_TENSOR_STAGE: bool = true;

    /// Π μ ← Π μ · μ_t, in `f32` as PyTorch keeps it.
    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        let t = stage.state.step().map_or(1.0, f64::from);
        let product = stage.state.scalar("mu_product").expect("the layout has mu_product");
        let product = f64::from(product as f32 * self.mu(t) as f32);
        stage.state.set_scalar("mu_product", product);
    }

    type Coefficients<L: Lane> = NAdamCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> NAdamCoefficients<L> {
        let (beta1, beta2) = self.betas;
        let t = step.t;
        let (mu, mu_next) = (self.mu(t), self.mu(t + 1.0));
        let product = step.scalar("mu_product");
        let product_next = product * mu_next;
        NAdamCoefficients {
            prelude: Prelude::new(self.lr, self.weight_decay, self.decoupled_weight_decay, self.maximize),
            first_moment: Lerp::new(1.0 - beta1),
            beta2: scalar(beta2),
            one_minus_beta2: scalar(1.0 - beta2),
            bias_correction2: scalar(1.0 - beta2.powf(t)),
            eps: scalar(self.eps),
            grad_step: scalar(-self.lr * (1.0 - mu) / (1.0 - product)),
            momentum_step: scalar((-self.lr * mu_next) / (1.0 - product_next)),
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &NAdamCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let g = c.prelude.apply(param, grad);
        let [exp_avg, exp_avg_sq] = state else { unreachable!("NAdam keeps two state tensors") };
        *exp_avg = c.first_moment.apply(*exp_avg, g);
        *exp_avg_sq = addcmul(*exp_avg_sq * c.beta2, g, g, c.one_minus_beta2);
        let denom = (*exp_avg_sq / c.bias_correction2).sqrt() + c.eps;
        *param = addcdiv(*param, g, denom, c.grad_step);
        *param = addcdiv(*param, *exp_avg, denom, c.momentum_step);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("nadam", "NAdam: Adam with Nesterov momentum and a momentum warm-up", NAdam::default())
        .torch("torch.optim.NAdam");
    registry.add(entry).expect("built-in names are distinct");
}
