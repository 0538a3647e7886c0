//! Stochastic gradient descent, with classical or Nesterov momentum.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::torch_ops::{add_scaled, scalar};
use crate::validate::{finite, non_negative};
use crate::{Error, Lane, Rule, Shape, StateLayout, StepContext};

/// Stochastic gradient descent, with optional momentum: PyTorch's `torch.optim.SGD`.
///
/// Three of the article's optimizers are this one, with the article's η (learning rate) and γ (momentum):
///
/// | article  | update                                                           | here                                |
/// |----------|------------------------------------------------------------------|-------------------------------------|
/// | SGD      | θ ← θ − η·∇J(θ)                                                   | `Sgd { lr, ..Sgd::default() }`      |
/// | Momentum | v_t = γ·v_{t−1} + η·∇J(θ);  θ ← θ − v_t                           | `momentum: γ`                       |
/// | Nesterov | v_t = γ·v_{t−1} + η·∇J(θ − γ·v_{t−1});  θ ← θ − v_t               | `momentum: γ, nesterov: true`       |
///
/// Momentum lets the steps build up speed along directions where the gradient keeps its sign and damps the
/// oscillation across a ravine; Nesterov's variant looks where the momentum is about to carry θ before it corrects.
///
/// PyTorch's rule, followed exactly (λ = `weight_decay`, τ = `dampening`, b = `momentum_buffer`):
///
/// ```text
/// g   ← ∇J(θ)   (−∇J(θ) if maximize)
/// g   ← g + λ·θ                         if λ ≠ 0
/// b_t = γ·b_{t−1} + (1 − τ)·g           b_1 = g: the first step is not dampened
/// g   ← g + γ·b_t  (Nesterov)   or   g ← b_t
/// θ   ← θ − η·g
/// ```
///
/// Where this differs from the article:
/// - η sits outside the buffer (b = v/η). The two agree while η is constant; when a scheduler changes η, PyTorch's
///   form rescales the whole accumulated velocity at once.
/// - Nesterov momentum is reformulated (Sutskever et al., Bengio et al.): the gradient is taken at the current θ,
///   which then tracks the article's look-ahead point θ − γ·v. No second gradient evaluation is needed. The
///   article's form, which evaluates the gradient at the look-ahead point, is
///   [`LookaheadNesterov`](crate::LookaheadNesterov).
///
/// State: `momentum_buffer` when γ ≠ 0, and nothing otherwise (there is no `step` counter).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sgd {
    /// Learning rate η (PyTorch's default: 1e-3).
    pub lr: f64,
    /// Momentum factor γ (default 0: no momentum).
    pub momentum: f64,
    /// Dampening τ of the gradient's contribution to the buffer (default 0).
    pub dampening: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// Nesterov momentum (default false; needs momentum > 0 and no dampening).
    pub nesterov: bool,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd { lr: 1e-3, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false, maximize: false }
    }
}

/// [`Sgd`]'s per-step scalars.
#[derive(Debug, Clone, Copy)]
pub struct SgdCoefficients<L> {
    neg_lr: L,
    weight_decay: Option<L>,
    momentum: Option<Momentum<L>>,
    maximize: bool,
    first: bool,
}

#[derive(Debug, Clone, Copy)]
struct Momentum<L> {
    momentum: L,
    one_minus_dampening: L,
    nesterov: bool,
}

impl Rule for Sgd {
    const NAME: &'static str = "SGD";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        non_negative(Self::NAME, "momentum", self.momentum)?;
        non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        finite(Self::NAME, "dampening", self.dampening)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::InvalidCombination {
                optimizer: Self::NAME,
                reason: "Nesterov momentum requires a momentum and zero dampening",
            });
        }
        Ok(())
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(if self.momentum != 0.0 {
            StateLayout::new().elementwise("momentum_buffer", 0.0)
        } else {
            StateLayout::new()
        })
    }

    type Coefficients<L: Lane> = SgdCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> SgdCoefficients<L> {
        SgdCoefficients {
            neg_lr: scalar(-self.lr),
            weight_decay: (self.weight_decay != 0.0).then(|| scalar(self.weight_decay)),
            momentum: (self.momentum != 0.0).then(|| Momentum {
                momentum: scalar(self.momentum),
                one_minus_dampening: scalar(1.0 - self.dampening),
                nesterov: self.nesterov,
            }),
            maximize: self.maximize,
            first: step.first,
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &SgdCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let mut g = if c.maximize { -grad } else { grad };
        if let Some(weight_decay) = c.weight_decay {
            g = add_scaled(g, *param, weight_decay);
        }
        if let (Some(m), [buffer]) = (&c.momentum, state) {
            *buffer = if c.first { g } else { add_scaled(*buffer * m.momentum, g, m.one_minus_dampening) };
            g = if m.nesterov { add_scaled(g, *buffer, m.momentum) } else { *buffer };
        }
        *param = add_scaled(*param, g, c.neg_lr);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let momentum = Sgd { momentum: 0.9, ..Sgd::default() };
    let entries = [
        Entry::new("sgd", "stochastic gradient descent: a step against the gradient", Sgd::default()),
        Entry::new("momentum", "SGD with momentum 0.9", momentum),
        Entry::new(
            "nesterov",
            "SGD with Nesterov momentum 0.9, PyTorch's reformulation",
            Sgd { nesterov: true, ..momentum },
        ),
    ];
    for entry in entries {
        registry.add(entry.torch("torch.optim.SGD")).expect("built-in names are distinct");
    }
}
