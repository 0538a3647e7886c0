//! The Branin function (as in DeepOBS): three global minima of equal value.

use std::f64::consts::PI;

use super::{point2, Builtin, Dims};
use crate::{CriticalKind, Domain};

const B: f64 = 5.1 / (4.0 * PI * PI);
const C: f64 = 5.0 / PI;
const R: f64 = 6.0;
const S: f64 = 10.0;
const T: f64 = 1.0 / (8.0 * PI);
const MINIMUM: f64 = 0.397_887_357_729_738_3;

fn inner(x: f64, y: f64) -> f64 {
    y - B * x * x + C * x - R
}

pub(super) const BRANIN: Builtin = Builtin {
    name: "branin",
    summary: "three equal minima in a curved valley",
    formula: "(y − 5.1/(4π²)x² + 5/π·x − 6)² + 10(1 − 1/(8π)) cos x + 10",
    formula_2d: None,
    dims: Dims::Two,
    value: |p| inner(p[0], p[1]).powi(2) + S * (1.0 - T) * p[0].cos() + S,
    gradient: |p, g| {
        let u = inner(p[0], p[1]);
        g[0] = 2.0 * u * (-2.0 * B * p[0] + C) - S * (1.0 - T) * p[0].sin();
        g[1] = 2.0 * u;
    },
    critical_points: |_| {
        use CriticalKind::GlobalMinimum;
        vec![
            point2(-PI, 12.275, MINIMUM, GlobalMinimum),
            point2(PI, 2.275, MINIMUM, GlobalMinimum),
            point2(3.0 * PI, 2.475, MINIMUM, GlobalMinimum),
        ]
    },
    domain: Domain { x: (-5.0, 10.0), y: (0.0, 15.0) },
    start: |_| vec![2.5, 12.5],
};
