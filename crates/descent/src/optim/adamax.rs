//! Adamax: Adam with the infinity norm in place of the root mean square.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::torch_ops::{addcdiv, scalar, Lerp, Prelude};
use crate::validate::adam_family;
use crate::{Error, Lane, Rule, Shape, StateLayout, StepContext};

/// Adamax (Kingma and Ba, 2014, §7.1): PyTorch's `torch.optim.Adamax`.
///
/// Adam scales each coordinate by the root of a decaying average of squared gradients, an L² norm of the past.
/// Adamax takes the limit of the Lᵖ norm as p → ∞ instead: the scale is the largest recent gradient, decayed by β₂,
/// which needs no root and no bias correction. In the article's notation:
///
/// ```text
/// m_t = β₁·m_{t−1} + (1 − β₁)·g_t
/// u_t = max(β₂·u_{t−1}, |g_t|)
/// θ  ← θ − (η / (1 − β₁ᵗ))·m_t / u_t
/// ```
///
/// PyTorch's rule, followed exactly (λ = `weight_decay`):
///
/// ```text
/// g ← ∇J(θ) (−∇J(θ) if maximize);   g ← g + λ·θ if λ ≠ 0
/// m ← m + (1 − β₁)·(g − m)
/// u ← max(β₂·u, |g| + ε)
/// θ ← θ − (η / (1 − β₁ᵗ))·m / u
/// ```
///
/// PyTorch adds ε to |g| inside the maximum (the paper has no ε): it keeps u away from zero. With no square root,
/// descent matches PyTorch bit for bit.
///
/// State: `step`, `exp_avg` (m), `exp_inf` (u).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Adamax {
    /// Learning rate η (default 2e-3).
    pub lr: f64,
    /// Decays (β₁, β₂) of the first moment and of the infinity norm (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term ε added to |g| in the infinity norm (default 1e-8).
    pub eps: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for Adamax {
    fn default() -> Self {
        Adamax { lr: 2e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, maximize: false }
    }
}

/// [`Adamax`]'s per-step scalars.
#[derive(Debug, Clone, Copy)]
pub struct AdamaxCoefficients<L> {
    prelude: Prelude<L>,
    first_moment: Lerp<L>,
    beta2: L,
    eps: L,
    neg_clr: L,
}

impl Rule for Adamax {
    const NAME: &'static str = "Adamax";

    fn validate(&self) -> Result<(), Error> {
        adam_family(Self::NAME, self.lr, self.eps, self.betas, self.weight_decay)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new().step().elementwise("exp_avg", 0.0).elementwise("exp_inf", 0.0))
    }

    type Coefficients<L: Lane> = AdamaxCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> AdamaxCoefficients<L> {
        let (beta1, beta2) = self.betas;
        AdamaxCoefficients {
            prelude: Prelude::new(self.lr, self.weight_decay, false, self.maximize),
            first_moment: Lerp::new(1.0 - beta1),
            beta2: scalar(beta2),
            eps: scalar(self.eps),
            neg_clr: scalar(-(self.lr / (1.0 - beta1.powf(step.t)))),
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &AdamaxCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let g = c.prelude.apply(param, grad);
        let [exp_avg, exp_inf] = state else { unreachable!("Adamax keeps two state tensors") };
        *exp_avg = c.first_moment.apply(*exp_avg, g);
        *exp_inf = (*exp_inf * c.beta2).maximum(g.abs() + c.eps);
        *param = addcdiv(*param, *exp_avg, *exp_inf, c.neg_clr);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("adamax", "Adamax: Adam scaled by the largest recent gradient, no root", Adamax::default())
        .torch("torch.optim.Adamax");
    registry.add(entry).expect("built-in names are distinct");
}
