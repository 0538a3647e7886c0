//! Ackley's function: a nearly flat, bumpy plain around a deep narrow hole at the origin.

use std::f64::consts::{E, PI};

use super::{point2, Builtin, Dims};
use crate::{CriticalKind, Domain};

/// r = √(½(x² + y²)), and the cosine mean's exponential exp(½(cos 2πx + cos 2πy)).
fn parts(x: f64, y: f64) -> (f64, f64) {
    let r = (0.5 * (x * x + y * y)).sqrt();
    (r, (0.5 * ((2.0 * PI * x).cos() + (2.0 * PI * y).cos())).exp())
}

pub(super) const ACKLEY: Builtin = Builtin {
    name: "ackley",
    summary: "a bumpy plain around a deep narrow hole",
    formula: "−20 exp(−0.2 √(½(x² + y²))) − exp(½(cos 2πx + cos 2πy)) + e + 20",
    formula_2d: None,
    dims: Dims::Two,
    value: |p| {
        let (r, waves) = parts(p[0], p[1]);
        -20.0 * (-0.2 * r).exp() - waves + E + 20.0
    },
    gradient: |p, g| {
        let (r, waves) = parts(p[0], p[1]);
        // The cone's tip at the origin has no gradient; 0 there keeps the minimum a fixed point.
        let cone = if r == 0.0 { 0.0 } else { 2.0 * (-0.2 * r).exp() / r };
        for i in 0..2 {
            g[i] = cone * p[i] + PI * (2.0 * PI * p[i]).sin() * waves;
        }
    },
    critical_points: |_| vec![point2(0.0, 0.0, 0.0, CriticalKind::GlobalMinimum)],
    domain: Domain::square(-5.0, 5.0),
    start: |_| vec![-4.0, 3.5],
};
