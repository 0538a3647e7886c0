//! Checkpoints of a training run: the model's weights, the optimizer's state, the schedule's and the average's, and
//! the epochs done, in one file per optimizer, written atomically after every epoch.

use std::path::Path;

use candle_core::{Device, Tensor};
use descent::checkpoint::Checkpoint;
use descent::schedule::Scheduler;
use descent_candle::AveragedVars;
use serde_json::json;

use crate::error::TrainError;
use crate::mlp::Mlp;
use crate::run::{Epoch, Plan, Training};
use crate::stepper::Stepper;

/// Reads a run's checkpoint and checks that it is the run `identity` describes.
pub(crate) fn read(path: &Path, identity: &serde_json::Value) -> Result<Checkpoint<f32>, TrainError> {
    let fail = |reason: String| TrainError::Invalid(format!("cannot resume from {}: {reason}", path.display()));
    if !path.is_file() {
        return Err(fail(
            "there is no such checkpoint (was the run saved with checkpoints and the same optimizers?)".into(),
        ));
    }
    // A sharded run's index and rank files, merged; or a plain checkpoint as it is.
    let saved = descent_mpi::load(path).map_err(|e| fail(e.to_string()))?;
    let Some(theirs) = saved.metadata.get("run") else {
        return Err(fail("it is not a checkpoint of a training run".into()));
    };
    for (key, ours) in identity.as_object().expect("the identity is an object") {
        let theirs = theirs.get(key).unwrap_or(&serde_json::Value::Null);
        if theirs != ours {
            return Err(fail(format!("it was trained with {key} {theirs}, these settings give {ours}")));
        }
    }
    Ok(saved)
}

/// The rows of the epochs a checkpoint has done, and whether its run diverged.
pub(crate) fn saved_epochs(saved: &Checkpoint<f32>) -> Result<(Vec<Epoch>, bool), TrainError> {
    let bad = || TrainError::Invalid("the checkpoint's epochs are unreadable".into());
    let rows = saved.metadata.get("epochs").and_then(serde_json::Value::as_array).ok_or_else(bad)?;
    let epochs = rows
        .iter()
        .map(|row| {
            let number = |key: &str| row.get(key).and_then(serde_json::Value::as_f64).ok_or_else(bad);
            Ok(Epoch {
                epoch: number("epoch")? as usize,
                train_loss: number("train_loss")?,
                test_loss: number("test_loss")?,
                test_accuracy: number("test_accuracy")?,
                seconds: number("seconds")?,
                step_seconds: number("step_seconds")?,
                lrs: row
                    .get("lrs")
                    .and_then(serde_json::Value::as_array)
                    .ok_or_else(bad)?
                    .iter()
                    .map(|v| v.as_f64().ok_or_else(bad))
                    .collect::<Result<_, _>>()?,
                averaged: match (row.get("averaged_test_loss"), row.get("averaged_test_accuracy")) {
                    (Some(loss), Some(accuracy)) => {
                        Some((loss.as_f64().ok_or_else(bad)?, accuracy.as_f64().ok_or_else(bad)?))
                    }
                    _ => None,
                },
            })
        })
        .collect::<Result<Vec<_>, TrainError>>()?;
    let diverged = saved.metadata.get("diverged").and_then(serde_json::Value::as_bool).ok_or_else(bad)?;
    Ok((epochs, diverged))
}

/// Saves the run after an epoch: the model's weights, the optimizer's state, and the epochs done.
pub(crate) fn save(
    path: &Path,
    plan: &Plan,
    model: &Mlp,
    stepper: &Stepper,
    scheduler: Option<&Scheduler>,
    average: Option<&AveragedVars>,
    training: &Training,
) -> Result<(), TrainError> {
    let averages = average.map(AveragedVars::averages).transpose()?.unwrap_or_default();
    let named = model.named_vars().into_iter().map(|(name, var)| (format!("model.{name}"), var.as_tensor().clone()));
    let tensors = named
        .chain(averages.into_iter().map(|(name, tensor)| (format!("average.{name}"), tensor)))
        .map(|(name, tensor)| {
            let values: Vec<f32> = tensor.flatten_all()?.to_vec1()?;
            Ok((name, descent::Shape::from(tensor.dims()), values))
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    let epochs: Vec<serde_json::Value> = training
        .epochs
        .iter()
        .map(|e| {
            let mut row = json!({"epoch": e.epoch, "train_loss": e.train_loss, "test_loss": e.test_loss,
                   "test_accuracy": e.test_accuracy, "seconds": e.seconds, "step_seconds": e.step_seconds,
                   "lrs": e.lrs});
            if let Some((loss, accuracy)) = e.averaged {
                row["averaged_test_loss"] = json!(loss);
                row["averaged_test_accuracy"] = json!(accuracy);
            }
            row
        })
        .collect();
    let metadata = json!({"run": plan.identity, "epochs": epochs, "diverged": training.diverged,
                          "schedule": scheduler.map(Scheduler::state),
                          "n_averaged": average.map(AveragedVars::n_averaged)});
    let write = |reason: String| TrainError::Write { path: path.to_owned(), reason };
    match stepper {
        Stepper::Local(optimizer) => {
            let state = optimizer.optimizer_f32().expect("the MLP's variables are f32").state_dict();
            // Over a sharded checkpoint of an earlier run, its rank files go too.
            descent_mpi::save_unsharded(path, &Checkpoint { optimizer: state, tensors, metadata })
                .map_err(|e| write(e.to_string()))
        }
        // Every rank its share, and rank 0 the index with the weights and the run.
        Stepper::Sharded(sharded) => {
            descent_mpi::save(sharded.sharded(), path, tensors, metadata).map_err(|e| write(e.to_string()))
        }
    }
}

/// Puts a checkpoint's weights into the model, its state into the optimizer, and its schedule's into the scheduler.
pub(crate) fn restore(
    saved: &Checkpoint<f32>,
    model: &Mlp,
    stepper: &mut Stepper,
    scheduler: Option<&mut Scheduler>,
    average: Option<&mut AveragedVars>,
) -> Result<(), TrainError> {
    if let Some(average) = average {
        let n_averaged = saved.metadata.get("n_averaged").and_then(serde_json::Value::as_u64).unwrap_or(0);
        let averages = saved
            .tensors
            .iter()
            .filter_map(|(name, shape, values)| {
                let name = name.strip_prefix("average.")?;
                Some(Tensor::from_slice(values, shape.dims(), &Device::Cpu).map(|t| (name.to_owned(), t)))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        average
            .restore(n_averaged, &averages)
            .map_err(|e| TrainError::Invalid(format!("cannot resume the average: {e}")))?;
    }
    if let Some(scheduler) = scheduler {
        let state = saved.metadata.get("schedule").unwrap_or(&serde_json::Value::Null);
        scheduler.load_state(state).map_err(|e| TrainError::Invalid(format!("cannot resume the schedule: {e}")))?;
    }
    for (name, var) in model.named_vars() {
        let key = format!("model.{name}");
        let (_, shape, values) = saved
            .tensors
            .iter()
            .find(|(n, _, _)| *n == key)
            .ok_or_else(|| TrainError::Invalid(format!("the checkpoint has no {key}")))?;
        if shape.dims() != var.dims() {
            return Err(TrainError::Invalid(format!(
                "the checkpoint's {key} has shape {shape}, the model {:?}",
                var.dims()
            )));
        }
        var.set(&Tensor::from_slice(values, var.dims(), &Device::Cpu)?)?;
    }
    stepper.load_state_dict(&saved.optimizer).map_err(|e| TrainError::Invalid(format!("cannot resume: {e}")))
}
