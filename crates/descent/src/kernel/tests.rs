//! The fast path (SIMD versions, chunks, threads) against the element-by-element reference: identical bits.

use super::{reference, CHUNK};
use crate::{Adadelta, Adagrad, Adam, AdamW, Float, Optimizer, Param, RmsProp, Rule, Sgd, StepCount};

/// Lengths around the vector widths and the chunk size.
const LENGTHS: [usize; 9] = [1, 7, 15, 16, 17, 1037, CHUNK - 1, CHUNK + 3, 3 * CHUNK + 5];

/// A deterministic value in about [-2, 2], different for every (seed, index).
fn value(seed: u64, i: usize) -> f64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x % 4_000_001) as f64 / 1_000_000.0 - 2.0
}

fn bits<T: Float>(values: &[T]) -> Vec<u64> {
    values.iter().map(|v| v.to_f64().to_bits()).collect()
}

/// Steps one parameter of `len` elements with `hyper` through the optimizer (fast path) and through the
/// reference loop, for a few steps, and compares every value.
fn compare<R: Rule, T: Float>(hyper: R, len: usize) {
    let mut fast: Vec<T> = (0..len).map(|i| T::from_f64(value(1, i))).collect();
    let mut slow = fast.clone();
    let mut optimizer = Optimizer::<R, T>::new(hyper.clone(), [Param::new(len)]).unwrap();
    let initial = T::from_f64(hyper.initial_state_value());
    let mut state: Vec<Vec<T>> = hyper.state_names().iter().map(|_| vec![initial; len]).collect();
    for step in 1..=4u64 {
        let grad: Vec<T> = (0..len).map(|i| T::from_f64(value(step + 1, i))).collect();
        optimizer.step(&mut [&mut fast], &[Some(&grad)]).unwrap();
        let t = if hyper.counts_steps() { step as f64 } else { 0.0 };
        let c = hyper.coefficients::<T>(StepCount { t, first: step == 1 });
        reference::<R, T>(&c, &mut slow, &grad, &mut state);
        let what = format!("{} {} len {len} step {step}", R::NAME, T::NAME);
        assert_eq!(bits(&fast), bits(&slow), "{what}: parameter");
        if let Some(fast_state) = optimizer.state(0) {
            for ((name, fast_tensor), slow_tensor) in fast_state.tensors().zip(&state) {
                assert_eq!(bits(fast_tensor), bits(slow_tensor), "{what}: {name}");
            }
        }
    }
}

fn compare_all<T: Float>() {
    for len in LENGTHS {
        compare::<Sgd, T>(Sgd { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01, ..Sgd::default() }, len);
        compare::<Sgd, T>(Sgd { lr: 0.1, momentum: 0.5, dampening: 0.2, maximize: true, ..Sgd::default() }, len);
        compare::<Adagrad, T>(Adagrad { lr_decay: 0.01, initial_accumulator_value: 0.1, ..Adagrad::default() }, len);
        compare::<RmsProp, T>(RmsProp { momentum: 0.9, centered: true, weight_decay: 0.1, ..RmsProp::default() }, len);
        compare::<RmsProp, T>(RmsProp { alpha: 0.3, ..RmsProp::default() }, len);
        compare::<Adadelta, T>(Adadelta { weight_decay: 0.1, maximize: true, ..Adadelta::default() }, len);
        compare::<Adam, T>(Adam { amsgrad: true, weight_decay: 0.1, betas: (0.3, 0.99), ..Adam::default() }, len);
        compare::<AdamW, T>(AdamW { lr: 0.01, ..AdamW::default() }, len);
    }
}

#[test]
fn the_fast_path_matches_the_reference_bit_for_bit_in_f32() {
    compare_all::<f32>();
}

#[test]
fn the_fast_path_matches_the_reference_bit_for_bit_in_f64() {
    compare_all::<f64>();
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Several tensors, some larger than a chunk, stepped in one parallel pass.
    let lens = [3 * CHUNK + 5, 17, CHUNK, 1000, 2 * CHUNK - 1];
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut params: Vec<Vec<f32>> =
                lens.iter().map(|&n| (0..n).map(|i| value(7, i) as f32).collect()).collect();
            let hyper = Adam { amsgrad: true, ..Adam::default() };
            let mut opt = Optimizer::<Adam, f32>::new(hyper, lens.iter().map(|&n| Param::new(n))).unwrap();
            for step in 0..3 {
                let grads: Vec<Vec<f32>> =
                    lens.iter().map(|&n| (0..n).map(|i| value(step + 8, i) as f32).collect()).collect();
                let mut slices: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
                let grad_slices: Vec<Option<&[f32]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
                opt.step(&mut slices, &grad_slices).unwrap();
            }
            let state: Vec<Vec<u64>> =
                (0..lens.len()).flat_map(|k| opt.state(k).unwrap().tensors().map(|(_, t)| bits(t))).collect();
            (params.iter().map(|p| bits(p)).collect::<Vec<_>>(), state)
        })
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
}
