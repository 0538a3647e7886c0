//! An ill-conditioned quadratic bowl, J(θ) = ½ Σ κ^(i/(n−1))·θᵢ² with condition number κ = 10: a ravine.

use super::{at_origin, repeat, Builtin, Dims};
use crate::{CriticalKind, Domain};

/// The condition number: the ratio of the steepest curvature to the flattest.
const KAPPA: f64 = 10.0;

/// The curvature of coordinate `i` of `dim`.
fn curvature(i: usize, dim: usize) -> f64 {
    if dim == 1 {
        1.0
    } else {
        KAPPA.powf(i as f64 / (dim - 1) as f64)
    }
}

pub(super) const QUADRATIC: Builtin = Builtin {
    name: "quadratic",
    summary: "an ill-conditioned bowl (κ = 10): a ravine",
    formula: "½ Σ 10^(i/(n−1))·xᵢ²",
    formula_2d: Some("½(x² + 10y²)"),
    dims: Dims::AtLeast(1),
    value: |x| x.iter().enumerate().map(|(i, v)| 0.5 * curvature(i, x.len()) * v * v).sum(),
    gradient: |x, g| {
        for (i, (g, v)) in g.iter_mut().zip(x).enumerate() {
            *g = curvature(i, x.len()) * v;
        }
    },
    critical_points: |dim| at_origin(dim, CriticalKind::GlobalMinimum),
    domain: Domain::square(-2.0, 2.0),
    start: |dim| repeat(&[-1.8, 1.2], dim),
};
