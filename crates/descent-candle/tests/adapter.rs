//! A step through candle equals the same step on plain slices, and happens in place.

use candle_core::{DType, Device, Storage, Tensor, Var};
use candle_nn::Optimizer;
use descent::{Param, Spec};
use descent_candle::DescentOptimizer;

fn values(var: &Var) -> Vec<f64> {
    var.as_tensor().flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1().unwrap()
}

/// The address of the variable's storage: unchanged if the step wrote in place.
fn address(var: &Var) -> usize {
    let (storage, _) = var.as_tensor().storage_and_layout();
    match &*storage {
        Storage::Cpu(candle_core::CpuStorage::F32(v)) => v.as_ptr() as usize,
        Storage::Cpu(candle_core::CpuStorage::F64(v)) => v.as_ptr() as usize,
        _ => unreachable!("the tests use f32 and f64 on the CPU"),
    }
}

/// A loss that gives every element a different gradient: Σ c·v² + sin(v) over a matrix, a vector in f64, and an
/// unused vector.
fn setup(dtype_f64: bool) -> (Var, Var, Var) {
    let dtype = if dtype_f64 { DType::F64 } else { DType::F32 };
    let w = Var::from_tensor(
        &Tensor::arange(-6.0f64, 6.0, &Device::Cpu).unwrap().reshape((3, 4)).unwrap().to_dtype(dtype).unwrap(),
    )
    .unwrap();
    let b = Var::from_tensor(&Tensor::new(&[0.5f64, -1.5, 2.5], &Device::Cpu).unwrap()).unwrap();
    let unused = Var::from_tensor(&Tensor::new(&[1.0f32, 2.0], &Device::Cpu).unwrap()).unwrap();
    (w, b, unused)
}

fn loss(w: &Var, b: &Var) -> Tensor {
    let w = w.as_tensor().to_dtype(DType::F64).unwrap();
    let c = Tensor::arange(1.0f64, 13.0, &Device::Cpu).unwrap().reshape((3, 4)).unwrap();
    let quadratic = (w.sqr().unwrap() * c).unwrap().sum_all().unwrap();
    let wave = b.as_tensor().sin().unwrap().sum_all().unwrap();
    (quadratic + wave).unwrap()
}

fn check(spec: &str, dtype_f64: bool) {
    let spec: Spec = spec.parse().unwrap();
    let (w, b, unused) = setup(dtype_f64);
    let unused_before = values(&unused);
    let mut opt = DescentOptimizer::new(vec![w.clone(), b.clone(), unused.clone()], spec.clone()).unwrap();
    // The same optimizer on plain slices, fed the gradients candle computes.
    let mut plain_w = values(&w);
    let mut plain_b = values(&b);
    let mut plain_w32: Vec<f32> = plain_w.iter().map(|&v| v as f32).collect();
    let mut direct_w32 = spec.build::<f32>([Param::new(12)]).unwrap();
    let mut direct_w64 = spec.build::<f64>([Param::new(12)]).unwrap();
    let mut direct_b = spec.build::<f64>([Param::new(3)]).unwrap();
    let (w_address, b_address) = (address(&w), address(&b));
    for step in 0..5 {
        let grads = loss(&w, &b).backward().unwrap();
        let gw: Vec<f64> =
            grads.get(w.as_tensor()).unwrap().flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1().unwrap();
        let gb: Vec<f64> = grads.get(b.as_tensor()).unwrap().to_vec1().unwrap();
        assert!(grads.get(unused.as_tensor()).is_none());
        opt.step(&grads).unwrap();
        if dtype_f64 {
            direct_w64.step(&mut [&mut plain_w], &[Some(&gw)]).unwrap();
            assert_eq!(values(&w), plain_w, "{spec} f64 step {step}");
        } else {
            let gw32: Vec<f32> = gw.iter().map(|&g| g as f32).collect();
            direct_w32.step(&mut [&mut plain_w32], &[Some(&gw32)]).unwrap();
            let expected: Vec<f64> = plain_w32.iter().map(|&v| f64::from(v)).collect();
            assert_eq!(values(&w), expected, "{spec} f32 step {step}");
        }
        direct_b.step(&mut [&mut plain_b], &[Some(&gb)]).unwrap();
        assert_eq!(values(&b), plain_b, "{spec} bias step {step}");
    }
    assert_eq!((address(&w), address(&b)), (w_address, b_address), "{spec}: the step allocated new storage");
    assert_eq!(values(&unused), unused_before, "{spec}: a variable without gradient moved");
}

#[test]
fn a_step_through_candle_is_the_step_on_plain_slices() {
    for spec in [
        "sgd(lr=0.01)",
        "nesterov(lr=0.01)",
        "adagrad",
        "rmsprop(centered=True, momentum=0.5)",
        "adadelta",
        "adam(amsgrad=True)",
        "adamw(lr=0.01)",
    ] {
        check(spec, false);
        check(spec, true);
    }
}

#[test]
fn the_learning_rate_can_be_read_and_set() {
    let (w, _, _) = setup(false);
    let mut opt = DescentOptimizer::new(vec![w], "adam(lr=0.01)".parse().unwrap()).unwrap();
    assert_eq!(opt.learning_rate(), 0.01);
    opt.set_learning_rate(0.5);
    assert_eq!(opt.learning_rate(), 0.5);
    assert!(opt.try_set_learning_rate(-1.0).is_err());
    opt.set_learning_rate(f64::NAN);
    assert_eq!(opt.learning_rate(), 0.5, "an invalid rate is refused");
    assert_eq!(opt.optimizer_f32().unwrap().lr(0), Ok(0.5));
}

#[test]
fn what_cannot_be_optimized_is_an_error() {
    let half = Var::from_tensor(&Tensor::new(&[1.0f32], &Device::Cpu).unwrap().to_dtype(DType::F16).unwrap()).unwrap();
    let err = DescentOptimizer::new(vec![half], "adam".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("f32 and f64 variables, not F16"), "{err}");
    let (w, _, _) = setup(false);
    let err = DescentOptimizer::new(vec![w], "nag".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("only with a closure"), "{err}");
    assert!(DescentOptimizer::new(vec![], "adam".parse().unwrap()).is_ok(), "an empty optimizer, as candle's");
}
