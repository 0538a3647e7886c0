//! Learning-rate schedulers against PyTorch: every lr and momentum of two groups, after construction and after each
//! step, bit for bit (fixtures by tools/make_schedule_fixtures.py; WSD against Hugging Face transformers).

use descent::schedule::{LrGroup, ScheduleSpec, Scheduler};
use descent::{Error, Param, Spec};
use serde_json::Value;

fn fixtures() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/schedules/schedules.json");
    let text = std::fs::read_to_string(path).expect("the schedule fixtures are committed");
    let doc: Value = serde_json::from_str(&text).expect("fixtures parse");
    doc["cases"].as_array().expect("cases").clone()
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().expect("a list").iter().map(|v| v.as_f64().expect("a number")).collect()
}

fn step(scheduler: &mut Scheduler, groups: &mut Vec<LrGroup>, case: &Value, t: usize) -> Result<(), Error> {
    match case["metrics"].as_array() {
        Some(metrics) => scheduler.step_with_metric(groups, metrics[t].as_f64().expect("a metric")),
        None => scheduler.step(groups),
    }
}

#[test]
fn every_scheduler_matches_pytorch_bit_for_bit() {
    let cases = fixtures();
    assert!(cases.len() >= 40);
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let spec: ScheduleSpec = case["spec"].as_str().expect("spec").parse().unwrap_or_else(|e| panic!("{name}: {e}"));
        let momentum = case["momentum"].as_f64().expect("momentum");
        let mut groups: Vec<LrGroup> =
            floats(&case["lrs"]).into_iter().map(|lr| LrGroup::with_momentum(lr, momentum)).collect();
        let mut scheduler = Scheduler::new(&spec, &mut groups).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rows = case["lr"].as_array().expect("rows");
        let momenta = case["group_momentum"].as_array().expect("rows");
        for (t, (row, momentum_row)) in rows.iter().zip(momenta).enumerate() {
            if t > 0 {
                step(&mut scheduler, &mut groups, case, t - 1).unwrap_or_else(|e| panic!("{name} step {t}: {e}"));
            }
            let lrs: Vec<f64> = groups.iter().map(|g| g.lr).collect();
            assert_eq!(lrs, floats(row), "{name}: lr after {t} steps");
            assert_eq!(scheduler.last_lr(), lrs, "{name}: last_lr after {t} steps");
            let ms: Vec<f64> = groups.iter().map(|g| g.momentum.expect("momentum")).collect();
            assert_eq!(ms, floats(momentum_row), "{name}: momentum after {t} steps");
        }
    }
}

#[test]
fn the_reference_golden_sequences_hold() {
    // torch-optim-semantics.md §4.3, independent of the fixtures.
    let run = |spec: &str, steps: usize| {
        let spec: ScheduleSpec = spec.parse().unwrap();
        let mut groups = vec![LrGroup::with_momentum(0.1, 0.9)];
        let mut scheduler = Scheduler::new(&spec, &mut groups).unwrap();
        let mut lrs = vec![groups[0].lr];
        for _ in 0..steps {
            scheduler.step(&mut groups).unwrap();
            lrs.push(groups[0].lr);
        }
        lrs
    };
    assert_eq!(run("CosineAnnealingLR(T_max=5, eta_min=0.01)", 12)[10], 0.10000000000000006);
    assert_eq!(run("ExponentialLR(gamma=0.9)", 2)[2], 0.08100000000000002);
    assert_eq!(run("OneCycleLR(max_lr=1.0, total_steps=12)", 11)[..2], [0.040000000000000036, 0.3497896542195831]);
    assert_eq!(
        run("LinearLR(start_factor=0.1, total_iters=3) until 3 then ExponentialLR(gamma=0.5)", 4),
        [0.010000000000000002, 0.04, 0.07, 0.1, 0.05]
    );
    assert_eq!(
        run("ConstantLR(factor=0.5, total_iters=2) * ExponentialLR(gamma=0.9)", 2),
        [0.05, 0.045000000000000005, 0.08100000000000002]
    );
}

#[test]
fn a_scheduler_drives_an_optimizers_lr_and_momentum() {
    let mut sgd = "sgd(lr=0.1, momentum=0.9)".parse::<Spec>().unwrap().build::<f32>([Param::vector(2)]).unwrap();
    let spec: ScheduleSpec = "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=3)".parse().unwrap();
    let mut scheduler = Scheduler::new(&spec, sgd.as_mut()).unwrap();
    assert_eq!((sgd.lr(0).unwrap(), sgd.hyperparameter(0, "momentum").unwrap()), (0.01, 0.9.into()));
    scheduler.step(sgd.as_mut()).unwrap();
    assert_eq!(sgd.lr(0).unwrap(), 0.040000000000000015); // torch-optim-semantics.md §4.3
    assert_eq!(sgd.hyperparameter(0, "momentum").unwrap(), 0.8666666666666667);

    let mut adam = "adam(betas=(0.9, 0.99))".parse::<Spec>().unwrap().build::<f64>([Param::vector(2)]).unwrap();
    let spec: ScheduleSpec = "OneCycleLR(max_lr=0.01, total_steps=10)".parse().unwrap();
    Scheduler::new(&spec, adam.as_mut()).unwrap();
    assert_eq!(adam.hyperparameter(0, "betas").unwrap(), serde_json::json!([0.95, 0.99]));

    let mut adagrad = "adagrad".parse::<Spec>().unwrap().build::<f32>([Param::vector(2)]).unwrap();
    let err = Scheduler::new(&spec, adagrad.as_mut()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "OneCycleLR: optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
    );
    assert_eq!(adagrad.lr(0).unwrap(), 0.01, "a refused scheduler changes nothing");
}

#[test]
fn a_failed_step_changes_nothing() {
    let spec: ScheduleSpec = "OneCycleLR(max_lr=1.0, total_steps=3, cycle_momentum=False)".parse().unwrap();
    let mut groups = vec![LrGroup::new(0.1)];
    let mut scheduler = Scheduler::new(&spec, &mut groups).unwrap();
    for _ in 0..3 {
        scheduler.step(&mut groups).unwrap();
    }
    let (lr, state) = (groups[0].lr, scheduler.state());
    let err = scheduler.step(&mut groups).unwrap_err();
    assert_eq!(err.to_string(), "OneCycleLR: tried to step 4 times, but the schedule has 3 steps (total_steps)");
    assert_eq!((groups[0].lr, scheduler.state()), (lr, state));

    // An lr the optimizer refuses (negative, from a cycle below zero) leaves the optimizer and scheduler as they were.
    let mut sgd = "sgd(lr=0.1)".parse::<Spec>().unwrap().build::<f32>([Param::vector(2)]).unwrap();
    let spec: ScheduleSpec =
        "CyclicLR(base_lr=0.01, max_lr=-0.1, step_size_up=2, cycle_momentum=False)".parse().unwrap();
    let mut scheduler = Scheduler::new(&spec, sgd.as_mut()).unwrap();
    let state = scheduler.state();
    assert!(scheduler.step(sgd.as_mut()).is_err());
    assert_eq!((sgd.lr(0).unwrap(), scheduler.state()), (0.01, state));
}

#[test]
fn a_schedule_resumed_from_its_state_continues_bit_for_bit() {
    for text in [
        "warmup(start_factor=0.01, total_iters=10) until 10 then cosine(T_max=90, eta_min=0.001)",
        "CosineAnnealingWarmRestarts(T_0=3, T_mult=2)",
        "(warmup(total_iters=4) until 4 then cosine(T_max=20)) * exp(gamma=0.98)",
        "OneCycleLR(max_lr=[0.1, 0.05], total_steps=100)",
        "ReduceLROnPlateau(patience=1)",
    ] {
        let spec: ScheduleSpec = text.parse().unwrap();
        let metric = |t: usize| 1.0 / (1 + t / 4) as f64;
        let advance = |s: &mut Scheduler, g: &mut Vec<LrGroup>, t: usize| {
            if s.watches_metric() {
                s.step_with_metric(g, metric(t)).unwrap()
            } else {
                s.step(g).unwrap()
            }
        };
        let fresh = || vec![LrGroup::with_momentum(0.1, 0.9), LrGroup::with_momentum(0.05, 0.9)];
        let mut groups = fresh();
        let mut whole = Scheduler::new(&spec, &mut groups).unwrap();
        let mut expected = Vec::new();
        for t in 0..60 {
            advance(&mut whole, &mut groups, t);
            expected.push(groups.clone());
        }
        // Stop at 25, save through JSON text, resume in a new scheduler.
        let mut groups = fresh();
        let mut first = Scheduler::new(&spec, &mut groups).unwrap();
        for t in 0..25 {
            advance(&mut first, &mut groups, t);
        }
        let saved = serde_json::to_string(&first.state()).unwrap();
        let mut resumed_groups = groups.clone();
        let mut resumed = Scheduler::new(&spec, &mut fresh()).unwrap();
        resumed.load_state(&serde_json::from_str(&saved).unwrap()).unwrap();
        for (t, expected) in expected.iter().enumerate().skip(25) {
            advance(&mut resumed, &mut resumed_groups, t);
            assert_eq!(&resumed_groups, expected, "{text}: step {t}");
        }
    }
}

#[test]
fn bad_schedules_get_one_clear_error() {
    let cases = [
        ("cosine(T_max=0)", "CosineAnnealingLR: T_max must be a positive integer"),
        // PyTorch divides by the factor when η returns to its base, so a factor of 0 would give NaN there.
        ("ConstantLR(factor=0.0, total_iters=3)", "ConstantLR: factor must be in (0, 1], got 0"),
        ("ConstantLR(factor=1.5)", "ConstantLR: factor must be in (0, 1], got 1.5"),
        ("ExponentialLR(gamma=-0.5)", "ExponentialLR: gamma must be a finite number >= 0, got -0.5"),
        ("MultiStepLR(milestones=[80, 30])", "MultiStepLR: milestones must be increasing, got [80, 30]"),
        ("OneCycleLR(max_lr=0.1)", "OneCycleLR: you must define either total_steps OR (epochs AND steps_per_epoch)"),
        (
            "OneCycleLR(max_lr=0.1, epochs=3)",
            "OneCycleLR: you must define either total_steps OR (epochs AND steps_per_epoch)",
        ),
        ("cosine_anealing(T_max=3)", "unknown scheduler \"cosine_anealing\""),
        ("cosin(T_max=3)", "did you mean \"cosine\"?"),
        ("StepLR(step=3)", "StepLR: unknown field `step`, expected `step_size` or `gamma`"),
        ("StepLR(gamma=0.5)", "StepLR: missing field `step_size`"),
        ("LambdaLR(lr_lambda=\"0.95^step\")", "unknown variable `step` at character 6 (use epoch)"),
        ("linear until 5", "write a sequence as `A until N then B`"),
        ("linear until five then cosine(T_max=3)", "expected an epoch number after `until`"),
        ("linear until 5 then cosine(T_max=3) until 5 then exp(gamma=0.9)", "milestones must be increasing"),
        ("plateau * exp(gamma=0.9)", "cannot be chained"),
        ("linear until 5 then plateau", "cannot be part of a sequence"),
        ("linear * (cosine(T_max=3)", "unclosed"),
        ("ReduceLROnPlateau(factor=1.0)", "ReduceLROnPlateau: factor should be in [0, 1), got 1"),
        ("CyclicLR(base_lr=0.1, max_lr=1, mode=\"triangle\")", "unknown variant `triangle`"),
    ];
    for (text, message) in cases {
        let err = text.parse::<ScheduleSpec>().expect_err(text).to_string();
        assert!(err.contains(message), "{text}: {err}");
    }
    let spec: ScheduleSpec = "CyclicLR(base_lr=[0.1, 0.2], max_lr=1)".parse().unwrap();
    let err = Scheduler::new(&spec, &mut vec![LrGroup::with_momentum(0.1, 0.9)]).unwrap_err();
    assert_eq!(err.to_string(), "CyclicLR: expected 1 values for base_lr, got 2");
    let plateau: ScheduleSpec = "plateau".parse().unwrap();
    let mut groups = vec![LrGroup::new(0.1)];
    let mut scheduler = Scheduler::new(&plateau, &mut groups).unwrap();
    assert!(scheduler.step(&mut groups).unwrap_err().to_string().contains("steps on a metric"));
}

#[test]
fn specs_print_back_to_themselves() {
    for text in [
        "CosineAnnealingLR(T_max=100, eta_min=0.0001)",
        "MultiStepLR(milestones=[30, 80], gamma=0.1)",
        "LinearLR(start_factor=0.1, total_iters=5) until 5 then CosineAnnealingLR(T_max=95)",
        "(LinearLR until 5 then StepLR(step_size=3)) * ExponentialLR(gamma=0.9)",
        "LambdaLR(lr_lambda=\"0.95^epoch\")",
        "WSD(total_steps=100, decay=\"1-sqrt\")",
    ] {
        let spec: ScheduleSpec = text.parse().unwrap();
        assert_eq!(spec.to_string(), text);
        assert_eq!(spec.to_string().parse::<ScheduleSpec>().unwrap(), spec);
    }
}
