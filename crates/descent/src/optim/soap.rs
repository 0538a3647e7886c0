//! SOAP: Adam in the eigenbasis of Shampoo's preconditioners.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::matmul;
use faer::linalg::{evd, householder, qr};
use faer::prelude::default;
use faer::{Accum, Conj, Mat, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};

use crate::kernel::{without_flush, Inline};
use crate::registry::{Entry, Registry};
use crate::torch_ops::lerp;
use crate::validate::{non_negative, unit_open};
use crate::{with_best_isa, Error, Float, ParamState, Rule, Shape, StateLayout, TensorStage};

/// SOAP (Vyas et al., 2024, "SOAP: Improving and Stabilizing Shampoo using Adam"), as `pytorch-optimizer`'s
/// `SOAP`.
///
/// Shampoo preconditions a weight matrix's gradient G from both sides with the statistics L = E[G·Gᵀ] and
/// R = E[Gᵀ·G]. SOAP runs Adam in the eigenbasis of L and R instead: with Q_L and Q_R their eigenvectors, the
/// gradient is rotated into that basis, where the second moment is kept and the division done, and the step is
/// rotated back. In the article's notation, for a matrix (a tensor of k dimensions takes one Q per dimension):
///
/// ```text
/// G̃_t = Q_Lᵀ · g_t · Q_R                             (the gradient in the eigenbasis)
/// m_t = β₁·m_{t−1} + (1 − β₁)·g_t                    (first moment, in the parameters' basis)
/// v_t = β₂·v_{t−1} + (1 − β₂)·G̃_t²                   (second moment, in the eigenbasis)
/// θ  ← θ − η·√(1 − β₂^s)/(1 − β₁^s) · Q_L·[(Q_Lᵀ·m_t·Q_R) / (√v_t + ε)]·Q_Rᵀ,  then θ ← θ·(1 − η·λ)
/// L_t = β_s·L_{t−1} + (1 − β_s)·g_t·g_tᵀ,  R_t = β_s·R_{t−1} + (1 − β_s)·g_tᵀ·g_t
/// ```
///
/// with s = t − 1. The first step only measures: it sets L and R from the gradient and Q_L, Q_R to their
/// eigenvectors (eigenvalues in decreasing order), and leaves the parameters alone. Every
/// `precondition_frequency` steps, one power iteration refreshes the bases instead of a new eigendecomposition:
/// Q ← qr(L·Q), its columns (and v along that dimension) ordered by the estimated eigenvalues diag(Qᵀ·L·Q),
/// largest first. A dimension longer than `max_precondition_dim` is not rotated (its Q is the identity), nor are
/// vectors unless `precondition_1d`; `merge_dims` first merges neighbouring dimensions while their product stays
/// within `max_precondition_dim`. `normalize_gradient` divides the rotated-back step by its root mean square.
///
/// Where `pytorch-optimizer` differs from the paper, descent follows `pytorch-optimizer`: the weight decay is
/// applied after the step; β_s (`shampoo_beta`) defaults to β₂. Deliberate differences: the eigendecompositions,
/// QR factorizations and rotations run in `f64` with `faer` (`pytorch-optimizer` computes them in the parameters'
/// type with LAPACK, and its QR in `f32`), so results agree with it to the precision of those factorizations, not
/// to the bit; the eigenvectors' signs are the solver's (the step does not depend on them). Where a preconditioner
/// has repeated eigenvalues, its eigenbasis is not unique: a dimension longer than the gradients' rank so far (the
/// 7 × 7 L of a 7 × 3 matrix in its first steps) has a null space, and any basis of it is the solver's choice. The
/// rotated gradient is zero there up to rounding, and Adam's division by √v scales that rounding up to steps of the
/// order of η, so such steps differ from `pytorch-optimizer`'s by up to η (as its own `f32` and `f64` runs differ
/// from each other). Steps are counted per parameter, not per group; `data_format="channels_last"` is not offered;
/// and where every dimension merges into one (the reference then fails), that one dimension is preconditioned.
///
/// State: `exp_avg` (m), `exp_avg_sq` (v, in the eigenbasis), and for each rotated dimension i of the (merged)
/// shape `GG{i}` (L, R, …) and `Q{i}` (its basis), d × d.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Soap {
    /// Learning rate η (default 3e-3).
    pub lr: f64,
    /// (β₁, β₂), the decays of m and v (default (0.95, 0.95)).
    pub betas: (f64, f64),
    /// β_s, the decay of the preconditioners' statistics (default `None`: β₂).
    pub shampoo_beta: Option<f64>,
    /// Decoupled weight decay λ, applied after the step (default 1e-2).
    pub weight_decay: f64,
    /// Steps between refreshes of the bases (default 10).
    pub precondition_frequency: u32,
    /// The longest dimension that is rotated (default 10000).
    pub max_precondition_dim: usize,
    /// Merge neighbouring dimensions while their product stays within `max_precondition_dim` (default false).
    pub merge_dims: bool,
    /// Rotate vectors too (default false).
    pub precondition_1d: bool,
    /// Correct the moments' bias (default true).
    pub correct_bias: bool,
    /// Divide the step by its root mean square (default false).
    pub normalize_gradient: bool,
    /// Term added to the denominator ε (default 1e-8).
    pub eps: f64,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for Soap {
    fn default() -> Self {
        Soap {
            lr: 3e-3,
            betas: (0.95, 0.95),
            shampoo_beta: None,
            weight_decay: 1e-2,
            precondition_frequency: 10,
            max_precondition_dim: 10000,
            merge_dims: false,
            precondition_1d: false,
            correct_bias: true,
            normalize_gradient: false,
            eps: 1e-8,
            maximize: false,
        }
    }
}

/// The most dimensions a parameter may have (the state names below).
const MAX_DIMS: usize = 8;
const GG: [&str; MAX_DIMS] = ["GG0", "GG1", "GG2", "GG3", "GG4", "GG5", "GG6", "GG7"];
const Q: [&str; MAX_DIMS] = ["Q0", "Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q7"];

impl Soap {
    /// The shape the preconditioners see, and for each of its dimensions whether it is rotated.
    fn dims(&self, shape: &Shape) -> (Vec<usize>, Vec<bool>) {
        let dims = shape.dims();
        if dims.len() <= 1 {
            let d = dims.first().copied().unwrap_or(1);
            return (vec![d], vec![self.precondition_1d && d <= self.max_precondition_dim]);
        }
        let merged = if self.merge_dims { merge_small_dims(dims, self.max_precondition_dim) } else { dims.to_vec() };
        let rotated = merged.iter().map(|&d| d <= self.max_precondition_dim).collect();
        (merged, rotated)
    }
}

/// `pytorch-optimizer`'s `merge_small_dims`: neighbouring dimensions merged while their product is at most `max`.
fn merge_small_dims(dims: &[usize], max: usize) -> Vec<usize> {
    let mut merged = Vec::new();
    let mut product = 1;
    for &d in dims {
        product *= d;
        if product > max {
            merged.push(product / d);
            product = d;
        }
    }
    merged.push(product);
    merged
}

/// `dst = lhs · rhs` on the threads of the current rayon pool, with IEEE subnormals (see [`without_flush`]); the
/// result does not depend on the number of threads.
fn multiply(dst: MatMut<'_, f64>, lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) {
    without_flush(|| matmul(dst, Accum::Replace, lhs, rhs, 1.0, Par::rayon(0)));
}

/// The tensor `x` of shape `dims` (row-major) with every dimension i multiplied by its basis: Qᵢᵀ·x along i
/// (`back`: Qᵢ·x), and dimensions without a basis left alone. As `pytorch-optimizer`'s `project`: each step
/// contracts the first dimension and moves the result to the end, so after all of them the order is restored.
fn project(x: &[f64], dims: &[usize], bases: &[Option<Mat<f64>>], back: bool) -> Vec<f64> {
    let mut current = x.to_vec();
    let mut next = vec![0.0; x.len()];
    let mut order: Vec<usize> = dims.to_vec();
    for basis in bases {
        let d = order[0];
        let rest = current.len() / d.max(1);
        let view = MatRef::from_row_major_slice(&current, d, rest);
        // rest × d, row-major: the contracted dimension moves to the end.
        let mut out = MatMut::from_row_major_slice_mut(&mut next, rest, d);
        match basis {
            Some(q) if back => multiply(out, view.transpose(), q.transpose()),
            Some(q) => multiply(out, view.transpose(), q.as_ref()),
            None => out.copy_from(view.transpose()),
        }
        std::mem::swap(&mut current, &mut next);
        order.rotate_left(1);
    }
    current
}

/// For each dimension i of `x` (shape `dims`) that has statistics: x₍ᵢ₎·x₍ᵢ₎ᵀ (row-major, dᵢ × dᵢ), with x₍ᵢ₎
/// the dᵢ × rest matrix of x's fibres along i (`torch.tensordot` over every other dimension).
fn outer_products(x: &[f64], dims: &[usize], wanted: &[bool]) -> Vec<Option<Vec<f64>>> {
    let mut current = x.to_vec();
    let mut next = vec![0.0; x.len()];
    let mut order: Vec<usize> = dims.to_vec();
    let mut products = Vec::with_capacity(dims.len());
    for &want in wanted {
        let d = order[0];
        let rest = current.len() / d.max(1);
        let view = MatRef::from_row_major_slice(&current, d, rest);
        products.push(want.then(|| {
            let mut product = vec![0.0; d * d];
            multiply(MatMut::from_row_major_slice_mut(&mut product, d, d), view, view.transpose());
            product
        }));
        MatMut::from_row_major_slice_mut(&mut next, rest, d).copy_from(view.transpose());
        std::mem::swap(&mut current, &mut next);
        order.rotate_left(1);
    }
    products
}

/// The eigenvectors of the symmetric `m`, eigenvalues largest first (NaNs where the solver fails, as on
/// non-finite statistics). On this thread: the result of a parallel factorization in `faer` can depend on the
/// number of threads, and a step's result must not.
fn eigenbasis(m: &Mat<f64>) -> Mat<f64> {
    let d = m.nrows();
    let mut u = Mat::<f64>::zeros(d, d);
    let mut s = Diag::<f64>::zeros(d);
    let scratch = evd::self_adjoint_evd_scratch::<f64>(d, evd::ComputeEigenvectors::Yes, Par::Seq, default());
    let solved = evd::self_adjoint_evd(
        m.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(scratch)),
        default(),
    );
    match solved {
        Ok(()) => Mat::from_fn(d, d, |i, j| u[(i, d - 1 - j)]),
        Err(_) => Mat::from_fn(d, d, |_, _| f64::NAN),
    }
}

/// The Q of the thin QR factorization of `a`, on this thread (as [`eigenbasis`]).
fn thin_q(mut a: Mat<f64>) -> Mat<f64> {
    let (m, n) = a.shape();
    let size = m.min(n);
    let block = qr::no_pivoting::factor::recommended_block_size::<f64>(m, n);
    let mut coefficients = Mat::<f64>::zeros(block, size);
    let scratch = qr::no_pivoting::factor::qr_in_place_scratch::<f64>(m, n, block, Par::Seq, default());
    qr::no_pivoting::factor::qr_in_place(
        a.as_mut(),
        coefficients.as_mut(),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(scratch)),
        default(),
    );
    let mut q = Mat::<f64>::identity(m, size);
    let scratch = householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(m, block, size);
    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
        a.as_ref().subcols(0, size),
        coefficients.as_ref(),
        Conj::No,
        q.as_mut(),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(scratch)),
    );
    q
}

/// The row-major `d × d` tensor `values` as a matrix.
fn to_mat<T: Float>(values: &[T], d: usize) -> Mat<f64> {
    let values: Vec<f64> = values.iter().map(|v| v.to_f64()).collect();
    MatRef::from_row_major_slice(&values, d, d).to_owned()
}

/// `m` into the row-major tensor `values`.
fn store<T: Float>(m: &Mat<f64>, values: &mut [T]) {
    for (i, row) in values.chunks_mut(m.ncols().max(1)).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = T::from_f64(m[(i, j)]);
        }
    }
}

/// `x` (shape `dims`) with its indices along dimension `axis` taken in the order `order`.
fn reorder_along<T: Copy>(x: &mut [T], dims: &[usize], axis: usize, order: &[usize]) {
    let inner: usize = dims[axis + 1..].iter().product();
    let d = dims[axis];
    let original = x.to_vec();
    for (outer, block) in x.chunks_mut(d * inner).enumerate() {
        let source = &original[outer * d * inner..(outer + 1) * d * inner];
        for (j, &from) in order.iter().enumerate() {
            block[j * inner..(j + 1) * inner].copy_from_slice(&source[from * inner..(from + 1) * inner]);
        }
    }
}

impl Rule for Soap {
    const NAME: &'static str = "SOAP";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        unit_open(Self::NAME, "betas[0]", self.betas.0)?;
        unit_open(Self::NAME, "betas[1]", self.betas.1)?;
        if let Some(beta) = self.shampoo_beta {
            unit_open(Self::NAME, "shampoo_beta", beta)?;
        }
        non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        non_negative(Self::NAME, "eps", self.eps)?;
        for (name, value) in [
            ("precondition_frequency", self.precondition_frequency as usize),
            ("max_precondition_dim", self.max_precondition_dim),
        ] {
            if value == 0 {
                return Err(Error::InvalidHyperparameter {
                    optimizer: Self::NAME,
                    name,
                    value: 0.0,
                    expected: "a whole number >= 1",
                });
            }
        }
        Ok(())
    }

    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error> {
        let (dims, rotated) = self.dims(shape);
        if dims.len() > MAX_DIMS {
            return Err(Error::UnsupportedShape {
                optimizer: Self::NAME,
                expected: "tensors of at most 8 dimensions",
                shape: (*shape).clone(),
            });
        }
        let mut layout = StateLayout::new().step().elementwise("exp_avg", 0.0).elementwise("exp_avg_sq", 0.0);
        for (i, (&d, &rotate)) in dims.iter().zip(&rotated).enumerate() {
            if rotate {
                layout = layout.tensor(GG[i], vec![d, d], 0.0).tensor(Q[i], vec![d, d], 0.0);
            }
        }
        Ok(layout)
    }

    const TENSOR_STAGE: bool = true;

    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        with_best_isa(Inline(
            #[inline(always)]
            || self.step(stage),
        ));
    }

    crate::rule::no_elementwise_update!();
}

impl Soap {
    /// One step, run by [`with_best_isa`]: its element-wise loops use the hardware's fused multiply-adds and
    /// vectors, and subnormal numbers count as zero in them (the matrix products run on the threads of the current
    /// rayon pool with IEEE subnormals, the factorizations on this thread).
    #[inline(always)]
    fn step<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        let TensorStage { shape, param, grad, state } = stage;
        let t = state.step().map_or(1.0, f64::from);
        let (dims, rotated) = self.dims(shape);
        let (beta1, beta2) = self.betas;
        let shampoo_weight = T::from_f64(1.0 - self.shampoo_beta.unwrap_or(beta2));
        let sign = if self.maximize { -1.0 } else { 1.0 };
        let g: Vec<f64> = grad.iter().map(|&g| sign * g.to_f64()).collect();
        let g_t: Vec<T> = g.iter().map(|&v| T::from_f64(v)).collect();
        if t <= 1.0 {
            accumulate(state, &g, &dims, &rotated, shampoo_weight);
            for i in (0..dims.len()).filter(|&i| rotated[i]) {
                let basis = eigenbasis(&to_mat(state.get(GG[i]).expect("the layout has the statistics"), dims[i]));
                store(&basis, state.tensor_mut(Q[i]).expect("the layout has the bases").values_mut());
            }
            return;
        }
        let s = t - 1.0;
        let q = bases(state, &dims, &rotated);
        let projected = project(&g, &dims, &q, false);
        let (m_weight, v_weight) = (T::from_f64(1.0 - beta1), T::from_f64(1.0 - beta2));
        let eps = T::from_f64(self.eps);
        let ratio: Vec<f64> = {
            let [exp_avg, exp_avg_sq, ..] = &mut state.tensors[..] else { unreachable!("the layout has two moments") };
            let (exp_avg, exp_avg_sq) = (exp_avg.values_mut(), exp_avg_sq.values_mut());
            for (m, &g) in exp_avg.iter_mut().zip(&g_t) {
                *m = lerp(*m, g, m_weight);
            }
            for (v, &p) in exp_avg_sq.iter_mut().zip(&projected) {
                let p = T::from_f64(p);
                *v = lerp(*v, p * p, v_weight);
            }
            let m: Vec<f64> = exp_avg.iter().map(|m| m.to_f64()).collect();
            let m_projected = project(&m, &dims, &q, false);
            m_projected
                .iter()
                .zip(exp_avg_sq.iter())
                .map(|(&m, &v)| (T::from_f64(m) / (v.sqrt() + eps)).to_f64())
                .collect()
        };
        let mut update: Vec<T> = project(&ratio, &dims, &q, true).into_iter().map(T::from_f64).collect();
        if self.normalize_gradient {
            let mean_square = update.iter().map(|u| u.to_f64() * u.to_f64()).sum::<f64>() / update.len() as f64;
            let rms = T::from_f64(mean_square).sqrt() + eps;
            update.iter_mut().for_each(|u| *u = *u / rms);
        }
        let step_size =
            if self.correct_bias { self.lr * ((1.0 - beta2.powf(s)).sqrt() / (1.0 - beta1.powf(s))) } else { self.lr };
        let minus_step = T::from_f64(-step_size);
        let decay = T::from_f64(1.0 - self.weight_decay * self.lr);
        for (p, &u) in param.iter_mut().zip(&update) {
            *p = minus_step.mul_add(u, *p);
            if self.weight_decay != 0.0 {
                *p = *p * decay;
            }
        }

        accumulate(state, &g, &dims, &rotated, shampoo_weight);
        if (s as u64).is_multiple_of(u64::from(self.precondition_frequency)) {
            refresh_bases(state, &dims, q);
        }
    }
}

/// The statistics take this step's gradient `g`: each GGᵢ moves towards gᵢ·gᵢᵀ by `weight`.
#[inline(always)]
fn accumulate<T: Float>(state: &mut ParamState<T>, g: &[f64], dims: &[usize], rotated: &[bool], weight: T) {
    for (i, outer) in outer_products(g, dims, rotated).into_iter().enumerate() {
        let Some(outer) = outer else { continue };
        let stats = state.tensor_mut(GG[i]).expect("the layout has the statistics").values_mut();
        for (s, &o) in stats.iter_mut().zip(&outer) {
            *s = lerp(*s, T::from_f64(o), weight);
        }
    }
}

/// The bases Qᵢ of the rotated dimensions.
fn bases<T: Float>(state: &ParamState<T>, dims: &[usize], rotated: &[bool]) -> Vec<Option<Mat<f64>>> {
    (0..dims.len())
        .map(|i| rotated[i].then(|| to_mat(state.get(Q[i]).expect("the layout has the bases"), dims[i])))
        .collect()
}

/// One power iteration per basis: Q ← qr(L·Q), columns ordered by the estimated eigenvalues diag(Qᵀ·L·Q),
/// largest first, and v reordered along that dimension to match.
fn refresh_bases<T: Float>(state: &mut ParamState<T>, dims: &[usize], bases: Vec<Option<Mat<f64>>>) {
    for (i, basis) in bases.into_iter().enumerate() {
        let Some(basis) = basis else { continue };
        let d = dims[i];
        let stats = to_mat(state.get(GG[i]).expect("the layout has the statistics"), d);
        let mut product = Mat::<f64>::zeros(d, d);
        multiply(product.as_mut(), stats.as_ref(), basis.as_ref());
        let estimates: Vec<f64> = (0..d).map(|j| (0..d).map(|k| basis[(k, j)] * product[(k, j)]).sum()).collect();
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| estimates[b].total_cmp(&estimates[a]));
        let power = Mat::from_fn(d, d, |k, j| product[(k, order[j])]);
        let refreshed = thin_q(power);
        store(&refreshed, state.tensor_mut(Q[i]).expect("the layout has the bases").values_mut());
        let exp_avg_sq = state.tensor_mut("exp_avg_sq").expect("the layout has v").values_mut();
        reorder_along(exp_avg_sq, dims, i, &order);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("soap", "SOAP: Adam in the eigenbasis of Shampoo's preconditioners", Soap::default());
    registry.add(entry).expect("built-in names are distinct");
}
