//! Loss landscapes: the surfaces on which gradient-descent optimizers show their character.
//!
//! A [`Surface`] is a loss J(θ) with its exact gradient, its known minima, saddle points and maxima, and a region
//! to draw. The built-in ones ([`surfaces::all`]) are the standard test functions: convex bowls, ravines, curved
//! valleys, surfaces with many local minima, saddles; an [`ExpressionSurface`] is one a user writes, differentiated
//! exactly (forward mode). [`run`] walks an optimizer over a surface and records its [`Trajectory`] (optionally with
//! [`Noise`] in the gradient, to make it stochastic); [`race()`] runs several from one start point and summarizes
//! which minimum each reached; [`tune`] picks each optimizer's learning rate so that a race is fair.
//!
//! ```
//! use descent::Spec;
//! use descent_landscape::{race, surfaces, Entrant, Precision, Run, Surface};
//!
//! let surface = surfaces::by_name("himmelblau", 2)?;
//! let entrants: Vec<Entrant> = ["sgd(lr=0.01)", "adam(lr=0.1)"]
//!     .iter()
//!     .map(|s| Entrant { label: s.to_string(), spec: s.parse().unwrap() })
//!     .collect();
//! let config = Run::new(vec![0.0, 0.0], 500);
//! for outcome in race(&surface, &entrants, &config, 1e-3)? {
//!     assert!(outcome.summary.reached(1e-3), "{} did not reach a minimum", outcome.entrant.label);
//! }
//! # Ok::<(), descent_landscape::LandscapeError>(())
//! ```

mod error;
mod escape;
mod expression;
mod noise;
mod race;
mod settle;
mod step_state;
mod surface;
pub mod surfaces;
mod trajectory;
mod tune;

pub use error::LandscapeError;
pub use escape::{saddle_escape, SaddleEscape};
pub use expression::ExpressionSurface;
pub use noise::Noise;
pub use race::{race, Entrant, Outcome, Summary};
pub use settle::critical_point_near;
pub use step_state::StepState;
pub use surface::{distance, CriticalKind, CriticalPoint, Domain, Surface};
pub use trajectory::{run, Precision, Run, Trajectory};
pub use tune::{default_grid, log_grid, tune, Tuned};
