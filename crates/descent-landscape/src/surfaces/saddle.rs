//! The saddle x² − y²: up along x, down along y, a flat point at the origin.

use super::{point2, Builtin, Dims};
use crate::{CriticalKind, Domain};

pub(super) const SADDLE: Builtin = Builtin {
    name: "saddle",
    summary: "a saddle point: the gradient vanishes but it is no minimum",
    formula: "x² − y²",
    formula_2d: None,
    dims: Dims::Two,
    value: |p| p[0] * p[0] - p[1] * p[1],
    gradient: |p, g| {
        g[0] = 2.0 * p[0];
        g[1] = -2.0 * p[1];
    },
    critical_points: |_| vec![point2(0.0, 0.0, 0.0, CriticalKind::Saddle)],
    domain: Domain::square(-2.0, 2.0),
    start: |_| vec![-1.8, 0.01],
};
