//! Optimizer steps, for developers: `cargo bench -p descent`. Every optimizer on one tensor of 1M `f32`
//! parameters and on 1,000 tensors of 1,000. (`descent bench` measures the same steps against the memory-bandwidth
//! limit; BENCHMARKS.md has its results.)

use descent::{Adadelta, Adagrad, Adam, AdamW, Optimizer, Param, RmsProp, Rule, Sgd};
use divan::Bencher;

fn main() {
    divan::main();
}

/// Tensor lengths of each layout.
const LAYOUTS: [(&str, usize, usize); 2] = [("1x1M", 1, 1_000_000), ("1000x1000", 1000, 1000)];

fn step<R: Rule>(bencher: Bencher, hyper: R, layout: usize) {
    let (_, tensors, len) = LAYOUTS[layout];
    let mut params: Vec<Vec<f32>> = (0..tensors).map(|_| vec![0.5; len]).collect();
    let grads: Vec<Vec<f32>> = (0..tensors).map(|_| (0..len).map(|i| (i % 100) as f32 * 1e-3).collect()).collect();
    let mut opt = Optimizer::<R, f32>::new(hyper, (0..tensors).map(|_| Param::new(len))).unwrap();
    let mut slices: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
    let grad_slices: Vec<Option<&[f32]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
    opt.step(&mut slices, &grad_slices).unwrap();
    bencher
        .counter(divan::counter::ItemsCount::new(tensors * len))
        .bench_local(|| opt.step(&mut slices, &grad_slices).unwrap());
}

#[divan::bench(args = [0, 1])]
fn sgd_momentum(bencher: Bencher, layout: usize) {
    step(bencher, Sgd { momentum: 0.9, ..Sgd::default() }, layout);
}

#[divan::bench(args = [0, 1])]
fn adagrad(bencher: Bencher, layout: usize) {
    step(bencher, Adagrad::default(), layout);
}

#[divan::bench(args = [0, 1])]
fn rmsprop(bencher: Bencher, layout: usize) {
    step(bencher, RmsProp::default(), layout);
}

#[divan::bench(args = [0, 1])]
fn adadelta(bencher: Bencher, layout: usize) {
    step(bencher, Adadelta::default(), layout);
}

#[divan::bench(args = [0, 1])]
fn adam(bencher: Bencher, layout: usize) {
    step(bencher, Adam::default(), layout);
}

#[divan::bench(args = [0, 1])]
fn adamw(bencher: Bencher, layout: usize) {
    step(bencher, AdamW::default(), layout);
}
