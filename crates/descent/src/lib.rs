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
//!   start at zero; *AdamW* ([`AdamW`]) decouples its weight decay from the gradient scaling.
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
//! # Parity with PyTorch
//!
//! Every optimizer follows its `torch.optim` counterpart's default CPU path (`_single_tensor_<name>`) operation by
//! operation: hyperparameter arithmetic in `f64`, each scalar rounded to the element type once, fused multiply-adds
//! where PyTorch's CPU kernels use them (its AVX2/AVX-512 dispatch, the normal case on x86-64). The tests compare
//! every parameter and state value after every step with fixtures written by PyTorch itself:
//!
//! - SGD matches bit for bit.
//! - The others use a square root, which PyTorch's CPU build takes from MKL and which is not correctly rounded
//!   (about 18% of `f32` inputs are one ulp off); descent's is IEEE-exact. They agree within
//!   1e-6 + 1e-5·|x| in `f32` and 1e-13 + 1e-12·|x| in `f64` over the tested runs.
//!
//! Deliberate differences, each documented on its type: hyperparameters must be finite (PyTorch accepts an
//! infinite learning rate); Adagrad uses each group's own `initial_accumulator_value`. Non-finite gradients are
//! not rejected: as in PyTorch, they propagate into the parameters and the state.

pub mod checkpoint;
mod clip;
mod dynamic;
mod error;
mod hyper;
mod kernel;
mod lane;
pub mod optim;
mod optimizer;
mod param;
mod registry;
mod rule;
mod spec;
mod state;
mod state_dict;
mod torch_ops;
mod validate;

pub use clip::{clip_grad_norm, clip_grad_value, total_norm, Clip};
pub use dynamic::{Closure, DynOptimizer, FlatOptimizer};
pub use error::Error;
pub use lane::{Float, Lane};
pub use optim::adadelta::Adadelta;
pub use optim::adagrad::Adagrad;
pub use optim::adam::Adam;
pub use optim::adamw::AdamW;
pub use optim::lookahead_nesterov::LookaheadNesterov;
pub use optim::rmsprop::RmsProp;
pub use optim::sgd::Sgd;
pub use optimizer::Optimizer;
pub use param::{Group, Param, Shape};
pub use registry::{Entry, Registry};
pub use rule::{Rule, StepContext, TensorStage};
pub use spec::{catalog, Spec, SpecError};
pub use state::{ParamState, StateLayout, StateTensor, MAX_ELEMENTWISE_TENSORS};
pub use state_dict::{GroupRecord, ParamRecord, StateDict, StateRecord};

/// The README's examples, compiled and run as tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
