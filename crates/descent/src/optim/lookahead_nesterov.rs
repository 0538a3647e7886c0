//! Nesterov momentum in its original look-ahead form, which evaluates the gradient ahead of the parameters.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::torch_ops::scalar;
use crate::validate::non_negative;
use crate::{Error, Lane, Rule, Shape, StateLayout, StepContext};

/// Nesterov's accelerated gradient as the article writes it: the gradient is evaluated at the look-ahead point
/// θ + γ·v, where the momentum is about to carry the parameters.
///
/// ```text
/// v_t = γ·v_{t−1} − η·∇J(θ_{t−1} + γ·v_{t−1})
/// θ_t = θ_{t−1} + v_t
/// ```
///
/// (The article writes v with the opposite sign, v_t = γ·v_{t−1} + η·∇J(θ − γ·v_{t−1}) and θ ← θ − v_t; it is the
/// same rule.) The gradient is needed at a point other than θ, so the caller passes a closure that computes it.
///
/// PyTorch's [`Sgd`](crate::Sgd) with `nesterov: true` follows the same path without the second point: with
/// φ = θ + γ·v and v = −η·b, the look-ahead rule becomes b_t = γ·b_{t−1} + ∇J(φ_{t−1}),
/// φ_t = φ_{t−1} − η·(∇J(φ_{t−1}) + γ·b_t), which is PyTorch's update of its parameters φ. So `Sgd` parameters
/// equal the look-ahead points θ + γ·v of this optimizer (while η is constant).
///
/// It runs through [`Optimizer::step_with_closure`](crate::Optimizer::step_with_closure), which hands the closure
/// the look-ahead point; a plain `step` with a gradient is an error.
///
/// ```
/// use descent::{LookaheadNesterov, Optimizer, Param};
///
/// // J(θ) = ½·(θ₀² + 10·θ₁²)
/// let mut theta = vec![1.0_f64, 1.0];
/// let mut opt = Optimizer::new(LookaheadNesterov { lr: 0.05, momentum: 0.9 }, [Param::new(2)])?;
/// for _ in 0..300 {
///     opt.step_with_closure(&mut [&mut theta], |points, grads| {
///         grads[0][0] = points[0][0];
///         grads[0][1] = 10.0 * points[0][1];
///         0.5 * (points[0][0].powi(2) + 10.0 * points[0][1].powi(2))
///     })?;
/// }
/// assert!(theta.iter().all(|v| v.abs() < 1e-6));
/// assert_eq!(opt.state(0).unwrap().names(), ["velocity"]);
/// # Ok::<(), descent::Error>(())
/// ```
///
/// State: `velocity` (v). There is no step counter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LookaheadNesterov {
    /// Learning rate η (default 1e-3, as SGD's).
    pub lr: f64,
    /// Momentum γ (default 0.9).
    pub momentum: f64,
}

impl Default for LookaheadNesterov {
    fn default() -> Self {
        LookaheadNesterov { lr: 1e-3, momentum: 0.9 }
    }
}

/// [`LookaheadNesterov`]'s per-step scalars.
#[derive(Debug, Clone, Copy)]
pub struct LookaheadNesterovCoefficients<L> {
    momentum: L,
    neg_lr: L,
}

impl Rule for LookaheadNesterov {
    const NAME: &'static str = "LookaheadNesterov";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        non_negative(Self::NAME, "momentum", self.momentum)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new().elementwise("velocity", 0.0))
    }

    const LOOKS_AHEAD: bool = true;

    type Coefficients<L: Lane> = LookaheadNesterovCoefficients<L>;

    fn coefficients<L: Lane>(&self, _step: &StepContext<'_>) -> LookaheadNesterovCoefficients<L> {
        LookaheadNesterovCoefficients { momentum: scalar(self.momentum), neg_lr: scalar(-self.lr) }
    }

    /// v ← γ·v − η·g;  θ ← θ + v.
    #[inline(always)]
    fn update<L: Lane>(c: &LookaheadNesterovCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let [velocity] = state else { unreachable!("LookaheadNesterov keeps one state tensor") };
        *velocity = c.neg_lr.mul_add(grad, c.momentum * *velocity);
        *param = *param + *velocity;
    }

    /// θ + γ·v.
    #[inline(always)]
    fn look_ahead<L: Lane>(c: &LookaheadNesterovCoefficients<L>, param: L, state: &[L]) -> L {
        let [velocity] = state else { unreachable!("LookaheadNesterov keeps one state tensor") };
        c.momentum.mul_add(*velocity, param)
    }
}

pub(crate) fn register(registry: &mut Registry) {
    registry
        .add(
            Entry::new(
                "lookahead_nesterov",
                "Nesterov momentum evaluated at the look-ahead point θ + γ·v, the article's form",
                LookaheadNesterov::default(),
            )
            .aliases(&["nag"]),
        )
        .expect("built-in names are distinct");
}
