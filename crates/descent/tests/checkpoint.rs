//! Checkpoints: every optimizer resumes bit for bit, and a bad file or state is an error that changes nothing.

use descent::checkpoint::{self, Checkpoint};
use descent::{catalog, Adam, DynOptimizer, Error, Float, Optimizer, Param, Sgd, Shape, Spec, StateDict};
use proptest::prelude::*;
use serde_json::Value;

mod common;
use common::value;

/// Two groups (the second at half the learning rate): a 3×4 matrix and a vector of 5 (a 1×5 matrix for rules that
/// take only matrices); one group for L-BFGS, which has only one.
fn build<T: Float>(spec: &Spec) -> Box<dyn DynOptimizer<T>> {
    let half = spec.with_lr(spec.lr() * 0.5).unwrap();
    let b: Shape = if spec.layout(&Shape::from(5)).is_ok() { 5.into() } else { [1, 5].into() };
    let (w, b) = (Param::named("w", [3, 4]), Param::named("b", b));
    match Spec::build_groups::<T>([(spec.clone(), vec![w.clone()]), (half, vec![b.clone()])]) {
        Err(Error::InvalidCombination { .. }) => spec.build([w, b]).unwrap(),
        built => built.unwrap(),
    }
}

fn start<T: Float>() -> Vec<Vec<T>> {
    [12, 5].iter().enumerate().map(|(k, &n)| (0..n).map(|i| T::from_f64(value(0, k, i))).collect()).collect()
}

/// Step `step` of the run: `b` gets no gradient every third step; optimizers that need a closure (look-ahead,
/// L-BFGS) run through it.
fn step<T: Float>(optimizer: &mut dyn DynOptimizer<T>, closure: bool, params: &mut [Vec<T>], step: usize) {
    let mut slices: Vec<&mut [T]> = params.iter_mut().map(Vec::as_mut_slice).collect();
    if closure {
        optimizer
            .step_with_closure(&mut slices, &mut |points, grads| {
                for (k, (point, grad)) in points.iter().zip(grads.iter_mut()).enumerate() {
                    for (i, (g, p)) in grad.iter_mut().zip(point.iter()).enumerate() {
                        *g = T::from_f64(p.to_f64() + value(step, k, i));
                    }
                }
                0.0
            })
            .unwrap();
    } else {
        let grads: Vec<Vec<T>> = (0..2)
            .map(|k| (0..slices[k].len()).map(|i| T::from_f64(slices[k][i].to_f64() + value(step, k, i))).collect())
            .collect();
        let skip_b = step.is_multiple_of(3);
        optimizer.step(&mut slices, &[Some(&grads[0]), (!skip_b).then_some(grads[1].as_slice())]).unwrap();
    }
}

fn bits<T: Float>(params: &[Vec<T>]) -> Vec<u64> {
    params.iter().flatten().map(|v| v.to_f64().to_bits()).collect()
}

/// Runs 13 steps straight, and 7 steps, a save, a load into a fresh optimizer and 6 more: both must agree bit
/// for bit, parameters and state.
fn resume<T: Float>(spec: &Spec, dir: &std::path::Path) {
    let closure = spec.needs_closure();
    let mut straight = build::<T>(spec);
    let mut params = start::<T>();
    for s in 1..=13 {
        step(&mut *straight, closure, &mut params, s);
    }

    let mut first = build::<T>(spec);
    let mut resumed_params = start::<T>();
    for s in 1..=7 {
        step(&mut *first, closure, &mut resumed_params, s);
    }
    let path = dir.join(format!("{}-{}.safetensors", spec.name(), T::NAME));
    checkpoint::save(&path, &Checkpoint::of(first.state_dict())).unwrap();
    drop(first);
    let mut second = build::<T>(spec);
    second.load_state_dict(&checkpoint::load::<T>(&path).unwrap().optimizer).unwrap();
    for s in 8..=13 {
        step(&mut *second, closure, &mut resumed_params, s);
    }
    let what = format!("{spec} {}", T::NAME);
    assert_eq!(bits(&resumed_params), bits(&params), "{what}: parameters");
    assert_eq!(second.state_dict(), straight.state_dict(), "{what}: state");
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("descent-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_optimizer_resumes_bit_for_bit_in_both_types() {
    let dir = temp_dir("resume");
    for entry in catalog() {
        for spec in [entry.defaults().clone(), entry.defaults().with_lr(0.05).unwrap()] {
            resume::<f32>(&spec, &dir);
            resume::<f64>(&spec, &dir);
        }
    }
    // Options that change the state: AMSGrad, RMSprop's centered momentum, Adagrad's accumulator, SOAP's bases
    // for vectors, and compact state (8-bit codes with their scales, bfloat16, stochastic rounding seeded by the
    // step).
    for text in [
        "adam(amsgrad=True)",
        "rmsprop(momentum=0.9, centered=True)",
        "adagrad(initial_accumulator_value=0.5)",
        "soap(precondition_1d=True, precondition_frequency=3)",
        "adam(state=\"int8\")",
        "adamw(state=\"bf16\")",
        "adamw(state=\"bf16_stochastic\")",
        "lion(state=\"int8\")",
        "lion(state=\"bf16\")",
    ] {
        let spec: Spec = text.parse().unwrap();
        resume::<f32>(&spec, &dir);
        resume::<f64>(&spec, &dir);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

fn adam_after_steps(steps: usize) -> (Optimizer<Adam, f32>, Vec<u8>) {
    let mut opt =
        Optimizer::<Adam, f32>::new(Adam::default(), [Param::named("w", [2, 3]), Param::named("b", 3)]).unwrap();
    let (mut w, mut b) = (vec![0.5; 6], vec![-0.5; 3]);
    for s in 0..steps {
        let g = s as f32 * 0.1;
        opt.step(&mut [&mut w, &mut b], &[Some(&[g; 6]), Some(&[1.0 - g; 3])]).unwrap();
    }
    let bytes = checkpoint::to_bytes(&Checkpoint::of(opt.state_dict())).unwrap();
    (opt, bytes)
}

#[test]
fn the_file_names_its_tensors_and_carries_the_header() {
    let (_, bytes) = adam_after_steps(2);
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    for name in ["state.w.exp_avg", "state.w.exp_avg_sq", "state.b.exp_avg", "state.b.exp_avg_sq"] {
        assert_eq!(header[name]["dtype"], "F32", "{name}");
    }
    assert_eq!(header["state.w.exp_avg"]["shape"], serde_json::json!([2, 3]));
    let metadata = &header["__metadata__"];
    assert_eq!(metadata["format"], "descent.checkpoint");
    assert_eq!(metadata["version"], "1");
    let descent: Value = serde_json::from_str(metadata["descent"].as_str().unwrap()).unwrap();
    assert_eq!(descent["optimizer"], "Adam");
    assert_eq!(descent["dtype"], "f32");
    assert_eq!(descent["groups"][0]["hyperparameters"]["betas"], serde_json::json!([0.9, 0.999]));
    assert_eq!(descent["params"][1]["name"], "b");
    assert_eq!(descent["params"][1]["state"]["step"], 2.0);
}

/// Loads `bytes` into a copy of `opt`: whatever happens, no panic, and on error the copy is unchanged.
fn load_changes_nothing_on_error(opt: &Optimizer<Adam, f32>, bytes: &[u8]) -> Result<(), Error> {
    let mut target = opt.clone();
    let result = checkpoint::from_bytes::<f32>(bytes).and_then(|c| target.load_state_dict(&c.optimizer));
    if result.is_err() {
        assert_eq!(&target, opt, "a failed load changed the optimizer");
    }
    result
}

#[test]
fn mismatched_states_are_refused_and_change_nothing() {
    let (opt, _) = adam_after_steps(3);
    let fresh =
        Optimizer::<Adam, f32>::new(Adam::default(), [Param::named("w", [2, 3]), Param::named("b", 3)]).unwrap();
    let dict = opt.state_dict();
    let refuse = |dict: StateDict<f32>, message: &str| {
        let mut target = fresh.clone();
        let err = target.load_state_dict(&dict).unwrap_err();
        assert!(err.to_string().contains(message), "{err} does not say {message:?}");
        assert_eq!(target, fresh);
    };
    let mut other = dict.clone();
    other.optimizer = "SGD".into();
    refuse(other, "of a SGD optimizer, not Adam");
    let mut other = dict.clone();
    other.params[0].shape = [3, 2].into();
    refuse(other, "parameter \"w\" has shape [3, 2] in the state, [2, 3] here");
    let mut other = dict.clone();
    other.params[1].name = Some("bias".into());
    refuse(other, "is called Some(\"bias\")");
    let mut other = dict.clone();
    other.params[1].state.as_mut().unwrap().tensors.pop();
    refuse(other, "state tensors [exp_avg], expected [exp_avg, exp_avg_sq]");
    let mut other = dict.clone();
    other.params[1].state.as_mut().unwrap().tensors[0].2.push(1.0);
    refuse(other, "exp_avg has shape [3] and 4 values");
    let mut other = dict.clone();
    other.groups[0].hyperparameters.insert("amsgrad".into(), Value::Bool(true));
    refuse(other, "state tensors [exp_avg, exp_avg_sq], expected [exp_avg, exp_avg_sq, max_exp_avg_sq]");
    let mut other = dict.clone();
    other.groups[0].hyperparameters.insert("betas".into(), serde_json::json!([0.9, 1.5]));
    refuse(other, "invalid betas[1] = 1.5");
    let mut other = dict.clone();
    other.groups[0].hyperparameters.insert("momentum".into(), serde_json::json!(0.9));
    refuse(other, "unknown field `momentum`");
    let mut other = dict;
    other.params[0].state.as_mut().unwrap().step = None;
    refuse(other, "has no step counter");

    // A checkpoint of another element type, or of another optimizer.
    let bytes = checkpoint::to_bytes(&Checkpoint::of(opt.state_dict())).unwrap();
    assert!(matches!(checkpoint::from_bytes::<f64>(&bytes), Err(Error::StateMismatch(_))));
    let sgd = Optimizer::<Sgd, f32>::new(Sgd::default(), [Param::named("w", [2, 3]), Param::named("b", 3)]).unwrap();
    let mut target = sgd.clone();
    assert!(target.load_state_dict(&checkpoint::from_bytes::<f32>(&bytes).unwrap().optimizer).is_err());
    assert_eq!(target, sgd);
}

#[test]
fn corrupt_files_are_named_errors() {
    let (opt, bytes) = adam_after_steps(2);
    let cases: [(&[u8], &str); 4] = [
        (&bytes[..bytes.len() - 1], "not a valid safetensors file"),
        (&bytes[..5], "not a valid safetensors file"),
        (b"", "not a valid safetensors file"),
        (b"\x02\x00\x00\x00\x00\x00\x00\x00{}", "no descent metadata"),
    ];
    for (data, message) in cases {
        let err = load_changes_nothing_on_error(&opt, data).unwrap_err();
        assert!(err.to_string().contains(message), "{err} does not say {message:?}");
    }
    let dir = temp_dir("corrupt");
    let err = checkpoint::load::<f32>(&dir.join("missing.safetensors")).unwrap_err();
    assert!(err.to_string().starts_with("cannot read "), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn saving_is_atomic_and_leaves_no_temporary_file() {
    let dir = temp_dir("atomic");
    let path = dir.join("opt.safetensors");
    let (opt, _) = adam_after_steps(1);
    checkpoint::save(&path, &Checkpoint::of(opt.state_dict())).unwrap();
    let first = std::fs::read(&path).unwrap();
    // A save that cannot finish (the target is a folder) fails and leaves the folder's files as they were.
    let blocked = dir.join("blocked");
    std::fs::create_dir(&blocked).unwrap();
    assert!(checkpoint::save(&blocked, &Checkpoint::of(opt.state_dict())).is_err());
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["blocked", "opt.safetensors"]);
    assert_eq!(std::fs::read(&path).unwrap(), first);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn extra_tensors_and_metadata_round_trip() {
    let (opt, _) = adam_after_steps(2);
    let checkpoint = Checkpoint {
        optimizer: opt.state_dict(),
        tensors: vec![("model.w".into(), [2, 3].into(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])],
        metadata: serde_json::json!({"epoch": 3}),
    };
    let bytes = checkpoint::to_bytes(&checkpoint).unwrap();
    assert_eq!(checkpoint::from_bytes::<f32>(&bytes).unwrap(), checkpoint);
    let clash = Checkpoint { tensors: vec![("state.w.exp_avg".into(), [1].into(), vec![0.0])], ..checkpoint };
    assert!(checkpoint::to_bytes(&clash).is_err());
}

/// Replaces one leaf of a JSON document, chosen by `pick`, with `replacement`.
fn mutate_leaf(value: &mut Value, pick: &mut usize, replacement: &Value) -> bool {
    match value {
        Value::Object(map) => map.values_mut().any(|v| mutate_leaf(v, pick, replacement)),
        Value::Array(items) => items.iter_mut().any(|v| mutate_leaf(v, pick, replacement)),
        leaf => {
            if *pick == 0 {
                *leaf = replacement.clone();
                true
            } else {
                *pick -= 1;
                false
            }
        }
    }
}

/// The file with one leaf of its descent header (or of the outer safetensors header) replaced.
fn edit_header(bytes: &[u8], inner: bool, pick: usize, replacement: &Value) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut pick = pick;
    if inner {
        let text = header["__metadata__"]["descent"].as_str().unwrap();
        let mut descent: Value = serde_json::from_str(text).unwrap();
        mutate_leaf(&mut descent, &mut pick, replacement);
        header["__metadata__"]["descent"] = Value::String(descent.to_string());
    } else {
        mutate_leaf(&mut header, &mut pick, replacement);
    }
    let text = header.to_string();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

fn any_json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|v| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)),
        "[a-z_.]{0,12}".prop_map(Value::String),
        Just(serde_json::json!([4294967296u64, 4294967296u64])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_byte_changes_never_panic_or_load_partly(
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let (opt, mut bytes) = adam_after_steps(3);
        for (at, byte) in changes {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = load_changes_nothing_on_error(&opt, &bytes);
    }

    #[test]
    fn truncations_are_errors(len in 0usize..2000) {
        let (opt, bytes) = adam_after_steps(3);
        let cut = len.min(bytes.len() - 1);
        prop_assert!(load_changes_nothing_on_error(&opt, &bytes[..cut]).is_err());
    }

    #[test]
    fn header_edits_never_panic_or_load_partly(inner: bool, pick in 0usize..80, replacement in any_json_leaf()) {
        let (opt, bytes) = adam_after_steps(3);
        let edited = edit_header(&bytes, inner, pick, &replacement);
        let _ = load_changes_nothing_on_error(&opt, &edited);
    }
}
