//! Training with descent's optimizers: the article's running example as a library.
//!
//! - [`dataset`]: image datasets in the standard IDX files ([`idx`]), the 10,000 embedded MNIST digits, Debian's
//!   Fashion-MNIST, and validation splits held out of the training images;
//! - [`Mlp`]: a multilayer perceptron in candle, initialized as PyTorch's `nn.Linear` from a seed, with its
//!   backward pass written out ([`Mlp::loss_and_gradients`]);
//! - [`Trainer`]: the loop that trains one network per optimizer from the same initial weights through the same
//!   batches, with learning-rate schedules, gradient clipping, weight averaging (SWA, EMA), Schedule-Free's
//!   evaluation point, and checkpoints after every epoch that resume a run bit for bit;
//! - [`json_report`]: the results as one JSON object.
//!
//! ```no_run
//! use descent_train::{dataset, ModelSpec, TrainConfig, Trainer, Silent};
//!
//! let digits = dataset::load(&dataset::Source::Embedded)?;
//! let config = TrainConfig { epochs: 2, hidden: vec![64], ..TrainConfig::default() };
//! let optimizers = [ModelSpec::parse("adam(lr=1e-3)")?, ModelSpec::parse("muon(lr=0.02) + adamw(lr=1e-3)")?];
//! let trainer = Trainer::new(&digits, &config, &optimizers)?;
//! for training in trainer.run(&mut Silent)? {
//!     let last = training.epochs.last().expect("two epochs");
//!     println!("{}: {:.2}% after {} epochs", training.entrant.label, 100.0 * last.test_accuracy, last.epoch);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpoint;
mod config;
pub mod dataset;
mod dense;
mod error;
pub mod idx;
mod mlp;
mod model_spec;
mod report;
mod run;
mod stepper;

pub use config::{GroupSpec, ScheduleEvery, TrainConfig};
pub use error::TrainError;
pub use mlp::Mlp;
pub use model_spec::ModelSpec;
pub use report::json_report;
pub use run::{default_optimizers, evaluate, layers, train_all, Epoch, Progress, Silent, Trainer, Training};
pub use stepper::Ranks;
