//! Applies an update rule over whole slices, as fast as memory allows.
//!
//! An optimizer step reads every parameter, gradient and state value once and writes them once, so its speed
//! limit is memory bandwidth. The driver gets there in five ways:
//! - **One fused pass.** Each element is loaded, clipped if the global stage says so, updated by the rule
//!   (inlined) and stored, once.
//! - **SIMD.** The loop is compiled for AVX-512, AVX2+FMA and NEON besides the baseline, and the best version the
//!   CPU supports is chosen at run time ([`vector`]); a default `cargo build --release` is fast everywhere.
//! - **Threads.** A large tensor is cut into chunks of [`CHUNK`] elements that rayon's threads take in parallel; an
//!   optimizer steps all its tensors in one parallel pass, so thousands of small tensors keep every thread busy.
//! - **Data asked for ahead.** A tensor too large for the caches is stepped a span at a time, each span asking for
//!   the lines of one further on ([`prefetch`]), so that more of them are on their way from memory at once.
//! - **No slow path.** Subnormal numbers count as zero while a kernel runs ([`denormals`]), so a step takes as long
//!   in epoch 20 as in epoch 1.
//!
//! None of this changes a result for normal numbers: the rule is the same IEEE arithmetic in every version (Rust never reassociates
//! or contracts floating-point operations), and each element's update depends on that element alone, so results
//! are identical bit for bit across instruction sets, chunkings and thread counts.

mod denormals;
pub(crate) mod prefetch;
#[cfg(test)]
mod tests;
mod vector;

pub(crate) use denormals::{without_flush, FlushDenormals};
pub(crate) use vector::Isa;
pub use vector::{with_best_isa, Inline, Loop};
pub(crate) use vector::{AsGiven, Clipped, GradMap};

use rayon::prelude::*;

use crate::state::{StateTensor, MAX_ELEMENTWISE_TENSORS};
use crate::{Float, Rule};

/// Elements per parallel task: 32 Ki elements (128 KiB of `f32` per array) amortize a task's cost many times over
/// and still give every thread work on tensors of a few hundred thousand elements.
pub const CHUNK: usize = 1 << 15;

/// Runs `R::update` on every element of `param`, with the matching elements of `grad` (mapped by `map`) and each
/// element-wise state tensor.
///
/// The caller has checked that every slice has `param.len()` elements; the layout check at registration keeps
/// the tensors within [`MAX_ELEMENTWISE_TENSORS`].
pub(crate) fn apply<R: Rule, T: Float, G: GradMap<T>>(
    c: &R::Coefficients<T>,
    param: &mut [T],
    grad: &[T],
    state: &mut [StateTensor<T>],
    map: G,
) {
    let isa = Isa::best();
    let ahead = prefetch::from_memory::<T>(param.len(), 2 + state.len());
    match state {
        [] => split::<R, T, G, 0>(isa, ahead, c, param, grad, [], map),
        [a] => split::<R, T, G, 1>(isa, ahead, c, param, grad, [&mut a.values], map),
        [a, b] => split::<R, T, G, 2>(isa, ahead, c, param, grad, [&mut a.values, &mut b.values], map),
        [a, b, c3] => {
            split::<R, T, G, 3>(isa, ahead, c, param, grad, [&mut a.values, &mut b.values, &mut c3.values], map)
        }
        [a, b, c3, d] => split::<R, T, G, 4>(
            isa,
            ahead,
            c,
            param,
            grad,
            [&mut a.values, &mut b.values, &mut c3.values, &mut d.values],
            map,
        ),
        _ => unreachable!("layouts keep at most {MAX_ELEMENTWISE_TENSORS} element-wise state tensors"),
    }
}

/// Writes the look-ahead point of every element into `point` (see [`Rule::look_ahead`]), as the fused pass runs:
/// compiled for the best instruction set, with subnormal numbers counted as zero, a tensor larger than [`CHUNK`]
/// split across threads.
pub(crate) fn look_ahead<R: Rule, T: Float>(
    c: &R::Coefficients<T>,
    param: &[T],
    state: &[StateTensor<T>],
    point: &mut [T],
) {
    match state {
        [] => split_look_ahead::<R, T, 0>(c, param, [], point),
        [a] => split_look_ahead::<R, T, 1>(c, param, [&a.values], point),
        [a, b] => split_look_ahead::<R, T, 2>(c, param, [&a.values, &b.values], point),
        [a, b, c3] => split_look_ahead::<R, T, 3>(c, param, [&a.values, &b.values, &c3.values], point),
        [a, b, c3, d] => split_look_ahead::<R, T, 4>(c, param, [&a.values, &b.values, &c3.values, &d.values], point),
        _ => unreachable!("layouts keep at most {MAX_ELEMENTWISE_TENSORS} element-wise state tensors"),
    }
}

/// [`look_ahead`] in halves at a multiple of [`CHUNK`], as [`split`] runs the fused pass.
fn split_look_ahead<R: Rule, T: Float, const N: usize>(
    c: &R::Coefficients<T>,
    param: &[T],
    state: [&[T]; N],
    point: &mut [T],
) {
    let len = param.len();
    if len <= CHUNK {
        return with_best_isa(Inline(
            #[inline(always)]
            || vector::look_ahead::<R, T, N>(c, param, state, point),
        ));
    }
    let mid = len.div_ceil(CHUNK) / 2 * CHUNK;
    let (point_left, point_right) = point.split_at_mut(mid);
    rayon::join(
        || split_look_ahead::<R, T, N>(c, &param[..mid], state.map(|s| &s[..mid]), point_left),
        || split_look_ahead::<R, T, N>(c, &param[mid..], state.map(|s| &s[mid..]), point_right),
    );
}

/// Runs `f` on every element of `dst` with the matching element of `src`, as the fused pass runs: compiled for the
/// best instruction set (fused multiply-adds in hardware, not calls into a software `fma`), subnormal numbers
/// counted as zero, and a slice longer than [`CHUNK`] cut into chunks that rayon's threads share. For the
/// element-wise loops outside the fused pass (a rule's per-tensor stage, weight averages, L-BFGS).
pub(crate) fn zip_elements<T: Send, S: Copy + Sync>(dst: &mut [T], src: &[S], f: impl Fn(&mut T, S) + Sync) {
    let run = |dst: &mut [T], src: &[S]| {
        with_best_isa(Inline(
            #[inline(always)]
            || {
                for (d, &s) in dst.iter_mut().zip(src) {
                    f(d, s);
                }
            },
        ))
    };
    if dst.len() <= CHUNK {
        run(dst, src);
    } else {
        dst.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).for_each(|(dst, src)| run(dst, src));
    }
}

/// Splits the slices in halves at a multiple of [`CHUNK`] until they fit in one chunk, running the halves in
/// parallel; `ahead`: whether the whole tensor comes from memory, so that each chunk's loop asks for its data
/// ahead.
fn split<R: Rule, T: Float, G: GradMap<T>, const N: usize>(
    isa: Isa,
    ahead: bool,
    c: &R::Coefficients<T>,
    param: &mut [T],
    grad: &[T],
    state: [&mut [T]; N],
    map: G,
) {
    let len = param.len();
    if len <= CHUNK {
        return vector::update::<R, T, G, N>(isa, ahead, c, param, grad, state, map);
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
    rayon::join(
        || split::<R, T, G, N>(isa, ahead, c, p_left, g_left, s_left, map),
        || split::<R, T, G, N>(isa, ahead, c, p_right, g_right, s_right, map),
    );
}
