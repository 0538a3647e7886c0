//! The Goldstein–Price function: a product of two quartic factors, a global minimum of 3 and steep walls.

use super::{point2, Builtin, Dims};
use crate::{CriticalKind, Domain};

/// The two factors A(x, y), B(x, y) and their partial derivatives: (A, ∂A/∂x, ∂A/∂y, B, ∂B/∂x, ∂B/∂y).
fn factors(x: f64, y: f64) -> [f64; 6] {
    let s = x + y + 1.0;
    let a = 19.0 - 14.0 * x + 3.0 * x * x - 14.0 * y + 6.0 * x * y + 3.0 * y * y;
    let da = -14.0 + 6.0 * x + 6.0 * y; // ∂a/∂x = ∂a/∂y
    let big_a = 1.0 + s * s * a;
    let big_a_d = 2.0 * s * a + s * s * da;
    let d = 2.0 * x - 3.0 * y;
    let b = 18.0 - 32.0 * x + 12.0 * x * x + 48.0 * y - 36.0 * x * y + 27.0 * y * y;
    let big_b = 30.0 + d * d * b;
    let big_b_dx = 4.0 * d * b + d * d * (-32.0 + 24.0 * x - 36.0 * y);
    let big_b_dy = -6.0 * d * b + d * d * (48.0 - 36.0 * x + 54.0 * y);
    [big_a, big_a_d, big_a_d, big_b, big_b_dx, big_b_dy]
}

pub(super) const GOLDSTEIN_PRICE: Builtin = Builtin {
    name: "goldstein_price",
    summary: "steep walls and several local minima",
    formula: "[1 + (x+y+1)²(19 − 14x + 3x² − 14y + 6xy + 3y²)]·[30 + (2x − 3y)²(18 − 32x + 12x² + 48y − 36xy + 27y²)]",
    formula_2d: None,
    dims: Dims::Two,
    value: |p| {
        let [a, _, _, b, _, _] = factors(p[0], p[1]);
        a * b
    },
    gradient: |p, g| {
        let [a, a_x, a_y, b, b_x, b_y] = factors(p[0], p[1]);
        g[0] = a_x * b + a * b_x;
        g[1] = a_y * b + a * b_y;
    },
    critical_points: |_| {
        use CriticalKind::{GlobalMinimum, LocalMinimum};
        vec![
            point2(0.0, -1.0, 3.0, GlobalMinimum),
            point2(-0.6, -0.4, 30.0, LocalMinimum),
            point2(1.8, 0.2, 84.0, LocalMinimum),
            point2(1.2, 0.8, 840.0, LocalMinimum),
        ]
    },
    domain: Domain::square(-2.0, 2.0),
    start: |_| vec![-1.5, 1.5],
};
