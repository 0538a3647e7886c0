//! PyTorch interop: checkpoints that PyTorch made mid-run (converted by tools/torch_checkpoint.py) load into
//! descent, which then continues in step with PyTorch's own continuation.

use std::path::PathBuf;

use descent::{catalog, checkpoint, Param, Spec};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/torch-checkpoint")
}

/// The distance from `x` to the next `f32` away from zero: one unit in the last place at `x`'s magnitude.
fn ulp(x: f32) -> f64 {
    let x = x.abs();
    f64::from(f32::from_bits(x.to_bits() + 1)) - f64::from(x)
}

/// How far apart `ours` and `theirs` are, in ulps of the largest magnitude the step involved (the parameter
/// before and after it): an update θ − δ that cancels to near zero carries the rounding of θ and δ, not of its
/// small result.
fn ulps(before: f32, ours: f32, theirs: f32) -> f64 {
    let scale = before.abs().max(ours.abs()).max(theirs.abs());
    (f64::from(ours) - f64::from(theirs)).abs() / ulp(scale)
}

fn floats(value: &Value) -> Vec<f32> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

#[test]
fn torch_checkpoints_continue_in_step_with_torch() {
    let text = std::fs::read_to_string(fixture_dir().join("manifest.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let params: Vec<Param> = manifest["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let shape: Vec<usize> = p[1].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            Param::named(p[0].as_str().unwrap(), shape)
        })
        .collect();
    let cases = manifest["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    let mut report = Vec::new();
    for case in cases {
        let name = case["case"].as_str().unwrap();
        let class = format!("torch.optim.{}", case["optimizer"].as_str().unwrap());
        let entry = catalog().iter().find(|e| e.torch_class() == Some(class.as_str())).unwrap();
        let spec: Spec = entry.defaults().clone();
        let groups = params.iter().map(|p| (spec.clone(), vec![p.clone()]));
        let mut opt = Spec::build_groups::<f32>(groups).unwrap();
        let loaded = checkpoint::load::<f32>(&fixture_dir().join(case["file"].as_str().unwrap())).unwrap();
        opt.load_state_dict(&loaded.optimizer).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(opt.lr(0).unwrap(), loaded.optimizer.groups[0].hyperparameters["lr"].as_f64().unwrap());

        let mut values: Vec<Vec<f32>> = case["start"].as_array().unwrap().iter().map(floats).collect();
        let mut worst: f64 = 0.0;
        for (step, (grads, after)) in
            case["grads"].as_array().unwrap().iter().zip(case["after"].as_array().unwrap()).enumerate()
        {
            let grads: Vec<Vec<f32>> = grads.as_array().unwrap().iter().map(floats).collect();
            let before = values.clone();
            let mut slices: Vec<&mut [f32]> = values.iter_mut().map(Vec::as_mut_slice).collect();
            let grad_slices: Vec<Option<&[f32]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
            opt.step(&mut slices, &grad_slices).unwrap();
            for (k, torch) in after.as_array().unwrap().iter().map(floats).enumerate() {
                for (i, (&ours, &theirs)) in values[k].iter().zip(&torch).enumerate() {
                    let gap = ulps(before[k][i], ours, theirs);
                    worst = worst.max(gap);
                    // SGD, ASGD and Rprop are exact; the others differ from PyTorch only through MKL's square root
                    // (one ulp per root), which a few steps can carry a few ulps further, and Adafactor through
                    // the order its norms are summed in (5 ulps, as in tests/torch_parity.rs).
                    let bound = match name {
                        "sgd_momentum" | "asgd" | "rprop" => 0.0,
                        "adafactor" => 5.0,
                        _ => 4.0,
                    };
                    assert!(
                        gap <= bound,
                        "{name} step {} param {k}[{i}]: {ours} vs torch {theirs} ({gap:.2} ulps)",
                        step + 1
                    );
                }
            }
        }
        report.push(format!("{name}: {worst:.2} ulps"));
    }
    println!("largest gaps after loading a torch checkpoint: {}", report.join(", "));
}
