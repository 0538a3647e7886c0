//! Rprop: a step size per weight, grown while the gradient keeps its sign and shrunk when it flips.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::torch_ops::scalar;
use crate::validate::non_negative;
use crate::{Error, Lane, Rule, Shape, StateLayout, StepContext};

/// Rprop, resilient backpropagation (Riedmiller and Braun, 1993): PyTorch's `torch.optim.Rprop`.
///
/// Rprop ignores the gradient's size and uses only its sign. Each weight has its own step size Δ, which grows by
/// η⁺ while the gradient keeps its sign (the valley goes on) and shrinks by η⁻ when the sign flips (a minimum was
/// overshot); after a flip the weight stands still for a step. It suits full-batch training, where the signs are
/// not noise. In the article's notation, for each coordinate i:
///
/// ```text
/// s = sign(g_t · g_{t−1})
/// Δ_t = clamp(Δ_{t−1} · (η⁺ if s > 0, η⁻ if s < 0, 1 if s = 0), Δ_min, Δ_max)
/// g_t ← 0 if s < 0
/// θ  ← θ − sign(g_t) · Δ_t
/// ```
///
/// This is the variant without weight backtracking (Rprop⁻ with the flipped gradient forgotten), as PyTorch
/// implements it, followed exactly: g ← −∇J(θ) if maximize; Δ starts at η (`lr`) and g_{t−1} at 0. A product
/// g_t·g_{t−1} that underflows to zero counts as no sign, as in PyTorch.
///
/// State: `step`, `prev` (g_{t−1}, zeroed after a flip), `step_size` (Δ).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rprop {
    /// The initial step size η of every weight (default 1e-2).
    pub lr: f64,
    /// The factors (η⁻, η⁺) that shrink and grow a step size, 0 < η⁻ < 1 < η⁺ (default (0.5, 1.2)).
    pub etas: (f64, f64),
    /// The smallest and largest step sizes (Δ_min, Δ_max) (default (1e-6, 50)).
    pub step_sizes: (f64, f64),
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for Rprop {
    fn default() -> Self {
        Rprop { lr: 1e-2, etas: (0.5, 1.2), step_sizes: (1e-6, 50.0), maximize: false }
    }
}

/// [`Rprop`]'s per-step scalars.
#[derive(Debug, Clone, Copy)]
pub struct RpropCoefficients<L> {
    direction: L,
    etaminus: L,
    etaplus: L,
    min: L,
    max: L,
}

impl Rule for Rprop {
    const NAME: &'static str = "Rprop";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        let (minus, plus) = self.etas;
        if !(0.0 < minus && minus < 1.0 && 1.0 < plus && plus.is_finite()) {
            return Err(Error::HyperparameterValue {
                optimizer: Self::NAME,
                name: "etas".to_owned(),
                message: format!("invalid eta values: {minus}, {plus} (expected 0 < etaminus < 1 < etaplus)"),
            });
        }
        let (min, max) = self.step_sizes;
        non_negative(Self::NAME, "step_sizes[0]", min)?;
        non_negative(Self::NAME, "step_sizes[1]", max)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new().step().elementwise("prev", 0.0).elementwise("step_size", self.lr))
    }

    type Coefficients<L: Lane> = RpropCoefficients<L>;

    fn coefficients<L: Lane>(&self, _step: &StepContext<'_>) -> RpropCoefficients<L> {
        RpropCoefficients {
            direction: scalar(if self.maximize { -1.0 } else { 1.0 }),
            etaminus: scalar(self.etas.0),
            etaplus: scalar(self.etas.1),
            min: scalar(self.step_sizes.0),
            max: scalar(self.step_sizes.1),
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &RpropCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let [prev, step_size] = state else { unreachable!("Rprop keeps two state tensors") };
        let (zero, one) = (scalar::<L>(0.0), scalar::<L>(1.0));
        let g = grad * c.direction;
        let product = g * *prev;
        // η⁺ where the product is positive, η⁻ where negative, 1 where zero, NaN where NaN (0·NaN + 1).
        let factor =
            product.select_lt(zero, c.etaminus, zero.select_lt(product, c.etaplus, product.mul_add(zero, one)));
        *step_size = (*step_size * factor).maximum(c.min).minimum(c.max);
        let g = product.select_lt(zero, zero, g);
        // sign(g): ±1, and 0 or NaN as they are.
        let sign = g.select_lt(zero, -one, zero.select_lt(g, one, g));
        *param = (-sign).mul_add(*step_size, *param);
        *prev = g;
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("rprop", "Rprop: a step size per weight, from the signs of the gradients", Rprop::default())
        .torch("torch.optim.Rprop");
    registry.add(entry).expect("built-in names are distinct");
}
