//! The fast path (every SIMD version the CPU runs, chunks, threads) against the element-by-element reference:
//! identical bits.

use super::vector::{self, AsGiven, Isa};
use super::CHUNK;
use crate::{Adadelta, Adagrad, Adam, AdamW, Float, Optimizer, Param, RmsProp, Rule, Sgd, StepContext};
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

/// The rule applied element by element in a plain loop, without SIMD dispatch or threads: the reference.
fn reference<R: Rule, T: Float>(c: &R::Coefficients<T>, param: &mut [T], grad: &[T], state: &mut [Vec<T>]) {
    let mut lanes = vec![T::default(); state.len()];
    for (i, (p, &g)) in param.iter_mut().zip(grad).enumerate() {
        for (lane, tensor) in lanes.iter_mut().zip(state.iter()) {
            *lane = tensor[i];
        }
        R::update(c, p, g, &mut lanes);
        for (lane, tensor) in lanes.iter().zip(state.iter_mut()) {
            tensor[i] = *lane;
        }
    }
}

/// One version of the fused loop over whole slices (no threads), asking for its data ahead or not.
fn by_isa<R: Rule, T: Float>(
    (isa, ahead): (Isa, bool),
    c: &R::Coefficients<T>,
    param: &mut [T],
    grad: &[T],
    state: &mut [Vec<T>],
) {
    match state {
        [] => vector::update::<R, T, AsGiven, 0>(isa, ahead, c, param, grad, [], AsGiven),
        [a] => vector::update::<R, T, AsGiven, 1>(isa, ahead, c, param, grad, [a], AsGiven),
        [a, b] => vector::update::<R, T, AsGiven, 2>(isa, ahead, c, param, grad, [a, b], AsGiven),
        [a, b, d] => vector::update::<R, T, AsGiven, 3>(isa, ahead, c, param, grad, [a, b, d], AsGiven),
        _ => unreachable!("the tested rules keep at most three tensors"),
    }
}

/// Steps one parameter of `len` elements with `hyper` through the optimizer (fast path, threads), through every
/// SIMD version the CPU runs, and through the reference loop, for a few steps, and compares every value.
fn compare<R: Rule, T: Float>(hyper: R, len: usize) {
    let start: Vec<T> = (0..len).map(|i| T::from_f64(value(1, i))).collect();
    let mut fast = start.clone();
    let mut optimizer = Optimizer::<R, T>::new(hyper.clone(), [Param::new(len)]).unwrap();
    let layout = hyper.layout(&len.into()).unwrap();
    let fresh = layout.create::<T>(&len.into());
    let initial: Vec<Vec<T>> = fresh.tensors().map(|(_, t)| t.to_vec()).collect();
    let isas: Vec<(Isa, bool)> =
        Isa::ALL.iter().copied().filter(|isa| isa.supported()).flat_map(|isa| [(isa, false), (isa, true)]).collect();
    let mut versions: Vec<(Vec<T>, Vec<Vec<T>>)> = isas.iter().map(|_| (start.clone(), initial.clone())).collect();
    let (mut slow, mut state) = (start, initial);
    for step in 1..=4u64 {
        let grad: Vec<T> = (0..len).map(|i| T::from_f64(value(step + 1, i))).collect();
        optimizer.step(&mut [&mut fast], &[Some(&grad)]).unwrap();
        let t = if layout.step { step as f64 } else { 0.0 };
        let c = hyper.coefficients::<T>(&StepContext { t, first: step == 1, scalars: &[], global: &[] });
        reference::<R, T>(&c, &mut slow, &grad, &mut state);
        for (isa, (param, tensors)) in isas.iter().zip(&mut versions) {
            by_isa::<R, T>(*isa, &c, param, &grad, tensors);
            let what = format!("{} {} {isa:?} len {len} step {step}", R::NAME, T::NAME);
            assert_eq!(bits(param), bits(&slow), "{what}: parameter");
            for (tensor, slow_tensor) in tensors.iter().zip(&state) {
                assert_eq!(bits(tensor), bits(slow_tensor), "{what}: state");
            }
        }
        let what = format!("{} {} len {len} step {step}", R::NAME, T::NAME);
        assert_eq!(bits(&fast), bits(&slow), "{what}: parameter");
        if let Some(fast_state) = optimizer.state(0) {
            for ((name, fast_tensor), slow_tensor) in fast_state.tensors().zip(&state) {
                assert_eq!(bits(fast_tensor), bits(slow_tensor), "{what}: {name}");
            }
        }
    }
}

#[test]
fn the_best_version_is_supported_and_baseline_always_is() {
    assert!(Isa::best().supported());
    assert!(Isa::Baseline.supported());
    assert_eq!(Isa::ALL.last(), Some(&Isa::Baseline));
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
