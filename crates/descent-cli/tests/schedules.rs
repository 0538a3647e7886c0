//! Schedules, clipping and weight averaging on the command line: `descent schedule` against PyTorch's fixtures,
//! `--lr-schedule` and `--clip-norm` in run against the library, train resumed mid-schedule, and bad input.

mod common;

use descent::schedule::ScheduleSpec;
use descent::{Clip, Spec};
use descent_landscape::{run, surfaces, Run};

use common::{fails, ok};

fn csv(text: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(str::to_owned).collect();
    (header, lines.map(|l| l.split(',').map(|v| v.parse().unwrap_or(f64::NAN)).collect()).collect())
}

#[test]
fn schedule_prints_pytorchs_learning_rates() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/schedules/schedules.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for name in ["onecycle_groups", "cyclic_triangular2", "warmup_cosine", "chained_sequence", "wsd", "warm_restarts"] {
        let case = doc["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
        let rows = case["lr"].as_array().unwrap();
        let momenta = case["group_momentum"].as_array().unwrap();
        // Row t is the lr of step t, before t − 1 scheduler steps: PyTorch's rows 0..N−1 of N + 1.
        let steps = (rows.len() - 1).to_string();
        let text = ok(&[
            "schedule",
            case["spec"].as_str().unwrap(),
            "--groups",
            "0.1,0.05",
            "--steps",
            &steps,
            "--format",
            "csv",
        ]);
        let (header, table) = csv(&text);
        let cycles = header.len() == 5;
        assert_eq!(&header[..3], ["step", "lr0", "lr1"], "{name}");
        assert_eq!(table.len(), rows.len() - 1, "{name}");
        for (t, row) in table.iter().enumerate() {
            assert_eq!(row[0], (t + 1) as f64);
            let expected: Vec<f64> = rows[t].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            assert_eq!(row[1..3], expected, "{name}: step {}", t + 1);
            if cycles {
                let expected: Vec<f64> = momenta[t].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                assert_eq!(row[3..5], expected, "{name}: momentum at step {}", t + 1);
            }
        }
        assert_eq!(cycles, name.starts_with("onecycle") || name.starts_with("cyclic"), "{name}: {header:?}");
    }
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "schedule",
        "step(step_size=2, gamma=0.5)",
        "--lr",
        "1",
        "--steps",
        "5",
        "--format",
        "json",
    ]))
    .unwrap();
    let lrs: Vec<f64> = json["rows"].as_array().unwrap().iter().map(|r| r["lr"][0].as_f64().unwrap()).collect();
    assert_eq!(lrs, [1.0, 1.0, 0.5, 0.5, 0.25]);
    assert_eq!(json["schedule"], "StepLR(step_size=2, gamma=0.5)");
    let table = ok(&["schedule", "exp(gamma=0.5)", "--steps", "3"]);
    let last: Vec<&str> = table.lines().last().unwrap().split_whitespace().collect();
    assert_eq!(last, ["3", "0.025"], "{table}");

    let dir = tempfile::tempdir().unwrap();
    let picture = dir.path().join("onecycle.svg");
    ok(&["schedule", "OneCycleLR(max_lr=0.1, total_steps=50)", "--steps", "50", "--plot", picture.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&picture).unwrap();
    assert!(svg.contains("learning rate") && svg.contains("momentum"), "the picture has both panels");
}

#[test]
fn run_steps_the_schedule_and_clips_as_the_library_does() {
    let surface = surfaces::by_name("rosenbrock", 2).unwrap();
    let spec: Spec = "momentum(lr=0.001)".parse().unwrap();
    let schedule: ScheduleSpec = "OneCycleLR(max_lr=0.003, total_steps=40)".parse().unwrap();
    let config = Run { schedule: Some(schedule), clip: Some(Clip::norm(5.0)), ..Run::new(vec![-1.5, 2.0], 40) };
    let expected = run(&surface, &spec, &config).unwrap();
    let text = ok(&[
        "run",
        "-f",
        "rosenbrock",
        "-o",
        "momentum(lr=0.001)",
        "--start",
        "-1.5,2",
        "--steps",
        "40",
        "--lr-schedule",
        "OneCycleLR(max_lr=0.003, total_steps=40)",
        "--clip-norm",
        "5",
    ]);
    let (header, rows) = csv(&text);
    assert_eq!(header, ["step", "x0", "x1", "loss", "lr"]);
    for (t, row) in rows.iter().enumerate() {
        assert_eq!(row[1..3], expected.points[t], "step {t}");
        if t > 0 {
            assert_eq!(row[4], expected.lrs[t - 1], "step {t}");
        }
    }
    // The lr really follows the cycle (max_lr/25 up to max_lr and down), and clipping really bites.
    assert!((rows[1][4] / (0.003 / 25.0) - 1.0).abs() < 1e-12, "{}", rows[1][4]);
    assert!(rows.iter().skip(1).map(|r| r[4]).fold(0.0, f64::max) > 0.0029);
    let unclipped = run(&surface, &spec, &Run { clip: None, ..config.clone() }).unwrap();
    assert_ne!(unclipped.points, expected.points);
    // The picture shows the rates under the map.
    let dir = tempfile::tempdir().unwrap();
    let picture = dir.path().join("race.svg");
    ok(&[
        "race",
        "-f",
        "rosenbrock",
        "--start",
        "-1.5,2",
        "--steps",
        "50",
        "-o",
        "momentum(lr=0.001)",
        "adam(lr=0.05)",
        "--lr-schedule",
        "cosine(T_max=50)",
        "--plot",
        picture.to_str().unwrap(),
    ]);
    assert!(std::fs::read_to_string(&picture).unwrap().contains("learning rate"));
    let without = dir.path().join("plain.svg");
    ok(&["race", "-f", "rosenbrock", "--steps", "50", "-o", "adam", "--plot", without.to_str().unwrap()]);
    assert!(!std::fs::read_to_string(&without).unwrap().contains("learning rate"));
    // A plateau schedule steps on the loss.
    let text =
        ok(&["run", "-f", "sphere", "-o", "sgd(lr=0.1)", "--steps", "5", "--lr-schedule", "plateau(patience=0)"]);
    assert!(!text.is_empty());
}

#[test]
fn training_resumed_mid_schedule_continues_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("run");
    let saved = saved.to_str().unwrap();
    let args = |epochs: &'static str, schedule: &'static str, every: &'static str, average: &'static str| {
        vec![
            "train",
            "--hidden",
            "16",
            "--batch-size",
            "250",
            "--epochs",
            epochs,
            "--optimizers",
            "sgd(lr=0.05, momentum=0.9)",
            "adam(lr=0.002)",
            "--lr-schedule",
            schedule,
            "--schedule-every",
            every,
            "--average",
            average,
            "--ema-decay",
            "0.9",
            "--clip-norm",
            "2",
            "--format",
            "json",
        ]
    };
    for (schedule, every, average) in [
        ("OneCycleLR(max_lr=0.05, total_steps=96)", "batch", "ema"),
        ("warmup(start_factor=0.2, total_iters=2) until 2 then exp(gamma=0.7)", "epoch", "swa"),
        ("plateau(patience=0, factor=0.5)", "epoch", "swa"),
    ] {
        let strip = |text: &str| {
            let json: serde_json::Value = serde_json::from_str(text).unwrap();
            let mut rows = json["rows"].as_array().unwrap().clone();
            for row in &mut rows {
                let row = row.as_object_mut().unwrap();
                row.remove("seconds");
                row.remove("step_seconds");
                assert!(row["averaged_test_accuracy"].as_f64().unwrap() > 0.1, "{row:?}");
            }
            rows
        };
        let picture = dir.path().join("curves.svg");
        let mut plotted = args("3", schedule, every, average);
        plotted.extend(["--plot", picture.to_str().unwrap()]);
        let straight = strip(&ok(&plotted));
        assert!(std::fs::read_to_string(&picture).unwrap().contains("learning rate"), "the curves show the schedule");
        for row in &straight {
            assert_eq!(row["lrs"].as_array().unwrap().len(), 32, "an lr per step: 8,000 images in batches of 250");
        }
        std::fs::remove_dir_all(saved).ok();
        let mut first = args("1", schedule, every, average);
        first.extend(["--checkpoint", saved]);
        ok(&first);
        let mut resumed = args("3", schedule, every, average);
        resumed.extend(["--resume", saved]);
        assert_eq!(strip(&ok(&resumed)), straight, "{schedule}");
        // Another schedule does not resume this run.
        let mut other = args("3", "exp(gamma=0.5)", every, average);
        other.extend(["--resume", saved]);
        fails(&other, "it was trained with lr_schedule");
    }
}

#[test]
fn bad_schedules_and_clips_are_one_line_and_exit_2() {
    fails(&["schedule", "cosine_anealing(T_max=3)"], "unknown scheduler \"cosine_anealing\"");
    fails(&["schedule", "cosin(T_max=3)"], "did you mean \"cosine\"?");
    fails(&["schedule", "StepLR(step_size=3, gama=0.5)"], "unknown field `gama`");
    fails(&["schedule", "CosineAnnealingLR(T_max=0)"], "T_max must be a positive integer");
    fails(&["schedule", "ExponentialLR(gamma=-0.1)"], "gamma must be a finite number >= 0");
    fails(&["schedule", "MultiStepLR(milestones=[30, 10])"], "milestones must be increasing");
    fails(&["schedule", "OneCycleLR(max_lr=0.1)"], "either total_steps OR (epochs AND steps_per_epoch)");
    fails(&["schedule", "OneCycleLR(max_lr=0.1, epochs=2)"], "either total_steps OR (epochs AND steps_per_epoch)");
    fails(&["schedule", "OneCycleLR(max_lr=0.1, total_steps=10)", "--steps", "20"], "tried to step 11 times");
    fails(&["schedule", "plateau"], "ReduceLROnPlateau follows a metric");
    fails(&["schedule", "exp(gamma=0.9)", "--lr", "-1"], "a learning rate must be a finite number >= 0");
    fails(
        &["run", "-f", "sphere", "-o", "sgd", "--steps", "30", "--lr-schedule", "onecycle(max_lr=1, total_steps=20)"],
        "tried to step 21 times",
    );
    fails(
        &["train", "--lr-schedule", "onecycle(max_lr=1, total_steps=20)", "--schedule-every", "batch"],
        "tried to step 21 times",
    );
    fails(
        &["train", "-o", "adagrad", "--lr-schedule", "onecycle(max_lr=1, total_steps=20)"],
        "optimizer must support momentum or beta1",
    );
    fails(&["train", "--schedule-every", "batch"], "--lr-schedule");
    for clip in [["--clip-norm", "0"], ["--clip-norm", "-1"], ["--clip-value", "0"]] {
        let mut args = vec!["run", "-f", "sphere", "-o", "sgd"];
        args.extend(clip);
        fails(&args, "clip: invalid");
        let mut args = vec!["train"];
        args.extend(clip);
        fails(&args, "clip: invalid");
    }
    fails(&["race", "-f", "sphere", "--clip-norm", "1", "--clip-norm-type", "0"], "norm_type");
    fails(&["train", "--average", "ema", "--ema-decay", "1.5"], "invalid decay = 1.5");
}
