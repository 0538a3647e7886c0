//! Stochastic gradients: Gaussian noise added to every gradient, reproducibly.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::LandscapeError;

/// Gaussian noise of standard deviation σ added to each gradient coordinate at every evaluation, as DeepOBS makes
/// its two-dimensional problems stochastic (the loss gains σ·(u·x + v·y) with u, v ~ N(0, 1) drawn per step).
///
/// The noise is a seeded ChaCha8 stream: the same seed gives the same noise on every machine, and every optimizer
/// of a race sees the same noise sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    sigma: f64,
    seed: u64,
}

impl Noise {
    /// Noise of standard deviation `sigma`, drawn from a stream seeded by `seed`.
    pub fn new(sigma: f64, seed: u64) -> Result<Self, LandscapeError> {
        if sigma.is_finite() && sigma >= 0.0 {
            Ok(Noise { sigma, seed })
        } else {
            Err(LandscapeError::Noise(sigma))
        }
    }

    /// The standard deviation σ.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A fresh stream of this noise, from its first draw.
    pub(crate) fn stream(&self) -> NoiseStream {
        NoiseStream { sigma: self.sigma, rng: ChaCha8Rng::seed_from_u64(self.seed) }
    }
}

/// A running noise stream.
pub(crate) struct NoiseStream {
    sigma: f64,
    rng: ChaCha8Rng,
}

impl NoiseStream {
    /// Adds σ·N(0, 1) to every coordinate of `grad`.
    pub(crate) fn perturb(&mut self, grad: &mut [f64]) {
        for g in grad {
            let draw: f64 = self.rng.sample(StandardNormal);
            *g += self.sigma * draw;
        }
    }
}
