//! A fully connected layer, `y = x·W + b` with an optional ReLU, as one candle operation with its own backward pass.
//!
//! candle's autograd builds the same layer from a matrix product, a broadcast addition and a ReLU, and its backward
//! pass then computes the gradient of every input of the product, the batch of images included, which nothing
//! needs: for the first layer of an MLP that is a product as large as the forward one. This operation computes
//! `∂J/∂x` only where `x` itself depends on a variable, adds the bias inside the product, and applies the ReLU's mask
//! in the same pass over the output gradient. The products run on the `gemm` crate, as candle's own do.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Storage, Tensor};
use gemm::Parallelism;

/// The layer's operation: inputs `x` (`batch × in`), `W` (`in × out`) and `b` (`out`), all `f32` on the CPU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dense {
    /// Whether a ReLU follows the affine map.
    pub(crate) relu: bool,
}

impl Dense {
    /// `relu(x·W + b)` (or `x·W + b`), recorded for candle's backward pass.
    pub(crate) fn apply(self, x: &Tensor, weight: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?.apply_op3(weight, bias, self)
    }
}

/// The row-major `rows × columns` matrix a contiguous `f32` tensor holds.
fn matrix<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::msg(format!("dense layer: {what} must be contiguous")))?;
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// The dimensions `(batch, in, out)` of a layer, checked.
fn dimensions(x: &[usize], weight: &[usize], bias: &[usize]) -> candle_core::Result<(usize, usize, usize)> {
    match (x, weight, bias) {
        (&[batch, inputs], &[w_in, outputs], &[b_out]) if w_in == inputs && b_out == outputs => {
            Ok((batch, inputs, outputs))
        }
        _ => Err(candle_core::Error::msg(format!(
            "dense layer: inputs {x:?}, weight {weight:?} and bias {bias:?} do not fit (batch × in, in × out, out)"
        ))),
    }
}

/// How many threads the products may use: those of the rayon pool they run in (the trainer's, or the global one).
/// Not candle's count, which without `RAYON_NUM_THREADS` set reads `/proc/cpuinfo` on every call.
fn parallelism() -> Parallelism {
    match rayon::current_num_threads() {
        0 | 1 => Parallelism::None,
        n => Parallelism::Rayon(n),
    }
}

/// A matrix in a slice: element (i, j) at `i * row + j * col`.
#[derive(Clone, Copy)]
struct Strided<'a> {
    values: &'a [f32],
    row: usize,
    col: usize,
}

impl Strided<'_> {
    /// Whether every element of a `rows × cols` matrix lies inside the slice.
    fn holds(&self, rows: usize, cols: usize) -> bool {
        reaches_within(rows, cols, (self.row, self.col), self.values.len())
    }
}

/// Whether every element of a nonempty `rows × cols` matrix, element (i, j) at `i * strides.0 + j * strides.1`,
/// lies below `len`.
fn reaches_within(rows: usize, cols: usize, strides: (usize, usize), len: usize) -> bool {
    (rows - 1) * strides.0 + (cols - 1) * strides.1 < len
}

/// `dst += lhs · rhs` for `lhs` of `m × k` and `rhs` of `k × n`; element (i, j) of `dst` at
/// `i * dst_strides.0 + j * dst_strides.1`. On `gemm`, on the threads of the current pool.
fn add_product(
    dims: (usize, usize, usize),
    dst: &mut [f32],
    dst_strides: (usize, usize),
    lhs: Strided<'_>,
    rhs: Strided<'_>,
) {
    // SAFETY: `dst`, borrowed mutably, holds `dst.len()` initialized values and overlaps neither input.
    unsafe { gemm_into(dims, dst.as_mut_ptr(), dst.len(), dst_strides, true, lhs, rhs) }
}

/// `lhs · rhs` (`m × n`, from `lhs` of `m × k` and `rhs` of `k × n`) in a new vector, row-major (`transposed`:
/// column-major), written by the product alone: no fill beforehand.
fn product(dims: (usize, usize, usize), transposed: bool, lhs: Strided<'_>, rhs: Strided<'_>) -> Vec<f32> {
    let (m, n, k) = dims;
    if m == 0 || n == 0 || k == 0 {
        return vec![0.0; m * n];
    }
    let strides = if transposed { (1, m) } else { (n, 1) };
    let mut dst = Vec::with_capacity(m * n);
    // SAFETY: the vector's capacity holds m·n values, which overlap neither input; with these strides the product
    // writes each of them (it does not read them), so all are initialized when the length is set.
    unsafe {
        gemm_into(dims, dst.as_mut_ptr(), m * n, strides, false, lhs, rhs);
        dst.set_len(m * n);
    }
    dst
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` with `accumulate`, on `gemm`.
///
/// # Safety
/// `dst` points to `len` values that nothing else reads or writes during the call, initialized if `accumulate`.
unsafe fn gemm_into(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    len: usize,
    dst_strides: (usize, usize),
    accumulate: bool,
    lhs: Strided<'_>,
    rhs: Strided<'_>,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let fits = reaches_within(m, n, dst_strides, len);
    assert!(fits && lhs.holds(m, k) && rhs.holds(k, n), "dense layer: a matrix outside its slice");
    // SAFETY: every element the dimensions and strides reach lies inside its slice or `dst`'s `len` values
    // (checked above), which the caller lends this call alone.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_strides.1 as isize,
            dst_strides.0 as isize,
            accumulate,
            lhs.values.as_ptr(),
            lhs.col as isize,
            lhs.row as isize,
            rhs.values.as_ptr(),
            rhs.col as isize,
            rhs.row as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism(),
        );
    }
}

/// The `f32` values of a contiguous CPU tensor's storage.
pub(crate) fn cpu_values<'a>(storage: &'a Storage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    match storage {
        Storage::Cpu(cpu) => matrix(cpu, layout, "a gradient"),
        _ => Err(candle_core::Error::msg("dense layer: only CPU tensors are supported")),
    }
}

/// The sizes of a layer: `batch` rows of `inputs` values in, `outputs` out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizes {
    pub(crate) batch: usize,
    pub(crate) inputs: usize,
    pub(crate) outputs: usize,
}

/// The gradients of a layer's inputs.
pub(crate) struct Gradients {
    /// `∂J/∂x` (`batch × inputs`), when asked for.
    pub(crate) x: Option<Vec<f32>>,
    /// `∂J/∂W` (`inputs × outputs`).
    pub(crate) weight: Vec<f32>,
    /// `∂J/∂b` (`outputs`).
    pub(crate) bias: Vec<f32>,
}

impl Dense {
    /// `relu(x·W + b)` (or `x·W + b`), row-major `batch × outputs`, from row-major `x` and `W`.
    pub(crate) fn forward(self, sizes: Sizes, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
        let Sizes { batch, inputs, outputs } = sizes;
        // Each row starts as the bias, and the product is added to it.
        let mut y: Vec<f32> = Vec::with_capacity(batch * outputs);
        (0..batch).for_each(|_| y.extend_from_slice(bias));
        let (x, weight) =
            (Strided { values: x, row: inputs, col: 1 }, Strided { values: weight, row: outputs, col: 1 });
        add_product((batch, outputs, inputs), &mut y, (outputs, 1), x, weight);
        if self.relu {
            y.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        y
    }

    /// The gradients of `x`, `W` and `b` from the layer's input `x`, weight, output `y` and the output's gradient
    /// `grad_y` (taken, and masked in place by the ReLU). `∂J/∂x` only `with_x`.
    pub(crate) fn backward(
        self,
        sizes: Sizes,
        (x, weight, y): (&[f32], &[f32], &[f32]),
        mut grad_y: Vec<f32>,
        with_x: bool,
    ) -> Gradients {
        let Sizes { batch, inputs, outputs } = sizes;
        if self.relu {
            // The ReLU passes the gradient where its output is positive, as candle's own ReLU does.
            grad_y.iter_mut().zip(y).for_each(|(g, &y)| *g = if y > 0.0 { *g } else { 0.0 });
        }
        let g = grad_y;
        // ∂J/∂b: the column sums of g.
        let mut grad_b = vec![0.0f32; outputs];
        for row in g.chunks_exact(outputs) {
            grad_b.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
        }
        // ∂J/∂W = xᵀ·g, computed as its transpose gᵀ·x (outputs × inputs) written column-major, which is W's
        // row-major layout (the order in which the product runs fastest here): gᵀ from g's row-major
        // batch × outputs values, x (batch × inputs) row-major.
        let g_t = Strided { values: &g, row: 1, col: outputs };
        let x_values = Strided { values: x, row: inputs, col: 1 };
        let grad_w = product((outputs, inputs, batch), true, g_t, x_values);
        // ∂J/∂x = g·Wᵀ, with Wᵀ (outputs × inputs) from W's row-major inputs × outputs values.
        let grad_x = with_x.then(|| {
            let (g, w_t) =
                (Strided { values: &g, row: outputs, col: 1 }, Strided { values: weight, row: 1, col: outputs });
            product((batch, inputs, outputs), false, g, w_t)
        });
        Gradients { x: grad_x, weight: grad_w, bias: grad_b }
    }
}

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        if self.relu {
            "dense-relu"
        } else {
            "dense"
        }
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        weight: &CpuStorage,
        w_layout: &Layout,
        bias: &CpuStorage,
        b_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (batch, inputs, outputs) = dimensions(x_layout.dims(), w_layout.dims(), b_layout.dims())?;
        let (x, weight, bias) =
            (matrix(x, x_layout, "x")?, matrix(weight, w_layout, "weight")?, matrix(bias, b_layout, "bias")?);
        let y = self.forward(Sizes { batch, inputs, outputs }, x, weight, bias);
        Ok((CpuStorage::F32(y), Shape::from((batch, outputs))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        y: &Tensor,
        grad_y: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (x, weight, y, grad_y) = (x.contiguous()?, weight.contiguous()?, y.contiguous()?, grad_y.contiguous()?);
        let (x_storage, x_layout) = x.storage_and_layout();
        let (w_storage, w_layout) = weight.storage_and_layout();
        let (y_storage, y_layout) = y.storage_and_layout();
        let (g_storage, g_layout) = grad_y.storage_and_layout();
        let (batch, inputs) = x_layout.shape().dims2()?;
        let outputs = w_layout.shape().dims2()?.1;
        let values =
            (cpu_values(&x_storage, x_layout)?, cpu_values(&w_storage, w_layout)?, cpu_values(&y_storage, y_layout)?);
        let grad_y = cpu_values(&g_storage, g_layout)?.to_vec();
        // ∂J/∂x only where x depends on a variable (not for a batch of images).
        let grads = self.backward(Sizes { batch, inputs, outputs }, values, grad_y, x.track_op());
        let device = x.device();
        Ok((
            grads.x.map(|g| Tensor::from_vec(g, (batch, inputs), device)).transpose()?,
            Some(Tensor::from_vec(grads.weight, (inputs, outputs), device)?),
            Some(Tensor::from_vec(grads.bias, outputs, device)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::Dense;
    use candle_core::{Device, Tensor, Var};

    fn values(count: usize, seed: u64) -> Vec<f32> {
        // A small linear congruential sequence in [-1, 1), with exact zeros now and then for the ReLU's edge.
        let mut state = seed;
        (0..count)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if i % 11 == 0 {
                    0.0
                } else {
                    ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                }
            })
            .collect()
    }

    /// Every gradient equals the one candle's autograd gives for the same layer built from its own matmul,
    /// broadcast addition and ReLU (to a few f32 ulps: the products sum in other orders).
    #[test]
    fn gradients_equal_candles_composite_layer() -> candle_core::Result<()> {
        for (relu, input_is_variable) in [(true, true), (false, true), (true, false)] {
            let (batch, inputs, outputs) = (37, 53, 29);
            let device = &Device::Cpu;
            let x = Var::from_vec(values(batch * inputs, 1), (batch, inputs), device)?;
            let w = Var::from_vec(values(inputs * outputs, 2), (inputs, outputs), device)?;
            let b = Var::from_vec(values(outputs, 3), outputs, device)?;
            let r = Tensor::from_vec(values(batch * outputs, 4), (batch, outputs), device)?;
            let input = if input_is_variable { x.as_tensor().clone() } else { x.as_tensor().detach() };
            let ours = Dense { relu }.apply(&input, w.as_tensor(), b.as_tensor())?;
            let mut theirs = input.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            if relu {
                theirs = theirs.relu()?;
            }
            let max_difference = |a: &Tensor, b: &Tensor| -> candle_core::Result<f32> {
                (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
            };
            assert!(max_difference(&ours, &theirs)? < 1e-5, "forward");
            let our_grads = (ours * &r)?.sum_all()?.backward()?;
            let their_grads = (theirs * &r)?.sum_all()?.backward()?;
            for var in [&w, &b] {
                let (a, b) = (our_grads.get(var).expect("gradient"), their_grads.get(var).expect("gradient"));
                assert!(max_difference(a, b)? < 1e-5, "relu {relu}: {:?}", var.dims());
            }
            match (our_grads.get(&x), input_is_variable) {
                (Some(a), true) => assert!(max_difference(a, their_grads.get(&x).expect("gradient"))? < 1e-5),
                (None, false) => {}
                (found, _) => panic!("gradient of x: {:?} with input_is_variable {input_is_variable}", found.is_some()),
            }
        }
        Ok(())
    }

    #[test]
    fn mismatched_shapes_are_refused() -> candle_core::Result<()> {
        let device = &Device::Cpu;
        let x = Tensor::zeros((4, 3), candle_core::DType::F32, device)?;
        let w = Tensor::zeros((5, 2), candle_core::DType::F32, device)?;
        let b = Tensor::zeros(2, candle_core::DType::F32, device)?;
        let error = Dense { relu: true }.apply(&x, &w, &b).unwrap_err().to_string();
        assert!(error.contains("do not fit"), "{error}");
        Ok(())
    }
}
