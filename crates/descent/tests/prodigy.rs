//! Prodigy's estimate of the step size, step by step, against `prodigyopt` on a quadratic where it has something
//! to estimate (`tools/make_torch_fixtures.py` writes the fixture).

use descent::{checkpoint, Optimizer, Param, Prodigy};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/torch/prodigy_quadratic.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn numbers(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

/// d grows from 10⁻⁶ by five orders of magnitude and then sets every step; PyTorch sums its inner product and
/// ‖s‖₁ in another order than descent, so each d agrees to a few parts in 10¹⁴, and so do the parameters.
#[test]
fn the_estimate_of_d_follows_prodigyopt() {
    let fixture = fixture();
    let (a, c) = (numbers(&fixture["a"]), numbers(&fixture["c"]));
    for run in fixture["runs"].as_array().unwrap() {
        let hyper: Prodigy = serde_json::from_value(run["hyper"].clone()).unwrap();
        let mut opt = Optimizer::<_, f64>::new(hyper, [Param::vector(a.len())]).unwrap();
        let mut theta = vec![0.0; a.len()];
        for (step, d) in numbers(&run["d"]).into_iter().enumerate() {
            let grad: Vec<f64> = theta.iter().zip(&a).zip(&c).map(|((t, a), c)| a * (t - c)).collect();
            opt.step(&mut [&mut theta], &[Some(&grad)]).unwrap();
            let ours = opt.global_state().unwrap().scalar("d").unwrap();
            assert!((ours - d).abs() <= 1e-13 * d, "{hyper:?} step {}: d {ours:e}, prodigyopt {d:e}", step + 1);
        }
        for (ours, theirs) in theta.iter().zip(numbers(&run["theta"])) {
            assert!((ours - theirs).abs() <= 1e-13, "{hyper:?}: θ {ours} vs {theirs}");
        }
        // With the defaults (lr = 1, no tuning), the run reached the minimum.
        if hyper == Prodigy::default() {
            for (ours, target) in theta.iter().zip(&c) {
                assert!((ours - target).abs() < 1e-3, "θ {ours} vs the minimum {target}");
            }
        }
    }
}

/// d is saved in the checkpoint with the rest: a run resumed from it goes on as if never stopped.
#[test]
fn the_estimate_is_checkpointed() {
    let fixture = fixture();
    let (a, c) = (numbers(&fixture["a"]), numbers(&fixture["c"]));
    let grad = |theta: &[f64]| -> Vec<f64> { theta.iter().zip(&a).zip(&c).map(|((t, a), c)| a * (t - c)).collect() };
    let mut opt = Optimizer::<_, f32>::new(Prodigy::default(), [Param::vector(a.len())]).unwrap();
    let mut theta = vec![0.0_f32; a.len()];
    let step = |opt: &mut Optimizer<Prodigy, f32>, theta: &mut Vec<f32>| {
        let g: Vec<f32> =
            grad(&theta.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()).iter().map(|&v| v as f32).collect();
        opt.step(&mut [theta], &[Some(&g)]).unwrap();
    };
    for _ in 0..30 {
        step(&mut opt, &mut theta);
    }
    let bytes = checkpoint::to_bytes(&checkpoint::Checkpoint::of(opt.state_dict())).unwrap();
    let mut resumed = Optimizer::<_, f32>::new(Prodigy::default(), [Param::vector(a.len())]).unwrap();
    resumed.load_state_dict(&checkpoint::from_bytes::<f32>(&bytes).unwrap().optimizer).unwrap();
    assert!(resumed.global_state().unwrap().scalar("d").unwrap() > 1e-4);
    let mut copy = theta.clone();
    for _ in 0..30 {
        step(&mut opt, &mut theta);
        step(&mut resumed, &mut copy);
    }
    assert_eq!(theta, copy);
    assert_eq!(resumed, opt);
}

#[test]
fn bad_hyperparameters_are_refused() {
    for (hyper, name) in [
        (Prodigy { lr: 0.0, ..Prodigy::default() }, "lr"),
        (Prodigy { d0: 0.0, ..Prodigy::default() }, "d0"),
        (Prodigy { growth_rate: Some(0.5), ..Prodigy::default() }, "growth_rate"),
        (Prodigy { beta3: Some(1.5), ..Prodigy::default() }, "beta3"),
        (Prodigy { beta3: Some(-0.1), ..Prodigy::default() }, "beta3"),
    ] {
        let error = Optimizer::<_, f32>::new(hyper, [Param::vector(1)]).unwrap_err();
        assert!(error.to_string().contains(name), "{error}");
    }
}
