//! Nesterov momentum in its original look-ahead form, which evaluates the gradient ahead of the parameters.

use serde::{Deserialize, Serialize};

use crate::torch_ops::scalar;
use crate::validate::non_negative;
use crate::{Error, Float, Lane};

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
/// ```
/// use descent::{LookaheadNesterov, LookaheadOptimizer};
///
/// // J(θ) = ½·(θ₀² + 10·θ₁²)
/// let mut theta = vec![1.0_f64, 1.0];
/// let mut opt = LookaheadOptimizer::new(LookaheadNesterov { lr: 0.05, momentum: 0.9 }, theta.len())?;
/// for _ in 0..300 {
///     opt.step(&mut theta, |point, grad| {
///         grad[0] = point[0];
///         grad[1] = 10.0 * point[1];
///     })?;
/// }
/// assert!(theta.iter().all(|v| v.abs() < 1e-6));
/// # Ok::<(), descent::Error>(())
/// ```
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

impl LookaheadNesterov {
    /// The optimizer's name in errors and listings.
    pub const NAME: &'static str = "LookaheadNesterov";

    /// Rejects a negative or non-finite learning rate or momentum.
    pub fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        non_negative(Self::NAME, "momentum", self.momentum)
    }
}

/// [`LookaheadNesterov`] applied to one parameter vector: the hyperparameters, the velocity v, and buffers for the
/// look-ahead point and its gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct LookaheadOptimizer<T> {
    hyper: LookaheadNesterov,
    velocity: Vec<T>,
    point: Vec<T>,
    grad: Vec<T>,
}

impl<T: Float> LookaheadOptimizer<T> {
    /// An optimizer for a parameter of `len` elements, after validating `hyper`.
    pub fn new(hyper: LookaheadNesterov, len: usize) -> Result<Self, Error> {
        hyper.validate()?;
        let zeros = vec![T::default(); len];
        Ok(LookaheadOptimizer { hyper, velocity: zeros.clone(), point: zeros.clone(), grad: zeros })
    }

    /// The hyperparameters.
    pub fn hyperparameters(&self) -> &LookaheadNesterov {
        &self.hyper
    }

    /// The learning rate η.
    pub fn lr(&self) -> f64 {
        self.hyper.lr
    }

    /// Sets the learning rate η.
    pub fn set_lr(&mut self, lr: f64) -> Result<(), Error> {
        let hyper = LookaheadNesterov { lr, ..self.hyper };
        hyper.validate()?;
        self.hyper = hyper;
        Ok(())
    }

    /// The velocity v (zero before the first step).
    pub fn velocity(&self) -> &[T] {
        &self.velocity
    }

    /// Takes one step: calls `gradient_at(point, grad)` once, which must write ∇J(point) into every element of
    /// `grad`, then updates `theta` and the velocity. Returns what the closure returned (the loss at the look-ahead
    /// point, say).
    ///
    /// A `theta` of the wrong length is an error, and nothing is changed.
    pub fn step<R>(&mut self, theta: &mut [T], mut gradient_at: impl FnMut(&[T], &mut [T]) -> R) -> Result<R, Error> {
        if theta.len() != self.velocity.len() {
            return Err(Error::ParameterLengthMismatch {
                param: "#0".to_owned(),
                expected: self.velocity.len(),
                got: theta.len(),
            });
        }
        let momentum: T = scalar(self.hyper.momentum);
        let neg_lr: T = scalar(-self.hyper.lr);
        for ((point, &theta), &velocity) in self.point.iter_mut().zip(theta.iter()).zip(&self.velocity) {
            *point = look_ahead(theta, velocity, momentum);
        }
        let result = gradient_at(&self.point, &mut self.grad);
        for ((theta, velocity), &grad) in theta.iter_mut().zip(self.velocity.iter_mut()).zip(&self.grad) {
            advance(theta, velocity, grad, momentum, neg_lr);
        }
        Ok(result)
    }
}

/// θ + γ·v.
#[inline(always)]
fn look_ahead<L: Lane>(theta: L, velocity: L, momentum: L) -> L {
    momentum.mul_add(velocity, theta)
}

/// v ← γ·v − η·g;  θ ← θ + v.
#[inline(always)]
fn advance<L: Lane>(theta: &mut L, velocity: &mut L, grad: L, momentum: L, neg_lr: L) {
    *velocity = neg_lr.mul_add(grad, momentum * *velocity);
    *theta = *theta + *velocity;
}
