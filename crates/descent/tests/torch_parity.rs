//! Every optimizer against PyTorch: every parameter and every state tensor after every step, compared with the
//! fixtures that `tools/make_torch_fixtures.py` wrote by running `torch.optim`.

use std::path::PathBuf;

use descent::{Adadelta, Adagrad, Adam, AdamW, Float, Group, Optimizer, Param, RmsProp, Rule, Sgd};
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
}

impl FixtureFloat for f32 {
    const BYTES: usize = 4;
    fn read(bytes: &[u8]) -> Self {
        f32::from_le_bytes(bytes.try_into().unwrap())
    }
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
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
}

/// How close descent must be to PyTorch.
#[derive(Clone, Copy)]
enum Tolerance {
    /// Bit for bit.
    Exact,
    /// |ours − torch| ≤ abs + rel·|torch|.
    Close { abs: f64, rel: f64 },
}

impl Tolerance {
    fn for_dtype(dtype: &str) -> Self {
        match dtype {
            "f32" => Tolerance::Close { abs: 1e-6, rel: 1e-5 },
            _ => Tolerance::Close { abs: 1e-13, rel: 1e-12 },
        }
    }

    fn accepts<T: FixtureFloat>(self, ours: T, torch: T) -> bool {
        match self {
            Tolerance::Exact => ours.bits() == torch.bits(),
            Tolerance::Close { abs, rel } => {
                let (ours, torch) = (ours.to_f64(), torch.to_f64());
                (ours - torch).abs() <= abs + rel * torch.abs()
            }
        }
    }
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

fn compare<T: FixtureFloat>(tolerance: Tolerance, ours: &[T], torch: &[T], what: &str) {
    assert_eq!(ours.len(), torch.len(), "{what}: length");
    for (i, (&a, &b)) in ours.iter().zip(torch).enumerate() {
        assert!(tolerance.accepts(a, b), "{what}[{i}]: descent {a:e}, torch {b:e}, difference {:e}", {
            a.to_f64() - b.to_f64()
        });
    }
}

fn run_case<R: Rule + DeserializeOwned, T: FixtureFloat>(manifest: &Value, case: &Value, tolerance: Tolerance) {
    let name = format!("{}.{}", case["case"].as_str().unwrap(), case["dtype"].as_str().unwrap());
    let specs = manifest["params"].as_array().unwrap();
    let hyper: Vec<R> = case["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| serde_json::from_value(g.clone()).unwrap_or_else(|e| panic!("{name}: hyperparameters: {e}")))
        .collect();
    let groups = hyper.iter().enumerate().map(|(g, hyper)| {
        let params = specs
            .iter()
            .filter(|s| s["group"] == g)
            .map(|s| Param::named(s["name"].as_str().unwrap(), s["len"].as_u64().unwrap() as usize));
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
    for step in 1..=steps {
        let grads: Vec<Option<Vec<T>>> = specs
            .iter()
            .enumerate()
            .map(|(k, spec)| {
                let has_grad = spec["grad_steps"].as_array().unwrap().iter().any(|s| s == step);
                let scale = spec["grad_scale"].as_f64().unwrap();
                has_grad.then(|| {
                    (0..params[k].len() as u32).map(|j| T::from_f64(scale * value(k as u32, step, j))).collect()
                })
            })
            .collect();
        let mut slices: Vec<&mut [T]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        let grad_slices: Vec<Option<&[T]>> = grads.iter().map(Option::as_deref).collect();
        opt.step(&mut slices, &grad_slices).unwrap();

        for (k, spec) in specs.iter().enumerate() {
            let pname = spec["name"].as_str().unwrap();
            let at = format!("{name} step {step} {pname}");
            let torch_param = cursor.take::<T>(params[k].len());
            compare(tolerance, &params[k], &torch_param, &at);
            let present = case["present"][step as usize - 1][k].as_bool().unwrap();
            let state = opt.state(k);
            assert_eq!(state.is_some(), present, "{at}: state exists");
            let Some(state) = state else { continue };
            let torch_step = case["step"][step as usize - 1][k].as_f64();
            assert_eq!(state.step().map(f64::from), torch_step, "{at}: step");
            let torch_names: Vec<&str> =
                case["buffers"][k].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
            assert_eq!(state.names(), torch_names.as_slice(), "{at}: state tensors");
            for (tensor, values) in state.tensors() {
                let torch_values = cursor.take::<T>(params[k].len());
                compare(tolerance, values, &torch_values, &format!("{at} {tensor}"));
            }
        }
    }
    assert!(cursor.bytes.is_empty(), "{name}: {} fixture bytes left unread", cursor.bytes.len());
}

/// Runs every fixture case of `optimizer`; returns how many ran.
fn run_optimizer<R: Rule + DeserializeOwned>(optimizer: &str, exact: bool) -> usize {
    let manifest = manifest();
    let cases: Vec<&Value> =
        manifest["cases"].as_array().unwrap().iter().filter(|c| c["optimizer"] == optimizer).collect();
    for case in &cases {
        let dtype = case["dtype"].as_str().unwrap();
        let tolerance = if exact { Tolerance::Exact } else { Tolerance::for_dtype(dtype) };
        match dtype {
            "f32" => run_case::<R, f32>(&manifest, case, tolerance),
            "f64" => run_case::<R, f64>(&manifest, case, tolerance),
            other => panic!("unknown dtype {other}"),
        }
    }
    cases.len()
}

#[test]
fn sgd_matches_torch_bit_for_bit() {
    assert_eq!(run_optimizer::<Sgd>("sgd", true), 7);
}

#[test]
fn adagrad_matches_torch() {
    assert_eq!(run_optimizer::<Adagrad>("adagrad", false), 3);
}

#[test]
fn rmsprop_matches_torch() {
    assert_eq!(run_optimizer::<RmsProp>("rmsprop", false), 6);
}

#[test]
fn adadelta_matches_torch() {
    assert_eq!(run_optimizer::<Adadelta>("adadelta", false), 3);
}

#[test]
fn adam_matches_torch() {
    assert_eq!(run_optimizer::<Adam>("adam", false), 7);
}

#[test]
fn adamw_matches_torch() {
    assert_eq!(run_optimizer::<AdamW>("adamw", false), 3);
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
