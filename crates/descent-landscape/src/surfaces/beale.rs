//! Beale's function: sharp ridges and flat plateaus around a minimum at (3, 0.5).

use super::{point2, Builtin, Dims};
use crate::{CriticalKind, Domain};

/// The three terms (1.5 − x + xy), (2.25 − x + xy²), (2.625 − x + xy³).
fn terms(x: f64, y: f64) -> [f64; 3] {
    [1.5 - x + x * y, 2.25 - x + x * y * y, 2.625 - x + x * y * y * y]
}

pub(super) const BEALE: Builtin = Builtin {
    name: "beale",
    summary: "flat plateaus and sharp ridges",
    formula: "(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
    formula_2d: None,
    dims: Dims::Two,
    value: |p| terms(p[0], p[1]).iter().map(|t| t * t).sum(),
    gradient: |p, g| {
        let (x, y) = (p[0], p[1]);
        let [t1, t2, t3] = terms(x, y);
        g[0] = 2.0 * (t1 * (y - 1.0) + t2 * (y * y - 1.0) + t3 * (y * y * y - 1.0));
        g[1] = 2.0 * (t1 * x + t2 * 2.0 * x * y + t3 * 3.0 * x * y * y);
    },
    critical_points: |_| vec![point2(3.0, 0.5, 0.0, CriticalKind::GlobalMinimum)],
    domain: Domain::square(-4.5, 4.5),
    start: |_| vec![3.0, 4.0],
};
