//! Every optimizer against PyTorch: every parameter and every state tensor after every step, compared with the
//! fixtures that `tools/make_torch_fixtures.py` wrote by running `torch.optim`.

use std::path::PathBuf;

use descent::{
    AdEMAMix, Adadelta, Adafactor, Adagrad, Adam, AdamW, Adamax, Asgd, Float, Group, Lion, Mars, Muon, NAdam,
    Optimizer, Param, Prodigy, RAdam, RmsProp, Rprop, Rule, ScheduleFreeAdamW, ScheduleFreeSgd, Sgd, SparseAdam,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/torch")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("manifest.json")).expect("read manifest.json");
    serde_json::from_str(&text).expect("parse manifest.json")
}

/// The fixtures' 32-bit integer hash (lowbias32), as in tools/make_torch_fixtures.py.
fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// A pseudo-random multiple of 1/2048 in [-2, 2), as in tools/make_torch_fixtures.py.
fn value(param: u32, step: u32, index: u32) -> f64 {
    let h = mix(param.wrapping_mul(0x9E37_79B1).wrapping_add(0x632B_E5AB));
    let h = mix(h ^ step.wrapping_mul(0x85EB_CA77));
    let h = mix(h ^ index.wrapping_mul(0xC2B2_AE3D));
    f64::from(h % 8192) / 2048.0 - 2.0
}

/// An element type the fixtures are written in.
trait FixtureFloat: Float {
    const BYTES: usize;
    fn read(bytes: &[u8]) -> Self;
    fn bits(self) -> u64;
    /// The distance from `self` to the next value away from zero.
    fn ulp(self) -> f64;
}

impl FixtureFloat for f32 {
    const BYTES: usize = 4;
    fn read(bytes: &[u8]) -> Self {
        f32::from_le_bytes(bytes.try_into().unwrap())
    }
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn ulp(self) -> f64 {
        let x = self.abs();
        f64::from(f32::from_bits(x.to_bits() + 1)) - f64::from(x)
    }
}

impl FixtureFloat for f64 {
    const BYTES: usize = 8;
    fn read(bytes: &[u8]) -> Self {
        f64::from_le_bytes(bytes.try_into().unwrap())
    }
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn ulp(self) -> f64 {
        let x = self.abs();
        f64::from_bits(x.to_bits() + 1) - x
    }
}

/// How close descent's optimizer-wide scalars must be to PyTorch's, relative to PyTorch's: sums of 1,045 terms that
/// PyTorch adds in `f32`. ‖s‖₁ (terms of one sign) is within 1,044 `f32` roundings, 6.2·10⁻⁵, and agrees to
/// 1.3·10⁻⁷; the inner product ⟨g, θ₀ − θ⟩ cancels, which magnifies the same roundings: 1.8·10⁻⁵ seen.
const GLOBAL_TOLERANCE: f64 = 1e-4;

/// How close descent must be to PyTorch.
///
/// The gap is measured in ulps of the largest magnitude the step involved (the value before the step, ours and
/// PyTorch's after it): an update x − δ that cancels to near zero carries the rounding of x and δ, not of its small
/// result, so ulps of the result alone would overstate it.
#[derive(Clone, Copy)]
enum Tolerance {
    /// Bit for bit.
    Exact,
    /// At most this many ulps after each step, however many steps came before.
    Ulps(f64),
    /// At most this fraction of the tensor's largest step (|after − before|), plus an ulp: for updates computed in
    /// a lower precision (Muon's bfloat16), whose rounding is relative to the update's largest values.
    OfStep(f64),
}

/// Reads the fixture's values in order.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl Cursor<'_> {
    fn take<T: FixtureFloat>(&mut self, n: usize) -> Vec<T> {
        let (head, tail) = self.bytes.split_at(n * T::BYTES);
        self.bytes = tail;
        head.chunks_exact(T::BYTES).map(T::read).collect()
    }
}

/// Compares after a step; `before` holds the values before it (if they existed). Returns the largest gap in ulps.
fn compare<T: FixtureFloat>(tolerance: Tolerance, before: Option<&[T]>, ours: &[T], torch: &[T], what: &str) -> f64 {
    assert_eq!(ours.len(), torch.len(), "{what}: length");
    let mut worst: f64 = 0.0;
    let largest_step = torch
        .iter()
        .enumerate()
        .map(|(i, b)| (b.to_f64() - before.map_or(0.0, |v| v[i].to_f64())).abs())
        .fold(0.0, f64::max);
    for (i, (&a, &b)) in ours.iter().zip(torch).enumerate() {
        match tolerance {
            Tolerance::Exact => assert_eq!(a.bits(), b.bits(), "{what}[{i}]: descent {a:e}, torch {b:e}"),
            Tolerance::Ulps(bound) => {
                let previous = before.map_or(T::default(), |v| v[i]);
                let scale = [previous, a, b].into_iter().map(|v| v.to_f64().abs()).fold(0.0, f64::max);
                let ulp = T::from_f64(scale).ulp();
                let gap = (a.to_f64() - b.to_f64()).abs() / ulp;
                assert!(gap <= bound, "{what}[{i}]: descent {a:e}, torch {b:e}, {gap:.1} ulps");
                worst = worst.max(gap);
            }
            Tolerance::OfStep(bound) => {
                let previous = before.map_or(T::default(), |v| v[i]).to_f64();
                let ulp = T::from_f64(previous.abs().max(b.to_f64().abs())).ulp();
                let gap = ((a.to_f64() - b.to_f64()).abs() - ulp).max(0.0) / largest_step.max(f64::MIN_POSITIVE);
                assert!(gap <= bound, "{what}[{i}]: descent {a:e}, torch {b:e}, {gap:.2e} of the largest step");
                worst = worst.max(gap);
            }
        }
    }
    worst
}

fn run_case<R: Rule + DeserializeOwned, T: FixtureFloat>(
    manifest: &Value,
    case: &Value,
    tolerance: Tolerance,
    state_tolerance: Tolerance,
) {
    let name = format!("{}.{}", case["case"].as_str().unwrap(), case["dtype"].as_str().unwrap());
    // The case's own parameter set (with shapes), or the vectors every older case uses.
    let specs = case.get("params").unwrap_or(&manifest["params"]).as_array().unwrap();
    let shape = |s: &Value| -> Vec<usize> {
        match s.get("shape") {
            Some(shape) => shape.as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect(),
            None => vec![s["len"].as_u64().unwrap() as usize],
        }
    };
    let hyper: Vec<R> = case["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| serde_json::from_value(g.clone()).unwrap_or_else(|e| panic!("{name}: hyperparameters: {e}")))
        .collect();
    let groups = hyper.iter().enumerate().map(|(g, hyper)| {
        let params =
            specs.iter().filter(|s| s["group"] == g).map(|s| Param::named(s["name"].as_str().unwrap(), shape(s)));
        Group::new(hyper.clone(), params)
    });
    let mut opt = Optimizer::<R, T>::with_groups(groups).unwrap();

    let mut params: Vec<Vec<T>> = (0..specs.len() as u32)
        .map(|k| {
            let len = specs[k as usize]["len"].as_u64().unwrap() as u32;
            (0..len).map(|j| T::from_f64(2.0 * value(k, 0, j))).collect()
        })
        .collect();
    let bytes = std::fs::read(fixture_dir().join(case["file"].as_str().unwrap())).unwrap();
    let mut cursor = Cursor { bytes: &bytes };
    let steps = manifest["steps"].as_u64().unwrap() as u32;
    let mut worst: f64 = 0.0;
    for step in 1..=steps {
        let params_before = params.clone();
        let state_before: Vec<Vec<Vec<T>>> = (0..specs.len())
            .map(|k| opt.state(k).map_or(Vec::new(), |s| s.tensors().map(|(_, t)| t.to_vec()).collect()))
            .collect();
        let grads: Vec<Option<Vec<T>>> = specs
            .iter()
            .enumerate()
            .map(|(k, spec)| {
                let has_grad = spec["grad_steps"].as_array().unwrap().iter().any(|s| s == step);
                let scale = spec["grad_scale"].as_f64().unwrap();
                has_grad.then(|| {
                    let mut grad: Vec<T> =
                        (0..params[k].len() as u32).map(|j| T::from_f64(scale * value(k as u32, step, j))).collect();
                    // The rows a sparse case's gradient leaves untouched are zero.
                    if let Some(rows) = case.get("untouched_rows") {
                        let row = grad.len() / shape(spec)[0];
                        for r in rows[step as usize - 1][k].as_array().unwrap() {
                            let r = r.as_u64().unwrap() as usize;
                            grad[r * row..(r + 1) * row].fill(T::default());
                        }
                    }
                    grad
                })
            })
            .collect();
        let mut slices: Vec<&mut [T]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        let grad_slices: Vec<Option<&[T]>> = grads.iter().map(Option::as_deref).collect();
        opt.step(&mut slices, &grad_slices).unwrap();

        // PyTorch's values after this step: descent continues from them, so that every step is compared alone.
        let mut dict = opt.state_dict();
        // Optimizer-wide scalars (Prodigy's estimate of d), which PyTorch sums in `f32`: compared to a relative
        // `GLOBAL_TOLERANCE`, then set to PyTorch's, so that the next step starts from the same d.
        if let Some(torch_global) = case.get("global").map(|g| g[step as usize - 1].as_object().unwrap()) {
            let record = dict.global.as_mut().expect("the case's optimizer keeps a global state");
            let recorded = record.scalars.iter().filter(|(name, _)| torch_global.contains_key(name)).count();
            assert_eq!(recorded, torch_global.len(), "{name} step {step}: global scalars {torch_global:?}");
            for (scalar, value) in &mut record.scalars {
                let Some(torch) = torch_global.get(scalar.as_str()).map(|v| v.as_f64().unwrap()) else { continue };
                let gap = (*value - torch).abs() / torch.abs().max(f64::MIN_POSITIVE);
                assert!(gap <= GLOBAL_TOLERANCE, "{name} step {step} {scalar}: descent {value:e}, torch {torch:e}");
                *value = torch;
            }
        }
        for (k, spec) in specs.iter().enumerate() {
            let pname = spec["name"].as_str().unwrap();
            let at = format!("{name} step {step} {pname}");
            let torch_param = cursor.take::<T>(params[k].len());
            worst = worst.max(compare(tolerance, Some(&params_before[k]), &params[k], &torch_param, &at));
            params[k] = torch_param;
            let present = case["present"][step as usize - 1][k].as_bool().unwrap();
            let state = opt.state(k);
            assert_eq!(state.is_some(), present, "{at}: state exists");
            let Some(state) = state else { continue };
            let torch_step = case["step"][step as usize - 1][k].as_f64();
            assert_eq!(state.step().map(f64::from), torch_step, "{at}: step");
            let torch_names: Vec<&str> =
                case["buffers"][k].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
            assert_eq!(state.names(), torch_names.as_slice(), "{at}: state tensors");
            // Scalar state (NAdam's mu_product), which PyTorch keeps as an f32: equal to the bit.
            let torch_scalars = case["scalars"][step as usize - 1][k].as_object().cloned().unwrap_or_default();
            let names: Vec<&str> = state.scalars().iter().map(|(name, _)| *name).collect();
            assert_eq!(names, torch_scalars.keys().map(String::as_str).collect::<Vec<_>>(), "{at}: scalars");
            for (name, value) in &torch_scalars {
                assert_eq!(state.scalar(name), value.as_f64(), "{at}: {name}");
            }
            for (j, (tensor, values)) in state.tensors().enumerate() {
                let torch_values = cursor.take::<T>(values.len());
                let before = state_before[k].get(j).map(Vec::as_slice);
                let what = format!("{at} {tensor}");
                worst = worst.max(compare(state_tolerance, before, values, &torch_values, &what));
                dict.params[k].state.as_mut().expect("state exists").tensors[j].2 = torch_values;
            }
        }
        opt.load_state_dict(&dict).unwrap();
        // Schedule-Free's evaluation point, and the training point after the way back.
        if case.get("evaluate_every").is_some_and(|every| u64::from(step).is_multiple_of(every.as_u64().unwrap())) {
            let evaluation: Vec<Vec<T>> = params.iter().map(|p| cursor.take::<T>(p.len())).collect();
            let training: Vec<Vec<T>> = params.iter().map(|p| cursor.take::<T>(p.len())).collect();
            let before = params.clone();
            let mut slices: Vec<&mut [T]> = params.iter_mut().map(Vec::as_mut_slice).collect();
            let seen = opt
                .evaluate(&mut slices, |points| {
                    for (k, point) in points.iter().enumerate() {
                        let what = format!("{name} step {step} evaluation point {k}");
                        worst = worst.max(compare(tolerance, Some(&before[k]), point, &evaluation[k], &what));
                    }
                    points.len()
                })
                .unwrap();
            assert_eq!(seen, specs.len());
            for (k, torch) in training.into_iter().enumerate() {
                let what = format!("{name} step {step} training point {k}");
                worst = worst.max(compare(tolerance, Some(&before[k]), &params[k], &torch, &what));
                params[k] = torch;
            }
        }
    }
    assert!(cursor.bytes.is_empty(), "{name}: {} fixture bytes left unread", cursor.bytes.len());
    println!("{name}: largest gap {worst:.2} ulps");
}

/// Runs every fixture case of `optimizer`, each step from PyTorch's values of the step before, with at most `ulps`
/// between descent and PyTorch after any step (`None`: bit for bit); returns how many cases ran.
///
/// Every optimizer but SGD takes square roots, which PyTorch's CPU build takes from MKL (one ulp off for about 18%
/// of `f32` inputs, and off in `f64` too) where descent's are correctly rounded. A root one ulp off moves a step by
/// about an ulp, a state that squares it (AdaDelta's `acc_delta`) doubles the gap, and NAdam's two updates of the
/// parameter share one root; so the bounds follow the roots each rule takes.
fn run_optimizer<R: Rule + DeserializeOwned>(optimizer: &str, ulps: Option<f64>) -> usize {
    let tolerance = ulps.map_or(Tolerance::Exact, Tolerance::Ulps);
    run_optimizer_within::<R>(optimizer, tolerance, tolerance)
}

/// Runs every fixture case of `optimizer` with its own tolerances for the parameters and for the state.
fn run_optimizer_within<R: Rule + DeserializeOwned>(optimizer: &str, params: Tolerance, state: Tolerance) -> usize {
    run_cases_within::<R>(optimizer, |_| true, params, state)
}

/// Runs the fixture cases of `optimizer` whose names `select` takes, with their own tolerances.
fn run_cases_within<R: Rule + DeserializeOwned>(
    optimizer: &str,
    select: impl Fn(&str) -> bool,
    params: Tolerance,
    state: Tolerance,
) -> usize {
    let manifest = manifest();
    let cases: Vec<&Value> = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["optimizer"] == optimizer && select(c["case"].as_str().unwrap()))
        .collect();
    for case in &cases {
        match case["dtype"].as_str().unwrap() {
            "f32" => run_case::<R, f32>(&manifest, case, params, state),
            "f64" => run_case::<R, f64>(&manifest, case, params, state),
            other => panic!("unknown dtype {other}"),
        }
    }
    cases.len()
}

#[test]
fn sgd_matches_torch_bit_for_bit() {
    assert_eq!(run_optimizer::<Sgd>("sgd", None), 7);
}

#[test]
fn adagrad_matches_torch() {
    assert_eq!(run_optimizer::<Adagrad>("adagrad", Some(4.0)), 3);
}

#[test]
fn rmsprop_matches_torch() {
    assert_eq!(run_optimizer::<RmsProp>("rmsprop", Some(4.0)), 6);
}

#[test]
fn adadelta_matches_torch() {
    assert_eq!(run_optimizer::<Adadelta>("adadelta", Some(6.0)), 3);
}

#[test]
fn adam_matches_torch() {
    assert_eq!(run_optimizer::<Adam>("adam", Some(2.0)), 7);
}

#[test]
fn adamw_matches_torch() {
    assert_eq!(run_optimizer::<AdamW>("adamw", Some(2.0)), 3);
}

#[test]
fn nadam_matches_torch() {
    assert_eq!(run_optimizer::<NAdam>("nadam", Some(4.0)), 3);
}

#[test]
fn radam_matches_torch() {
    assert_eq!(run_optimizer::<RAdam>("radam", Some(2.0)), 3);
}

#[test]
fn adamax_matches_torch_bit_for_bit() {
    assert_eq!(run_optimizer::<Adamax>("adamax", None), 3);
}

#[test]
fn asgd_matches_torch_bit_for_bit() {
    assert_eq!(run_optimizer::<Asgd>("asgd", None), 3);
}

#[test]
fn rprop_matches_torch_bit_for_bit() {
    assert_eq!(run_optimizer::<Rprop>("rprop", None), 3);
}

#[test]
fn lion_matches_lion_pytorch_bit_for_bit() {
    assert_eq!(run_optimizer::<Lion>("lion", None), 3);
}

/// Against `pytorch-optimizer`'s AdEMAMix: one square root per step, as Adam's, so an ulp of the step; with α = 8
/// and η = 0.01 (`ademamix_decoupled`) a step can be four times the parameter it moves, so 4 ulps of the parameter.
#[test]
fn ademamix_matches_pytorch_optimizer() {
    assert_eq!(run_optimizer::<AdEMAMix>("ademamix", Some(4.0)), 5);
}

/// Against `pytorch-optimizer`'s MARS. Its corrected gradient c is divided by its norm, which PyTorch sums in
/// `f32` and descent in `f64`, so each value of c can be an ulp or two off; the moments take c at its own scale
/// (up to 1 after the division), larger than theirs, and the step adds a root: at most 8 ulps (7 seen).
#[test]
fn mars_matches_pytorch_optimizer() {
    let ulps = Tolerance::Ulps(8.0);
    assert_eq!(run_cases_within::<Mars>("mars", |case| !case.contains("shampoo"), ulps, ulps), 8);
}

/// MARS in its Shampoo form orthogonalizes the step in bfloat16 as Muon does (see `muon_matches_torch`); its
/// moments match as in the other forms.
#[test]
fn mars_shampoo_matches_pytorch_optimizer() {
    let (params, state) = (Tolerance::OfStep(1.0 / 64.0), Tolerance::Ulps(8.0));
    assert_eq!(run_cases_within::<Mars>("mars", |case| case.contains("shampoo"), params, state), 1);
}

/// Against `schedulefree`'s AdamWScheduleFree, with its evaluation point every tenth step. One square root per
/// step, as Adam's, puts d an ulp off; z and y move by η·d, which here is up to twice their own size, so the gap
/// of d shows as up to two ulps of them, plus their own rounding: at most 3 ulps (3 seen in f32, 2.5 in f64).
#[test]
fn adamw_schedule_free_matches_schedulefree() {
    assert_eq!(run_optimizer::<ScheduleFreeAdamW>("adamw_schedulefree", Some(3.0)), 3);
}

/// Against `schedulefree`'s SGDScheduleFree, evaluation point included: the same operations in the same order,
/// no roots, so bit for bit.
#[test]
fn sgd_schedule_free_matches_schedulefree_bit_for_bit() {
    assert_eq!(run_optimizer::<ScheduleFreeSgd>("sgd_schedulefree", None), 3);
}

/// Against `prodigyopt`'s Prodigy, which keeps its estimate d in its first parameter group; the fixtures record it
/// after every step (with `d_numerator`, `d_denom`, `d_max` and `d_hat`), and each step starts from PyTorch's, so the
/// steps themselves are compared to the 2 ulps of Adam's square roots. d's inputs are sums over every parameter:
/// ⟨g, θ₀ − θ⟩ and ‖s‖₁, which PyTorch reduces in `f32` and descent in `f64`, so they agree to `GLOBAL_TOLERANCE`.
/// d's estimate itself is checked on a quadratic, to 10⁻¹³, in `tests/prodigy.rs`.
#[test]
fn prodigy_matches_prodigyopt() {
    assert_eq!(run_optimizer::<Prodigy>("prodigy", Some(2.0)), 6);
}

/// Adafactor's norms are summed in another order than PyTorch's, and set the size of every step: 5 ulps at most.
#[test]
fn adafactor_matches_torch() {
    assert_eq!(run_optimizer::<Adafactor>("adafactor", Some(5.0)), 3);
}

/// Muon's momentum buffer matches bit for bit; its update is orthogonalized in bfloat16, whose products descent sums
/// in another order than PyTorch: the step may differ by four bfloat16 roundings (2⁻⁸ each) of its largest value.
#[test]
fn muon_matches_torch() {
    assert_eq!(run_optimizer_within::<Muon>("muon", Tolerance::OfStep(1.0 / 64.0), Tolerance::Exact), 3);
}

/// SparseAdam takes one square root per touched value, which PyTorch takes from MKL.
#[test]
fn sparse_adam_matches_torch() {
    assert_eq!(run_optimizer::<SparseAdam>("sparse_adam", Some(1.0)), 3);
}

#[test]
fn fixture_gradients_match_the_generator() {
    // Spot values of tools/make_torch_fixtures.py's `value`, computed by Python.
    let manifest = manifest();
    for probe in manifest["probes"].as_array().unwrap() {
        let args: Vec<u32> = probe["args"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(value(args[0], args[1], args[2]), probe["value"].as_f64().unwrap(), "value{args:?}");
    }
}
