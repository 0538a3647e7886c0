//! `descent train`: the article's running example. An MLP learns to classify digits (or clothing) once per
//! optimizer, every optimizer from the same initial weights and through the same batches.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use descent::average::Averaging;
use descent_train::dataset::{self, Dataset, Source};
use descent_train::{GroupSpec, ModelSpec, ScheduleEvery, TrainConfig, Trainer, Training};

use crate::args::{ClipArgs, ReportFormat, ScheduleArgs};
use crate::curves;
use crate::error::CliError;
use crate::limits;
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
    groups: Vec<GroupSpec>,

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
    #[arg(long, value_enum, default_value_t = When::Epoch, requires = "lr_schedule")]
    schedule_every: When,

    #[command(flatten)]
    clip: ClipArgs,

    /// Also keep an average of the weights and report its test loss and accuracy: swa (the mean of the weights at
    /// the end of every epoch) or ema (an exponential moving average, updated after every step).
    #[arg(long, value_enum, value_name = "KIND")]
    average: Option<AverageKind>,

    /// The decay of --average ema, in [0, 1].
    #[arg(long, default_value_t = 0.999, value_name = "D", allow_hyphen_values = true)]
    ema_decay: f64,

    /// Under mpirun: the ZeRO stage of the sharded optimizer, 1 (optimizer state split across the ranks) or 2
    /// (the summed gradients split too).
    #[cfg(feature = "mpi")]
    #[arg(long, default_value_t = 2, value_name = "1|2", value_parser = clap::value_parser!(u8).range(1..=2))]
    zero_stage: u8,
}

/// Which average of the weights `descent train --average` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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

    /// The run's settings.
    fn config(&self) -> Result<TrainConfig, CliError> {
        Ok(TrainConfig {
            hidden: self.hidden.0.clone(),
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            groups: self.groups.clone(),
            schedule: self.schedule.lr_schedule.clone(),
            schedule_every: match self.schedule_every {
                When::Batch => ScheduleEvery::Batch,
                When::Epoch => ScheduleEvery::Epoch,
            },
            clip: self.clip.clip()?,
            average: self.averaging(),
            checkpoint: self.checkpoint.clone(),
            resume: self.resume.clone(),
        })
    }
}

/// When a schedule steps in `descent train`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum When {
    /// After every optimizer step.
    Batch,
    /// After every epoch.
    Epoch,
}

fn parse_group(text: &str) -> Result<GroupSpec, String> {
    match text.split_once(':') {
        Some((pattern, keys)) if !pattern.trim().is_empty() => {
            Ok(GroupSpec { pattern: pattern.trim().to_owned(), keys: keys.trim().to_owned() })
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
    let mut dataset = dataset::load(&source)?;
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
    let config = command.config()?;
    check_model_size(&descent_train::layers(dataset.train.features, &config.hidden))?;
    let entrants =
        if command.optimizers.is_empty() { descent_train::default_optimizers() } else { command.optimizers.clone() };
    let ranks = ranks(command)?;
    match (run_and_report(command, out, &dataset, &config, &entrants, ranks.clone()), ranks) {
        // Under mpirun every rank says what went wrong before MPI finalizes (when the ranks drop, all processes
        // meet): a rank that printed and exited first would have the launcher stop the others before they could.
        (Err(error), Some(_ranks)) => {
            eprintln!("error: {}", crate::one_line(&error.to_string()));
            Err(CliError::Reported)
        }
        (result, _) => result,
    }
}

/// Trains (on `ranks`, if any), then prints the report and draws the curves (rank 0).
fn run_and_report(
    command: &TrainCommand,
    out: &mut dyn Write,
    dataset: &Dataset,
    config: &TrainConfig,
    entrants: &[ModelSpec],
    ranks: Option<descent_train::Ranks>,
) -> Result<(), CliError> {
    let trainer = match ranks.clone() {
        Some(ranks) => Trainer::data_parallel(dataset, config, entrants, ranks)?,
        None => Trainer::new(dataset, config, entrants)?,
    };
    let layers = trainer.layers().to_vec();
    // Under mpirun, rank 0 alone prints and draws.
    if ranks.is_some_and(|r| r.comm.rank() != 0) {
        trainer.run(&mut descent_train::Silent)?;
        return Ok(());
    }
    let trainings = trainer.run(&mut progress::Bars::default())?;
    match command.format {
        ReportFormat::Table => write_tables(dataset, &layers, command, &trainings, out)?,
        ReportFormat::Json => {
            let report = descent_train::json_report(dataset, &layers, config, &trainings);
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

/// The ranks of a run started by mpirun (several processes, or one), with the `mpi` feature.
#[cfg(feature = "mpi")]
fn ranks(command: &TrainCommand) -> Result<Option<descent_train::Ranks>, CliError> {
    // The variables OpenMPI's, MPICH's and PMIx's launchers set in every process they start.
    if !["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|v| std::env::var_os(v).is_some()) {
        return Ok(None);
    }
    let world = descent_mpi::MpiWorld::init().map_err(|e| CliError::Usage(e.to_string()))?;
    let stage = descent_mpi::Stage::from_number(command.zero_stage).expect("clap checks the stage");
    Ok(Some(descent_train::Ranks { comm: std::rc::Rc::new(world), stage }))
}

/// Without the `mpi` feature, one process.
#[cfg(not(feature = "mpi"))]
fn ranks(_: &TrainCommand) -> Result<Option<descent_train::Ranks>, CliError> {
    Ok(None)
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
            end.map_or("-".into(), |_| format!("{seconds:.2}")),
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
