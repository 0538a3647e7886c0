//! Gradient-descent optimizers on plain slices of `f32` and `f64`, with PyTorch's names, defaults and numerics.
//!
//! # Why there are so many optimizers
//!
//! Training a model means minimizing a loss J(θ) over its parameters θ, often millions of them. The gradient
//! ∇J(θ) points uphill, so gradient descent steps the other way, θ ← θ − η·∇J(θ), with a learning rate η. On a
//! convex bowl that is all it takes. Real losses are not bowls:
//!
//! - **Ravines**: a surface much steeper in one direction than another. A step size small enough for the steep
//!   direction crawls along the flat one; a larger one oscillates across the ravine. *Momentum*
//!   ([`Sgd`] with `momentum`) accumulates a velocity that builds up along the consistent direction and cancels
//!   across the oscillating one; *Nesterov momentum* (`nesterov: true`, or the article's look-ahead form
//!   [`LookaheadNesterov`]) corrects the velocity with the gradient where it is about to go.
//! - **Features of very different frequency**: some coordinates get large gradients all the time, others rarely.
//!   *AdaGrad* ([`Adagrad`]) gives each coordinate its own step size, shrinking with the sum of its squared
//!   gradients, at the price of steps that shrink for ever. *RMSprop* ([`RmsProp`]) and *AdaDelta* ([`Adadelta`])
//!   use decaying averages instead, so the step size adapts without vanishing.
//! - **Local minima and saddle points**: points where the gradient vanishes but that are not the minimum. In high
//!   dimension, saddle points are the common case: the surface curves up in some directions and down in others,
//!   and the gradient near them is tiny. Plain SGD slows to a crawl there; momentum carries the parameters through,
//!   and the adaptive methods rescale the tiny gradient so the step does not vanish.
//! - *Adam* ([`Adam`]) combines momentum's first moment with RMSprop's second, with a bias correction for their
//!   start at zero; *AdamW* ([`AdamW`]) decouples its weight decay from the gradient scaling. *NAdam* ([`NAdam`])
//!   gives Adam Nesterov's look-ahead momentum, *RAdam* ([`RAdam`]) holds Adam's adaptive step back until its
//!   variance estimate can be trusted (no warm-up needed), and *Adamax* ([`Adamax`]) scales by the largest recent
//!   gradient instead of a root mean square.
//! - The rest of `torch.optim`: *ASGD* ([`Asgd`]) averages SGD's iterates to cancel their noise; *Rprop*
//!   ([`Rprop`]) keeps a step size per weight from the signs of its gradients alone; *Adafactor* ([`Adafactor`])
//!   keeps Adam's second moment of a matrix as a row and a column statistic, R + C numbers instead of R·C;
//!   *SparseAdam* ([`SparseAdam`]) updates only the embedding rows a batch touches; *Muon* ([`Muon`]) steps a
//!   weight matrix along the orthogonalized momentum, equally in every direction the gradient has (with AdamW for
//!   the other parameters, in a [`Composite`] of parameter groups); *L-BFGS* ([`Lbfgs`], run by
//!   [`LbfgsOptimizer`]) builds a model of the curvature from its last steps and crosses a narrow valley in a few
//!   steps where SGD zigzags, calling the loss as often as its line search needs.
//! - Beyond PyTorch: *Lion* ([`Lion`]), found by a program search, steps every coordinate by η in the direction of
//!   the sign of an interpolated momentum, with half of Adam's state; *AdEMAMix* ([`AdEMAMix`]) adds to Adam a
//!   slow moment that remembers thousands of steps; *MARS* ([`Mars`]) feeds AdamW a gradient corrected by how it
//!   changed since the last step; *Schedule-Free* AdamW and SGD ([`ScheduleFreeAdamW`], [`ScheduleFreeSgd`]) need
//!   no learning-rate schedule: they train at one point and are evaluated at a running average of their
//!   iterates, which does what a decaying schedule would. Evaluate them inside [`Optimizer::evaluate`].
//!   *Prodigy* ([`Prodigy`]) is Adam that estimates its own step size from how far the run has come: lr = 1
//!   works.
//! - Less memory: Adam, AdamW and Lion keep their moments in 8 bits ([`quantize`], as `bitsandbytes` does) or in
//!   bfloat16 with `state` ([`StateType`]), and their steps move fewer bytes.
//!
//! # Using an optimizer
//!
//! Each optimizer is a struct of hyperparameters with PyTorch's names and defaults (`Adam { lr, betas, eps, .. }`).
//! An [`Optimizer`] applies one to parameters that the caller owns: it keeps the hyperparameters of each parameter
//! [`Group`] and each parameter's state ([`ParamState`], under PyTorch's names: `exp_avg`, `momentum_buffer`, …),
//! and [`Optimizer::step`] updates every parameter that has a gradient:
//!
//! ```
//! use descent::{Group, Optimizer, Param, Sgd};
//!
//! // J(w, b) = ½·|w − (1, 2, 3)|² + ½·b²
//! let mut w = vec![0.0_f32; 3];
//! let mut b = vec![5.0_f32];
//! let momentum = Sgd { lr: 0.1, momentum: 0.9, ..Sgd::default() };
//! let mut opt = Optimizer::with_groups([
//!     Group::new(momentum, [Param::named("w", 3)]),
//!     Group::new(Sgd { lr: 0.5, ..Sgd::default() }, [Param::named("b", 1)]),
//! ])?;
//! for _ in 0..200 {
//!     let gw: Vec<f32> = w.iter().zip([1.0, 2.0, 3.0]).map(|(w, t)| w - t).collect();
//!     let gb = b.clone();
//!     opt.step(&mut [&mut w, &mut b], &[Some(&gw), Some(&gb)])?;
//! }
//! assert!((w[2] - 3.0).abs() < 1e-3 && b[0].abs() < 1e-3);
//! opt.set_lr(0, 0.01)?; // what a learning-rate scheduler does
//! # Ok::<(), descent::Error>(())
//! ```
//!
//! # Learning-rate schedules, clipping and averaging
//!
//! [`schedule`] has every scheduler of `torch.optim.lr_scheduler` (and SWALR and warmup–stable–decay), written as
//! specs (`"warmup(total_iters=5) until 5 then cosine(T_max=95)"`) and stepping any optimizer's groups with
//! PyTorch's values to the last bit. [`Optimizer::set_clip`] clips the gradients by norm or by value inside the
//! step ([`clip_grad_norm`] and [`clip_grad_value`] do it on plain slices), and [`average`] keeps SWA or EMA
//! averages of the parameters, as `torch.optim.swa_utils.AveragedModel` does.
//!
//! # Checkpoints
//!
//! [`Optimizer::state_dict`] gives an optimizer's whole state as plain data and [`Optimizer::load_state_dict`]
//! puts it back, after checking everything; [`checkpoint`] stores it in a safetensors file, atomically, with the
//! hyperparameters and step counts in its header. A run saved at step k and resumed continues bit for bit as if it
//! had never stopped.
//!
//! # Writing your own optimizer
//!
//! An optimizer is a struct of hyperparameters that implements [`Rule`]: it validates itself, declares the state a
//! parameter of a given shape needs ([`StateLayout`]), and says how one element is updated. Everything else (groups,
//! state, checkpoints, the fused and threaded pass, specs, the candle adapter) comes with it. This one scales each
//! step by the gradient's norm over the whole tensor, which it measures in a per-tensor stage:
//!
//! ```
//! use descent::{
//!     Entry, Error, Float, Lane, Optimizer, Param, Registry, Rule, Shape, StateLayout, StepContext, TensorStage,
//! };
//! use serde::{Deserialize, Serialize};
//!
//! /// Normalized gradient descent: θ ← θ − η·g / (‖g‖ + ε), with ‖g‖ the norm of the whole tensor's gradient.
//! #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct NormalizedSgd {
//!     lr: f64,
//!     eps: f64,
//! }
//!
//! impl Default for NormalizedSgd {
//!     fn default() -> Self {
//!         NormalizedSgd { lr: 0.1, eps: 1e-8 }
//!     }
//! }
//!
//! impl Rule for NormalizedSgd {
//!     const NAME: &'static str = "NormalizedSgd";
//!
//!     fn validate(&self) -> Result<(), Error> {
//!         if self.lr >= 0.0 && self.eps >= 0.0 && self.lr.is_finite() && self.eps.is_finite() {
//!             Ok(())
//!         } else {
//!             Err(Error::InvalidCombination { optimizer: Self::NAME, reason: "lr and eps must be finite and >= 0" })
//!         }
//!     }
//!
//!     fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
//!         Ok(StateLayout::new().step().scalar("grad_norm", 0.0))
//!     }
//!
//!     const TENSOR_STAGE: bool = true;
//!
//!     fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
//!         let norm = stage.grad.iter().map(|g| g.to_f64() * g.to_f64()).sum::<f64>().sqrt();
//!         stage.state.set_scalar("grad_norm", norm);
//!     }
//!
//!     type Coefficients<L: Lane> = L;
//!
//!     fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> L {
//!         let scale = -self.lr / (step.scalar("grad_norm") + self.eps);
//!         L::splat(<L::Scalar as Float>::from_f64(scale))
//!     }
//!
//!     #[inline(always)]
//!     fn update<L: Lane>(scale: &L, param: &mut L, grad: L, _state: &mut [L]) {
//!         *param = scale.mul_add(grad, *param);
//!     }
//! }
//!
//! // Used directly…
//! let mut w = vec![3.0_f64, 4.0];
//! let mut opt = Optimizer::new(NormalizedSgd { lr: 1.0, eps: 0.0 }, [Param::named("w", 2)])?;
//! opt.step(&mut [&mut w], &[Some(&[3.0, 4.0])])?;
//! assert_eq!(w, [3.0 - 0.6, 4.0 - 0.8]); // one step of length η, against the gradient
//! assert_eq!(opt.state(0).unwrap().scalar("grad_norm"), Some(5.0));
//!
//! // …or registered by name, for specs, the dynamic optimizer and the candle adapter.
//! let mut registry = Registry::builtin().clone();
//! registry.add(Entry::new("nsgd", "normalized gradient descent", NormalizedSgd::default()))?;
//! let spec = registry.parse("nsgd(lr=0.5)")?;
//! let mut dynamic = spec.build::<f32>([Param::new([2, 2])])?;
//! dynamic.step(&mut [&mut [1.0; 4]], &[Some(&[1.0; 4])])?;
//! assert_eq!(dynamic.lr(0)?, 0.5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A sharded optimizer (`descent-mpi`) steps a parameter of this rule whole, since its per-tensor stage reads the
//! whole gradient. A rule with no per-tensor stage, or one that only sets shared scalars from the step count there
//! ([`Rule::SCALAR_TENSOR_STAGE`]), and only element-wise state, can be stepped in pieces ([`Spec::splits`]), and
//! the sharded optimizer cuts its parameters so that every rank holds an even share of the state.
//!
//! # Parity with PyTorch
//!
//! Every optimizer follows its `torch.optim` counterpart's default CPU path (`_single_tensor_<name>`) operation by
//! operation: hyperparameter arithmetic in `f64`, each scalar rounded to the element type once, fused multiply-adds
//! where PyTorch's CPU kernels use them (its AVX2/AVX-512 dispatch, the normal case on x86-64). The tests compare
//! every parameter and state value after every step with fixtures written by PyTorch itself:
//!
//! - SGD, Adamax, ASGD and Rprop match bit for bit, and so does Lion against its authors' package, `lion-pytorch`.
//!   AdEMAMix and MARS are checked against `pytorch-optimizer`'s: AdEMAMix within an ulp of its step (one root, as
//!   Adam), MARS within 8 ulps (its norm is summed in another precision). Schedule-Free SGD matches the authors'
//!   `schedulefree` bit for bit, evaluation point included, and Schedule-Free AdamW within 3 ulps. Prodigy is
//!   checked against `prodigyopt` within 2 ulps a step from `prodigyopt`'s d, and its estimate of d within 10⁻⁴
//!   (sums that PyTorch takes in `f32`).
//! - The others use a square root, which PyTorch's CPU build takes from MKL and which is not correctly rounded
//!   (about 18% of `f32` inputs are one ulp off); descent's is IEEE-exact. Each step, taken from PyTorch's values
//!   of the step before, agrees within 1 to 6 ulps (of the largest magnitude the step involves), depending on the
//!   roots the rule takes and, for Adafactor, the order its norms are summed in.
//! - Muon orthogonalizes in bfloat16 as PyTorch does, with the products summed in another order: its momentum
//!   matches bit for bit, its step within four bfloat16 roundings of the step's largest value.
//!
//! Deliberate differences, each documented on its type: hyperparameters must be finite (PyTorch accepts an
//! infinite learning rate); Adagrad uses each group's own `initial_accumulator_value`; clipping by norm measures
//! the norm in `f64`; SparseAdam reads a dense gradient, whose all-zero rows are the rows it does not touch. Non-finite gradients are not rejected: as in PyTorch, they propagate into the parameters and
//! the state.

pub mod average;
pub mod checkpoint;
mod clip;
mod compact;
mod compact_step;
mod composite;
mod dynamic;
mod error;
pub mod expression;
mod hyper;
mod kernel;
mod lane;
mod lbfgs;
mod master_weights;
pub mod newton_schulz;
pub mod optim;
mod optimizer;
mod param;
pub mod quantize;
#[cfg(target_arch = "x86_64")]
mod quantize_avx2;
#[cfg(target_arch = "x86_64")]
mod quantize_avx512;
mod reduce;
mod registry;
mod rule;
pub mod schedule;
mod spec;
mod state;
mod state_dict;
mod torch_ops;
mod validate;

pub use clip::{clip_grad_norm, clip_grad_value, norm_of_norms, tensor_norm, total_norm, Clip};
pub use compact::{CompactData, CompactTensor, CompactType, StateType};
pub use composite::Composite;
pub use dynamic::{Closure, DynOptimizer, FlatOptimizer};
pub use error::Error;
pub use kernel::{with_best_isa, Inline, Loop};
pub use lane::{Float, Lane};
pub use lbfgs::LbfgsOptimizer;
pub use master_weights::MasterWeights;
pub use optim::adadelta::Adadelta;
pub use optim::adafactor::Adafactor;
pub use optim::adagrad::Adagrad;
pub use optim::adam::Adam;
pub use optim::adamax::Adamax;
pub use optim::adamw::AdamW;
pub use optim::adamw_schedule_free::ScheduleFreeAdamW;
pub use optim::ademamix::AdEMAMix;
pub use optim::asgd::Asgd;
pub use optim::lbfgs::{Lbfgs, LineSearch};
pub use optim::lion::Lion;
pub use optim::lookahead_nesterov::LookaheadNesterov;
pub use optim::mars::{Mars, MarsType};
pub use optim::muon::{AdjustLr, Muon};
pub use optim::nadam::NAdam;
pub use optim::prodigy::Prodigy;
pub use optim::radam::RAdam;
pub use optim::rmsprop::RmsProp;
pub use optim::rprop::Rprop;
pub use optim::sgd::Sgd;
pub use optim::sgd_schedule_free::ScheduleFreeSgd;
pub use optim::soap::Soap;
pub use optim::sparse_adam::SparseAdam;
pub use optimizer::Optimizer;
pub use param::{Group, Param, Shape};
pub use registry::{Entry, Registry};
pub use rule::{GlobalStage, Point, Rule, StepContext, TensorStage};
pub use spec::{catalog, Spec, SpecError};
pub use state::{ParamState, StateLayout, StateTensor, MAX_ELEMENTWISE_TENSORS};
pub use state_dict::{GroupRecord, ParamRecord, StateDict, StateRecord};

/// The README's examples, compiled and run as tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
