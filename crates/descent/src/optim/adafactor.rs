//! Adafactor: Adam's second moment in factored form, a row and a column statistic per matrix.

use std::ops::Range;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::kernel::{zip_elements, FlushDenormals, Inline, CHUNK};
use crate::reduce::{in_chunks, lanes};
use crate::registry::{Entry, Registry};
use crate::torch_ops::lerp;
use crate::validate::non_negative;
use crate::{with_best_isa, Error, Float, Rule, Shape, StateLayout, TensorStage};

/// Adafactor (Shazeer and Stern, 2018), with PyTorch's `torch.optim.Adafactor` semantics (torch 2.5 and later).
///
/// Adam keeps a second moment v for every weight: as many numbers again as the model has. For a matrix of R × C
/// weights, Adafactor keeps instead the mean of g² over each row (R numbers) and over each column (C numbers), and
/// rebuilds v as their outer product divided by their total: the best rank-one estimate of a non-negative matrix,
/// at a memory cost of R + C. Vectors keep a full v. The step is relative to the weights' size, and clipped by
/// its own root mean square. In the article's notation, with β̂₂ₜ = 1 − t^(β₂ decay) and ρ_t = min(η, 1/√t):
///
/// ```text
/// r_t = β̂₂ₜ·r_{t−1} + (1 − β̂₂ₜ)·mean_cols(g_t²)      c_t = β̂₂ₜ·c_{t−1} + (1 − β̂₂ₜ)·mean_rows(g_t²)
/// v̂_t = r_t·c_tᵀ / max(mean(r_t), ε₁)                  (vectors: v̂_t = β̂₂ₜ·v̂_{t−1} + (1 − β̂₂ₜ)·g_t²)
/// u_t = g_t / √max(v̂_t, ε₁²)
/// θ  ← θ·(1 − η·λ) − max(ε₂, RMS(θ))·ρ_t · u_t / max(1, RMS(u_t)/d)
/// ```
///
/// PyTorch's form, which descent follows, differs from the paper: no first moment (the paper's optional β₁), ε₁
/// inside the root as a floor on v̂ (default: the machine epsilon of the element type), RMS(θ) measured before
/// the weight decay, and decoupled weight decay λ. The means of squares are taken through PyTorch's operations
/// (a norm, squared, divided by the count), and norms are summed in `f64`, where PyTorch sums in the element type:
/// results agree with PyTorch's to a few ulps, not to the bit. Tensors of more than two dimensions are batches of
/// matrices over their last two dimensions.
///
/// State: `step`; for a parameter of two or more dimensions `row_var` (r, shape […, R, 1]) and `col_var` (c,
/// shape […, 1, C]); otherwise `variance` (v̂).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Adafactor {
    /// Learning rate η, the largest relative step ρ_t (default 1e-2).
    pub lr: f64,
    /// The exponent of the decay of β₂: 1 − β̂₂ₜ = t^(β₂ decay), at most 0 (default −0.8).
    pub beta2_decay: f64,
    /// (ε₁, ε₂): the floor of v̂ (`None`: the element type's machine epsilon) and of RMS(θ) (default (None, 1e-3)).
    pub eps: (Option<f64>, f64),
    /// The clipping threshold d of the update's root mean square, at least 1 (default 1).
    pub d: f64,
    /// Decoupled weight decay λ (default 0).
    pub weight_decay: f64,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for Adafactor {
    fn default() -> Self {
        Adafactor { lr: 1e-2, beta2_decay: -0.8, eps: (None, 1e-3), d: 1.0, weight_decay: 0.0, maximize: false }
    }
}

/// PyTorch's `values.norm(2).item()`: the Euclidean norm, summed in `f64` and rounded to the element type.
fn norm<T: Float>(values: &[T]) -> f64 {
    let sum_of_squares = |range: Range<usize>| {
        let values = &values[range];
        with_best_isa(Inline(
            #[inline(always)]
            || lanes(values, values, |v, _| v.to_f64() * v.to_f64()),
        ))
    };
    let sum = in_chunks(values.len(), sum_of_squares, |x, y| x + y);
    T::from_f64(sum.sqrt()).to_f64()
}

/// `vector_norm(values).square() / count` of values whose squares sum to `sum_of_squares`, as PyTorch's operations
/// round it.
fn mean_square<T: Float>(sum_of_squares: f64, count: usize) -> T {
    let norm = T::from_f64(sum_of_squares.sqrt());
    norm * norm / T::from_f64(count as f64)
}

/// Where each value's second-moment estimate v̂ comes from.
enum Estimate<'a, T> {
    /// A vector's own v̂.
    Full(&'a [T]),
    /// Matrices (over the last two dimensions): v̂ = r·c / scale, per matrix of the batch.
    Factored { rows: usize, cols: usize, row_var: &'a [T], col_var: &'a [T], scales: &'a [T] },
}

/// One value of the update, u = g / √max(v̂, ε₁²) (with the sign of `maximize`).
#[inline(always)]
fn update<T: Float>(g: T, v: T, sign: T, floor: T) -> T {
    g * sign * (T::from_f64(1.0) / v.maximum(floor).sqrt())
}

/// Calls `visit(k, u_i)` for every value i = start + k of `range` of the update u = g / √max(v̂, ε₁²), in order;
/// `grad` is the gradient's values in `range`.
#[inline(always)]
fn each_update<T: Float>(
    estimate: &Estimate<'_, T>,
    range: Range<usize>,
    grad: &[T],
    sign: T,
    floor: T,
    mut visit: impl FnMut(usize, T),
) {
    let update = |g: T, v: T| update(g, v, sign, floor);
    match estimate {
        Estimate::Full(variance) => {
            for (k, (&g, &v)) in grad.iter().zip(&variance[range]).enumerate() {
                visit(k, update(g, v));
            }
        }
        Estimate::Factored { .. } => {
            each_row_segment(estimate, range, |k, r, col_values, scale| {
                for (offset, &c) in col_values.iter().enumerate() {
                    visit(k + offset, update(grad[k + offset], r * c / scale));
                }
            });
        }
    }
}

/// For a factored estimate, calls `visit(k, r, c, scale)` for every piece of a row within `range`: k is where the
/// piece starts (counted from `range.start`), r the row's factor, c the columns' factors, scale the matrix's.
#[inline(always)]
fn each_row_segment<T: Float>(
    estimate: &Estimate<'_, T>,
    range: Range<usize>,
    mut visit: impl FnMut(usize, T, &[T], T),
) {
    let Estimate::Factored { rows, cols, row_var, col_var, scales } = estimate else { return };
    let (rows, cols) = (*rows, *cols);
    let mut i = range.start;
    while i < range.end {
        // The rest of the row that holds i.
        let (matrix, within) = (i / (rows * cols), i % (rows * cols));
        let (row, col) = (within / cols, within % cols);
        let end = (i + cols - col).min(range.end);
        let start = matrix * cols + col;
        visit(i - range.start, row_var[matrix * rows + row], &col_var[start..start + (end - i)], scales[matrix]);
        i = end;
    }
}

impl Rule for Adafactor {
    const NAME: &'static str = "Adafactor";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        if !(self.beta2_decay <= 0.0 && self.beta2_decay.is_finite()) {
            return Err(Error::InvalidHyperparameter {
                optimizer: Self::NAME,
                name: "beta2_decay",
                value: self.beta2_decay,
                expected: "a finite number <= 0",
            });
        }
        if let Some(eps1) = self.eps.0 {
            non_negative(Self::NAME, "eps[0]", eps1)?;
        }
        non_negative(Self::NAME, "eps[1]", self.eps.1)?;
        if !(self.d >= 1.0 && self.d.is_finite()) {
            return Err(Error::InvalidHyperparameter {
                optimizer: Self::NAME,
                name: "d",
                value: self.d,
                expected: "a finite number >= 1",
            });
        }
        non_negative(Self::NAME, "weight_decay", self.weight_decay)
    }

    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error> {
        let dims = shape.dims();
        let layout = StateLayout::new().step();
        if dims.len() < 2 {
            return Ok(layout.tensor("variance", shape.clone(), 0.0));
        }
        let (mut rows, mut cols) = (dims.to_vec(), dims.to_vec());
        *rows.last_mut().expect("two dimensions") = 1;
        cols[dims.len() - 2] = 1;
        Ok(layout.tensor("row_var", rows, 0.0).tensor("col_var", cols, 0.0))
    }

    const TENSOR_STAGE: bool = true;

    /// The whole step: the factored statistics, the estimate, and the relative, clipped update.
    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        let TensorStage { shape, param, grad, state } = stage;
        let t = state.step().map_or(1.0, f64::from);
        let weight = T::from_f64(t.powf(self.beta2_decay));
        let rho = self.lr.min(1.0 / t.sqrt());
        let size = (param.len() as f64).sqrt();
        let alpha = self.eps.1.max(norm(param) / size) * rho;
        let eps1 = self.eps.0.unwrap_or_else(|| T::EPSILON.to_f64());
        let sign = T::from_f64(if self.maximize { -1.0 } else { 1.0 });
        let dims = shape.dims();
        let mut scales = Vec::new();
        let estimate = if dims.len() < 2 {
            let variance = state.tensor_mut("variance").expect("the layout has variance").values_mut();
            // v̂ ← lerp(v̂, g², 1 − β̂₂ₜ), with hardware fused multiply-adds.
            zip_elements(variance, grad, |v, g| {
                let g = g * sign;
                *v = lerp(*v, g * g, weight);
            });
            Estimate::Full(state.get("variance").expect("the layout has variance"))
        } else {
            let (rows, cols) = (dims[dims.len() - 2], dims[dims.len() - 1]);
            let [row_var, col_var] = &mut state.tensors[..] else { unreachable!("the layout has two factors") };
            let (row_var, col_var) = (row_var.values_mut(), col_var.values_mut());
            let flush = FlushDenormals::new();
            for ((matrix, row), col) in
                grad.chunks(rows * cols).zip(row_var.chunks_mut(rows)).zip(col_var.chunks_mut(cols))
            {
                let mut col_sums = vec![0.0f64; cols];
                for (line, value) in matrix.chunks(cols).zip(row.iter_mut()) {
                    let mut row_sum = 0.0f64;
                    for (&g, col_sum) in line.iter().zip(col_sums.iter_mut()) {
                        let g2 = g.to_f64() * g.to_f64();
                        row_sum += g2;
                        *col_sum += g2;
                    }
                    *value = lerp(*value, mean_square::<T>(row_sum, cols), weight);
                }
                for (value, &sum) in col.iter_mut().zip(&col_sums) {
                    *value = lerp(*value, mean_square::<T>(sum, rows), weight);
                }
                let row_mean = T::from_f64(row.iter().map(|v| v.to_f64()).sum::<f64>()) / T::from_f64(rows as f64);
                scales.push(row_mean.maximum(T::from_f64(eps1)));
            }
            drop(flush);
            Estimate::Factored { rows, cols, row_var, col_var, scales: &scales }
        };
        let floor = T::from_f64(eps1 * eps1);
        let estimate = &estimate;
        // Σ u² over a range of the update.
        let squares = |range: Range<usize>| {
            let grad = &grad[range.clone()];
            let square = |g: T, v: T| {
                let u = update(g, v, sign, floor).to_f64();
                u * u
            };
            with_best_isa(Inline(
                #[inline(always)]
                || match estimate {
                    Estimate::Full(variance) => lanes(grad, &variance[range.clone()], square),
                    Estimate::Factored { .. } => {
                        // Row by row: each piece of a row in eight running sums, the pieces added in order.
                        let mut total = 0.0;
                        each_row_segment(estimate, range.clone(), |k, r, col_values, scale| {
                            let grad = &grad[k..k + col_values.len()];
                            total += lanes(grad, col_values, |g, c| square(g, r * c / scale));
                        });
                        total
                    }
                },
            ))
        };
        let sum_of_squares = in_chunks(grad.len(), squares, |x, y| x + y);
        let update_norm = T::from_f64(sum_of_squares.sqrt()).to_f64();
        let denom = 1.0f64.max(update_norm / (size * self.d));
        let step = T::from_f64(-alpha / denom);
        let decay = T::from_f64(if self.weight_decay != 0.0 { 1.0 - self.lr * self.weight_decay } else { 1.0 });
        // The final pass: θ ← θ·(1 − η·λ) + step·u, with hardware fused multiply-adds.
        param.par_chunks_mut(CHUNK).zip(grad.par_chunks(CHUNK)).enumerate().for_each(|(c, (param, grad))| {
            let range = c * CHUNK..c * CHUNK + param.len();
            with_best_isa(Inline(
                #[inline(always)]
                || {
                    each_update(estimate, range.clone(), grad, sign, floor, |k, u| {
                        param[k] = step.mul_add(u, param[k] * decay)
                    })
                },
            ));
        });
    }

    crate::rule::no_elementwise_update!();
}

pub(crate) fn register(registry: &mut Registry) {
    let entry =
        Entry::new("adafactor", "Adafactor: Adam's second moment factored into rows and columns", Adafactor::default())
            .torch("torch.optim.Adafactor");
    registry.add(entry).expect("built-in names are distinct");
}
