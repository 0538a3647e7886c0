//! `mpirun -np N descent train`: one model trained by N processes, against the same run in one process. Built
//! with the `mpi` feature only; `.ci/run` runs it (`cargo test -p descent-cli --features mpi --test mpi`).

#![cfg(feature = "mpi")]

mod common;

use std::process::Command;

use common::ok;
use serde_json::Value;

/// `mpirun -np ranks descent args`, as root where CI runs it, and its output.
fn mpirun(ranks: usize, args: &[&str]) -> std::process::Output {
    Command::new("mpirun")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .args(["--oversubscribe", "-np", &ranks.to_string(), env!("CARGO_BIN_EXE_descent")])
        .args(args)
        .output()
        .expect("mpirun runs (Debian: openmpi-bin)")
}

fn report(ranks: usize, args: &[&str]) -> Value {
    let output = mpirun(ranks, args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    // Rank 0 alone prints: one report.
    serde_json::from_slice(&output.stdout).expect("one JSON report")
}

const RUN: [&str; 9] =
    ["train", "--hidden", "32", "--format", "json", "--lr-schedule", "cosine(T_max=4)", "--clip-norm", "0.5"];
const OPTIMIZERS: [&str; 5] =
    ["-o", "adam(lr=1e-3)", "sgd(lr=0.1, momentum=0.9)", "adamw_schedulefree(lr=1e-3)", "lion(lr=1e-4)"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [&RUN[..], &OPTIMIZERS[..], extra].concat()
}

fn rows(report: &Value) -> &Vec<Value> {
    report["rows"].as_array().unwrap()
}

/// The rows without their timings.
fn results(report: &Value) -> Vec<Value> {
    let mut rows = rows(report).clone();
    for row in &mut rows {
        let row = row.as_object_mut().unwrap();
        row.remove("seconds");
        row.remove("step_seconds");
    }
    rows
}

#[test]
fn one_rank_trains_as_one_process_bit_for_bit() {
    let args = args(&["--epochs", "2", "--average", "ema"]);
    let alone: Value = serde_json::from_str(&ok(&args)).unwrap();
    let one = report(1, &args);
    for (a, b) in rows(&alone).iter().zip(rows(&one)) {
        for key in ["train_loss", "test_loss", "test_accuracy", "averaged_test_loss", "lrs"] {
            assert_eq!(a[key], b[key], "{} epoch {}: {key}", a["optimizer"], a["epoch"]);
        }
    }
    assert_eq!(rows(&alone).len(), 8);
}

#[test]
fn two_ranks_train_as_one_process_up_to_the_order_of_sums_with_half_the_state_each() {
    let args = args(&["--epochs", "2"]);
    let alone: Value = serde_json::from_str(&ok(&args)).unwrap();
    let two = report(2, &args);
    assert_eq!(two["ranks"], 2);
    for (a, b) in rows(&alone).iter().zip(rows(&two)) {
        let (x, y) = (a["train_loss"].as_f64().unwrap(), b["train_loss"].as_f64().unwrap());
        assert!((x - y).abs() <= 1e-4 * x, "{} epoch {}: {x} against {y}", a["optimizer"], a["epoch"]);
        let (x, y) = (a["test_accuracy"].as_f64().unwrap(), b["test_accuracy"].as_f64().unwrap());
        assert!((x - y).abs() <= 0.005, "{}: accuracy {x} against {y}", a["optimizer"]);
    }
    for (a, b) in alone["optimizers"].as_array().unwrap().iter().zip(two["optimizers"].as_array().unwrap()) {
        let total = a["optimizer_state_bytes_per_rank"][0].as_u64().unwrap();
        let shares: Vec<u64> =
            b["optimizer_state_bytes_per_rank"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(shares.iter().sum::<u64>(), total, "{}", a["optimizer"]);
        // Each of these optimizers goes element by element, so the 25,450 values split 12,725 and 12,725 (the
        // 784×32 input weights cut in two).
        assert_eq!(shares[0], shares[1], "{}", a["optimizer"]);
    }
}

#[test]
fn sharded_checkpoints_resume_on_any_number_of_ranks() {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap();
    let whole = report(2, &args(&["--epochs", "3"]));
    report(2, &args(&["--epochs", "2", "--checkpoint", dir]));
    let files: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    // An index and one file per rank, for each of the four optimizers.
    assert_eq!(files.len(), 12, "{files:?}");
    assert_eq!(files.iter().filter(|f| f.contains(".rank1.")).count(), 4, "{files:?}");
    // A copy for one process to go on from (the run below saves anew, and removes these files).
    let folder_one = tempfile::tempdir().unwrap();
    let dir_one = folder_one.path().to_str().unwrap();
    for file in &files {
        std::fs::copy(folder.path().join(file), folder_one.path().join(file)).unwrap();
    }
    // Two ranks go on from it as if never stopped; one process goes on from it, summing in its own order.
    let resumed = report(2, &args(&["--epochs", "3", "--resume", dir]));
    assert!(results(&resumed) == results(&whole), "two ranks resumed differ from two ranks never stopped");
    let alone: Value = serde_json::from_str(&ok(&args(&["--epochs", "3", "--resume", dir_one]))).unwrap();
    for (a, b) in rows(&alone).iter().zip(rows(&whole)) {
        let (x, y) = (a["train_loss"].as_f64().unwrap(), b["train_loss"].as_f64().unwrap());
        assert!((x - y).abs() <= 1e-4 * x, "{x} against {y}");
    }
    // And a one-process checkpoint resumes on two ranks.
    let four = report(2, &args(&["--epochs", "4", "--resume", dir_one]));
    assert_eq!(rows(&four).len(), 16);
    assert!(results(&four)[..3] == results(&alone)[..3], "the epochs done are reported as they were");
}

#[test]
fn an_optimizer_that_cannot_be_sharded_is_an_error_on_every_rank() {
    let output = mpirun(2, &["train", "--epochs", "1", "--hidden", "8", "-o", "prodigy"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors = stderr.lines().filter(|l| l.contains("Prodigy cannot be sharded")).count();
    assert_eq!(errors, 2, "{stderr}");
    assert!(output.stdout.is_empty());
}
