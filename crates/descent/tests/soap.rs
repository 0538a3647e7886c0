//! SOAP against `pytorch-optimizer`'s, step by step (tools/make_soap_fixtures.py writes the fixtures): the
//! parameters, both moments, the preconditioners' statistics and their bases (up to each eigenvector's sign, which
//! the step does not depend on) after every step, in f64 and f32, with the options that change the arithmetic.

use descent::{Float, Optimizer, Param, Soap};
use serde_json::Value;

fn fixtures() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/soap/soap.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats<T: Float>(value: &Value) -> Vec<T> {
    value.as_array().unwrap().iter().map(|v| T::from_f64(v.as_f64().unwrap())).collect()
}

/// The largest difference between `ours` and `theirs`, relative to the largest magnitude of `theirs` (at least 1).
fn gap<T: Float>(ours: &[T], theirs: &[T]) -> f64 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(1.0f64, |m, v| m.max(v.to_f64().abs()));
    ours.iter().zip(theirs).map(|(a, b)| (a.to_f64() - b.to_f64()).abs()).fold(0.0, f64::max) / scale
}

/// `ours` with each column's sign flipped to agree with `theirs`.
fn signs_aligned<T: Float>(ours: &[T], theirs: &[T]) -> Vec<T> {
    let d = (theirs.len() as f64).sqrt() as usize;
    let mut aligned = ours.to_vec();
    for j in 0..d {
        let dot: f64 = (0..d).map(|i| ours[i * d + j].to_f64() * theirs[i * d + j].to_f64()).sum();
        if dot < 0.0 {
            (0..d).for_each(|i| aligned[i * d + j] = -ours[i * d + j]);
        }
    }
    aligned
}

/// The largest relative gaps of a case.
#[derive(Debug, Default)]
struct Gaps {
    params: f64,
    moments: f64,
    statistics: f64,
    bases: f64,
}

/// Runs a case.
fn run<T: Float>(case: &Value) -> Gaps {
    let name = case["name"].as_str().unwrap();
    let rule: Soap = serde_json::from_value(case["hyperparameters"].clone()).unwrap();
    let shapes: Vec<Vec<usize>> = case["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect())
        .collect();
    let mut opt = Optimizer::<Soap, T>::new(rule, shapes.iter().map(|s| Param::new(s.clone()))).unwrap();
    let mut params: Vec<Vec<T>> = case["start"].as_array().unwrap().iter().map(floats).collect();
    let mut gaps = Gaps::default();
    for (t, record) in case["steps"].as_array().unwrap().iter().enumerate() {
        let grads: Vec<Vec<T>> = record["grads"].as_array().unwrap().iter().map(floats).collect();
        let grads: Vec<Option<&[T]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
        let mut slices: Vec<&mut [T]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        opt.step(&mut slices, &grads).unwrap();
        for (k, param) in params.iter().enumerate() {
            let at = format!("{name}, step {}, parameter {k}", t + 1);
            gaps.params = gaps.params.max(gap(param, &floats::<T>(&record["params"][k])));
            let state = opt.state(k).unwrap();
            for moment in ["exp_avg", "exp_avg_sq"] {
                let ours = state.get(moment).unwrap();
                gaps.moments = gaps.moments.max(gap(ours, &floats::<T>(&record[moment][k])));
            }
            let bases = record["Q"][k].as_array().unwrap();
            for (i, (stats, basis)) in record["GG"][k].as_array().unwrap().iter().zip(bases).enumerate() {
                let (gg, q) = (state.get(&format!("GG{i}")), state.get(&format!("Q{i}")));
                if stats.is_null() {
                    assert!(gg.is_none() && q.is_none(), "{at}: dimension {i} is not rotated");
                    continue;
                }
                gaps.statistics = gaps.statistics.max(gap(gg.unwrap(), &floats::<T>(stats)));
                let theirs = floats::<T>(basis);
                gaps.bases = gaps.bases.max(gap(&signs_aligned(q.unwrap(), &theirs), &theirs));
            }
        }
    }
    gaps
}

/// An `f32` ulp at 1 (2⁻²³): gaps are relative to the largest magnitude (at least 1).
const F32_ULP: f64 = f32::EPSILON as f64;

/// In f64 the statistics agree to rounding (the gradients' outer products, summed in another order), but
/// `pytorch-optimizer` computes its QR factorizations in `f32` whatever the parameters' type, so the refreshed bases
/// agree to a few `f32` ulps, and so do the second moments measured in them; the parameters, moved by steps of
/// η ≈ 0.01 built from them, agree to about 1e-8. In f32, where the reference's eigendecompositions and products
/// also run in `f32` (descent's in f64), every quantity agrees to a few tens of `f32` ulps.
#[test]
fn soap_matches_pytorch_optimizer() {
    let fixtures = fixtures();
    for case in fixtures["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (gaps, bounds) = if case["dtype"] == "float64" {
            (run::<f64>(case), Gaps { params: 1e-7, moments: 8.0 * F32_ULP, statistics: 1e-14, bases: 4.0 * F32_ULP })
        } else {
            let bounds = Gaps {
                params: 8.0 * F32_ULP,
                moments: 32.0 * F32_ULP,
                statistics: 4.0 * F32_ULP,
                bases: 16.0 * F32_ULP,
            };
            (run::<f32>(case), bounds)
        };
        let within = gaps.params <= bounds.params
            && gaps.moments <= bounds.moments
            && gaps.statistics <= bounds.statistics
            && gaps.bases <= bounds.bases;
        assert!(within, "{name}: {gaps:?} beyond {bounds:?}");
    }
}

/// The first step only measures: the parameters stay, the statistics are (1 − β_s)·g·gᵀ and gᵀ·g, and the bases
/// are their eigenvectors, eigenvalues largest first.
#[test]
fn the_first_step_sets_the_bases_and_moves_nothing() {
    let mut opt = Optimizer::<Soap, f64>::new(Soap::default(), [Param::new(vec![2, 2])]).unwrap();
    let mut w = vec![1.0, 2.0, 3.0, 4.0];
    // g = diag(3, 1): L = R = 0.05·diag(9, 1), whose eigenvectors are the axes, 9 first.
    opt.step(&mut [&mut w], &[Some(&[3.0, 0.0, 0.0, 1.0])]).unwrap();
    assert_eq!(w, [1.0, 2.0, 3.0, 4.0]);
    let state = opt.state(0).unwrap();
    for i in 0..2 {
        let gg = state.get(&format!("GG{i}")).unwrap();
        assert!((gg[0] - 0.05 * 9.0).abs() < 1e-15 && gg[1] == 0.0 && gg[2] == 0.0 && (gg[3] - 0.05).abs() < 1e-15);
        let q: Vec<f64> = state.get(&format!("Q{i}")).unwrap().iter().map(|v| v.abs()).collect();
        assert_eq!(q, [1.0, 0.0, 0.0, 1.0]);
    }
    assert!(state.get("exp_avg").unwrap().iter().all(|&m| m == 0.0));
}

#[test]
fn bad_hyperparameters_and_shapes_are_refused() {
    for (spec, message) in [
        ("soap(betas=(1.0, 0.9))", "betas[0]"),
        ("soap(shampoo_beta=1.5)", "shampoo_beta"),
        ("soap(precondition_frequency=0)", "precondition_frequency"),
        ("soap(max_precondition_dim=0)", "max_precondition_dim"),
        ("soap(lr=-1)", "lr"),
    ] {
        let error = match spec.parse::<descent::Spec>() {
            Ok(spec) => spec.build::<f32>([Param::new(vec![3])]).unwrap_err().to_string(),
            Err(error) => error.to_string(),
        };
        assert!(error.contains(message), "{spec}: {error}");
    }
    let error = "soap".parse::<descent::Spec>().unwrap().build::<f32>([Param::new(vec![1; 9])]).unwrap_err();
    assert!(error.to_string().contains("at most 8 dimensions"), "{error}");
}

/// SOAP's products run on every thread of the pool, and its result does not depend on how many: the same steps in
/// pools of one, two and three threads give the same parameters and state, bit for bit (a 300 × 200 matrix, large
/// enough for the products to be split, and a refresh of the bases every fifth step).
#[test]
fn soap_results_do_not_depend_on_the_number_of_threads() {
    let soap = Soap { precondition_frequency: 5, ..Soap::default() };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut opt = Optimizer::<Soap, f32>::new(soap, [Param::new([300, 200])]).unwrap();
            let mut p: Vec<f32> = (0..60_000).map(|i| (i as f32 * 0.013).sin()).collect();
            for step in 0..11 {
                let g: Vec<f32> = (0..60_000).map(|i| ((i * 31 + step * 7) as f32 * 0.0071).cos()).collect();
                opt.step(&mut [&mut p], &[Some(&g)]).unwrap();
            }
            (p, opt.state(0).unwrap().clone())
        })
    };
    let one = run(1);
    assert!(one.0.iter().all(|v| v.is_finite()));
    assert!(one == run(2), "two threads");
    assert!(one == run(3), "three threads");
}
