//! The fused loop, compiled once per instruction set and dispatched at run time.

use multiversion::multiversion;

use crate::{Float, Rule};

/// Applies `R::update` to every element: loads the parameter, gradient and `N` state values, updates them in
/// registers, stores them back.
///
/// The rule is inlined into each version of the loop, which LLVM vectorizes for the version's instruction set:
/// 16 `f32` per AVX-512 instruction, 8 per AVX2 one, 4 per NEON one, and a scalar tail for the rest. Fused
/// multiply-adds stay fused in every version (on x86-64 CPUs without FMA, the baseline version calls the C
/// library's correctly rounded `fma`, which keeps results exact at scalar speed).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq+avx512bw+avx2+fma", "x86_64+avx2+fma", "aarch64+neon"))]
pub(super) fn update<R: Rule, T: Float, const N: usize>(
    c: &R::Coefficients<T>,
    param: &mut [T],
    grad: &[T],
    state: [&mut [T]; N],
) {
    let len = param.len();
    let grad = &grad[..len];
    let mut state = state.map(|s| &mut s[..len]);
    for i in 0..len {
        let mut p = param[i];
        let mut lanes: [T; N] = std::array::from_fn(|k| state[k][i]);
        R::update(c, &mut p, grad[i], &mut lanes);
        param[i] = p;
        for (tensor, lane) in state.iter_mut().zip(lanes) {
            tensor[i] = lane;
        }
    }
}
