//! The six-hump camel: two global minima and four local ones.

use super::{point2, Builtin, Dims};
use crate::{CriticalKind, Domain};

pub(super) const SIX_HUMP_CAMEL: Builtin = Builtin {
    name: "six_hump_camel",
    summary: "two global minima among four local ones",
    formula: "(4 − 2.1x² + x⁴/3)x² + xy + (−4 + 4y²)y²",
    formula_2d: None,
    dims: Dims::Two,
    value: |p| {
        let (x, y) = (p[0], p[1]);
        (4.0 - 2.1 * x * x + x.powi(4) / 3.0) * x * x + x * y + (-4.0 + 4.0 * y * y) * y * y
    },
    gradient: |p, g| {
        let (x, y) = (p[0], p[1]);
        g[0] = 8.0 * x - 8.4 * x.powi(3) + 2.0 * x.powi(5) + y;
        g[1] = x - 8.0 * y + 16.0 * y.powi(3);
    },
    critical_points: |_| {
        use CriticalKind::{GlobalMinimum, LocalMinimum};
        let (gx, gy, gv) = (0.089_842_013_100_318, 0.712_656_403_020_740, -1.031_628_453_489_877);
        let (ax, ay, av) = (1.703_606_714_969_981, 0.796_083_568_672_625, -0.215_463_824_383_718);
        let (bx, by, bv) = (1.607_104_752_920_197, 0.568_651_454_884_131, 2.104_250_310_311_258);
        vec![
            point2(gx, -gy, gv, GlobalMinimum),
            point2(-gx, gy, gv, GlobalMinimum),
            point2(-ax, ay, av, LocalMinimum),
            point2(ax, -ay, av, LocalMinimum),
            point2(-bx, -by, bv, LocalMinimum),
            point2(bx, by, bv, LocalMinimum),
        ]
    },
    domain: Domain { x: (-3.0, 3.0), y: (-2.0, 2.0) },
    start: |_| vec![-2.5, 1.5],
};
