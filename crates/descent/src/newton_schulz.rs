//! The Newton–Schulz iteration that Muon uses to orthogonalize an update, in bfloat16 as PyTorch runs it.

use gemm::Parallelism;
use half::bf16;

/// The products of at least this many multiply-adds use every thread.
const PARALLEL_WORK: usize = 1 << 18;

/// Rounds to the nearest bfloat16, kept as an `f32`.
fn round(value: f32) -> f32 {
    bf16::from_f32(value).to_f32()
}

/// A row-major matrix of `rows × cols` values, or its transpose (without moving them).
#[derive(Clone, Copy)]
struct View<'a> {
    values: &'a [f32],
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl View<'_> {
    /// The strides (row, column) of the matrix as seen.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (1, self.cols as isize)
        } else {
            (self.cols as isize, 1)
        }
    }

    fn shape(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }
}

/// `dst ← round(dst_scale·dst + product_scale·lhs·rhs)`, the products and sums in `f32` and the result rounded to
/// bfloat16 once, as PyTorch's CPU `addmm` on bfloat16 tensors computes it. `dst` is row-major, `lhs` rows by
/// `rhs` columns.
fn multiply_add(dst: &mut [f32], dst_scale: Option<f32>, lhs: View<'_>, rhs: View<'_>, product_scale: f32) {
    let ((m, k), (k2, n)) = (lhs.shape(), rhs.shape());
    assert!(k == k2 && dst.len() == m * n, "matrix shapes agree");
    assert!(lhs.values.len() == lhs.rows * lhs.cols && rhs.values.len() == rhs.rows * rhs.cols);
    let ((lhs_rs, lhs_cs), (rhs_rs, rhs_cs)) = (lhs.strides(), rhs.strides());
    let parallelism = if m * n * k >= PARALLEL_WORK { Parallelism::Rayon(0) } else { Parallelism::None };
    // SAFETY: `dst` holds m × n values with row stride n; `lhs` and `rhs` hold the m × k and k × n values their
    // strides address (checked above), and none of them overlaps `dst`, which is borrowed mutably.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            dst_scale.is_some(),
            lhs.values.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.values.as_ptr(),
            rhs_cs,
            rhs_rs,
            dst_scale.unwrap_or(0.0),
            product_scale,
            false,
            false,
            false,
            parallelism,
        );
    }
    dst.iter_mut().for_each(|v| *v = round(*v));
}

/// The usual quintic coefficients (a, b, c) of [`orthogonalize`] and its number of steps: `torch.optim.Muon`'s
/// defaults, and those of `pytorch-optimizer`'s `zero_power_via_newton_schulz_5`.
pub(crate) const QUINTIC: ((f64, f64, f64), usize) = ((3.4445, -4.7750, 2.0315), 5);

/// The orthogonalization of the `rows × cols` matrix `matrix` (row-major) by `steps` quintic Newton–Schulz steps
/// with coefficients (a, b, c), as `torch.optim.Muon` computes it: in bfloat16, the matrix transposed first when it
/// has more rows than columns, divided by its Frobenius norm (at least `eps`), then `steps` times
///
/// ```text
/// A = X·Xᵀ,   B = b·A + c·A·A,   X ← a·X + B·X
/// ```
///
/// The result has the input's singular vectors and singular values near 1 (between about 0.7 and 1.2 with the
/// default coefficients (3.4445, −4.7750, 2.0315) and five steps): U·Vᵀ, roughly, for G = U·S·Vᵀ. Each value is a
/// bfloat16, returned as an `f32`. The products are summed in `f32` in another order than PyTorch's, so a value
/// can differ from PyTorch's by a bfloat16 rounding.
pub fn orthogonalize(
    matrix: &[f32],
    rows: usize,
    cols: usize,
    coefficients: (f64, f64, f64),
    steps: usize,
    eps: f64,
) -> Vec<f32> {
    assert_eq!(matrix.len(), rows * cols, "a {rows} × {cols} matrix");
    let (a, b, c) = (coefficients.0 as f32, coefficients.1 as f32, coefficients.2 as f32);
    let transposed = rows > cols;
    let (m, n) = if transposed { (cols, rows) } else { (rows, cols) };
    let mut x: Vec<f32> = if transposed {
        (0..m * n).map(|i| round(matrix[(i % n) * cols + i / n])).collect()
    } else {
        matrix.iter().map(|&v| round(v)).collect()
    };
    let norm = round(x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt() as f32);
    let norm = norm.max(round(eps as f32));
    x.iter_mut().for_each(|v| *v = round(*v / norm));
    let mut gram = vec![0.0f32; m * m];
    let mut polynomial = vec![0.0f32; m * m];
    let mut next = vec![0.0f32; m * n];
    for _ in 0..steps {
        let view = View { values: &x, rows: m, cols: n, transposed: false };
        multiply_add(&mut gram, None, view, View { transposed: true, ..view }, 1.0);
        polynomial.copy_from_slice(&gram);
        let gram_view = View { values: &gram, rows: m, cols: m, transposed: false };
        multiply_add(&mut polynomial, Some(b), gram_view, gram_view, c);
        next.copy_from_slice(&x);
        let polynomial_view = View { values: &polynomial, rows: m, cols: m, transposed: false };
        multiply_add(
            &mut next,
            Some(a),
            polynomial_view,
            View { values: &x, rows: m, cols: n, transposed: false },
            1.0,
        );
        std::mem::swap(&mut x, &mut next);
    }
    if transposed {
        (0..rows * cols).map(|i| x[(i % cols) * n + i / cols]).collect()
    } else {
        x
    }
}
