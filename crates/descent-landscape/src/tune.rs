//! Choosing each optimizer's learning rate, so that a race is fair.

use descent::Spec;
use rayon::prelude::*;

use crate::{run, LandscapeError, Run, Surface};

/// Learning rates spaced evenly in log scale from `lo` to `hi`, `per_decade` to a factor of ten.
pub fn log_grid(lo: f64, hi: f64, per_decade: usize) -> Vec<f64> {
    let decades = (hi / lo).log10();
    let count = (decades * per_decade as f64).round() as usize + 1;
    (0..count).map(|i| lo * 10f64.powf(i as f64 / per_decade as f64)).collect()
}

/// The learning rates tuning tries by default: 1e-4 to 10, five to a decade.
pub fn default_grid() -> Vec<f64> {
    log_grid(1e-4, 10.0, 5)
}

/// The outcome of tuning one optimizer.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuned {
    /// The optimizer with the chosen learning rate.
    pub spec: Spec,
    /// Its final loss (+∞ if every learning rate diverged).
    pub score: f64,
}

/// Tries `spec` with every learning rate of `grid` (in parallel) and keeps the one with the lowest final loss; a
/// run that diverges scores +∞. Ties go to the earlier learning rate of the grid. `on_trial` is called after
/// each run (to advance a progress bar).
pub fn tune(
    surface: &dyn Surface,
    spec: &Spec,
    run_config: &Run,
    grid: &[f64],
    on_trial: &(dyn Fn() + Sync),
) -> Result<Tuned, LandscapeError> {
    run_config.check(surface)?;
    let scores: Vec<(Spec, f64)> = grid
        .par_iter()
        .map(|&lr| {
            let candidate = spec.with_lr(lr)?;
            let trajectory = run(surface, &candidate, run_config)?;
            on_trial();
            let score = if trajectory.diverged { f64::INFINITY } else { trajectory.final_loss() };
            Ok((candidate, score))
        })
        .collect::<Result<_, LandscapeError>>()?;
    let (spec, score) = scores
        .into_iter()
        .reduce(|best, next| if next.1 < best.1 { next } else { best })
        .unwrap_or((spec.clone(), f64::INFINITY));
    Ok(Tuned { spec, score })
}
