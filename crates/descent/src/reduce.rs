//! Sums that vectorize and do not depend on the number of threads: eight running sums within a slice, and chunks
//! of [`CHUNK`] elements on rayon's threads whose results are combined in chunk order.

use std::ops::{Add, Range};

use rayon::prelude::*;

use crate::kernel::CHUNK;

/// `part` of every chunk of [`CHUNK`] elements of `0..len`, on rayon's threads, combined in chunk order (the
/// default for `len` = 0): the same result whatever the number of threads.
pub(crate) fn in_chunks<A: Send + Default>(
    len: usize,
    part: impl Fn(Range<usize>) -> A + Sync,
    combine: impl Fn(A, A) -> A,
) -> A {
    let chunks = len.div_ceil(CHUNK);
    let parts: Vec<A> = (0..chunks).into_par_iter().map(|c| part(c * CHUNK..((c + 1) * CHUNK).min(len))).collect();
    parts.into_iter().reduce(combine).unwrap_or_default()
}

/// Σ term(aᵢ, bᵢ) in eight running sums, eight values at a time, so that the loop vectorizes (one sum would make
/// every addition wait for the one before); the sums are added pairwise at the end.
#[inline(always)]
pub(crate) fn lanes<X: Copy, A: Copy + Default + Add<Output = A>>(a: &[X], b: &[X], term: impl Fn(X, X) -> A) -> A {
    let mut sums = [A::default(); 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b[..a.len()].chunks_exact(8));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            sums[k] = sums[k] + term(x[k], y[k]);
        }
    }
    for ((sum, &x), &y) in sums.iter_mut().zip(a_rest).zip(b_rest) {
        *sum = *sum + term(x, y);
    }
    ((sums[0] + sums[4]) + (sums[2] + sums[6])) + ((sums[1] + sums[5]) + (sums[3] + sums[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_exact_for_integers_and_the_same_on_one_thread() {
        let a: Vec<f64> = (0..100_003).map(|i| f64::from(i % 17) - 8.0).collect();
        let total = in_chunks(a.len(), |r| lanes(&a[r.clone()], &a[r], |x, _| x), |x, y| x + y);
        assert_eq!(total, (0..100_003).map(|i| f64::from(i % 17) - 8.0).sum::<f64>());
        let noisy: Vec<f64> = (0..70_001).map(|i| (f64::from(i) * 0.618).sin()).collect();
        let sum = || in_chunks(noisy.len(), |r| lanes(&noisy[r.clone()], &noisy[r], |x, y| x * y), |x, y| x + y);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(one.install(sum).to_bits(), sum().to_bits());
        assert_eq!(in_chunks(0, |_| 1.0, |x, y| x + y), 0.0);
    }
}
