//! SparseAdam: Adam that updates only the rows a gradient touches, as embeddings need.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::validate::unit_open;
use crate::{Error, Float, Rule, Shape, StateLayout, TensorStage};

/// SparseAdam: PyTorch's `torch.optim.SparseAdam`, the "lazy" Adam of embedding tables.
///
/// An embedding's gradient touches only the rows of the tokens in the batch. Adam would decay the moments of every
/// other row too, and move them; SparseAdam updates the moments and the weights of the touched rows alone, so a
/// step costs what the batch touches. In the article's notation, for each touched row:
///
/// ```text
/// m_t = β₁·m_{t−1} + (1 − β₁)·g_t                 v_t = β₂·v_{t−1} + (1 − β₂)·g_t²
/// θ  ← θ − (η·√(1 − β₂ᵗ) / (1 − β₁ᵗ)) · m_t / (√v_t + ε)
/// ```
///
/// where t counts the steps that gave the parameter a gradient at all. PyTorch's rule, followed exactly:
/// m ← m + (g − m)·(1 − β₁) and v ← v + (g² − v)·(1 − β₂), each rounded as PyTorch's separate operations, the step
/// size in `f64`, and θ ← θ + (−step size)·(m / (√v + ε)).
///
/// descent's gradients are dense: a row (the slice along the first dimension; an element of a vector) whose gradient
/// is all zero is a row the gradient does not touch, as in the sparse gradient PyTorch's `to_sparse` makes of it.
/// A touched row with some zero entries is updated whole. ε is added outside the root, and unlike PyTorch's Adam
/// the bias correction √(1 − β₂ᵗ) multiplies the step size.
///
/// State: `step`, `exp_avg` (m), `exp_avg_sq` (v).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SparseAdam {
    /// Learning rate η, above 0 (default 1e-3).
    pub lr: f64,
    /// Decays (β₁, β₂) of the first and second moments (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term ε added to the denominator, above 0 (default 1e-8).
    pub eps: f64,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for SparseAdam {
    fn default() -> Self {
        SparseAdam { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, maximize: false }
    }
}

impl Rule for SparseAdam {
    const NAME: &'static str = "SparseAdam";

    fn validate(&self) -> Result<(), Error> {
        for (name, value) in [("lr", self.lr), ("eps", self.eps)] {
            if !(value > 0.0 && value.is_finite()) {
                return Err(Error::InvalidHyperparameter {
                    optimizer: Self::NAME,
                    name,
                    value,
                    expected: "a finite number > 0",
                });
            }
        }
        unit_open(Self::NAME, "betas[0]", self.betas.0)?;
        unit_open(Self::NAME, "betas[1]", self.betas.1)
    }

    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new().step().tensor("exp_avg", shape.clone(), 0.0).tensor("exp_avg_sq", shape.clone(), 0.0))
    }

    const TENSOR_STAGE: bool = true;

    /// The whole step, row by row: rows without gradient are left as they are.
    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        let TensorStage { shape, param, grad, state } = stage;
        let t = state.step().map_or(1.0, f64::from);
        let (beta1, beta2) = self.betas;
        let step_size = self.lr * (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t));
        let (keep1, keep2) = (T::from_f64(1.0 - beta1), T::from_f64(1.0 - beta2));
        let (minus_step, eps) = (T::from_f64(-step_size), T::from_f64(self.eps));
        let row = if shape.rank() >= 2 { param.len() / shape.dims()[0].max(1) } else { 1 };
        let [exp_avg, exp_avg_sq] = &mut state.tensors[..] else { unreachable!("the layout has two moments") };
        let (exp_avg, exp_avg_sq) = (exp_avg.values_mut(), exp_avg_sq.values_mut());
        let zero = T::from_f64(0.0);
        for (r, g) in grad.chunks(row.max(1)).enumerate() {
            if g.iter().all(|&v| v == zero) {
                continue;
            }
            let at = r * row;
            for (i, &g) in g.iter().enumerate() {
                let g = if self.maximize { -g } else { g };
                let (m, v) = (&mut exp_avg[at + i], &mut exp_avg_sq[at + i]);
                *m = *m + (g - *m) * keep1;
                *v = *v + (g * g - *v) * keep2;
                let p = &mut param[at + i];
                *p = *p + minus_step * (*m / (v.sqrt() + eps));
            }
        }
    }

    crate::rule::no_elementwise_update!();
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new(
        "sparse_adam",
        "SparseAdam: Adam that updates only the rows a gradient touches",
        SparseAdam::default(),
    )
    .aliases(&["sparseadam"])
    .torch("torch.optim.SparseAdam");
    registry.add(entry).expect("built-in names are distinct");
}
