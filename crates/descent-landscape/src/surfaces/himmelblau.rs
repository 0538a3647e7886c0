//! Himmelblau's function: four global minima of equal value, a maximum and four saddles between them.

use super::{point2, Builtin, Dims};
use crate::{CriticalKind, Domain};

pub(super) const HIMMELBLAU: Builtin = Builtin {
    name: "himmelblau",
    summary: "four equal minima: which one an optimizer finds depends on its path",
    formula: "(x² + y − 11)² + (x + y² − 7)²",
    formula_2d: None,
    dims: Dims::Two,
    value: |p| (p[0] * p[0] + p[1] - 11.0).powi(2) + (p[0] + p[1] * p[1] - 7.0).powi(2),
    gradient: |p, g| {
        let (a, b) = (p[0] * p[0] + p[1] - 11.0, p[0] + p[1] * p[1] - 7.0);
        g[0] = 4.0 * p[0] * a + 2.0 * b;
        g[1] = 2.0 * a + 4.0 * p[1] * b;
    },
    critical_points: |_| {
        use CriticalKind::{GlobalMinimum, Maximum, Saddle};
        vec![
            point2(3.0, 2.0, 0.0, GlobalMinimum),
            point2(-2.805_118_086_952_745, 3.131_312_518_250_573, 0.0, GlobalMinimum),
            point2(-3.779_310_253_377_747, -3.283_185_991_286_169, 0.0, GlobalMinimum),
            point2(3.584_428_340_330_492, -1.848_126_526_964_404, 0.0, GlobalMinimum),
            point2(-0.270_844_590_667_348, -0.923_038_556_479_981, 181.616_521_522_582_7, Maximum),
            point2(0.086_677_504_555_396, 2.884_254_701_174_776, 67.719_150_087_526_14, Saddle),
            point2(-3.073_025_750_764_39, -0.081_353_044_287_968, 104.015_162_917_558_1, Saddle),
            point2(3.385_154_183_607_021, 0.073_851_879_837_749, 13.311_926_270_405_59, Saddle),
            point2(-0.127_961_346_730_68, -1.953_714_980_244_576, 178.337_239_201_927_5, Saddle),
        ]
    },
    domain: Domain::square(-5.0, 5.0),
    start: |_| vec![-0.3, -0.9],
};
