//! RMSprop: AdaGrad with a moving average instead of a sum.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::torch_ops::{add_scaled, addcdiv, addcmul, scalar, Lerp};
use crate::validate::non_negative;
use crate::{Error, Lane, Rule, Shape, StateLayout, StepContext};

/// RMSprop (Hinton, 2012): PyTorch's `torch.optim.RMSprop`.
///
/// Divides the learning rate by the root of an exponentially decaying average of squared gradients, so the step
/// size adapts per coordinate like AdaGrad's but no longer decays for ever. In the article's notation (γ is the
/// decay, PyTorch's `alpha`):
///
/// ```text
/// E[g²]_t = γ·E[g²]_{t−1} + (1 − γ)·g_t²
/// θ      ← θ − η / (√E[g²]_t + ε) · g_t
/// ```
///
/// PyTorch's rule, followed exactly (α = `alpha`, λ = `weight_decay`, μ = `momentum`; s = `square_avg`,
/// ḡ = `grad_avg`, b = `momentum_buffer`):
///
/// ```text
/// g ← ∇J(θ) (−∇J(θ) if maximize);   g ← g + λ·θ if λ ≠ 0
/// s ← α·s + (1 − α)·g²
/// ḡ ← ḡ + (1 − α)·(g − ḡ)                        centered only
/// d = √(s − ḡ²) + ε  (centered)   or   d = √s + ε
/// b ← μ·b + g/d;  θ ← θ − η·b    (μ > 0)      or   θ ← θ − η·g/d
/// ```
///
/// ε is added outside the root (TensorFlow adds it inside). There is no bias correction: s starts at zero, so the
/// first steps are large (about η/√(1 − α) per coordinate). The momentum buffer starts at zero, unlike SGD's.
///
/// State: `step` (counted, not used by the rule), `square_avg`, `momentum_buffer` (μ > 0), `grad_avg` (centered).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RmsProp {
    /// Learning rate η (default 1e-2).
    pub lr: f64,
    /// Decay α of the average of squared gradients (default 0.99).
    pub alpha: f64,
    /// Term ε added to the denominator (default 1e-8).
    pub eps: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// Momentum factor μ (default 0).
    pub momentum: f64,
    /// Divide by an estimate of the gradient's variance instead of its second moment (default false).
    pub centered: bool,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for RmsProp {
    fn default() -> Self {
        RmsProp { lr: 1e-2, alpha: 0.99, eps: 1e-8, weight_decay: 0.0, momentum: 0.0, centered: false, maximize: false }
    }
}

/// [`RmsProp`]'s per-step scalars.
#[derive(Debug, Clone, Copy)]
pub struct RmsPropCoefficients<L> {
    alpha: L,
    one_minus_alpha: L,
    eps: L,
    neg_lr: L,
    weight_decay: Option<L>,
    momentum: Option<L>,
    centered: Option<Lerp<L>>,
    maximize: bool,
}

impl Rule for RmsProp {
    const NAME: &'static str = "RMSprop";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        non_negative(Self::NAME, "eps", self.eps)?;
        non_negative(Self::NAME, "momentum", self.momentum)?;
        non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        non_negative(Self::NAME, "alpha", self.alpha)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        let mut layout = StateLayout::new().step().elementwise("square_avg", 0.0);
        if self.momentum > 0.0 {
            layout = layout.elementwise("momentum_buffer", 0.0);
        }
        if self.centered {
            layout = layout.elementwise("grad_avg", 0.0);
        }
        Ok(layout)
    }

    type Coefficients<L: Lane> = RmsPropCoefficients<L>;

    fn coefficients<L: Lane>(&self, _step: &StepContext<'_>) -> RmsPropCoefficients<L> {
        RmsPropCoefficients {
            alpha: scalar(self.alpha),
            one_minus_alpha: scalar(1.0 - self.alpha),
            eps: scalar(self.eps),
            neg_lr: scalar(-self.lr),
            weight_decay: (self.weight_decay != 0.0).then(|| scalar(self.weight_decay)),
            momentum: (self.momentum > 0.0).then(|| scalar(self.momentum)),
            centered: self.centered.then(|| Lerp::new(1.0 - self.alpha)),
            maximize: self.maximize,
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &RmsPropCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let mut g = if c.maximize { -grad } else { grad };
        if let Some(weight_decay) = c.weight_decay {
            g = add_scaled(g, *param, weight_decay);
        }
        // Which tensors follow square_avg: the flags decide between the two layouts of length 2.
        let (square_avg, buffer, grad_avg) = match (state, c.momentum.is_some(), c.centered.is_some()) {
            ([square_avg], _, _) => (square_avg, None, None),
            ([square_avg, buffer, grad_avg], _, _) => (square_avg, Some(buffer), Some(grad_avg)),
            ([square_avg, buffer], true, _) => (square_avg, Some(buffer), None),
            ([square_avg, grad_avg], false, _) => (square_avg, None, Some(grad_avg)),
            _ => unreachable!("RMSprop keeps one to three state tensors"),
        };
        *square_avg = addcmul(*square_avg * c.alpha, g, g, c.one_minus_alpha);
        let root = match (&c.centered, grad_avg) {
            (Some(lerp), Some(grad_avg)) => {
                *grad_avg = lerp.apply(*grad_avg, g);
                // square_avg.addcmul(grad_avg, grad_avg, value=-1): (−1·ḡ) is exact, so this is one fused op.
                (-*grad_avg).mul_add(*grad_avg, *square_avg).sqrt()
            }
            _ => square_avg.sqrt(),
        };
        let avg = root + c.eps;
        match (c.momentum, buffer) {
            (Some(momentum), Some(buffer)) => {
                *buffer = *buffer * momentum + g / avg;
                *param = add_scaled(*param, *buffer, c.neg_lr);
            }
            _ => *param = addcdiv(*param, g, avg, c.neg_lr),
        }
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new(
        "rmsprop",
        "RMSprop: per-coordinate steps from a decaying average of squared gradients",
        RmsProp::default(),
    )
    .torch("torch.optim.RMSprop");
    registry.add(entry).expect("built-in names are distinct");
}
