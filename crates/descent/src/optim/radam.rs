//! RAdam: Adam whose adaptive step is switched on, and rectified, once its variance estimate can be trusted.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::torch_ops::{addcmul, scalar, Lerp, Prelude};
use crate::validate::adam_family;
use crate::{Error, Lane, Rule, Shape, StateLayout, StepContext};

/// RAdam (Liu et al., 2019): PyTorch's `torch.optim.RAdam`.
///
/// In Adam's first steps the second moment v rests on a handful of gradients, and the adaptive step size 1/√v̂
/// varies wildly: the reason Adam needs a learning-rate warm-up. RAdam estimates the length ρ_t of the average
/// behind v; while it is at most 5, it takes plain momentum steps, and after that Adam steps scaled by a
/// rectification r_t that corrects the variance of the adaptive step. In the article's notation:
///
/// ```text
/// m_t = β₁·m_{t−1} + (1 − β₁)·g_t          v_t = β₂·v_{t−1} + (1 − β₂)·g_t²          m̂_t = m_t / (1 − β₁ᵗ)
/// ρ_∞ = 2/(1 − β₂) − 1                     ρ_t = ρ_∞ − 2·t·β₂ᵗ / (1 − β₂ᵗ)
/// ρ_t > 5:  r_t = √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t));   θ ← θ − η·m̂_t·r_t·√(1 − β₂ᵗ) / (√v_t + ε)
/// else:     θ ← θ − η·m̂_t
/// ```
///
/// PyTorch's rule, followed exactly: g ← −∇J(θ) if maximize; θ ← θ·(1 − η·λ) with `decoupled_weight_decay`, else
/// g ← g + λ·θ (if λ ≠ 0); the moments as in Adam; then the step ((m / (1 − β₁ᵗ))·η)·(1/(√v + ε))·√(1 − β₂ᵗ)·r_t,
/// multiplied left to right with each factor rounded, as PyTorch's tensor expression is. With β₂ = 0.999 the
/// rectified branch first runs at step 6.
///
/// State: `step`, `exp_avg` (m), `exp_avg_sq` (v).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RAdam {
    /// Learning rate η (default 1e-3).
    pub lr: f64,
    /// Decays (β₁, β₂) of the first and second moments (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term ε added to √v (default 1e-8).
    pub eps: f64,
    /// Weight decay λ: an L2 penalty added to the gradient, or decoupled (default 0).
    pub weight_decay: f64,
    /// Decay the weights directly, as AdamW does, instead of adding λ·θ to the gradient (default false).
    pub decoupled_weight_decay: bool,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for RAdam {
    fn default() -> Self {
        RAdam {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

/// [`RAdam`]'s per-step scalars.
#[derive(Debug, Clone, Copy)]
pub struct RAdamCoefficients<L> {
    prelude: Prelude<L>,
    first_moment: Lerp<L>,
    beta2: L,
    one_minus_beta2: L,
    bias_correction1: L,
    lr: L,
    rectified: Option<Rectified<L>>,
}

/// The adaptive step's scalars, once ρ_t > 5.
#[derive(Debug, Clone, Copy)]
struct Rectified<L> {
    eps: L,
    bias_correction2_sqrt: L,
    rect: L,
}

impl Rule for RAdam {
    const NAME: &'static str = "RAdam";

    fn validate(&self) -> Result<(), Error> {
        adam_family(Self::NAME, self.lr, self.eps, self.betas, self.weight_decay)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new().step().elementwise("exp_avg", 0.0).elementwise("exp_avg_sq", 0.0))
    }

    type Coefficients<L: Lane> = RAdamCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> RAdamCoefficients<L> {
        let (beta1, beta2) = self.betas;
        let t = step.t;
        let bias_correction2 = 1.0 - beta2.powf(t);
        let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
        let rho_t = rho_inf - 2.0 * t * beta2.powf(t) / bias_correction2;
        RAdamCoefficients {
            prelude: Prelude::new(self.lr, self.weight_decay, self.decoupled_weight_decay, self.maximize),
            first_moment: Lerp::new(1.0 - beta1),
            beta2: scalar(beta2),
            one_minus_beta2: scalar(1.0 - beta2),
            bias_correction1: scalar(1.0 - beta1.powf(t)),
            lr: scalar(self.lr),
            rectified: (rho_t > 5.0).then(|| Rectified {
                eps: scalar(self.eps),
                // Python's `** 0.5`, which is pow(x, 0.5), not sqrt(x).
                bias_correction2_sqrt: scalar(bias_correction2.powf(0.5)),
                rect: scalar(
                    ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)).powf(0.5),
                ),
            }),
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &RAdamCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let g = c.prelude.apply(param, grad);
        let [exp_avg, exp_avg_sq] = state else { unreachable!("RAdam keeps two state tensors") };
        *exp_avg = c.first_moment.apply(*exp_avg, g);
        *exp_avg_sq = addcmul(*exp_avg_sq * c.beta2, g, g, c.one_minus_beta2);
        let mut update = (*exp_avg / c.bias_correction1) * c.lr;
        if let Some(r) = c.rectified {
            // PyTorch's `scalar / tensor` is the tensor's reciprocal times the scalar.
            let adaptive = (L::splat(<L::Scalar as crate::Float>::from_f64(1.0)) / (exp_avg_sq.sqrt() + r.eps))
                * r.bias_correction2_sqrt;
            update = (update * adaptive) * r.rect;
        }
        *param = *param - update;
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry =
        Entry::new("radam", "RAdam: Adam that waits until its variance estimate can be trusted", RAdam::default())
            .torch("torch.optim.RAdam");
    registry.add(entry).expect("built-in names are distinct");
}
