//! The sphere, the convex bowl: J(θ) = Σ θᵢ².

use super::{at_origin, repeat, Builtin, Dims};
use crate::{CriticalKind, Domain};

pub(super) const SPHERE: Builtin = Builtin {
    name: "sphere",
    summary: "a convex bowl, the easy case",
    formula: "Σ xᵢ²",
    formula_2d: Some("x² + y²"),
    dims: Dims::AtLeast(1),
    value: |x| x.iter().map(|v| v * v).sum(),
    gradient: |x, g| {
        for (g, x) in g.iter_mut().zip(x) {
            *g = 2.0 * x;
        }
    },
    critical_points: |dim| at_origin(dim, CriticalKind::GlobalMinimum),
    domain: Domain::square(-2.0, 2.0),
    start: |dim| repeat(&[-1.5, 1.8], dim),
};
