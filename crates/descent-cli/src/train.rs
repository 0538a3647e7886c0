//! `descent train`: the article's running example. An MLP learns to classify digits (or clothing) once per
//! optimizer, every optimizer from the same initial weights and through the same batches.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor, D};
use candle_nn::Optimizer;
use clap::{Args, ValueEnum};
use descent::average::Averaging;
use descent::checkpoint::{self, Checkpoint};
use descent::schedule::{ScheduleSpec, Scheduler};
use descent::{Clip, Spec};
use descent_candle::{AveragedVars, DescentOptimizer, ParamGroups};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::args::{ClipArgs, ReportFormat, ScheduleArgs};
use crate::curves;
use crate::digits::{self, Dataset, Source, Split, CLASSES};
use crate::error::CliError;
use crate::limits;
use crate::mlp::Mlp;
use crate::model_spec::ModelSpec;
use crate::output::check_writable;
use crate::plot::PICTURE_FORMATS;
use crate::progress;
use crate::table::Table;

/// Arguments of `descent train`.
#[derive(Debug, Args)]
pub struct TrainCommand {
    /// mnist: the 10,000 embedded MNIST digits (8,000 to train, 2,000 to test); fashion-mnist: the full
    /// Fashion-MNIST that Debian's dataset-fashion-mnist package installs in /usr/share/datasets/fashion-mnist.
    #[arg(long, value_enum, default_value_t = DatasetName::Mnist, conflicts_with = "data_dir")]
    dataset: DatasetName,

    /// A folder with the four standard IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
    /// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each gzipped or not), such as the full MNIST.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Hold out the last N training images and report the "test" loss and accuracy on them instead of on the
    /// test images: for choosing hyperparameters without looking at the test set.
    #[arg(long, value_name = "N")]
    validation: Option<usize>,

    /// The optimizers [default: the seven of the article at learning rates that suit this network: sgd(lr=0.1),
    /// momentum(lr=0.01), nesterov(lr=0.01), adagrad(lr=0.01), rmsprop(lr=0.001), adadelta(lr=1.0),
    /// adam(lr=0.001)].
    #[arg(long, short = 'o', visible_alias = "optimizer", num_args = 1.., value_name = "SPEC", value_parser = ModelSpec::parse)]
    optimizers: Vec<ModelSpec>,

    /// Passes over the training images.
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = limits::count(limits::MAX_EPOCHS))]
    epochs: usize,

    /// Images per optimizer step.
    #[arg(long, default_value_t = 128, value_name = "B")]
    batch_size: usize,

    /// The sizes of the hidden layers, comma-separated.
    #[arg(long, default_value = "256", value_name = "256[,128...]", value_parser = parse_hidden)]
    hidden: Hidden,

    /// The seed of the initial weights and of the order of the batches.
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,

    /// Draw the loss and accuracy curves of every optimizer, as SVG or PNG.
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    plot: Option<PathBuf>,

    /// table: per-epoch rows and a final comparison; json: one object with the run's settings, `rows` (one per
    /// optimizer and epoch, with the learning rate of each step under `lrs` when a schedule is set) and
    /// `optimizers` (one summary per optimizer).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,

    /// A parameter group: the variables whose names contain PATTERN (the MLP's are layers.N.weight and
    /// layers.N.bias) take these hyperparameters on top of each optimizer's, e.g. 'bias: weight_decay=0'.
    /// Repeatable; a variable joins the first group that matches.
    #[arg(long = "group", value_name = "PATTERN: KEY=VALUE,...", value_parser = parse_group)]
    groups: Vec<GroupArg>,

    /// After every epoch, save each optimizer's run (model weights, optimizer state, epochs done) to
    /// DIR/<n>-<optimizer>.safetensors, atomically.
    #[arg(long, value_name = "DIR")]
    checkpoint: Option<PathBuf>,

    /// Continue the runs saved in DIR up to --epochs in total (with the same other arguments), and keep saving
    /// there unless --checkpoint says otherwise.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,

    #[command(flatten)]
    schedule: ScheduleArgs,

    /// When the --lr-schedule steps: after every batch, or after every epoch (ReduceLROnPlateau steps once per
    /// epoch on the test loss, whatever this says).
    #[arg(long, value_enum, default_value_t = ScheduleEvery::Epoch, requires = "lr_schedule")]
    schedule_every: ScheduleEvery,

    #[command(flatten)]
    clip: ClipArgs,

    /// Also keep an average of the weights and report its test loss and accuracy: swa (the mean of the weights at
    /// the end of every epoch) or ema (an exponential moving average, updated after every step).
    #[arg(long, value_enum, value_name = "KIND")]
    average: Option<AverageKind>,

    /// The decay of --average ema, in [0, 1].
    #[arg(long, default_value_t = 0.999, value_name = "D", allow_hyphen_values = true)]
    ema_decay: f64,
}

/// Which average of the weights `descent train --average` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum AverageKind {
    /// Stochastic weight averaging: the mean of the weights at the end of every epoch.
    Swa,
    /// An exponential moving average of the weights, updated after every step.
    Ema,
}

impl TrainCommand {
    /// The averaging asked for.
    fn averaging(&self) -> Option<Averaging> {
        self.average.map(|kind| match kind {
            AverageKind::Swa => Averaging::Swa,
            AverageKind::Ema => Averaging::Ema { decay: self.ema_decay },
        })
    }
}

/// When a schedule steps in `descent train`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum ScheduleEvery {
    /// After every optimizer step.
    Batch,
    /// After every epoch.
    Epoch,
}

/// A `--group` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupArg {
    pattern: String,
    keys: String,
}

fn parse_group(text: &str) -> Result<GroupArg, String> {
    match text.split_once(':') {
        Some((pattern, keys)) if !pattern.trim().is_empty() => {
            Ok(GroupArg { pattern: pattern.trim().to_owned(), keys: keys.trim().to_owned() })
        }
        _ => Err(format!("{text:?} is not a group (expected PATTERN: KEY=VALUE,..., e.g. 'bias: weight_decay=0')")),
    }
}

/// The named datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DatasetName {
    Mnist,
    FashionMnist,
}

/// Hidden layer sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Hidden(Vec<usize>);

fn parse_hidden(text: &str) -> Result<Hidden, String> {
    text.split(',')
        .map(|part| match part.trim().parse::<usize>() {
            Ok(size) if (1..=limits::MAX_LAYER_WIDTH).contains(&size) => Ok(size),
            _ => Err(format!(
                "{part:?} is not a layer size (expected whole numbers from 1 to {}, e.g. 256,128)",
                limits::MAX_LAYER_WIDTH
            )),
        })
        .collect::<Result<_, _>>()
        .map(Hidden)
}

/// One epoch of one optimizer.
#[derive(Debug, Clone)]
pub struct Epoch {
    /// Which epoch, from 1.
    pub epoch: usize,
    /// The mean loss over the epoch's training batches.
    pub train_loss: f64,
    /// The loss on the test images after the epoch.
    pub test_loss: f64,
    /// The fraction of test images classified right after the epoch.
    pub test_accuracy: f64,
    /// The training time of the epoch (forward, backward and optimizer steps).
    pub seconds: f64,
    /// The part of it spent in optimizer steps.
    pub step_seconds: f64,
    /// The test loss and accuracy of the averaged weights (with --average).
    pub averaged: Option<(f64, f64)>,
    /// The learning rate of the first group at each step of the epoch.
    pub lrs: Vec<f64>,
}

/// Everything one optimizer did.
#[derive(Debug, Clone)]
pub struct Training {
    /// The optimizer.
    pub entrant: ModelSpec,
    /// Its epochs, up to the last finished one.
    pub epochs: Vec<Epoch>,
    /// Whether its loss stopped being finite (the run then stopped).
    pub diverged: bool,
}

/// The seven optimizers of the article, at learning rates that suit an MLP on MNIST-like data.
fn default_optimizers() -> Vec<ModelSpec> {
    [
        ("SGD", "sgd(lr=0.1)"),
        ("Momentum", "momentum(lr=0.01)"),
        ("Nesterov", "nesterov(lr=0.01)"),
        ("AdaGrad", "adagrad(lr=0.01)"),
        ("RMSprop", "rmsprop(lr=0.001)"),
        ("AdaDelta", "adadelta(lr=1.0)"),
        ("Adam", "adam(lr=0.001)"),
    ]
    .iter()
    .map(|(label, spec)| ModelSpec::single(label, spec.parse().expect("built-in specs parse")))
    .collect()
}

/// Runs the command, printing to `out`.
pub fn execute(command: &TrainCommand, out: &mut dyn Write) -> Result<(), CliError> {
    limits::check_optimizers(command.optimizers.len())?;
    if let Some(path) = &command.plot {
        check_writable(path, &PICTURE_FORMATS)?;
    }
    let source = match (&command.data_dir, command.dataset) {
        (Some(folder), _) => Source::Folder(folder.clone()),
        (None, DatasetName::Mnist) => Source::Embedded,
        (None, DatasetName::FashionMnist) => Source::FashionMnist,
    };
    let mut dataset = digits::load(&source)?;
    if let Some(count) = command.validation {
        dataset = dataset.hold_out(count)?;
    }
    let train_count = dataset.train.count();
    if command.batch_size == 0 || command.batch_size > train_count {
        return Err(CliError::Usage(format!(
            "--batch-size must be from 1 to the {train_count} training images, got {}",
            command.batch_size
        )));
    }
    if let Some(averaging) = command.averaging() {
        descent::average::AveragedParams::<f32>::try_new(averaging)?;
    }
    let entrants = if command.optimizers.is_empty() { default_optimizers() } else { command.optimizers.clone() };
    let mut sizes = vec![dataset.train.features];
    sizes.extend(&command.hidden.0);
    sizes.push(CLASSES);
    check_model_size(&sizes)?;
    // Everything is checked, and every checkpoint to resume from read, before any training starts.
    let plans = entrants
        .iter()
        .enumerate()
        .map(|(index, entrant)| Plan::new(index, entrant, &dataset, &sizes, command))
        .collect::<Result<Vec<_>, CliError>>()?;
    let model = Mlp::new(&sizes, command.seed)?;
    for plan in &plans {
        let mut optimizer = plan.optimizer(&model)?;
        let lrs = (0..optimizer.optimizer_f32().map_or(0, |o| o.group_count()))
            .map(|g| optimizer.optimizer_f32().expect("f32").lr(g).unwrap_or(f64::NAN))
            .collect::<Vec<_>>();
        if let Some(spec) = plan.scheduler(&mut optimizer)?.map(|s| s.spec().clone()) {
            check_schedule_length(&spec, &lrs, command, train_count)
                .map_err(|e| CliError::Usage(format!("{}: {e}", plan.entrant.label)))?;
        }
    }
    drop(model);
    if let Some(folder) = plans.first().and_then(|p| p.save_to.as_deref()).and_then(Path::parent) {
        std::fs::create_dir_all(folder)
            .map_err(|e| CliError::Usage(format!("cannot create the checkpoint folder {}: {e}", folder.display())))?;
    }
    let data = Tensors::new(&dataset)?;
    let trainings =
        plans.into_iter().map(|plan| train(plan, &data, &sizes, command)).collect::<Result<Vec<_>, CliError>>()?;
    match command.format {
        ReportFormat::Table => write_tables(&dataset, &sizes, command, &trainings, out)?,
        ReportFormat::Json => {
            let report = json_report(&dataset, &sizes, command, &trainings);
            serde_json::to_writer_pretty(&mut *out, &report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    if let Some(path) = &command.plot {
        curves::draw(path, &dataset.name, &trainings, command.schedule.lr_schedule.is_some())?;
    }
    Ok(())
}

/// Refuses a schedule that would end before the run does (OneCycleLR's total_steps), before any training.
fn check_schedule_length(
    spec: &ScheduleSpec,
    lrs: &[f64],
    command: &TrainCommand,
    train_count: usize,
) -> Result<(), CliError> {
    if spec.watches_metric() {
        return Ok(());
    }
    let steps = match command.schedule_every {
        ScheduleEvery::Batch => command.epochs * train_count.div_ceil(command.batch_size),
        ScheduleEvery::Epoch => command.epochs,
    };
    crate::schedule::rows(spec, lrs, steps).map(drop)
}

/// Refuses a network of more than [`limits::MAX_MODEL_PARAMS`] parameters, or one the memory cannot hold.
fn check_model_size(sizes: &[usize]) -> Result<(), CliError> {
    let params = sizes
        .windows(2)
        .try_fold(0usize, |total, pair| total.checked_add(pair[0].checked_mul(pair[1])?.checked_add(pair[1])?))
        .filter(|&params| params <= limits::MAX_MODEL_PARAMS)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "layers of sizes {sizes:?} have more than {} parameters (smaller --hidden)",
                limits::MAX_MODEL_PARAMS
            ))
        })?;
    // Weights, gradients, up to four state values each, and the copies the framework makes on the way.
    limits::check_memory(params as u128 * 4 * 8, "the network")
}

/// The dataset as candle tensors.
struct Tensors {
    train: (Tensor, Tensor),
    test: (Tensor, Tensor),
}

impl Tensors {
    fn new(dataset: &Dataset) -> candle_core::Result<Tensors> {
        let tensors = |split: &Split| -> candle_core::Result<(Tensor, Tensor)> {
            let images = Tensor::from_slice(&split.images, (split.count(), split.features), &Device::Cpu)?;
            let labels = Tensor::from_slice(&split.labels, split.count(), &Device::Cpu)?;
            Ok((images, labels))
        };
        Ok(Tensors { train: tensors(&dataset.train)?, test: tensors(&dataset.test)? })
    }
}

/// One optimizer's run, checked before any training: its groups, where it saves, and what it resumes from.
struct Plan {
    entrant: ModelSpec,
    /// Each `--group`'s pattern with this optimizer's spec for it.
    groups: Vec<(String, Spec)>,
    /// What the run is: compared with a checkpoint's before resuming from it.
    identity: serde_json::Value,
    save_to: Option<PathBuf>,
    resume: Option<Checkpoint<f32>>,
    schedule: Option<ScheduleSpec>,
    clip: Option<Clip>,
}

impl Plan {
    /// The optimizer of `model`'s variables in the plan's groups.
    fn optimizer(&self, model: &Mlp) -> Result<DescentOptimizer, CliError> {
        let mut groups = ParamGroups::new(self.entrant.rest.clone());
        if let Some(hidden) = &self.entrant.hidden {
            let names = model.hidden_weights();
            groups = groups.group(hidden.clone(), move |name| names.iter().any(|n| n == name));
        }
        for (pattern, spec) in &self.groups {
            let pattern = pattern.clone();
            groups = groups.group(spec.clone(), move |name| name.contains(&pattern));
        }
        let fail = |e: descent::Error| CliError::Usage(format!("{}: {e}", self.entrant.label));
        let mut optimizer = DescentOptimizer::with_groups(model.named_vars(), groups).map_err(fail)?;
        optimizer.optimizer_f32_mut().expect("the MLP's variables are f32").set_clip(self.clip).map_err(fail)?;
        Ok(optimizer)
    }

    /// The schedule on `optimizer`'s groups, if there is one.
    fn scheduler(&self, optimizer: &mut DescentOptimizer) -> Result<Option<Scheduler>, CliError> {
        let Some(spec) = &self.schedule else { return Ok(None) };
        let groups = optimizer.optimizer_f32_mut().expect("the MLP's variables are f32");
        Scheduler::new(spec, groups).map(Some).map_err(|e| CliError::Usage(format!("{}: {e}", self.entrant.label)))
    }

    fn new(
        index: usize,
        entrant: &ModelSpec,
        dataset: &Dataset,
        sizes: &[usize],
        command: &TrainCommand,
    ) -> Result<Plan, CliError> {
        let groups = command
            .groups
            .iter()
            .map(|g| Ok((g.pattern.clone(), entrant.rest.with_keys(&g.keys)?)))
            .collect::<Result<Vec<_>, CliError>>()
            .map_err(|e| CliError::Usage(format!("{}: --group: {e}", entrant.label)))?;
        let identity = json!({
            "dataset": dataset.name,
            "train_images": dataset.train.count(),
            "test_images": dataset.test.count(),
            "layers": sizes,
            "batch_size": command.batch_size,
            "seed": command.seed,
            "optimizer": entrant.label,
            "spec": format!("{entrant:#}"),
            "groups": groups.iter().map(|(pattern, spec)| json!([pattern, format!("{spec:#}")])).collect::<Vec<_>>(),
            "lr_schedule": command.schedule.lr_schedule.as_ref().map(|s| s.to_string()),
            "schedule_every": command.schedule.lr_schedule.as_ref().map(|_| command.schedule_every),
            "clip": [command.clip.clip_norm, command.clip.clip_norm_type, command.clip.clip_value],
            "average": command.averaging(),
        });
        let file = format!("{index}-{}.safetensors", file_label(&entrant.label));
        let resume = match &command.resume {
            Some(folder) => Some(read_checkpoint(&folder.join(&file), &identity)?),
            None => None,
        };
        let save_to = command.checkpoint.as_ref().or(command.resume.as_ref()).map(|folder| folder.join(&file));
        let (schedule, clip) = (command.schedule.lr_schedule.clone(), command.clip.clip()?);
        Ok(Plan { entrant: entrant.clone(), groups, identity, save_to, resume, schedule, clip })
    }
}

/// A label as a file name: letters, digits, `-`, `_` and `.` kept, anything else `_`.
fn file_label(label: &str) -> String {
    label.chars().take(60).map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// Reads a run's checkpoint and checks that it is the run these arguments describe.
fn read_checkpoint(path: &Path, identity: &serde_json::Value) -> Result<Checkpoint<f32>, CliError> {
    let fail = |reason: String| CliError::Usage(format!("cannot resume from {}: {reason}", path.display()));
    if !path.is_file() {
        return Err(fail(
            "there is no such checkpoint (was the run saved with --checkpoint and the same optimizers?)".into(),
        ));
    }
    let saved = checkpoint::load::<f32>(path).map_err(|e| fail(e.to_string()))?;
    let Some(theirs) = saved.metadata.get("run") else {
        return Err(fail("it is not a checkpoint of descent train".into()));
    };
    for (key, ours) in identity.as_object().expect("the identity is an object") {
        let theirs = theirs.get(key).unwrap_or(&serde_json::Value::Null);
        if theirs != ours {
            return Err(fail(format!("it was trained with {key} {theirs}, these arguments give {ours}")));
        }
    }
    Ok(saved)
}

/// The rows of the epochs a checkpoint has done, and whether its run diverged.
fn saved_epochs(saved: &Checkpoint<f32>) -> Result<(Vec<Epoch>, bool), CliError> {
    let bad = || CliError::Usage("the checkpoint's epochs are unreadable".into());
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
        .collect::<Result<Vec<_>, CliError>>()?;
    let diverged = saved.metadata.get("diverged").and_then(serde_json::Value::as_bool).ok_or_else(bad)?;
    Ok((epochs, diverged))
}

/// Saves the run after an epoch: the model's weights, the optimizer's state, and the epochs done.
fn save_checkpoint(
    path: &Path,
    plan: &Plan,
    model: &Mlp,
    optimizer: &DescentOptimizer,
    scheduler: Option<&Scheduler>,
    average: Option<&AveragedVars>,
    training: &Training,
) -> Result<(), CliError> {
    let state = optimizer.optimizer_f32().expect("the MLP's variables are f32").state_dict();
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
    checkpoint::save(path, &Checkpoint { optimizer: state, tensors, metadata })
        .map_err(|e| CliError::Write { path: path.to_owned(), reason: e.to_string() })
}

/// The optimizer's groups, for its scheduler.
fn groups_of(optimizer: &mut DescentOptimizer) -> &mut (dyn descent::DynOptimizer<f32> + 'static) {
    optimizer.optimizer_f32_mut().expect("the MLP's variables are f32")
}

/// Puts a checkpoint's weights into the model, its state into the optimizer, and its schedule's into the scheduler.
fn restore(
    saved: &Checkpoint<f32>,
    model: &Mlp,
    optimizer: &mut DescentOptimizer,
    scheduler: Option<&mut Scheduler>,
    average: Option<&mut AveragedVars>,
) -> Result<(), CliError> {
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
            .map_err(|e| CliError::Usage(format!("cannot resume the average: {e}")))?;
    }
    if let Some(scheduler) = scheduler {
        let state = saved.metadata.get("schedule").unwrap_or(&serde_json::Value::Null);
        scheduler.load_state(state).map_err(|e| CliError::Usage(format!("cannot resume the schedule: {e}")))?;
    }
    for (name, var) in model.named_vars() {
        let key = format!("model.{name}");
        let (_, shape, values) = saved
            .tensors
            .iter()
            .find(|(n, _, _)| *n == key)
            .ok_or_else(|| CliError::Usage(format!("the checkpoint has no {key}")))?;
        if shape.dims() != var.dims() {
            return Err(CliError::Usage(format!(
                "the checkpoint's {key} has shape {shape}, the model {:?}",
                var.dims()
            )));
        }
        var.set(&Tensor::from_slice(values, var.dims(), &Device::Cpu)?)?;
    }
    let optimizer = optimizer.optimizer_f32_mut().expect("the MLP's variables are f32");
    optimizer.load_state_dict(&saved.optimizer).map_err(|e| CliError::Usage(format!("cannot resume: {e}")))
}

/// Trains a fresh network (the same initial weights for every optimizer) with the plan's optimizer, or continues
/// the run it resumes.
fn train(plan: Plan, data: &Tensors, sizes: &[usize], command: &TrainCommand) -> Result<Training, CliError> {
    let entrant = &plan.entrant;
    let model = Mlp::new(sizes, command.seed)?;
    let mut optimizer = plan.optimizer(&model)?;
    let mut scheduler = plan.scheduler(&mut optimizer)?;
    let mut average = command.averaging().map(|a| AveragedVars::new(model.named_vars(), a)).transpose()?;
    let mut training = Training { entrant: entrant.clone(), epochs: Vec::new(), diverged: false };
    if let Some(saved) = &plan.resume {
        restore(saved, &model, &mut optimizer, scheduler.as_mut(), average.as_mut())?;
        (training.epochs, training.diverged) = saved_epochs(saved)?;
    }
    let per_batch = command.schedule_every == ScheduleEvery::Batch;
    let done = if training.diverged { command.epochs } else { training.epochs.len() };
    let count = data.train.1.dim(0)?;
    let batches = count.div_ceil(command.batch_size);
    let bar = progress::bar((command.epochs.saturating_sub(done) * batches) as u64, &entrant.label);
    let closure = entrant.needs_closure();
    for epoch in done + 1..=command.epochs {
        // The same order for every optimizer, and for a run resumed at this epoch: a function of the seed and the
        // epoch alone.
        let mut order: Vec<u32> = (0..count as u32).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(command.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64)));
        let start = Instant::now();
        let mut stepping = Duration::ZERO;
        let mut loss_sum = 0.0;
        let mut lrs = Vec::with_capacity(batches);
        for batch in order.chunks(command.batch_size) {
            lrs.push(groups_of(&mut optimizer).lr(0)?);
            let index = Tensor::from_slice(batch, batch.len(), &Device::Cpu)?;
            let images = data.train.0.index_select(&index, 0)?;
            let labels = data.train.1.index_select(&index, 0)?;
            let batch_loss = || candle_nn::loss::cross_entropy(&model.forward(&images)?, &labels);
            let value = if closure {
                // The optimizer evaluates the batch's loss where it needs to (L-BFGS: several times); the step
                // time is the whole of it.
                let before_step = Instant::now();
                let value = optimizer.step_with_closure(batch_loss)?;
                stepping += before_step.elapsed();
                value
            } else {
                let loss = batch_loss()?;
                let value = f64::from(loss.to_scalar::<f32>()?);
                if value.is_finite() {
                    let grads = loss.backward()?;
                    let before_step = Instant::now();
                    optimizer.step(&grads)?;
                    stepping += before_step.elapsed();
                }
                value
            };
            if !value.is_finite() {
                training.diverged = true;
                break;
            }
            if let Some(scheduler) = scheduler.as_mut().filter(|s| per_batch && !s.watches_metric()) {
                scheduler.step(groups_of(&mut optimizer))?;
            }
            if let Some(average) = average.as_mut().filter(|_| command.average == Some(AverageKind::Ema)) {
                average.update()?;
            }
            loss_sum += value * batch.len() as f64;
            bar.inc(1);
        }
        let seconds = start.elapsed().as_secs_f64();
        if training.diverged {
            break;
        }
        // At the optimizer's evaluation point (Schedule-Free's average; the weights themselves for the others).
        let (test_loss, test_accuracy) = optimizer.evaluate(|| evaluate(&model, &data.test))?;
        if !test_loss.is_finite() {
            training.diverged = true;
            break;
        }
        let averaged = match average.as_mut() {
            Some(average) => {
                if command.average == Some(AverageKind::Swa) {
                    average.update()?;
                }
                Some(average.with_averaged(|| evaluate(&model, &data.test))?)
            }
            None => None,
        };
        training.epochs.push(Epoch {
            epoch,
            train_loss: loss_sum / count as f64,
            test_loss,
            test_accuracy,
            seconds,
            step_seconds: stepping.as_secs_f64(),
            averaged,
            lrs,
        });
        match scheduler.as_mut() {
            Some(scheduler) if scheduler.watches_metric() => {
                scheduler.step_with_metric(groups_of(&mut optimizer), test_loss)?
            }
            Some(scheduler) if !per_batch => scheduler.step(groups_of(&mut optimizer))?,
            _ => {}
        }
        if let Some(path) = &plan.save_to {
            save_checkpoint(path, &plan, &model, &optimizer, scheduler.as_ref(), average.as_ref(), &training)?;
        }
    }
    if let (true, Some(path)) = (training.diverged, &plan.save_to) {
        // A resumed run then reports the divergence instead of training on.
        save_checkpoint(path, &plan, &model, &optimizer, scheduler.as_ref(), average.as_ref(), &training)?;
    }
    // The bar's last state, drawn in full (drawing is rate-limited, so the last increments may not have been).
    bar.finish();
    Ok(training)
}

/// The mean loss and the accuracy on `(images, labels)`.
fn evaluate(model: &Mlp, (images, labels): &(Tensor, Tensor)) -> candle_core::Result<(f64, f64)> {
    let logits = model.forward(images)?;
    let loss = candle_nn::loss::cross_entropy(&logits, labels)?.to_scalar::<f32>()?;
    // The count of right answers is exact in f32 (below 2²⁴ images); the fraction is taken in f64.
    let right = logits.argmax(D::Minus1)?.eq(labels)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
    Ok((own_precision(loss), f64::from(right) / labels.dim(0)? as f64))
}

/// An `f32` as the `f64` with the same shortest decimal form (0.8125, not 0.8125000596046448), so that reports show
/// the value at the precision it was computed in.
fn own_precision(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::NAN)
}

fn heading(dataset: &Dataset, sizes: &[usize], command: &TrainCommand) -> String {
    let layers: Vec<String> = sizes.iter().map(usize::to_string).collect();
    format!(
        "{}: {} training and {} test images; MLP {} (ReLU), batch {}, {} epoch{}, seed {}",
        dataset.name,
        dataset.train.count(),
        dataset.test.count(),
        layers.join("-"),
        command.batch_size,
        command.epochs,
        if command.epochs == 1 { "" } else { "s" },
        command.seed
    )
}

fn write_tables(
    dataset: &Dataset,
    sizes: &[usize],
    command: &TrainCommand,
    trainings: &[Training],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    writeln!(out, "{}\n", heading(dataset, sizes, command))?;
    let averaged =
        command.average.map(|kind| format!("{} accuracy", if kind == AverageKind::Swa { "SWA" } else { "EMA" }));
    let mut header = vec!["optimizer", "epoch", "train loss", "test loss", "test accuracy"];
    header.extend(averaged.as_deref());
    header.push("seconds");
    let mut epochs = Table::new(&header);
    for training in trainings {
        for e in &training.epochs {
            let mut row = vec![
                training.entrant.label.clone(),
                e.epoch.to_string(),
                format!("{:.4}", e.train_loss),
                format!("{:.4}", e.test_loss),
                format!("{:.2}%", 100.0 * e.test_accuracy),
            ];
            if averaged.is_some() {
                row.push(e.averaged.map_or("-".into(), |(_, accuracy)| format!("{:.2}%", 100.0 * accuracy)));
            }
            row.push(format!("{:.2}", e.seconds));
            epochs.row(row);
        }
    }
    writeln!(out, "{epochs}")?;
    let mut last =
        Table::new(&["optimizer", "spec", "final test accuracy", "final test loss", "seconds", "in steps", "status"]);
    for training in trainings {
        let seconds: f64 = training.epochs.iter().map(|e| e.seconds).sum();
        let stepping: f64 = training.epochs.iter().map(|e| e.step_seconds).sum();
        let end = training.epochs.last();
        last.row(vec![
            training.entrant.label.clone(),
            training.entrant.to_string(),
            end.map_or("-".into(), |e| format!("{:.2}%", 100.0 * e.test_accuracy)),
            end.map_or("-".into(), |e| format!("{:.4}", e.test_loss)),
            format!("{seconds:.2}"),
            if seconds > 0.0 { format!("{:.1}%", 100.0 * stepping / seconds) } else { "-".into() },
            if training.diverged { "diverged".into() } else { "ok".into() },
        ]);
    }
    write!(out, "{last}")?;
    writeln!(
        out,
        "(in steps: the share of the time spent in optimizer steps, the rest in forward and backward passes)"
    )?;
    Ok(())
}

fn json_report(
    dataset: &Dataset,
    sizes: &[usize],
    command: &TrainCommand,
    trainings: &[Training],
) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = trainings
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
                    "lrs": command.schedule.lr_schedule.as_ref().map(|_| &e.lrs),
                })
            })
        })
        .collect();
    let summary: Vec<serde_json::Value> = trainings
        .iter()
        .map(|t| {
            json!({
                "optimizer": t.entrant.label,
                "spec": t.entrant.to_string(),
                "hyperparameters": t.entrant.hyperparameters(),
                "epochs_completed": t.epochs.len(),
                "final_test_accuracy": t.epochs.last().map(|e| e.test_accuracy),
                "diverged": t.diverged,
            })
        })
        .collect();
    json!({
        "dataset": dataset.name,
        "train_images": dataset.train.count(),
        "test_images": dataset.test.count(),
        "layers": sizes,
        "batch_size": command.batch_size,
        "epochs": command.epochs,
        "seed": command.seed,
        "lr_schedule": command.schedule.lr_schedule.as_ref().map(ToString::to_string),
        "average": command.averaging(),
        "rows": rows,
        "optimizers": summary,
    })
}
