//! Several optimizers from one start point, and how each one did.

use descent::Spec;
use rayon::prelude::*;

use crate::{
    critical_point_near, distance, run, saddle_escape, CriticalPoint, LandscapeError, Run, SaddleEscape, Surface,
    Trajectory,
};

/// One optimizer in a race: a label for tables and legends, and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Entrant {
    /// The name shown.
    pub label: String,
    /// The optimizer.
    pub spec: Spec,
}

/// How one entrant did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The entrant.
    pub entrant: Entrant,
    /// Its path.
    pub trajectory: Trajectory,
    /// The summary of its path.
    pub summary: Summary,
}

/// The end of a trajectory measured against the surface's known minima.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// J at the last point.
    pub final_loss: f64,
    /// The known minimum nearest to the last point, and the distance to it (`None` without known minima).
    pub nearest: Option<(CriticalPoint, f64)>,
    /// The first step at which the point was within the tolerance of that minimum.
    pub reached_at: Option<usize>,
    /// The critical point the run ended at (its end point refined by Newton's method and classified by the
    /// Hessian), if it ended within ten tolerances of one rather than still moving: a local minimum the run is
    /// stuck in, the global one, or a saddle point.
    pub ended_at: Option<CriticalPoint>,
    /// What the run did at a known saddle point it came near: whether and when it left, and how far down it went.
    pub saddle: Option<SaddleEscape>,
    /// Whether the run stopped on a non-finite point or loss.
    pub diverged: bool,
}

impl Summary {
    /// Summarizes `trajectory` on `surface`: within `tolerance` (a distance) counts as reaching a minimum.
    pub fn of(surface: &dyn Surface, trajectory: &Trajectory, tolerance: f64) -> Summary {
        let last = trajectory.last_point();
        let nearest = if trajectory.diverged {
            None
        } else {
            surface
                .minima()
                .into_iter()
                .map(|m| {
                    let d = distance(&m.point, last);
                    (m, d)
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
        };
        let reached_at = nearest
            .as_ref()
            .and_then(|(m, _)| trajectory.points.iter().position(|p| distance(&m.point, p) <= tolerance));
        let domain = surface.domain();
        let diagonal = (domain.x.1 - domain.x.0).hypot(domain.y.1 - domain.y.0);
        let (ended_at, saddle) = if trajectory.diverged {
            (None, None)
        } else {
            // Settled: within ten tolerances of a critical point.
            (critical_point_near(surface, last, 10.0 * tolerance), saddle_escape(surface, trajectory, 0.1 * diagonal))
        };
        Summary {
            final_loss: trajectory.final_loss(),
            nearest,
            reached_at,
            ended_at,
            saddle,
            diverged: trajectory.diverged,
        }
    }

    /// Whether the last point is within `tolerance` of a known minimum.
    pub fn reached(&self, tolerance: f64) -> bool {
        self.nearest.as_ref().is_some_and(|(_, d)| *d <= tolerance)
    }
}

/// Runs every entrant on `surface` (in parallel) and summarizes each.
pub fn race(
    surface: &dyn Surface,
    entrants: &[Entrant],
    run_config: &Run,
    tolerance: f64,
) -> Result<Vec<Outcome>, LandscapeError> {
    run_config.check(surface)?;
    entrants
        .par_iter()
        .map(|entrant| {
            let trajectory = run(surface, &entrant.spec, run_config)?;
            let summary = Summary::of(surface, &trajectory, tolerance);
            Ok(Outcome { entrant: entrant.clone(), trajectory, summary })
        })
        .collect()
}
