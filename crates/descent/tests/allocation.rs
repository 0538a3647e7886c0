//! A step allocates nothing once the state exists, on the sequential path and on the threaded one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use descent::{Adadelta, Adagrad, Adam, Optimizer, Param, RmsProp, Rule, Sgd};

/// Counts every allocation of the process.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations during five steps, after two that create the state (and start rayon's threads).
fn allocations_per_steps<R: Rule>(hyper: R, lens: &[usize]) -> usize {
    let mut params: Vec<Vec<f32>> = lens.iter().map(|&n| vec![0.5; n]).collect();
    let grads: Vec<Vec<f32>> = lens.iter().map(|&n| vec![0.25; n]).collect();
    let mut opt = Optimizer::<R, f32>::new(hyper, lens.iter().map(|&n| Param::new(n))).unwrap();
    let mut slices: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
    let grad_slices: Vec<Option<&[f32]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
    for _ in 0..2 {
        opt.step(&mut slices, &grad_slices).unwrap();
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..5 {
        opt.step(&mut slices, &grad_slices).unwrap();
    }
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn steps_allocate_nothing_once_the_state_exists() {
    let small = [1000, 7, 1];
    let large = [300_000, 1000, 100_000, 17];
    for lens in [&small[..], &large[..]] {
        assert_eq!(allocations_per_steps(Adam { amsgrad: true, ..Adam::default() }, lens), 0, "Adam {lens:?}");
        let rmsprop = RmsProp { momentum: 0.9, centered: true, ..RmsProp::default() };
        assert_eq!(allocations_per_steps(rmsprop, lens), 0, "RMSprop {lens:?}");
        assert_eq!(allocations_per_steps(Sgd { momentum: 0.9, ..Sgd::default() }, lens), 0, "SGD {lens:?}");
        assert_eq!(allocations_per_steps(Adagrad::default(), lens), 0, "Adagrad {lens:?}");
        assert_eq!(allocations_per_steps(Adadelta::default(), lens), 0, "Adadelta {lens:?}");
    }
}
