//! The training loop: every optimizer from the same initial weights through the same batches, epoch by epoch,
//! with schedules, clipping, averaging and checkpoints around the steps.

use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor, D};
use candle_nn::Optimizer;
use descent::average::{AveragedParams, Averaging};
use descent::checkpoint::Checkpoint;
use descent::schedule::Scheduler;
use descent::Spec;
use descent_candle::{AveragedVars, DescentOptimizer, ParamGroups};
use descent_mpi::ShardedVars;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::checkpoint;
use crate::config::{ScheduleEvery, TrainConfig};
use crate::dataset::{Dataset, Split, CLASSES};
use crate::error::TrainError;
use crate::mlp::Mlp;
use crate::model_spec::ModelSpec;
use crate::stepper::{Ranks, Stepper};

/// One epoch of one optimizer.
#[derive(Debug, Clone, PartialEq)]
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
    /// The test loss and accuracy of the averaged weights (with an average).
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
    /// The optimizer-state bytes each rank held at the end (one entry without ranks).
    pub state_bytes: Vec<usize>,
}

/// What a run tells as it goes (a progress bar, say). Every method does nothing unless overridden. It is `Send`
/// because a run in one process trains on a thread of rayon's pool (see [`Trainer::run`]).
pub trait Progress: Send {
    /// An optimizer starts, with `batches` steps to go.
    fn start(&mut self, _label: &str, _batches: u64) {}
    /// One batch is done.
    fn advance(&mut self) {}
    /// The optimizer is done.
    fn finish(&mut self) {}
}

/// Tells nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}

/// The seven optimizers of the article, at learning rates that suit an MLP on MNIST-like data.
pub fn default_optimizers() -> Vec<ModelSpec> {
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

/// The layer sizes of the network for inputs of `features` values: the inputs, the hidden layers, the classes.
pub fn layers(features: usize, hidden: &[usize]) -> Vec<usize> {
    let mut sizes = vec![features];
    sizes.extend(hidden);
    sizes.push(CLASSES);
    sizes
}

/// A run of several optimizers on one dataset, checked before any training: every optimizer builds, every group
/// and schedule fits, and every checkpoint to resume from is read and matches.
pub struct Trainer<'a> {
    dataset: &'a Dataset,
    config: &'a TrainConfig,
    layers: Vec<usize>,
    plans: Vec<Plan>,
    ranks: Option<Ranks>,
}

impl<'a> Trainer<'a> {
    /// Checks everything about the run; an error names the optimizer and what is wrong.
    pub fn new(dataset: &'a Dataset, config: &'a TrainConfig, optimizers: &[ModelSpec]) -> Result<Self, TrainError> {
        Self::build(dataset, config, optimizers, None)
    }

    /// The run trained by several processes together, data-parallel: each rank runs this same run, takes its
    /// share of every batch ([`Ranks::share`]), and keeps the optimizer state of its share of the parameters
    /// (ZeRO, [`descent_mpi::Sharded`]). The results equal one process's up to the order in which the gradients
    /// are summed (with one rank, bit for bit). Checkpoints are sharded: one file per rank plus the index, which
    /// resumes with any number of ranks, or in one process. Optimizers that cannot be sharded (Prodigy, L-BFGS)
    /// are refused.
    pub fn data_parallel(
        dataset: &'a Dataset,
        config: &'a TrainConfig,
        optimizers: &[ModelSpec],
        ranks: Ranks,
    ) -> Result<Self, TrainError> {
        Self::build(dataset, config, optimizers, Some(ranks))
    }

    fn build(
        dataset: &'a Dataset,
        config: &'a TrainConfig,
        optimizers: &[ModelSpec],
        ranks: Option<Ranks>,
    ) -> Result<Self, TrainError> {
        let train_count = dataset.train.count();
        if config.batch_size == 0 || config.batch_size > train_count {
            return Err(TrainError::Invalid(format!(
                "the batch size must be from 1 to the {train_count} training images, got {}",
                config.batch_size
            )));
        }
        if config.epochs == 0 {
            return Err(TrainError::Invalid("a run needs at least one epoch".into()));
        }
        if optimizers.is_empty() {
            return Err(TrainError::Invalid("a run needs at least one optimizer".into()));
        }
        if let Some(averaging) = config.average {
            AveragedParams::<f32>::try_new(averaging)?;
        }
        let layers = layers(dataset.train.features, &config.hidden);
        let plans = optimizers
            .iter()
            .enumerate()
            .map(|(index, entrant)| Plan::new(index, entrant, dataset, &layers, config))
            .collect::<Result<Vec<_>, TrainError>>()?;
        let model = Mlp::new(&layers, config.seed)?;
        for plan in &plans {
            let mut stepper = plan.stepper(&model, ranks.as_ref())?;
            let groups = stepper.groups();
            let lrs = (0..groups.group_count()).map(|g| groups.lr(g).unwrap_or(f64::NAN)).collect::<Vec<_>>();
            plan.scheduler(&mut stepper)?;
            check_schedule_length(plan, &lrs, config, train_count)?;
        }
        if let Some(folder) = plans.first().and_then(|p| p.save_to.as_deref()).and_then(Path::parent) {
            std::fs::create_dir_all(folder).map_err(|e| {
                TrainError::Invalid(format!("cannot create the checkpoint folder {}: {e}", folder.display()))
            })?;
        }
        Ok(Trainer { dataset, config, layers, plans, ranks })
    }

    /// The network's layer sizes.
    pub fn layers(&self) -> &[usize] {
        &self.layers
    }

    /// Trains every optimizer in turn, telling `progress` as it goes.
    ///
    /// In one process the loop runs on a thread of the rayon pool it is called from, or of rayon's global pool when
    /// called from outside any, so that the matrix products and optimizer steps it hands to the pool start
    /// at once on a running thread instead of waking two sleeping ones and putting the caller to sleep: a batch
    /// takes several such parallel sections, and each costs tens of microseconds from outside the pool. With
    /// ranks the loop stays on the calling thread, which MPI calls must come from.
    pub fn run(self, progress: &mut dyn Progress) -> Result<Vec<Training>, TrainError> {
        let data = Tensors::new(self.dataset)?;
        let (plans, layers, config) = (self.plans, &self.layers, self.config);
        let Some(ranks) = self.ranks.as_ref() else {
            let train_all =
                || plans.into_iter().map(|plan| train(plan, &data, layers, config, None, progress)).collect();
            // On a thread of the current pool (the global one when called from outside any): `scope` runs its
            // closure there, and the caller waits.
            return rayon::scope(|_| train_all());
        };
        plans.into_iter().map(|plan| train(plan, &data, layers, config, Some(ranks), progress)).collect()
    }
}

/// Trains `optimizers` on `dataset` as `config` says: [`Trainer::new`], then [`Trainer::run`] telling nothing.
pub fn train_all(
    dataset: &Dataset,
    config: &TrainConfig,
    optimizers: &[ModelSpec],
) -> Result<Vec<Training>, TrainError> {
    Trainer::new(dataset, config, optimizers)?.run(&mut Silent)
}

/// Refuses a schedule that would end before the run does (OneCycleLR's total_steps), before any training.
fn check_schedule_length(plan: &Plan, lrs: &[f64], config: &TrainConfig, train_count: usize) -> Result<(), TrainError> {
    let Some(spec) = plan.schedule.as_ref().filter(|s| !s.watches_metric()) else { return Ok(()) };
    let steps = match config.schedule_every {
        ScheduleEvery::Batch => config.epochs * train_count.div_ceil(config.batch_size),
        ScheduleEvery::Epoch => config.epochs,
    };
    spec.preview(lrs, steps).map(drop).map_err(|e| TrainError::Invalid(format!("{}: {e}", plan.entrant.label)))
}

/// The dataset as training batches and candle tensors.
struct Tensors<'a> {
    train: &'a Split,
    test: (Tensor, Tensor),
}

impl<'a> Tensors<'a> {
    fn new(dataset: &'a Dataset) -> candle_core::Result<Tensors<'a>> {
        let test = &dataset.test;
        let images = Tensor::from_slice(&test.images, (test.count(), test.features), &Device::Cpu)?;
        let labels = Tensor::from_slice(&test.labels, test.count(), &Device::Cpu)?;
        Ok(Tensors { train: &dataset.train, test: (images, labels) })
    }

    /// The training images and labels at `rows`, in that order (copied row by row, on rayon's threads: candle's
    /// `index_select` takes longer than the copy by an order of magnitude).
    fn batch_values(&self, rows: &[u32]) -> (Vec<f32>, Vec<u32>) {
        use rayon::prelude::*;
        let features = self.train.features;
        let mut images = vec![0.0f32; rows.len() * features];
        images.par_chunks_mut(features).zip(rows.par_iter()).with_min_len(16).for_each(|(image, &row)| {
            let start = row as usize * features;
            image.copy_from_slice(&self.train.images[start..start + features]);
        });
        (images, rows.iter().map(|&row| self.train.labels[row as usize]).collect())
    }

    /// [`Tensors::batch_values`] as tensors.
    fn batch(&self, rows: &[u32]) -> candle_core::Result<(Tensor, Tensor)> {
        let (images, labels) = self.batch_values(rows);
        Ok((
            Tensor::from_vec(images, (rows.len(), self.train.features), &Device::Cpu)?,
            Tensor::from_vec(labels, rows.len(), &Device::Cpu)?,
        ))
    }
}

/// One optimizer's run, checked before any training: its groups, where it saves, and what it resumes from.
pub(crate) struct Plan {
    pub(crate) entrant: ModelSpec,
    /// Each group's pattern with this optimizer's spec for it.
    groups: Vec<(String, Spec)>,
    /// What the run is: compared with a checkpoint's before resuming from it.
    pub(crate) identity: serde_json::Value,
    save_to: Option<std::path::PathBuf>,
    resume: Option<Checkpoint<f32>>,
    schedule: Option<descent::schedule::ScheduleSpec>,
    clip: Option<descent::Clip>,
}

impl Plan {
    fn new(
        index: usize,
        entrant: &ModelSpec,
        dataset: &Dataset,
        layers: &[usize],
        config: &TrainConfig,
    ) -> Result<Plan, TrainError> {
        let groups = config
            .groups
            .iter()
            .map(|g| {
                let spec = entrant
                    .rest
                    .with_keys(&g.keys)
                    .map_err(|e| TrainError::Invalid(format!("{}: group {:?}: {e}", entrant.label, g.pattern)))?;
                Ok((g.pattern.clone(), spec))
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        let identity = json!({
            "dataset": dataset.name,
            "train_images": dataset.train.count(),
            "test_images": dataset.test.count(),
            "layers": layers,
            "batch_size": config.batch_size,
            "seed": config.seed,
            "optimizer": entrant.label,
            "spec": format!("{entrant:#}"),
            "groups": groups.iter().map(|(pattern, spec)| json!([pattern, format!("{spec:#}")])).collect::<Vec<_>>(),
            "lr_schedule": config.schedule.as_ref().map(|s| s.to_string()),
            "schedule_every": config.schedule.as_ref().map(|_| config.schedule_every),
            "clip": config.clip.map(|c| json!([c.max_norm, c.norm_type, c.value])),
            "average": config.average,
        });
        let file = format!("{index}-{}.safetensors", file_label(&entrant.label));
        let resume = match &config.resume {
            Some(folder) => Some(checkpoint::read(&folder.join(&file), &identity)?),
            None => None,
        };
        let save_to = config.checkpoint.as_ref().or(config.resume.as_ref()).map(|folder| folder.join(&file));
        if let Some(clip) = &config.clip {
            clip.validate()?;
        }
        let (schedule, clip) = (config.schedule.clone(), config.clip);
        Ok(Plan { entrant: entrant.clone(), groups, identity, save_to, resume, schedule, clip })
    }

    /// The optimizer of `model`'s variables in the plan's groups: sharded across `ranks` if there are any.
    fn stepper(&self, model: &Mlp, ranks: Option<&Ranks>) -> Result<Stepper, TrainError> {
        let mut groups = ParamGroups::new(self.entrant.rest.clone());
        if let Some(hidden) = &self.entrant.hidden {
            let names = model.hidden_weights();
            groups = groups.group(hidden.clone(), move |name| names.iter().any(|n| n == name));
        }
        for (pattern, spec) in &self.groups {
            let pattern = pattern.clone();
            groups = groups.group(spec.clone(), move |name| name.contains(&pattern));
        }
        let fail = |e: &dyn std::fmt::Display| TrainError::Invalid(format!("{}: {e}", self.entrant.label));
        match ranks {
            None => {
                let mut optimizer = DescentOptimizer::with_groups(model.named_vars(), groups).map_err(|e| fail(&e))?;
                optimizer.optimizer_f32_mut().expect("f32").set_clip(self.clip).map_err(|e| fail(&e))?;
                Ok(Stepper::Local(optimizer))
            }
            Some(ranks) => {
                let mut sharded = ShardedVars::new(ranks.comm.clone(), model.named_vars(), &groups, ranks.stage)
                    .map_err(|e| fail(&e))?;
                sharded.sharded_mut().set_clip(self.clip).map_err(|e| fail(&e))?;
                Ok(Stepper::Sharded(sharded))
            }
        }
    }

    /// The schedule on `stepper`'s groups, if there is one.
    fn scheduler(&self, stepper: &mut Stepper) -> Result<Option<Scheduler>, TrainError> {
        let Some(spec) = &self.schedule else { return Ok(None) };
        Scheduler::new(spec, stepper.groups())
            .map(Some)
            .map_err(|e| TrainError::Invalid(format!("{}: {e}", self.entrant.label)))
    }
}

/// A label as a file name: letters, digits, `-`, `_` and `.` kept, anything else `_`.
fn file_label(label: &str) -> String {
    label.chars().take(60).map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// Trains a fresh network (the same initial weights for every optimizer) with the plan's optimizer, or continues
/// the run it resumes.
fn train(
    plan: Plan,
    data: &Tensors,
    layers: &[usize],
    config: &TrainConfig,
    ranks: Option<&Ranks>,
    progress: &mut dyn Progress,
) -> Result<Training, TrainError> {
    let entrant = &plan.entrant;
    let model = Mlp::new(layers, config.seed)?;
    let mut stepper = plan.stepper(&model, ranks)?;
    let mut scheduler = plan.scheduler(&mut stepper)?;
    let mut average = config.average.map(|a| AveragedVars::new(model.named_vars(), a)).transpose()?;
    let ema = matches!(config.average, Some(Averaging::Ema { .. }));
    let mut training =
        Training { entrant: entrant.clone(), epochs: Vec::new(), diverged: false, state_bytes: Vec::new() };
    if let Some(saved) = &plan.resume {
        checkpoint::restore(saved, &model, &mut stepper, scheduler.as_mut(), average.as_mut())?;
        (training.epochs, training.diverged) = checkpoint::saved_epochs(saved)?;
    }
    let per_batch = config.schedule_every == ScheduleEvery::Batch;
    let done = if training.diverged { config.epochs } else { training.epochs.len() };
    let count = data.train.count();
    let batches = count.div_ceil(config.batch_size);
    progress.start(&entrant.label, (config.epochs.saturating_sub(done) * batches) as u64);
    let closure = entrant.needs_closure();
    for epoch in done + 1..=config.epochs {
        // The same order for every optimizer, and for a run resumed at this epoch: a function of the seed and the
        // epoch alone.
        let mut order: Vec<u32> = (0..count as u32).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64)));
        let start = Instant::now();
        let mut stepping = Duration::ZERO;
        let mut loss_sum = 0.0;
        let mut lrs = Vec::with_capacity(batches);
        for batch in order.chunks(config.batch_size) {
            lrs.push(stepper.groups().lr(0)?);
            let rows = ranks.map_or(0..batch.len(), |r| r.share(batch.len()));
            let local = &batch[rows.clone()];
            let batch_loss = || -> candle_core::Result<Tensor> {
                let (images, labels) = data.batch(local)?;
                candle_nn::loss::cross_entropy(&model.forward(&images)?, &labels)
            };
            // The batch's mean loss, and its sum over the batch's images.
            let (value, sum) = match &mut stepper {
                Stepper::Local(optimizer) if closure => {
                    // The optimizer evaluates the batch's loss where it needs to (L-BFGS: several times); the
                    // step time is the whole of it.
                    let before_step = Instant::now();
                    let value = optimizer.step_with_closure(batch_loss)?;
                    stepping += before_step.elapsed();
                    (value, value * batch.len() as f64)
                }
                Stepper::Local(optimizer) => {
                    let (images, labels) = data.batch_values(local);
                    let (loss, grads) = model.loss_and_gradients(&images, &labels)?;
                    let value = f64::from(loss);
                    if value.is_finite() {
                        let before_step = Instant::now();
                        optimizer.step(&grads)?;
                        stepping += before_step.elapsed();
                    }
                    (value, value * batch.len() as f64)
                }
                Stepper::Sharded(sharded) => {
                    let (local_sum, grads) = if local.is_empty() {
                        (0.0, None)
                    } else {
                        let (images, labels) = data.batch_values(local);
                        let (loss, grads) = model.loss_and_gradients(&images, &labels)?;
                        let value = f64::from(loss);
                        (value * local.len() as f64, value.is_finite().then_some(grads))
                    };
                    // Every rank learns the batch's loss, and so stops together if it is not finite.
                    let mut sum = [local_sum];
                    let before_step = Instant::now();
                    sharded.sharded().communicator().all_reduce_sum_f64(&mut sum);
                    let value = sum[0] / batch.len() as f64;
                    if value.is_finite() {
                        let weight = local.len() as f32 / batch.len() as f32;
                        sharded.step(grads.as_ref(), weight).map_err(|e| TrainError::Invalid(e.to_string()))?;
                    }
                    stepping += before_step.elapsed();
                    (value, sum[0])
                }
            };
            if !value.is_finite() {
                training.diverged = true;
                break;
            }
            if let Some(scheduler) = scheduler.as_mut().filter(|s| per_batch && !s.watches_metric()) {
                scheduler.step(stepper.groups())?;
            }
            if let Some(average) = average.as_mut().filter(|_| ema) {
                average.update()?;
            }
            loss_sum += sum;
            progress.advance();
        }
        let seconds = start.elapsed().as_secs_f64();
        if training.diverged {
            break;
        }
        // At the optimizer's evaluation point (Schedule-Free's average; the weights themselves for the others).
        let (test_loss, test_accuracy) = stepper.evaluate(|| evaluate(&model, &data.test))?;
        if !test_loss.is_finite() {
            training.diverged = true;
            break;
        }
        let averaged = match average.as_mut() {
            Some(average) => {
                if !ema {
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
            Some(scheduler) if scheduler.watches_metric() => scheduler.step_with_metric(stepper.groups(), test_loss)?,
            Some(scheduler) if !per_batch => scheduler.step(stepper.groups())?,
            _ => {}
        }
        if let Some(path) = &plan.save_to {
            checkpoint::save(path, &plan, &model, &stepper, scheduler.as_ref(), average.as_ref(), &training)?;
        }
    }
    if let (true, Some(path)) = (training.diverged, &plan.save_to) {
        // A resumed run then reports the divergence instead of training on.
        checkpoint::save(path, &plan, &model, &stepper, scheduler.as_ref(), average.as_ref(), &training)?;
    }
    training.state_bytes = state_bytes_per_rank(&stepper);
    progress.finish();
    Ok(training)
}

/// The optimizer-state bytes of every rank (of this process alone, without ranks).
fn state_bytes_per_rank(stepper: &Stepper) -> Vec<usize> {
    match stepper {
        Stepper::Local(_) => vec![stepper.state_bytes()],
        Stepper::Sharded(sharded) => {
            let comm = sharded.sharded().communicator();
            let mut bytes = vec![0.0; comm.size()];
            bytes[comm.rank()] = stepper.state_bytes() as f64;
            comm.all_reduce_sum_f64(&mut bytes);
            bytes.into_iter().map(|b| b as usize).collect()
        }
    }
}

/// The mean loss and the accuracy of `model` on `(images, labels)`.
pub fn evaluate(model: &Mlp, (images, labels): &(Tensor, Tensor)) -> candle_core::Result<(f64, f64)> {
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
