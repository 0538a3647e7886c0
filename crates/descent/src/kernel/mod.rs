//! Applies an update rule over whole slices, as fast as memory allows.
//!
//! An optimizer step reads every parameter, gradient and state value once and writes them once, so its speed
//! limit is memory bandwidth. The driver gets there in three ways:
//! - **One fused pass.** Each element is loaded, updated by the rule (inlined) and stored, once.
//! - **SIMD.** The loop is compiled for AVX-512, AVX2+FMA and NEON besides the baseline, and the best version the
//!   CPU supports is chosen at run time ([`vector`]); a default `cargo build --release` is fast everywhere.
//! - **Threads.** A large tensor is cut into chunks of [`CHUNK`] elements that rayon's threads take in parallel; an
//!   optimizer steps all its tensors in one parallel pass, so thousands of small tensors keep every thread busy.
//!
//! None of this changes a result: the rule is the same IEEE arithmetic in every version (Rust never reassociates
//! or contracts floating-point operations), and each element's update depends on that element alone, so results
//! are identical bit for bit across instruction sets, chunkings and thread counts.

#[cfg(test)]
mod tests;
mod vector;

/// The most state tensors any rule keeps per parameter (Adam with AMSGrad, RMSprop centered with momentum).
pub(crate) const MAX_STATE_TENSORS: usize = 3;

/// Elements per parallel task: 32 Ki elements (128 KiB of `f32` per array) amortize a task's cost many times over
/// and still give every thread work on tensors of a few hundred thousand elements.
pub const CHUNK: usize = 1 << 15;

use crate::{Float, Rule};

/// Runs `R::update` on every element of `param`, with the matching elements of `grad` and each state tensor.
///
/// The caller has checked that every slice has `param.len()` elements and that there are at most
/// [`MAX_STATE_TENSORS`] state tensors.
pub(crate) fn apply<R: Rule, T: Float>(c: &R::Coefficients<T>, param: &mut [T], grad: &[T], state: &mut [Vec<T>]) {
    match state {
        [] => split::<R, T, 0>(c, param, grad, []),
        [a] => split::<R, T, 1>(c, param, grad, [a]),
        [a, b] => split::<R, T, 2>(c, param, grad, [a, b]),
        [a, b, c3] => split::<R, T, 3>(c, param, grad, [a, b, c3]),
        _ => unreachable!("rules keep at most {MAX_STATE_TENSORS} state tensors"),
    }
}

/// Splits the slices in halves at a multiple of [`CHUNK`] until they fit in one chunk, running the halves in
/// parallel.
fn split<R: Rule, T: Float, const N: usize>(c: &R::Coefficients<T>, param: &mut [T], grad: &[T], state: [&mut [T]; N]) {
    let len = param.len();
    if len <= CHUNK {
        return vector::update::<R, T, N>(c, param, grad, state);
    }
    let mid = len.div_ceil(CHUNK) / 2 * CHUNK;
    let (p_left, p_right) = param.split_at_mut(mid);
    let (g_left, g_right) = grad.split_at(mid);
    let mut halves = state.map(|s| {
        let (left, right) = s.split_at_mut(mid);
        (Some(left), Some(right))
    });
    let s_left: [&mut [T]; N] = std::array::from_fn(|k| halves[k].0.take().expect("split once"));
    let s_right: [&mut [T]; N] = std::array::from_fn(|k| halves[k].1.take().expect("split once"));
    rayon::join(|| split::<R, T, N>(c, p_left, g_left, s_left), || split::<R, T, N>(c, p_right, g_right, s_right));
}

/// The rule applied element by element by the baseline build of the loop, without SIMD dispatch or threads: the
/// reference the fast path is tested against.
#[cfg(test)]
pub(crate) fn reference<R: Rule, T: Float>(c: &R::Coefficients<T>, param: &mut [T], grad: &[T], state: &mut [Vec<T>]) {
    let mut lanes = [T::default(); MAX_STATE_TENSORS];
    let lanes = &mut lanes[..state.len()];
    for (i, (p, &g)) in param.iter_mut().zip(grad).enumerate() {
        for (lane, tensor) in lanes.iter_mut().zip(state.iter()) {
            *lane = tensor[i];
        }
        R::update(c, p, g, lanes);
        for (lane, tensor) in lanes.iter().zip(state.iter_mut()) {
            tensor[i] = *lane;
        }
    }
}
