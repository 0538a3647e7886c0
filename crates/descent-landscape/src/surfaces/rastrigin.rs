//! Rastrigin's function: a bowl covered in a regular grid of local minima.

use std::f64::consts::PI;

use super::{at_origin, repeat, Builtin, Dims};
use crate::{CriticalKind, Domain};

pub(super) const RASTRIGIN: Builtin = Builtin {
    name: "rastrigin",
    summary: "a bowl covered with local minima",
    formula: "10n + Σ (xᵢ² − 10 cos 2πxᵢ)",
    formula_2d: Some("20 + x² − 10 cos 2πx + y² − 10 cos 2πy"),
    dims: Dims::AtLeast(1),
    value: |x| x.iter().map(|v| v * v - 10.0 * (2.0 * PI * v).cos() + 10.0).sum(),
    gradient: |x, g| {
        for (g, v) in g.iter_mut().zip(x) {
            *g = 2.0 * v + 20.0 * PI * (2.0 * PI * v).sin();
        }
    },
    critical_points: |dim| at_origin(dim, CriticalKind::GlobalMinimum),
    domain: Domain::square(-5.12, 5.12),
    start: |dim| repeat(&[-2.0, 3.5], dim),
};
