//! The training library on the embedded digits: it learns, it resumes bit for bit, and it refuses bad settings
//! before any training.

use descent_train::dataset::{self, Dataset, Source};
use descent_train::{ModelSpec, Silent, TrainConfig, TrainError, Trainer, Training};

fn digits() -> Dataset {
    dataset::load(&Source::Embedded).expect("the embedded digits load")
}

fn run(dataset: &Dataset, config: &TrainConfig, specs: &[&str]) -> Result<Vec<Training>, TrainError> {
    let optimizers: Vec<ModelSpec> = specs.iter().map(|s| ModelSpec::parse(s).unwrap()).collect();
    descent_train::train_all(dataset, config, &optimizers)
}

#[test]
fn the_network_learns_the_digits() {
    let digits = digits();
    assert_eq!((digits.train.count(), digits.test.count(), digits.train.features), (8000, 2000, 784));
    let config = TrainConfig { epochs: 2, hidden: vec![64], ..TrainConfig::default() };
    let trainings = run(&digits, &config, &["adam(lr=1e-3)", "muon(lr=0.02) + adamw(lr=1e-3)"]).unwrap();
    for training in &trainings {
        let [first, second] = &training.epochs[..] else { panic!("two epochs") };
        // A chance classifier is right 10% of the time; an MLP on 8,000 MNIST digits passes 85% within two epochs.
        assert!(second.test_accuracy > 0.85, "{}: {second:?}", training.entrant.label);
        assert!(second.train_loss < first.train_loss, "{}", training.entrant.label);
        assert_eq!(first.lrs.len(), 8000_usize.div_ceil(128));
        assert!(!training.diverged);
    }
}

#[test]
fn a_resumed_run_equals_the_whole_run_bit_for_bit() {
    let digits = digits().hold_out(6000).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let base = TrainConfig { hidden: vec![16], batch_size: 100, ..TrainConfig::default() };
    let specs = ["adamw(lr=3e-3, state=\"int8\")", "adamw_schedulefree(lr=3e-3)"];
    let whole = run(&digits, &TrainConfig { epochs: 3, ..base.clone() }, &specs).unwrap();
    let first = TrainConfig { epochs: 2, checkpoint: Some(folder.path().to_owned()), ..base.clone() };
    run(&digits, &first, &specs).unwrap();
    let rest = TrainConfig { epochs: 3, resume: Some(folder.path().to_owned()), ..base };
    let resumed = run(&digits, &rest, &specs).unwrap();
    for (whole, resumed) in whole.iter().zip(&resumed) {
        let strip = |t: &Training| {
            t.epochs.iter().map(|e| (e.train_loss, e.test_loss, e.test_accuracy, e.lrs.clone())).collect::<Vec<_>>()
        };
        assert_eq!(strip(whole), strip(resumed), "{}", whole.entrant.label);
    }
}

#[test]
fn bad_settings_are_refused_before_any_training() {
    let digits = digits().hold_out(7900).unwrap();
    let fails = |config: TrainConfig, spec: &str, expected: &str| {
        let optimizers = [ModelSpec::parse(spec).unwrap()];
        let error = Trainer::new(&digits, &config, &optimizers).err().expect("refused").to_string();
        assert!(error.contains(expected), "{error:?} does not say {expected:?}");
    };
    fails(TrainConfig { batch_size: 0, ..TrainConfig::default() }, "adam", "batch size must be from 1 to the 100");
    fails(TrainConfig { batch_size: 101, ..TrainConfig::default() }, "adam", "got 101");
    fails(TrainConfig { epochs: 0, batch_size: 10, ..TrainConfig::default() }, "adam", "at least one epoch");
    let group = descent_train::GroupSpec { pattern: "bias".into(), keys: "betas=(0.9, 0.99)".into() };
    fails(TrainConfig { groups: vec![group], batch_size: 10, ..TrainConfig::default() }, "sgd", "sgd: group \"bias\"");
    let onecycle = "onecycle(max_lr=0.1, total_steps=3)".parse().ok();
    fails(TrainConfig { schedule: onecycle, batch_size: 10, ..TrainConfig::default() }, "sgd", "after step");
    let missing = TrainConfig { resume: Some("/nonexistent/run".into()), batch_size: 10, ..TrainConfig::default() };
    fails(missing, "adam", "cannot resume from /nonexistent/run/0-adam.safetensors");
    let error = dataset::load(&Source::Folder("/nonexistent/idx".into())).unwrap_err().to_string();
    assert!(error.contains("/nonexistent/idx has no train-images-idx3-ubyte"), "{error}");
}

#[test]
fn data_parallel_training_on_one_rank_is_one_process_bit_for_bit() {
    use descent_mpi::{Solo, Stage};
    let digits = digits().hold_out(6000).unwrap();
    let clip = descent::Clip { max_norm: Some(0.5), norm_type: 2.0, error_if_nonfinite: false, value: None };
    let config =
        TrainConfig { epochs: 2, hidden: vec![16], batch_size: 100, clip: Some(clip), ..TrainConfig::default() };
    let specs = ["adam(lr=3e-3)", "muon(lr=0.02) + adamw(lr=3e-3)", "adamw_schedulefree(lr=3e-3)"];
    let optimizers: Vec<ModelSpec> = specs.iter().map(|s| ModelSpec::parse(s).unwrap()).collect();
    let alone = descent_train::train_all(&digits, &config, &optimizers).unwrap();
    for stage in [Stage::One, Stage::Two] {
        let ranks = descent_train::Ranks { comm: std::rc::Rc::new(Solo), stage };
        let sharded = Trainer::data_parallel(&digits, &config, &optimizers, ranks).unwrap().run(&mut Silent).unwrap();
        for (a, b) in alone.iter().zip(&sharded) {
            let results = |t: &Training| {
                t.epochs.iter().map(|e| (e.train_loss, e.test_loss, e.test_accuracy)).collect::<Vec<_>>()
            };
            assert_eq!(results(a), results(b), "{} at stage {stage:?}", a.entrant.label);
            assert_eq!(a.state_bytes, b.state_bytes);
        }
    }
    // Optimizers that cannot be sharded are refused before any training.
    let ranks = descent_train::Ranks { comm: std::rc::Rc::new(Solo), stage: Stage::Two };
    let prodigy = [ModelSpec::parse("prodigy").unwrap()];
    let error = Trainer::data_parallel(&digits, &config, &prodigy, ranks).err().unwrap().to_string();
    assert!(error.contains("Prodigy cannot be sharded"), "{error}");
}
