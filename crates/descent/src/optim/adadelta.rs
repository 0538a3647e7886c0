//! AdaDelta: step sizes in the units of the parameters, without a learning rate.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::torch_ops::{add_scaled, addcmul, scalar};
use crate::validate::{non_negative, unit_closed};
use crate::{Error, Lane, Rule, Shape, StateLayout, StepContext};

/// AdaDelta (Zeiler, 2012): PyTorch's `torch.optim.Adadelta`.
///
/// Like RMSprop it divides by the root of a decaying average of squared gradients, and it multiplies by the root of
/// a decaying average of squared past updates, so that an update has the units of θ. In the article's notation:
///
/// ```text
/// E[g²]_t  = γ·E[g²]_{t−1} + (1 − γ)·g_t²
/// Δθ_t     = −(√(E[Δθ²]_{t−1} + ε) / √(E[g²]_t + ε)) · g_t
/// E[Δθ²]_t = γ·E[Δθ²]_{t−1} + (1 − γ)·Δθ_t²
/// θ       ← θ + Δθ_t
/// ```
///
/// The paper's update has no learning rate: θ ← θ + Δθ. PyTorch subtracts η·Δ, with Δ = −Δθ, and η = 1.0 by
/// default, which is the paper's rule; any other η scales every step, so this AdaDelta does have a learning rate.
///
/// PyTorch's rule, followed exactly (ρ = `rho`, λ = `weight_decay`; s = `square_avg`, u = `acc_delta`):
///
/// ```text
/// g ← ∇J(θ) (−∇J(θ) if maximize);   g ← g + λ·θ if λ ≠ 0
/// s ← ρ·s + (1 − ρ)·g²
/// Δ = (√(u + ε) / √(s + ε))·g           u from the previous step; ε inside both roots
/// u ← ρ·u + (1 − ρ)·Δ²
/// θ ← θ − η·Δ
/// ```
///
/// State: `step` (counted, not used by the rule), `square_avg`, `acc_delta`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Adadelta {
    /// Learning rate η applied to the update (default 1.0).
    pub lr: f64,
    /// Decay ρ of both averages (default 0.9).
    pub rho: f64,
    /// Term ε added inside both roots (default 1e-6).
    pub eps: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for Adadelta {
    fn default() -> Self {
        Adadelta { lr: 1.0, rho: 0.9, eps: 1e-6, weight_decay: 0.0, maximize: false }
    }
}

/// [`Adadelta`]'s per-step scalars.
#[derive(Debug, Clone, Copy)]
pub struct AdadeltaCoefficients<L> {
    rho: L,
    one_minus_rho: L,
    eps: L,
    neg_lr: L,
    weight_decay: Option<L>,
    maximize: bool,
}

impl Rule for Adadelta {
    const NAME: &'static str = "Adadelta";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        unit_closed(Self::NAME, "rho", self.rho)?;
        non_negative(Self::NAME, "eps", self.eps)?;
        non_negative(Self::NAME, "weight_decay", self.weight_decay)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new().step().elementwise("square_avg", 0.0).elementwise("acc_delta", 0.0))
    }

    type Coefficients<L: Lane> = AdadeltaCoefficients<L>;

    fn coefficients<L: Lane>(&self, _step: &StepContext<'_>) -> AdadeltaCoefficients<L> {
        AdadeltaCoefficients {
            rho: scalar(self.rho),
            one_minus_rho: scalar(1.0 - self.rho),
            eps: scalar(self.eps),
            neg_lr: scalar(-self.lr),
            weight_decay: (self.weight_decay != 0.0).then(|| scalar(self.weight_decay)),
            maximize: self.maximize,
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &AdadeltaCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let mut g = if c.maximize { -grad } else { grad };
        if let Some(weight_decay) = c.weight_decay {
            g = add_scaled(g, *param, weight_decay);
        }
        let [square_avg, acc_delta] = state else { unreachable!("Adadelta keeps two state tensors") };
        *square_avg = addcmul(*square_avg * c.rho, g, g, c.one_minus_rho);
        let std = (*square_avg + c.eps).sqrt();
        let delta = ((*acc_delta + c.eps).sqrt() / std) * g;
        *acc_delta = addcmul(*acc_delta * c.rho, delta, delta, c.one_minus_rho);
        *param = add_scaled(*param, delta, c.neg_lr);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new(
        "adadelta",
        "AdaDelta: RMSprop with steps in the units of the parameters, no learning rate needed",
        Adadelta::default(),
    )
    .torch("torch.optim.Adadelta");
    registry.add(entry).expect("built-in names are distinct");
}
