//! Whether a run that came near a saddle point left it again, and how far down it went.

use crate::{distance, CriticalKind, CriticalPoint, Surface, Trajectory};

/// What a run did at a saddle point it came near.
#[derive(Debug, Clone, PartialEq)]
pub struct SaddleEscape {
    /// The saddle point.
    pub saddle: CriticalPoint,
    /// The radius of the neighbourhood that counts as "at the saddle".
    pub radius: f64,
    /// The first step at which the run was within `radius` of the saddle (`None`: it never came that near).
    pub arrived_at: Option<usize>,
    /// The first step after that at which it was farther than `radius` again (`None`: it stayed, or never came).
    pub escaped_at: Option<usize>,
    /// How far below the saddle's value the run ended: J(saddle) − J(end) (negative if it ended above).
    pub depth: f64,
}

impl SaddleEscape {
    /// Whether the run came within the radius of the saddle and never left.
    pub fn stuck(&self) -> bool {
        self.arrived_at.is_some() && self.escaped_at.is_none()
    }
}

/// What `trajectory` did at a saddle point of `surface`: the first known saddle it came within `radius` of, else
/// the one nearest its start.
pub fn saddle_escape(surface: &dyn Surface, trajectory: &Trajectory, radius: f64) -> Option<SaddleEscape> {
    let saddles: Vec<CriticalPoint> =
        surface.critical_points().into_iter().filter(|p| p.kind == CriticalKind::Saddle).collect();
    let start = &trajectory.points[0];
    let met = |saddle: &CriticalPoint| trajectory.points.iter().position(|p| distance(&saddle.point, p) <= radius);
    let saddle = saddles
        .iter()
        .find(|s| met(s).is_some())
        .or_else(|| saddles.iter().min_by(|a, b| distance(&a.point, start).total_cmp(&distance(&b.point, start))))?
        .clone();
    let near = |p: &Vec<f64>| distance(&saddle.point, p) <= radius;
    let arrived_at = met(&saddle);
    let escaped_at = arrived_at.and_then(|a| trajectory.points.iter().skip(a).position(|p| !near(p)).map(|k| a + k));
    let depth = saddle.value - trajectory.final_loss();
    Some(SaddleEscape { saddle, radius, arrived_at, escaped_at, depth })
}
