//! Muon: momentum, orthogonalized by Newton–Schulz, for the weight matrices of hidden layers.

use serde::{Deserialize, Serialize};

use crate::kernel::{zip_elements, Inline};
use crate::newton_schulz::{orthogonalize, QUINTIC};
use crate::registry::{Entry, Registry};
use crate::torch_ops::lerp;
use crate::validate::non_negative;
use crate::{with_best_isa, Error, Float, Rule, Shape, StateLayout, TensorStage};

/// How Muon scales the learning rate of an A × B matrix (PyTorch's `adjust_lr_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustLr {
    /// η·√max(1, A/B), Keller Jordan's original (the default).
    Original,
    /// η·0.2·√max(A, B), Moonshot's: the update's RMS matches AdamW's, so AdamW's η and λ carry over.
    MatchRmsAdamw,
    /// η·√(A/B), Bernstein's spectral scaling.
    SpectralUnclamped,
}

/// Muon (Jordan et al., 2024): PyTorch's `torch.optim.Muon`.
///
/// A weight matrix's gradient is dominated by a few directions; SGD and Adam step mostly along them. Muon replaces
/// the momentum matrix M = U·S·Vᵀ by the nearest orthogonal matrix U·Vᵀ, which steps equally along every direction
/// the gradient has, and finds it cheaply with a few Newton–Schulz iterations instead of an SVD. It is for the 2-D
/// weights of hidden layers; embeddings, the output layer, biases and gains are left to AdamW (see the command
/// line's hybrid spec). In the article's notation, with O = NS(·) the orthogonalization:
///
/// ```text
/// B_t = μ·B_{t−1} + (1 − μ)·g_t                   (an exponential average)
/// U_t = (1 − μ)·g_t + μ·B_t if nesterov, else B_t
/// θ  ← θ·(1 − η·λ) − η′·O(U_t)                    η′ = η adjusted to the matrix's shape
/// ```
///
/// PyTorch's code keeps the exponential average (`buf.lerp_(g, 1 − μ)`) where its documentation writes
/// B_t = μ·B_{t−1} + g_t; descent follows the code. The orthogonalization runs in bfloat16 as PyTorch's does
/// ([`orthogonalize`]); its products are summed in another order, so the
/// update can differ from PyTorch's by a bfloat16 rounding (a relative 2⁻⁸), while the momentum buffer and the
/// weight decay agree to the bit. Like PyTorch, Muon refuses parameters that are not matrices, and has no `maximize`.
///
/// State: `momentum_buffer` (B).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Muon {
    /// Learning rate η (default 1e-3).
    pub lr: f64,
    /// Decoupled weight decay λ (default 0.1).
    pub weight_decay: f64,
    /// Momentum μ (default 0.95).
    pub momentum: f64,
    /// Orthogonalize the Nesterov look-ahead of the momentum (default true).
    pub nesterov: bool,
    /// The coefficients (a, b, c) of the quintic iteration X ← a·X + b·(X·Xᵀ)·X + c·(X·Xᵀ)²·X (default
    /// (3.4445, −4.7750, 2.0315)).
    pub ns_coefficients: (f64, f64, f64),
    /// The smallest norm the update is divided by (default 1e-7).
    pub eps: f64,
    /// Newton–Schulz steps, fewer than 100 (default 5).
    pub ns_steps: usize,
    /// How η is scaled to the matrix's shape (`None`: `"original"`).
    pub adjust_lr_fn: Option<AdjustLr>,
}

impl Default for Muon {
    fn default() -> Self {
        Muon {
            lr: 1e-3,
            weight_decay: 0.1,
            momentum: 0.95,
            nesterov: true,
            ns_coefficients: QUINTIC.0,
            eps: 1e-7,
            ns_steps: QUINTIC.1,
            adjust_lr_fn: None,
        }
    }
}

impl Muon {
    /// The learning rate for an `a × b` matrix.
    pub fn adjusted_lr(&self, a: usize, b: usize) -> f64 {
        let (a, b) = (a as f64, b as f64);
        let ratio = match self.adjust_lr_fn.unwrap_or(AdjustLr::Original) {
            AdjustLr::Original => (a / b).max(1.0).sqrt(),
            AdjustLr::MatchRmsAdamw => 0.2 * a.max(b).sqrt(),
            AdjustLr::SpectralUnclamped => (a / b).sqrt(),
        };
        self.lr * ratio
    }
}

impl Rule for Muon {
    const NAME: &'static str = "Muon";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        non_negative(Self::NAME, "momentum", self.momentum)?;
        non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        non_negative(Self::NAME, "eps", self.eps)?;
        let (a, b, c) = self.ns_coefficients;
        for (name, value) in [("ns_coefficients[0]", a), ("ns_coefficients[1]", b), ("ns_coefficients[2]", c)] {
            crate::validate::finite(Self::NAME, name, value)?;
        }
        if self.ns_steps >= 100 {
            return Err(Error::InvalidHyperparameter {
                optimizer: Self::NAME,
                name: "ns_steps",
                value: self.ns_steps as f64,
                expected: "fewer than 100 steps",
            });
        }
        Ok(())
    }

    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error> {
        if shape.rank() != 2 {
            return Err(Error::UnsupportedShape {
                optimizer: Self::NAME,
                shape: shape.clone(),
                expected: "2-D parameters (matrices); give vectors, embeddings and the output layer to AdamW",
            });
        }
        Ok(StateLayout::new().tensor("momentum_buffer", shape.clone(), 0.0))
    }

    const TENSOR_STAGE: bool = true;

    /// The whole step: the momentum, its orthogonalization and the update.
    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        let TensorStage { shape, param, grad, state } = stage;
        let (rows, cols) = (shape.dims()[0], shape.dims()[1]);
        let buffer = state.tensor_mut("momentum_buffer").expect("the layout has momentum_buffer").values_mut();
        let (keep, take) = (T::from_f64(self.momentum), T::from_f64(1.0 - self.momentum));
        // Muon's own loops run as the kernels do (the `lerp`s' fused multiply-adds in hardware, subnormal numbers
        // counted as zero); the products between them run on threads of their own.
        let update: Vec<f32> = with_best_isa(Inline(
            #[inline(always)]
            || {
                buffer
                    .iter_mut()
                    .zip(grad.iter())
                    .map(|(b, &g)| {
                        *b = lerp(*b, g, take);
                        let u = if self.nesterov { lerp(g, *b, keep) } else { *b };
                        // PyTorch converts to bfloat16 through `f32` (a double rounding for `f64`).
                        u.to_f64() as f32
                    })
                    .collect()
            },
        ));
        let orthogonal = orthogonalize(&update, rows, cols, self.ns_coefficients, self.ns_steps, self.eps);
        let decay = T::from_f64(1.0 - self.lr * self.weight_decay);
        let step = T::from_f64(-self.adjusted_lr(rows, cols));
        zip_elements(param, &orthogonal, |p, o| *p = step.mul_add(T::from_f64(f64::from(o)), *p * decay));
    }

    crate::rule::no_elementwise_update!();
}

pub(crate) fn register(registry: &mut Registry) {
    let entry =
        Entry::new("muon", "Muon: momentum orthogonalized by Newton–Schulz, for weight matrices", Muon::default())
            .torch("torch.optim.Muon");
    registry.add(entry).expect("built-in names are distinct");
}
