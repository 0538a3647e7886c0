//! Learning-rate schedulers: every one of `torch.optim.lr_scheduler`, SWALR, and warmup–stable–decay.
//!
//! The learning rate η is the other way, besides the choice of optimizer, to control the step θ ← θ − η·…: large
//! early to cross the landscape, small late to settle into a minimum. A scheduler changes the η (and, for the
//! cyclic schedules, the momentum or β₁) of each parameter group between steps.
//!
//! # PyTorch's semantics
//!
//! A [`Scheduler`] behaves as its `torch.optim.lr_scheduler` class, value for value:
//!
//! - Building one applies the epoch-0 value at once (`LinearLR` multiplies η by `start_factor` before the first
//!   step), and records each group's `initial_lr` (the η it found, unless a scheduler built before it recorded one).
//!   `base_lrs` are these initial learning rates.
//! - [`Scheduler::step`] is called after each optimizer step. It computes PyTorch's *chainable* form: most
//!   schedulers multiply the group's current η by a ratio rather than evaluating a closed form, so that two
//!   schedulers stepping the same groups compose, and the values agree with PyTorch's to the last bit (in `f64`, as
//!   Python's floats).
//! - Composition: `A * B` is PyTorch's `ChainedScheduler([A, B])` (each steps in turn, so their factors multiply),
//!   and `A until 10 then B` is `SequentialLR([A, B], milestones=[10])` (B takes over at its epoch 0 at epoch 10,
//!   with its closed form). See [`ScheduleSpec`] for the syntax.
//!
//! ```
//! use descent::schedule::{LrGroup, ScheduleSpec, Scheduler};
//!
//! let spec: ScheduleSpec = "ExponentialLR(gamma=0.9)".parse()?;
//! let mut groups = vec![LrGroup::new(0.1)];
//! let mut scheduler = Scheduler::new(&spec, &mut groups)?;
//! scheduler.step(&mut groups)?;
//! scheduler.step(&mut groups)?;
//! assert_eq!(groups[0].lr, 0.08100000000000002); // 0.1·0.9·0.9, rounded twice, as in PyTorch
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same works on an optimizer, whose groups implement [`LrGroups`]: [`Optimizer`](crate::Optimizer) and every
//! [`DynOptimizer`](crate::DynOptimizer).
//!
//! Differences from PyTorch: there is no `last_epoch` argument (resume from a [saved state](Scheduler::state)
//! instead); `LambdaLR` and `MultiplicativeLR` take a formula in `epoch` as text (`"0.95^epoch"`), not a Python
//! function; `CyclicLR` has no custom `scale_fn`. Each scheduler keeps the `initial_lr` it records in its own
//! state, not in the optimizer's groups, so schedulers share them when composed (`A * B`, `A until N then B`)
//! rather than when built separately on one optimizer.

mod base;
mod compose;
mod constant;
mod cosine;
mod cyclic;
mod exponential;
mod groups;
mod lambda;
mod linear;
mod multi_step;
mod multiplicative;
mod one_cycle;
mod per_group;
mod plateau;
mod polynomial;
mod preview;
mod registry;
mod scheduler;
mod spec;
mod step;
mod swa;
mod warm_restarts;
mod wsd;

pub use constant::ConstantLr;
pub use cosine::CosineAnnealingLr;
pub use cyclic::{CyclicLr, CyclicMode};
pub use exponential::ExponentialLr;
pub use groups::{LrGroup, LrGroups};
pub use lambda::{LambdaLr, LrLambda};
pub use linear::LinearLr;
pub use multi_step::MultiStepLr;
pub use multiplicative::MultiplicativeLr;
pub use one_cycle::{Anneal, OneCycleLr};
pub use per_group::PerGroup;
pub use plateau::{PlateauMode, ReduceLrOnPlateau, ThresholdMode};
pub use polynomial::PolynomialLr;
pub use preview::{Preview, PreviewError};
pub use registry::{schedulers, ScheduleEntry};
pub use scheduler::Scheduler;
pub use spec::ScheduleSpec;
pub use step::StepLr;
pub use swa::Swalr;
pub use warm_restarts::CosineAnnealingWarmRestarts;
pub use wsd::{Decay, Wsd};

pub(crate) use base::{Clock, Formula, View};
pub(crate) use compose::{Chain, Sequence};
