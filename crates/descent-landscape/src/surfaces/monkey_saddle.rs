//! The monkey saddle x³ − 3xy²: three valleys meet at a degenerate saddle at the origin.

use super::{point2, Builtin, Dims};
use crate::{CriticalKind, Domain};

pub(super) const MONKEY_SADDLE: Builtin = Builtin {
    name: "monkey_saddle",
    summary: "a degenerate saddle where three valleys meet",
    formula: "x³ − 3xy²",
    formula_2d: None,
    dims: Dims::Two,
    value: |p| p[0].powi(3) - 3.0 * p[0] * p[1] * p[1],
    gradient: |p, g| {
        g[0] = 3.0 * p[0] * p[0] - 3.0 * p[1] * p[1];
        g[1] = -6.0 * p[0] * p[1];
    },
    critical_points: |_| vec![point2(0.0, 0.0, 0.0, CriticalKind::Saddle)],
    domain: Domain::square(-2.0, 2.0),
    start: |_| vec![1.5, 0.05],
};
