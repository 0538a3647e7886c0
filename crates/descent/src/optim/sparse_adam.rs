//! SparseAdam: Adam that updates only the rows a gradient touches, as embeddings need.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::kernel::{Inline, CHUNK};
use crate::registry::{Entry, Registry};
use crate::validate::{positive, unit_open};
use crate::{with_best_isa, Error, Float, Optimizer, Rule, Shape, StateLayout, TensorStage};

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
/// The gradient comes as PyTorch's sparse gradients do, as the indices of the rows it touches (the slices along the
/// first dimension; elements of a vector) and their values, through [`Optimizer::step_rows`]; or dense, through the
/// usual steps, where a row whose gradient is all zero is a row the gradient does not touch (as in the sparse
/// gradient PyTorch's `to_sparse` makes of it) and a touched row with some zero entries is updated whole. ε is added outside the root, and unlike PyTorch's Adam
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

impl SparseAdam {
    /// The step's coefficients at step `t`.
    fn moments<T: Float>(&self, t: f64) -> Moments<T> {
        let (beta1, beta2) = self.betas;
        let step_size = self.lr * (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t));
        Moments {
            keep1: T::from_f64(1.0 - beta1),
            keep2: T::from_f64(1.0 - beta2),
            minus_step: T::from_f64(-step_size),
            eps: T::from_f64(self.eps),
            maximize: self.maximize,
        }
    }
}

/// One step's coefficients, in the element type.
struct Moments<T> {
    keep1: T,
    keep2: T,
    minus_step: T,
    eps: T,
    maximize: bool,
}

impl<T: Float> Moments<T> {
    /// One element's new value and moments.
    #[inline(always)]
    fn element(&self, p: T, g: T, m: T, v: T) -> (T, T, T) {
        let g = if self.maximize { -g } else { g };
        let m = m + (g - m) * self.keep1;
        let v = v + (g * g - v) * self.keep2;
        (p + self.minus_step * (m / (v.sqrt() + self.eps)), m, v)
    }

    /// Updates one row: its values, gradient and moments.
    #[inline(always)]
    fn update(&self, param: &mut [T], grad: &[T], exp_avg: &mut [T], exp_avg_sq: &mut [T]) {
        for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(exp_avg).zip(exp_avg_sq) {
            (*p, *m, *v) = self.element(*p, g, *m, *v);
        }
    }

    /// Updates the elements whose gradient is not zero; the others keep their values and moments.
    #[inline(always)]
    fn update_nonzero(&self, param: &mut [T], grad: &[T], exp_avg: &mut [T], exp_avg_sq: &mut [T]) {
        let zero = T::from_f64(0.0);
        for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(exp_avg).zip(exp_avg_sq) {
            let (p_new, m_new, v_new) = self.element(*p, g, *m, *v);
            let touched = g != zero;
            *p = if touched { p_new } else { *p };
            *m = if touched { m_new } else { *m };
            *v = if touched { v_new } else { *v };
        }
    }
}

/// Steps the touched rows of a chunk of whole rows of `row` values.
#[inline(always)]
fn update_rows<T: Float>(
    moments: &Moments<T>,
    row: usize,
    param: &mut [T],
    grad: &[T],
    exp_avg: &mut [T],
    exp_avg_sq: &mut [T],
) {
    if row == 1 {
        // A vector: each element is a row, kept as it is where its gradient is zero, without a branch.
        return moments.update_nonzero(param, grad, exp_avg, exp_avg_sq);
    }
    let zero = T::from_f64(0.0);
    let rows = param.chunks_mut(row).zip(grad.chunks(row));
    for ((p, g), (m, v)) in rows.zip(exp_avg.chunks_mut(row).zip(exp_avg_sq.chunks_mut(row))) {
        if g.iter().any(|&v| v != zero) {
            moments.update(p, g, m, v);
        }
    }
}

/// The length of a row: the slice along the first dimension (an element, for a vector).
fn row_len(shape: &Shape) -> usize {
    if shape.rank() >= 2 {
        shape.dims()[1..].iter().product::<usize>().max(1)
    } else {
        1
    }
}

impl<T: Float> Optimizer<SparseAdam, T> {
    /// Steps the parameter at `position` with a sparse gradient, as an embedding produces it: the indices of the
    /// rows it touches (along the first dimension; elements, for a vector) and their values, one row after another.
    /// This is PyTorch's sparse COO gradient: repeated indices are summed (`coalesce`), and a row that is listed is
    /// updated even if its values are zero. The other rows, their moments and the other parameters do not change;
    /// the parameter's step count advances. The work is proportional to the rows touched.
    ///
    /// An index past the first dimension, or `values` of other than `rows.len()` rows, is an error that changes
    /// nothing.
    ///
    /// ```
    /// use descent::{Optimizer, Param, SparseAdam};
    ///
    /// let mut table = vec![0.0_f32; 4 * 3]; // 4 tokens, 3 features
    /// let mut opt = Optimizer::new(SparseAdam::default(), [Param::named("embedding", [4, 3])])?;
    /// opt.step_rows(0, &mut table, &[2, 0, 2], &[1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0])?;
    /// assert!(table[3..6].iter().all(|&v| v == 0.0), "row 1 is untouched");
    /// assert!(table[6..9].iter().all(|&v| v < 0.0), "row 2 stepped against the sum of its two gradients");
    /// # Ok::<(), descent::Error>(())
    /// ```
    pub fn step_rows(&mut self, position: usize, param: &mut [T], rows: &[usize], values: &[T]) -> Result<(), Error> {
        let count = self.params.len();
        let slot = self.params.get_mut(position).ok_or(Error::NoSuchParameter { position, count })?;
        let registered = &slot.cold.param;
        let label = || registered.label(position);
        if param.len() != slot.len {
            return Err(Error::ParameterLengthMismatch { param: label(), expected: slot.len, got: param.len() });
        }
        let row = row_len(&registered.shape);
        let height = slot.len / row;
        if values.len() != rows.len() * row {
            return Err(Error::GradientLengthMismatch {
                param: label(),
                expected: rows.len() * row,
                got: values.len(),
            });
        }
        if let Some(&index) = rows.iter().find(|&&index| index >= height) {
            return Err(Error::RowOutOfRange { param: label(), index, rows: height });
        }
        // Coalesce: each row once, in order, with its values summed in the order given.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&k| rows[k]);
        let mut summed: Vec<(usize, Vec<T>)> = Vec::new();
        for k in order {
            let given = &values[k * row..(k + 1) * row];
            match summed.last_mut() {
                Some((index, sum)) if *index == rows[k] => sum.iter_mut().zip(given).for_each(|(s, &v)| *s = *s + v),
                _ => summed.push((rows[k], given.to_vec())),
            }
        }
        let hyper = self.groups[slot.group];
        let state = slot.state.get_or_insert_with(|| slot.cold.layout.create(&slot.cold.param.shape));
        let step = state.step.as_mut().expect("SparseAdam counts steps");
        *step += 1.0;
        let moments = hyper.moments::<T>(f64::from(*step));
        let [exp_avg, exp_avg_sq] = &mut state.tensors[..] else { unreachable!("the layout has two moments") };
        for (index, grad) in summed {
            let at = index * row..(index + 1) * row;
            let (m, v) = (&mut exp_avg.values_mut()[at.clone()], &mut exp_avg_sq.values_mut()[at.clone()]);
            moments.update(&mut param[at], &grad, m, v);
        }
        Ok(())
    }
}

impl Rule for SparseAdam {
    const NAME: &'static str = "SparseAdam";

    fn validate(&self) -> Result<(), Error> {
        for (name, value) in [("lr", self.lr), ("eps", self.eps)] {
            positive(Self::NAME, name, value)?;
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
        let moments = self.moments::<T>(state.step().map_or(1.0, f64::from));
        let row = row_len(shape);
        let [exp_avg, exp_avg_sq] = &mut state.tensors[..] else { unreachable!("the layout has two moments") };
        let (exp_avg, exp_avg_sq) = (exp_avg.values_mut(), exp_avg_sq.values_mut());
        // Whole rows per parallel task, about a chunk's worth.
        let span = row * (CHUNK / row).max(1);
        let chunks = param.par_chunks_mut(span).zip(grad.par_chunks(span));
        let chunks = chunks.zip(exp_avg.par_chunks_mut(span).zip(exp_avg_sq.par_chunks_mut(span)));
        chunks.for_each(|((param, grad), (exp_avg, exp_avg_sq))| {
            // Compiled for the CPU's instruction set.
            with_best_isa(Inline(
                #[inline(always)]
                || update_rows(&moments, row, param, grad, exp_avg, exp_avg_sq),
            ));
        });
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
