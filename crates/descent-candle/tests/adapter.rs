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
    assert!(err.to_string().contains("f32, f64 and bf16 (through f32 master weights) variables, not F16"), "{err}");
    let (w, b, _) = setup(false);
    let before = values(&w);
    let mut opt = DescentOptimizer::new(vec![w.clone()], "nag".parse().unwrap()).unwrap();
    let grads = loss(&w, &b).backward().unwrap();
    let err = opt.step(&grads).unwrap_err();
    assert!(err.to_string().contains("only with a closure"), "{err}");
    assert_eq!(values(&w), before);
    assert!(DescentOptimizer::new(vec![], "adam".parse().unwrap()).is_ok(), "an empty optimizer, as candle's");
}

/// J = Σ cᵢ·wᵢ: its gradient is c exactly, in any element type.
fn linear(w: &Var) -> candle_core::Result<Tensor> {
    let c = Tensor::arange(-6.0f64, 6.0, &Device::Cpu)?.reshape((3, 4))?.affine(0.25, 0.125)?.to_dtype(w.dtype())?;
    (w.as_tensor() * c)?.sum_all()
}

#[test]
fn a_closure_step_equals_the_same_step_on_plain_slices() {
    for text in ["nag(lr=0.1)", "lbfgs(lr=0.01, max_iter=3)", "adam(lr=0.1)"] {
        let spec: Spec = text.parse().unwrap();
        let (w, _, _) = setup(true);
        let mut opt = DescentOptimizer::new(vec![w.clone()], spec.clone()).unwrap();
        let mut direct = spec.build::<f64>([Param::named("0", [3, 4])]).unwrap();
        let mut plain = values(&w);
        let c: Vec<f64> = (0..12).map(|i| (i as f64 - 6.0) * 0.25 + 0.125).collect();
        for _ in 0..4 {
            let ours = opt.step_with_closure(|| linear(&w)).unwrap();
            let theirs = direct
                .step_with_closure(&mut [&mut plain], &mut |points, grads| {
                    grads[0].copy_from_slice(&c);
                    points[0].iter().zip(&c).map(|(p, c)| p * c).sum()
                })
                .unwrap();
            assert_eq!(values(&w), plain, "{text}");
            assert!((ours - theirs).abs() <= 1e-12 * theirs.abs().max(1.0), "{text}: {ours} vs {theirs}");
        }
        assert_eq!(opt.optimizer_f64().unwrap().state_dict(), direct.state_dict(), "{text}");
    }
}

#[test]
fn lbfgs_through_candle_finds_a_quadratic_minimum() {
    let w = Var::from_tensor(&Tensor::new(&[3.0f32, -2.0, 0.5], &Device::Cpu).unwrap()).unwrap();
    let spec: Spec = "lbfgs(line_search_fn=\"strong_wolfe\")".parse().unwrap();
    let mut opt = DescentOptimizer::new(vec![w.clone()], spec).unwrap();
    let target = Tensor::new(&[1.0f32, 2.0, 3.0], &Device::Cpu).unwrap();
    opt.step_with_closure(|| (w.as_tensor() - &target)?.sqr()?.sum_all()).unwrap();
    for (v, t) in values(&w).iter().zip([1.0, 2.0, 3.0]) {
        assert!((v - t).abs() < 1e-5, "{v} vs {t}");
    }
}

#[test]
fn a_failing_closure_leaves_variables_and_state_as_they_were() {
    let (w, _, _) = setup(false);
    let mut opt = DescentOptimizer::new(vec![w.clone()], "lbfgs(max_iter=5)".parse().unwrap()).unwrap();
    opt.step_with_closure(|| linear(&w)).unwrap();
    let (before, state) = (values(&w), opt.optimizer_f32().unwrap().state_dict());
    let mut calls = 0;
    let err = opt
        .step_with_closure(|| {
            calls += 1;
            if calls == 3 {
                Err(candle_core::Error::Msg("the data loader failed".into()))
            } else {
                linear(&w)
            }
        })
        .unwrap_err();
    assert!(err.to_string().contains("the data loader failed"), "{err}");
    assert_eq!(values(&w), before);
    assert_eq!(opt.optimizer_f32().unwrap().state_dict(), state);
    let (mixed, b, _) = setup(false);
    let mut both = DescentOptimizer::new(vec![mixed, b], "adam".parse().unwrap()).unwrap();
    assert!(both
        .step_with_closure(|| Tensor::new(0.0f64, &Device::Cpu))
        .unwrap_err()
        .to_string()
        .contains("same element type"));
}

#[test]
fn schedule_free_variables_are_at_the_evaluation_point_only_inside_evaluate() {
    let spec: Spec = "adamw_schedulefree(lr=0.05, warmup_steps=2)".parse().unwrap();
    let (w, b, _) = setup(false);
    let mut opt = DescentOptimizer::new(vec![w.clone(), b.clone()], spec.clone()).unwrap();
    // The same steps on plain slices, evaluated by the library.
    let mut plain = spec.build::<f32>(vec![Param::named("0", [3, 4])]).unwrap();
    let mut plain_b = spec.build::<f64>(vec![Param::named("1", 3)]).unwrap();
    let (mut w_values, mut b_values): (Vec<f32>, Vec<f64>) =
        (values(&w).iter().map(|&v| v as f32).collect(), values(&b));
    for _ in 0..5 {
        let grads = loss(&w, &b).backward().unwrap();
        let gw: Vec<f32> = grads.get(w.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let gb: Vec<f64> = grads.get(b.as_tensor()).unwrap().to_vec1().unwrap();
        opt.step(&grads).unwrap();
        plain.step(&mut [&mut w_values], &[Some(&gw)]).unwrap();
        plain_b.step(&mut [&mut b_values], &[Some(&gb)]).unwrap();
    }
    assert!(opt.has_evaluation_point());
    let (mut x_w, mut x_b) = (Vec::new(), Vec::new());
    plain.evaluate(&mut [&mut w_values], &mut |points| x_w = points[0].to_vec()).unwrap();
    plain_b.evaluate(&mut [&mut b_values], &mut |points| x_b = points[0].to_vec()).unwrap();
    let (y_w, y_b) = (values(&w), values(&b));
    let (seen_w, seen_b) = opt.evaluate(|| Ok((values(&w), values(&b)))).unwrap();
    assert_eq!(seen_w, x_w.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
    assert_eq!(seen_b, x_b);
    assert_ne!(seen_w, y_w);
    // Back at the training point, up to the last bit of the round trip.
    for (after, before) in values(&w).iter().zip(&y_w).chain(values(&b).iter().zip(&y_b)) {
        assert!((after - before).abs() <= 4.0 * f64::from(f32::EPSILON) * before.abs(), "{after} vs {before}");
    }
}

/// bfloat16 variables train through f32 master weights: with J = Σ w² the gradient 2·w̃ is exact in bfloat16, so
/// the master weights follow an f32 optimizer fed 2·bf16(θ) to the bit, the variables are their roundings, and a
/// run resumed from saved master weights and state continues as if never stopped; also through the closure path, and
/// for Prodigy, which steps every variable together, through both.
#[test]
fn bfloat16_variables_step_their_master_weights() {
    let start = [0.7f32, -1.3, 0.05, 2.0];
    let bf16_var =
        || Var::from_tensor(&Tensor::new(&start, &Device::Cpu).unwrap().to_dtype(DType::BF16).unwrap()).unwrap();
    let rounded = |values: &[f32]| -> Vec<f32> { values.iter().map(|&v| half::bf16::from_f32(v).to_f32()).collect() };
    let as_f32 = |var: &Var| var.as_tensor().to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap();
    let cases =
        [("adam(lr=0.01, state=\"bf16\")", false), ("lion(lr=0.003)", false), ("prodigy", true), ("prodigy", false)];
    for (spec, closure) in cases {
        let mut reference = spec.parse::<Spec>().unwrap().build::<f32>([Param::new(vec![4])]).unwrap();
        let mut theta = rounded(&start);
        let w = bf16_var();
        let mut opt = DescentOptimizer::new(vec![w.clone()], spec.parse().unwrap()).unwrap();
        let loss = |w: &Var| w.as_tensor().sqr()?.sum_all();
        let mut saved = None;
        for t in 0..20 {
            let grad: Vec<f32> = rounded(&theta).iter().map(|v| 2.0 * v).collect();
            reference.step(&mut [&mut theta], &[Some(&grad)]).unwrap();
            if closure {
                opt.step_with_closure(|| loss(&w)).unwrap();
            } else {
                opt.backward_step(&loss(&w).unwrap()).unwrap();
            }
            assert_eq!(opt.master_weights(), [("0", theta.as_slice())], "{spec}, step {t}");
            assert_eq!(as_f32(&w), rounded(&theta), "{spec}, step {t}");
            if t == 9 {
                saved = Some((opt.optimizer_f32().unwrap().state_dict(), theta.clone()));
            }
        }
        // Resumed after step 10 from the saved state and master weights: the same last ten steps.
        let (state, master) = saved.unwrap();
        let w2 = bf16_var();
        let mut resumed = DescentOptimizer::new(vec![w2.clone()], spec.parse().unwrap()).unwrap();
        resumed.optimizer_f32_mut().unwrap().load_state_dict(&state).unwrap();
        resumed.set_master_weights("0", &master).unwrap();
        assert_eq!(as_f32(&w2), rounded(&master));
        for _ in 10..20 {
            if closure {
                resumed.step_with_closure(|| loss(&w2)).unwrap();
            } else {
                resumed.backward_step(&loss(&w2).unwrap()).unwrap();
            }
        }
        assert_eq!(resumed.master_weights(), opt.master_weights(), "{spec}");
        assert_eq!(as_f32(&w2), as_f32(&w), "{spec}");
    }
    let mut opt = DescentOptimizer::new(vec![bf16_var()], "adam".parse().unwrap()).unwrap();
    let error = opt.set_master_weights("0", &[1.0]).unwrap_err().to_string();
    assert!(error.contains("has 4 elements, not 1"), "{error}");
    assert!(opt.set_master_weights("w", &start).unwrap_err().to_string().contains("no variable \"w\""));
    assert_eq!(opt.master_weights()[0].1, rounded(&start));
}

#[test]
fn clipping_through_candle_measures_the_norm_of_every_gradient() {
    // Two f32 variables and one without a gradient; their gradients' total 2-norm is far above 0.5.
    let w = Var::from_tensor(&Tensor::arange(-6.0f32, 6.0, &Device::Cpu).unwrap().reshape((3, 4)).unwrap()).unwrap();
    let b = Var::from_tensor(&Tensor::new(&[0.5f32, -1.5, 2.5], &Device::Cpu).unwrap()).unwrap();
    let unused = Var::from_tensor(&Tensor::new(&[1.0f32, 2.0], &Device::Cpu).unwrap()).unwrap();
    let spec: Spec = "adam(lr=0.1)".parse().unwrap();
    let mut opt = DescentOptimizer::new(vec![w.clone(), b.clone(), unused.clone()], spec.clone()).unwrap();
    let clip = descent::Clip { max_norm: Some(0.5), norm_type: 2.0, error_if_nonfinite: false, value: Some(0.02) };
    opt.optimizer_f32_mut().unwrap().set_clip(Some(clip)).unwrap();
    // The reference: PyTorch's order, clip_grad_norm_ over both gradients, clip_grad_value_, then a plain step.
    let mut plain = spec.build::<f32>([Param::new(12), Param::new(3)]).unwrap();
    let f32s = |v: &Var| -> Vec<f32> { v.as_tensor().flatten_all().unwrap().to_vec1().unwrap() };
    let (mut pw, mut pb) = (f32s(&w), f32s(&b));
    for step in 0..3 {
        let loss = (w.as_tensor().sqr().unwrap().sum_all().unwrap() + b.as_tensor().sin().unwrap().sum_all().unwrap())
            .unwrap();
        let grads = loss.backward().unwrap();
        let (mut gw, mut gb) = (
            grads.get(w.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            grads.get(b.as_tensor()).unwrap().to_vec1::<f32>().unwrap(),
        );
        let norm = descent::clip_grad_norm(&mut [&mut gw, &mut gb], 0.5, 2.0, false).unwrap();
        descent::clip_grad_value(&mut [&mut gw, &mut gb], 0.02).unwrap();
        plain.step(&mut [&mut pw, &mut pb], &[Some(&gw), Some(&gb)]).unwrap();
        opt.step(&grads).unwrap();
        assert_eq!((f32s(&w), f32s(&b)), (pw.clone(), pb.clone()), "step {step}");
        assert_eq!(opt.optimizer_f32().unwrap().last_grad_norm(), Some(norm));
    }
    assert_eq!(f32s(&unused), vec![1.0, 2.0]);
}

/// Prodigy's estimate of d sums over every gradient of a step: through candle's plain step it takes them all from
/// the gradient store at once, and its steps are those of one Prodigy stepping both variables on plain slices, for
/// `f32` and `f64` variables.
#[test]
fn prodigy_steps_with_every_gradient_of_the_store() {
    prodigy_against_plain_slices::<f32>(DType::F32);
    prodigy_against_plain_slices::<f64>(DType::F64);
}

fn prodigy_against_plain_slices<T: descent::Float + candle_core::WithDType>(dtype: DType) {
    let var = |t: Tensor| Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap();
    let w = var(Tensor::arange(-6.0f32, 6.0, &Device::Cpu).unwrap().reshape((3, 4)).unwrap());
    let b = var(Tensor::new(&[0.5f32, -1.5, 2.5], &Device::Cpu).unwrap());
    let unused = var(Tensor::new(&[1.0f32, 2.0], &Device::Cpu).unwrap());
    let spec: Spec = "prodigy(d0=1e-3, weight_decay=0.01)".parse().unwrap();
    let mut opt = DescentOptimizer::new(vec![w.clone(), b.clone(), unused.clone()], spec.clone()).unwrap();
    let mut plain = spec.build::<T>([Param::new(12), Param::new(3)]).unwrap();
    let flat = |v: &Tensor| -> Vec<T> { v.flatten_all().unwrap().to_vec1().unwrap() };
    let (mut pw, mut pb) = (flat(w.as_tensor()), flat(b.as_tensor()));
    for step in 0..5 {
        let loss = (w.as_tensor().sqr().unwrap().sum_all().unwrap() + b.as_tensor().sin().unwrap().sum_all().unwrap())
            .unwrap();
        let grads = loss.backward().unwrap();
        let (gw, gb) = (flat(grads.get(w.as_tensor()).unwrap()), flat(grads.get(b.as_tensor()).unwrap()));
        plain.step(&mut [&mut pw, &mut pb], &[Some(&gw), Some(&gb)]).unwrap();
        opt.step(&grads).unwrap();
        assert_eq!((flat(w.as_tensor()), flat(b.as_tensor())), (pw.clone(), pb.clone()), "{dtype:?} step {step}");
    }
    let d = |o: &dyn descent::DynOptimizer<T>| o.global_state().unwrap().scalar("d").unwrap();
    let ours = match dtype {
        DType::F32 => opt.optimizer_f32().unwrap().global_state().unwrap().scalar("d").unwrap(),
        _ => opt.optimizer_f64().unwrap().global_state().unwrap().scalar("d").unwrap(),
    };
    assert_eq!(ours, d(&*plain));
    assert!(d(&*plain) > 1e-3, "d grew from d0");
    assert_eq!(
        flat(unused.as_tensor()),
        flat(&Tensor::new(&[1.0f32, 2.0], &Device::Cpu).unwrap().to_dtype(dtype).unwrap())
    );
}

/// Every optimizer of the catalog that steps from gradients alone (not L-BFGS and the look-ahead Nesterov, which ask
/// for theirs) steps candle variables as it steps plain slices: a 3 × 4 matrix and a vector (the matrix alone for
/// Muon, which takes only matrices), bit for bit over five steps.
#[test]
fn every_optimizer_steps_candle_variables_as_slices() {
    let mut stepped = Vec::new();
    for entry in descent::catalog() {
        let spec = entry.defaults().clone();
        if spec.needs_closure() {
            continue;
        }
        let shapes: &[&[usize]] = if entry.name() == "muon" { &[&[3, 4]] } else { &[&[3, 4], &[3]] };
        let vars: Vec<Var> = shapes
            .iter()
            .enumerate()
            .map(|(k, shape)| {
                let n: usize = shape.iter().product();
                let start = Tensor::arange(0.0f32, n as f32, &Device::Cpu).unwrap().affine(0.25, k as f64 - 1.0);
                Var::from_tensor(&start.unwrap().reshape(*shape).unwrap()).unwrap()
            })
            .collect();
        let mut opt = DescentOptimizer::new(vars.clone(), spec.clone()).unwrap();
        let params: Vec<Param> = shapes.iter().map(|s| Param::new(s.to_vec())).collect();
        let mut plain = spec.build::<f32>(params).unwrap();
        let flat = |t: &Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
        let mut values: Vec<Vec<f32>> = vars.iter().map(|v| flat(v.as_tensor())).collect();
        for step in 0..5 {
            // J = Σ sin(θ) + θ²/2: gradients of both signs, and no two steps alike.
            let mut loss = Tensor::new(0.0f32, &Device::Cpu).unwrap();
            for var in &vars {
                let t = var.as_tensor();
                let term = (t.sin().unwrap() + (t.sqr().unwrap() * 0.5).unwrap()).unwrap().sum_all().unwrap();
                loss = (loss + term).unwrap();
            }
            let grads = loss.backward().unwrap();
            let grad_values: Vec<Vec<f32>> = vars.iter().map(|v| flat(grads.get(v.as_tensor()).unwrap())).collect();
            let mut slices: Vec<&mut [f32]> = values.iter_mut().map(Vec::as_mut_slice).collect();
            let grad_slices: Vec<Option<&[f32]>> = grad_values.iter().map(|g| Some(g.as_slice())).collect();
            plain.step(&mut slices, &grad_slices).unwrap();
            opt.step(&grads).unwrap();
            let ours: Vec<Vec<f32>> = vars.iter().map(|v| flat(v.as_tensor())).collect();
            assert_eq!(ours, values, "{} step {step}", entry.name());
        }
        stepped.push(entry.name());
    }
    assert!(stepped.len() >= 20 && stepped.contains(&"prodigy") && stepped.contains(&"soap"), "{stepped:?}");
}
