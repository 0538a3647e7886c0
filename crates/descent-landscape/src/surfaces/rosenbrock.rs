//! Rosenbrock's banana: J(θ) = Σ 100(θᵢ₊₁ − θᵢ²)² + (1 − θᵢ)², a long curved flat-bottomed valley.

use super::{repeat, Builtin, Dims};
use crate::{CriticalKind, CriticalPoint, Domain};

pub(super) const ROSENBROCK: Builtin = Builtin {
    name: "rosenbrock",
    summary: "a long, curved, flat-bottomed valley",
    formula: "Σ 100(xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)²",
    formula_2d: Some("(1 − x)² + 100(y − x²)²"),
    dims: Dims::AtLeast(2),
    value: |x| x.windows(2).map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2)).sum(),
    gradient: |x, g| {
        g.fill(0.0);
        for i in 0..x.len() - 1 {
            let valley = x[i + 1] - x[i] * x[i];
            g[i] += -400.0 * x[i] * valley - 2.0 * (1.0 - x[i]);
            g[i + 1] += 200.0 * valley;
        }
    },
    critical_points: |dim| vec![CriticalPoint { point: vec![1.0; dim], value: 0.0, kind: CriticalKind::GlobalMinimum }],
    domain: Domain { x: (-2.0, 2.0), y: (-1.0, 3.0) },
    start: |dim| repeat(&[-1.5, 2.0], dim),
};
