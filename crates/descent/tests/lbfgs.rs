//! L-BFGS against PyTorch: the loss, parameters and whole state after every step, compared with the fixtures that
//! `tools/make_lbfgs_fixtures.py` wrote by running `torch.optim.LBFGS` on an extended Rosenbrock function. Each step
//! starts from PyTorch's parameters and state after the step before (loaded through `load_state_dict`).

use std::path::PathBuf;

use descent::{DynOptimizer, Float, Lbfgs, LbfgsOptimizer, Param, Shape, StateDict, StateRecord};
use serde_json::Value;

fn fixture(case: &str, dtype: &str) -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/fixtures/lbfgs/{case}.{dtype}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read the fixture")).expect("parse the fixture")
}

/// The loss and gradient of the extended Rosenbrock function, in the order of the fixture script.
fn rosenbrock(x: &[f64]) -> (f64, Vec<f64>) {
    let n = x.len();
    let mut loss = 0.0;
    let mut grad = vec![0.0; n];
    for i in 0..n - 1 {
        let r = x[i + 1] - x[i] * x[i];
        let s = 1.0 - x[i];
        loss = loss + 100.0 * r * r + s * s;
        grad[i] = grad[i] - 400.0 * x[i] * r - 2.0 * s;
        grad[i + 1] += 200.0 * r;
    }
    (loss, grad)
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().expect("an array").iter().map(|v| v.as_f64().expect("a number")).collect()
}

fn rows(value: &Value) -> Vec<Vec<f64>> {
    value.as_array().expect("an array").iter().map(floats).collect()
}

/// The gap between ours and PyTorch's, in ulps of the largest magnitude of PyTorch's values.
fn gap<T: Float>(ours: &[T], torch: &[f64]) -> f64 {
    assert_eq!(ours.len(), torch.len());
    let largest = torch.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let ulp = if T::NAME == "f32" { f64::from(f32::EPSILON) } else { f64::EPSILON } * largest.max(f64::MIN_POSITIVE);
    ours.iter().zip(torch).map(|(a, b)| (a.to_f64() - b).abs() / ulp).fold(0.0, f64::max)
}

/// PyTorch's state after a step, as a state dict for the optimizer to load.
fn torch_state<T: Float>(record: &Value, hyper: &Value, names: &[String], shapes: &[Shape], n: usize) -> StateDict<T> {
    let cast = |values: Vec<f64>| values.into_iter().map(T::from_f64).collect::<Vec<T>>();
    let flat = |key: &str| -> Vec<T> { cast(rows(&record[key]).concat()) };
    let k = record["ro"].as_array().unwrap().len();
    let d = cast(floats(&record["d"]));
    let prev = cast(floats(&record["prev_flat_grad"]));
    let scalar = |key: &str| record[key].as_f64().unwrap_or(f64::NAN);
    let global = StateRecord {
        step: None,
        tensors: vec![
            ("d".into(), Shape::from(d.len()), d),
            ("prev_flat_grad".into(), Shape::from(prev.len()), prev),
            ("old_dirs".into(), Shape::from([k, n]), flat("old_dirs")),
            ("old_stps".into(), Shape::from([k, n]), flat("old_stps")),
            ("ro".into(), Shape::from(k), cast(floats(&record["ro"]))),
        ],
        compact: Vec::new(),
        scalars: vec![
            ("func_evals".into(), scalar("func_evals")),
            ("n_iter".into(), scalar("n_iter")),
            ("t".into(), scalar("t")),
            ("H_diag".into(), scalar("H_diag")),
            ("prev_loss".into(), scalar("prev_loss")),
        ],
    };
    let mut hyperparameters = serde_json::to_value(Lbfgs::default()).unwrap().as_object().unwrap().clone();
    hyperparameters.extend(hyper.as_object().unwrap().clone());
    StateDict {
        optimizer: "LBFGS".into(),
        groups: vec![descent::GroupRecord { optimizer: None, hyperparameters, params: (0..names.len()).collect() }],
        params: names
            .iter()
            .zip(shapes)
            .map(|(name, shape)| descent::ParamRecord { name: Some(name.clone()), shape: shape.clone(), state: None })
            .collect(),
        global: Some(global),
    }
}

/// Runs a case step by step; returns the largest gap in ulps it checks (the parameters and every state tensor
/// after single iterations, the parameters after whole steps).
fn run<T: Float>(case: &str) -> f64 {
    let single = case.ends_with("_single");
    let dtype = if T::NAME == "f32" { "float32" } else { "float64" };
    let fixture = fixture(case, dtype);
    let mut hyper: Lbfgs = serde_json::from_value(fixture["hyper"].clone()).expect("LBFGS hyperparameters");
    hyper.max_eval.get_or_insert(hyper.max_iter * 5 / 4);
    let sign = fixture["sign"].as_f64().unwrap();
    let names: Vec<String> = fixture["names"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
    let shapes: Vec<Shape> = fixture["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Shape::from(s.as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect::<Vec<_>>()))
        .collect();
    let params = names.iter().zip(&shapes).map(|(name, shape)| Param::named(name.clone(), shape.clone()));
    let mut opt = LbfgsOptimizer::<T>::new(hyper.clone(), params).unwrap();
    let lens: Vec<usize> = shapes.iter().map(|s| s.checked_len().unwrap()).collect();
    let n: usize = lens.iter().sum();
    let split = |flat: &[f64]| -> Vec<Vec<T>> {
        let mut rest = flat;
        lens.iter()
            .map(|&len| {
                let (head, tail) = rest.split_at(len);
                rest = tail;
                head.iter().map(|&v| T::from_f64(v)).collect()
            })
            .collect()
    };
    let mut theta = split(&floats(&fixture["start"]));
    let mut worst = 0.0_f64;
    let steps = fixture["steps"].as_array().unwrap();
    for (k, expected) in steps.iter().enumerate() {
        if k > 0 {
            let before = &steps[k - 1];
            theta = rows(&before["params"]).iter().map(|p| p.iter().map(|&v| T::from_f64(v)).collect()).collect();
            opt.load_state_dict(&torch_state(before, &fixture["hyper"], &names, &shapes, n)).unwrap();
        }
        let mut slices: Vec<&mut [T]> = theta.iter_mut().map(Vec::as_mut_slice).collect();
        let loss = opt
            .step_with_closure(&mut slices, &mut |points, grads| {
                let x: Vec<f64> = points.iter().flat_map(|p| p.iter().map(|v| v.to_f64())).collect();
                let (loss, grad) = rosenbrock(&x);
                for (out, g) in grads.iter_mut().flat_map(|g| g.iter_mut()).zip(grad) {
                    *out = T::from_f64(sign * g);
                }
                T::from_f64(sign * loss).to_f64()
            })
            .unwrap();
        let context = format!("{case} {dtype} step {}", k + 1);
        let state = opt.global_state().expect("state after a step");
        let counts = |name: &str| state.scalars().iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(counts("func_evals"), expected["func_evals"].as_f64().unwrap(), "{context}: func_evals");
        assert_eq!(counts("n_iter"), expected["n_iter"].as_f64().unwrap(), "{context}: n_iter");
        let loss_gap = gap(&[T::from_f64(loss)], &[expected["loss"].as_f64().unwrap()]);
        assert_eq!(loss_gap, 0.0, "{context}: the loss is the closure's first");
        let mut gaps = vec![("params", gap(&theta.concat(), &rows(&expected["params"]).concat()))];
        for name in ["d", "prev_flat_grad"] {
            gaps.push((name, gap(state.get(name).unwrap(), &floats(&expected[name]))));
        }
        for name in ["old_dirs", "old_stps"] {
            gaps.push((name, gap(state.get(name).unwrap(), &rows(&expected[name]).concat())));
        }
        gaps.push(("ro", gap(state.get("ro").unwrap(), &floats(&expected["ro"]))));
        for name in ["t", "H_diag", "prev_loss"] {
            gaps.push((name, gap(&[T::from_f64(counts(name))], &[expected[name].as_f64().unwrap()])));
        }
        for (name, g) in gaps {
            if !single && name != "params" {
                continue;
            }
            // Over many iterations, the last iterations' small directions carry the roundings of the first.
            let tolerance = if single { SINGLE_ULPS } else { PARAMS_ULPS };
            assert!(g <= tolerance, "{context}: {name} differs from PyTorch's by {g:.1} ulps");
            worst = worst.max(g);
        }
    }
    worst
}

/// The largest gap allowed after one iteration, in ulps of a tensor's largest magnitude: dot products and sums
/// are added in another order than PyTorch's BLAS.
const SINGLE_ULPS: f64 = 7.0;

/// The largest gap of the parameters after a step of up to twenty iterations, which compound those roundings.
const PARAMS_ULPS: f64 = 1024.0;

#[test]
fn one_iteration_matches_pytorch_to_a_few_ulps() {
    for case in ["wolfe_single", "fixed_single"] {
        let (f32_gap, f64_gap) = (run::<f32>(case), run::<f64>(case));
        println!("{case}: largest gap {f32_gap:.1} ulps in f32, {f64_gap:.1} in f64");
    }
}

/// Whole steps take the same branches as PyTorch's (the same counts of iterations and evaluations, the line search
/// bracketing, zooming, running out of evaluations; lack of progress; the history rolling over) and end at the same
/// parameters, to the roundings that twenty iterations compound.
#[test]
fn whole_steps_branch_as_pytorch_does() {
    for case in ["wolfe", "wolfe_short", "fixed", "tolerant"] {
        let (f32_gap, f64_gap) = (run::<f32>(case), run::<f64>(case));
        println!("{case}: largest gap of the parameters {f32_gap:.1} ulps in f32, {f64_gap:.1} in f64");
    }
}

fn quadratic_closure(points: &[&[f64]], grads: &mut [&mut [f64]]) -> f64 {
    // J = Σ (i + 1)·(x_i − 1)²
    let mut loss = 0.0;
    for (i, (x, g)) in points[0].iter().zip(grads[0].iter_mut()).enumerate() {
        let c = (i + 1) as f64;
        *g = 2.0 * c * (x - 1.0);
        loss += c * (x - 1.0) * (x - 1.0);
    }
    loss
}

#[test]
fn a_checkpoint_resumes_bit_for_bit() {
    let spec: descent::Spec = "lbfgs(line_search_fn=\"strong_wolfe\", history_size=3, max_iter=4)".parse().unwrap();
    let mut a = spec.build::<f64>([Param::named("x", 9)]).unwrap();
    let mut x = vec![-2.0; 9];
    a.step_with_closure(&mut [&mut x], &mut quadratic_closure).unwrap();
    let dir = std::env::temp_dir().join(format!("descent-lbfgs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lbfgs.safetensors");
    descent::checkpoint::save(&path, &descent::checkpoint::Checkpoint::of(a.state_dict())).unwrap();
    let mut b = spec.build::<f64>([Param::named("x", 9)]).unwrap();
    b.load_state_dict(&descent::checkpoint::load::<f64>(&path).unwrap().optimizer).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(a.state_dict(), b.state_dict());
    let mut y = x.clone();
    for _ in 0..10 {
        a.step_with_closure(&mut [&mut x], &mut quadratic_closure).unwrap();
        b.step_with_closure(&mut [&mut y], &mut quadratic_closure).unwrap();
    }
    assert_eq!(x, y);
    assert_eq!(a.state_dict(), b.state_dict());
    // The quadratic's minimum is at 1 (the steps stop once the loss changes by less than 1e-9).
    assert!(x.iter().all(|v| (v - 1.0).abs() < 1e-5), "{x:?}");
}

/// The history holds as many pairs as the steps have made, however many `history_size` allows: a limit of 2⁶² pairs
/// reserves no memory for them, and remembering every pair gives the same steps as a limit that is never reached.
#[test]
fn a_huge_history_size_costs_only_the_pairs_kept() {
    let run = |spec: &str| {
        let mut opt = spec.parse::<descent::Spec>().unwrap().build::<f64>([Param::named("x", 9)]).unwrap();
        let mut x = vec![-2.0; 9];
        for _ in 0..3 {
            opt.step_with_closure(&mut [&mut x], &mut quadratic_closure).unwrap();
        }
        x
    };
    assert_eq!(run("lbfgs(history_size=4611686018427387904, max_iter=5)"), run("lbfgs(history_size=100, max_iter=5)"));
}

#[test]
fn bad_hyperparameters_and_calls_are_refused_and_change_nothing() {
    for (text, expected) in [
        ("lbfgs(max_iter=0)", "LBFGS: invalid max_iter = 0 (expected an integer >= 1)"),
        ("lbfgs(history_size=0)", "LBFGS: invalid history_size = 0 (expected an integer >= 1)"),
        ("lbfgs(lr=-1)", "LBFGS: invalid lr = -1 (expected a finite number >= 0)"),
    ] {
        let err = text.parse::<descent::Spec>().unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    let err = "lbfgs(line_search_fn=\"backtracking\")".parse::<descent::Spec>().unwrap_err().to_string();
    assert!(err.contains("unknown variant `backtracking`, expected `strong_wolfe`"), "{err}");

    let spec: descent::Spec = "lbfgs".parse().unwrap();
    let mut opt = spec.build::<f32>([Param::new(3)]).unwrap();
    let mut x = vec![1.0_f32; 3];
    let before = opt.state_dict();
    let err = opt.step(&mut [&mut x], &[Some(&[1.0, 1.0, 1.0])]).unwrap_err();
    assert!(matches!(err, descent::Error::NeedsClosure { optimizer: "LBFGS" }));
    let mut short = vec![1.0_f32; 2];
    assert!(opt.step_with_closure(&mut [&mut short], &mut |_, _| 0.0).is_err());
    assert!(opt.set_hyperparameter(0, "max_iter", serde_json::json!(0)).is_err());
    assert!(opt.set_clip(Some(descent::Clip::norm(1.0))).is_err());
    let groups = descent::Spec::build_groups::<f32>([(spec.clone(), vec![Param::new(1)]), (spec, vec![Param::new(1)])]);
    assert!(groups.unwrap_err().to_string().contains("doesn't support per-parameter options"));
    assert_eq!(opt.state_dict(), before);
    assert_eq!(x, [1.0; 3]);
}
