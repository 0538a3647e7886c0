//! A run's report as one JSON object: its settings, a row per optimizer and epoch, and a summary per optimizer.

use serde_json::{json, Value};

use crate::config::TrainConfig;
use crate::dataset::Dataset;
use crate::run::Training;

/// The report of `trainings` on `dataset`: the run's settings, `rows` (one per optimizer and epoch, with the
/// learning rate of each step under `lrs` when a schedule is set) and `optimizers` (one summary per optimizer, with
/// the optimizer-state bytes each rank held at the end).
pub fn json_report(dataset: &Dataset, layers: &[usize], config: &TrainConfig, trainings: &[Training]) -> Value {
    let rows: Vec<Value> = trainings
        .iter()
        .flat_map(|t| {
            t.epochs.iter().map(|e| {
                json!({
                    "optimizer": t.entrant.label,
                    "spec": t.entrant.to_string(),
                    "epoch": e.epoch,
                    "train_loss": e.train_loss,
                    "test_loss": e.test_loss,
                    "test_accuracy": e.test_accuracy,
                    "seconds": e.seconds,
                    "step_seconds": e.step_seconds,
                    "averaged_test_loss": e.averaged.map(|(loss, _)| loss),
                    "averaged_test_accuracy": e.averaged.map(|(_, accuracy)| accuracy),
                    "lrs": config.schedule.as_ref().map(|_| &e.lrs),
                })
            })
        })
        .collect();
    let summary: Vec<Value> = trainings
        .iter()
        .map(|t| {
            json!({
                "optimizer": t.entrant.label,
                "spec": t.entrant.to_string(),
                "hyperparameters": t.entrant.hyperparameters(),
                "epochs_completed": t.epochs.len(),
                "final_test_accuracy": t.epochs.last().map(|e| e.test_accuracy),
                "diverged": t.diverged,
                "optimizer_state_bytes_per_rank": t.state_bytes,
            })
        })
        .collect();
    json!({
        "dataset": dataset.name,
        "train_images": dataset.train.count(),
        "test_images": dataset.test.count(),
        "layers": layers,
        "batch_size": config.batch_size,
        "epochs": config.epochs,
        "seed": config.seed,
        "ranks": trainings.first().map_or(1, |t| t.state_bytes.len()),
        "lr_schedule": config.schedule.as_ref().map(ToString::to_string),
        "average": config.average,
        "rows": rows,
        "optimizers": summary,
    })
}
