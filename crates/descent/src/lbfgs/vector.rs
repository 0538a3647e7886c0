//! The vector operations of L-BFGS over the flat parameter vector: reductions and updates in chunks that rayon's
//! threads share, each compiled for the CPU's instruction set.
//!
//! Reductions go through [`reduce`](crate::reduce): their results do not depend on the number of threads.

use rayon::prelude::*;

use crate::kernel::{zip_elements, Inline, CHUNK};
use crate::reduce::{in_chunks, lanes};
use crate::{with_best_isa, Float};

/// Σ aᵢ·bᵢ (`a.dot(b)`), in the element type.
pub(crate) fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let part = |r: std::ops::Range<usize>| {
        let (a, b) = (&a[r.clone()], &b[r]);
        with_best_isa(Inline(
            #[inline(always)]
            || lanes(a, b, |x, y| x * y),
        ))
    };
    in_chunks(a.len(), part, |x, y| x + y)
}

/// max |aᵢ| (`a.abs().max()`); NaN if any element is NaN.
pub(crate) fn abs_max<T: Float>(a: &[T]) -> T {
    let larger = |x: T, y: T| if x.to_f64().is_nan() || x > y { x } else { y };
    in_chunks(a.len(), |r| a[r].iter().map(|v| v.abs()).fold(T::default(), larger), larger)
}

/// Σ |aᵢ| (`a.abs().sum()`), in the element type.
pub(crate) fn abs_sum<T: Float>(a: &[T]) -> T {
    let part = |r: std::ops::Range<usize>| {
        let a = &a[r];
        with_best_isa(Inline(
            #[inline(always)]
            || lanes(a, a, |x, _| x.abs()),
        ))
    };
    in_chunks(a.len(), part, |x, y| x + y)
}

/// y ← y + α·x with one rounding per element (`y.add_(x, alpha=α)`).
pub(crate) fn add_scaled<T: Float>(y: &mut [T], alpha: T, x: &[T]) {
    zip_elements(y, x, |y, x| *y = alpha.mul_add(x, *y));
}

/// out ← a·factor (`a.mul(factor)`); `out` is resized to `a`'s length.
pub(crate) fn scaled<T: Float>(out: &mut Vec<T>, a: &[T], factor: T) {
    out.resize(a.len(), T::default());
    out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).for_each(|(out, a)| {
        for (o, &v) in out.iter_mut().zip(a) {
            *o = v * factor;
        }
    });
}

/// out ← a − b (`a.sub(b)`); `out` is resized to `a`'s length.
pub(crate) fn difference<T: Float>(out: &mut Vec<T>, a: &[T], b: &[T]) {
    out.resize(a.len(), T::default());
    out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK))).for_each(|(out, (a, b))| {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = x - y;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_match_exact_sums_and_do_not_depend_on_threads() {
        // Integers below 2²⁴ sum exactly in f32, in any order.
        let a: Vec<f32> = (0..200_000).map(|i| ((i % 17) as f32) - 8.0).collect();
        let b: Vec<f32> = (0..200_000).map(|i| ((i % 5) as f32) - 2.0).collect();
        let exact: i64 = (0..200_000_i64).map(|i| (i % 17 - 8) * (i % 5 - 2)).sum();
        assert_eq!(dot(&a, &b), exact as f32);
        assert_eq!(abs_sum(&b), (0..200_000_i64).map(|i| (i % 5 - 2).abs()).sum::<i64>() as f32);
        assert_eq!(abs_max(&a), 8.0);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let noisy: Vec<f32> = (0..100_003).map(|i| ((i as f32) * 0.618).sin()).collect();
        assert_eq!(one.install(|| dot(&noisy, &noisy)).to_bits(), dot(&noisy, &noisy).to_bits());
    }

    #[test]
    fn abs_max_sees_nan() {
        assert!(abs_max(&[1.0_f64, f64::NAN, 2.0]).is_nan());
    }

    #[test]
    fn add_scaled_rounds_once() {
        let mut y = vec![1.0_f64];
        add_scaled(&mut y, 1.0 + f64::EPSILON, &[1.0 - f64::EPSILON / 2.0]);
        assert_eq!(y[0], (1.0 + f64::EPSILON).mul_add(1.0 - f64::EPSILON / 2.0, 1.0));
    }
}
