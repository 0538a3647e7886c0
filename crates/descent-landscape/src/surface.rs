//! What a loss surface is: a function, its exact gradient, its known critical points and where to look at it.

/// A loss J(θ) over θ ∈ ℝⁿ with its exact gradient.
pub trait Surface: Send + Sync {
    /// The name users pass to `--function`.
    fn name(&self) -> &str;

    /// The formula, for listings and plot titles.
    fn formula(&self) -> String;

    /// The number of coordinates n.
    fn dim(&self) -> usize;

    /// J(θ).
    fn value(&self, theta: &[f64]) -> f64;

    /// Writes ∇J(θ) into `grad` (n elements).
    fn gradient(&self, theta: &[f64], grad: &mut [f64]);

    /// The known minima, saddle points and maxima.
    fn critical_points(&self) -> Vec<CriticalPoint>;

    /// The region to draw: the ranges of the first two coordinates.
    fn domain(&self) -> Domain;

    /// A start point that shows the surface's character.
    fn default_start(&self) -> Vec<f64>;

    /// The known minima (global and local), in the order of [`Surface::critical_points`].
    fn minima(&self) -> Vec<CriticalPoint> {
        self.critical_points().into_iter().filter(|p| p.kind.is_minimum()).collect()
    }
}

/// A point where the gradient vanishes.
#[derive(Debug, Clone, PartialEq)]
pub struct CriticalPoint {
    /// Where it is.
    pub point: Vec<f64>,
    /// J there.
    pub value: f64,
    /// What kind of point it is.
    pub kind: CriticalKind,
}

/// The kinds of critical points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CriticalKind {
    /// The lowest value of the surface.
    GlobalMinimum,
    /// A minimum that is not the lowest: an optimizer can get stuck there.
    LocalMinimum,
    /// Up in some directions, down in others.
    Saddle,
    /// A (local) maximum.
    Maximum,
}

impl CriticalKind {
    /// Whether the point is a minimum, global or local.
    pub fn is_minimum(self) -> bool {
        matches!(self, CriticalKind::GlobalMinimum | CriticalKind::LocalMinimum)
    }

    /// A short name: `global minimum`, `local minimum`, `saddle`, `maximum`.
    pub fn label(self) -> &'static str {
        match self {
            CriticalKind::GlobalMinimum => "global minimum",
            CriticalKind::LocalMinimum => "local minimum",
            CriticalKind::Saddle => "saddle",
            CriticalKind::Maximum => "maximum",
        }
    }
}

/// The plotted region of the first two coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Domain {
    /// The range of θ₀.
    pub x: (f64, f64),
    /// The range of θ₁.
    pub y: (f64, f64),
}

impl Domain {
    /// The square [lo, hi]².
    pub const fn square(lo: f64, hi: f64) -> Self {
        Domain { x: (lo, hi), y: (lo, hi) }
    }

    /// Whether (x, y) lies inside.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        (self.x.0..=self.x.1).contains(&x) && (self.y.0..=self.y.1).contains(&y)
    }
}

/// The Euclidean distance between two points.
pub fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt()
}
