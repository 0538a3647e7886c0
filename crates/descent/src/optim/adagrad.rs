//! AdaGrad: per-coordinate learning rates from the sum of squared gradients.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::torch_ops::{add_scaled, addcdiv, scalar};
use crate::validate::non_negative;
use crate::{Error, Lane, Rule, Shape, StateLayout, StepContext};

/// AdaGrad (Duchi, Hazan and Singer, 2011): PyTorch's `torch.optim.Adagrad`.
///
/// Each coordinate gets its own learning rate, divided by the root of the sum of all its past squared gradients:
/// rarely updated coordinates keep large steps, frequently updated ones slow down. In the article's notation, with
/// G_t the running sum of squares:
///
/// ```text
/// G_t = G_{t−1} + g_t²
/// θ   ← θ − η / (√G_t + ε) · g_t
/// ```
///
/// Because G only grows, the steps shrink for ever; on long runs the learning rate decays towards zero. RMSprop
/// and AdaDelta replace the sum with a moving average to fix that.
///
/// PyTorch's rule, followed exactly (λ = `weight_decay`, δ = `lr_decay`, G = `sum`):
///
/// ```text
/// g   ← ∇J(θ) (−∇J(θ) if maximize);   g ← g + λ·θ if λ ≠ 0
/// η_t = η / (1 + (t − 1)·δ)
/// G_t = G_{t−1} + g²                    G_0 = initial_accumulator_value
/// θ   ← θ − η_t·g / (√G_t + ε)          ε outside the root
/// ```
///
/// State: `step` and `sum`, created for every parameter when the optimizer is built (not at the first gradient).
/// One deliberate difference from PyTorch: each parameter group's own `initial_accumulator_value` is used, where
/// PyTorch uses the constructor's value for every group and ignores the groups' own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Adagrad {
    /// Learning rate η (default 1e-2).
    pub lr: f64,
    /// Learning-rate decay δ per step (default 0).
    pub lr_decay: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// The value G starts from (default 0).
    pub initial_accumulator_value: f64,
    /// Term ε added to the denominator (default 1e-10).
    pub eps: f64,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

/// [`Adagrad`]'s per-step scalars.
#[derive(Debug, Clone, Copy)]
pub struct AdagradCoefficients<L> {
    neg_clr: L,
    eps: L,
    weight_decay: Option<L>,
    maximize: bool,
}

impl Rule for Adagrad {
    const NAME: &'static str = "Adagrad";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        non_negative(Self::NAME, "lr_decay", self.lr_decay)?;
        non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        non_negative(Self::NAME, "initial_accumulator_value", self.initial_accumulator_value)?;
        non_negative(Self::NAME, "eps", self.eps)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new().step().eager().elementwise("sum", self.initial_accumulator_value))
    }

    type Coefficients<L: Lane> = AdagradCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> AdagradCoefficients<L> {
        let clr = self.lr / (1.0 + (step.t - 1.0) * self.lr_decay);
        AdagradCoefficients {
            neg_clr: scalar(-clr),
            eps: scalar(self.eps),
            weight_decay: (self.weight_decay != 0.0).then(|| scalar(self.weight_decay)),
            maximize: self.maximize,
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &AdagradCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let mut g = if c.maximize { -grad } else { grad };
        if let Some(weight_decay) = c.weight_decay {
            g = add_scaled(g, *param, weight_decay);
        }
        let [sum] = state else { unreachable!("Adagrad keeps one state tensor") };
        *sum = g.mul_add(g, *sum);
        let std = sum.sqrt() + c.eps;
        *param = addcdiv(*param, g, std, c.neg_clr);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new(
        "adagrad",
        "AdaGrad: per-coordinate steps that shrink with the sum of squared gradients",
        Adagrad::default(),
    )
    .torch("torch.optim.Adagrad");
    registry.add(entry).expect("built-in names are distinct");
}
