//! Booth's function: a tilted, elongated quadratic bowl with its minimum at (1, 3).

use super::{point2, Builtin, Dims};
use crate::{CriticalKind, Domain};

pub(super) const BOOTH: Builtin = Builtin {
    name: "booth",
    summary: "a tilted, elongated bowl",
    formula: "(x + 2y − 7)² + (2x + y − 5)²",
    formula_2d: None,
    dims: Dims::Two,
    value: |p| (p[0] + 2.0 * p[1] - 7.0).powi(2) + (2.0 * p[0] + p[1] - 5.0).powi(2),
    gradient: |p, g| {
        let (a, b) = (p[0] + 2.0 * p[1] - 7.0, 2.0 * p[0] + p[1] - 5.0);
        g[0] = 2.0 * a + 4.0 * b;
        g[1] = 4.0 * a + 2.0 * b;
    },
    critical_points: |_| vec![point2(1.0, 3.0, 0.0, CriticalKind::GlobalMinimum)],
    domain: Domain::square(-10.0, 10.0),
    start: |_| vec![-8.0, 8.0],
};
