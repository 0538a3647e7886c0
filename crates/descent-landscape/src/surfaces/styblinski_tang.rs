//! The Styblinski–Tang function: ½ Σ (θᵢ⁴ − 16θᵢ² + 5θᵢ), one global and 2ⁿ − 1 local minima.

use super::{repeat, Builtin, Dims};
use crate::{CriticalKind, CriticalPoint, Domain};

/// The critical points of one coordinate's term ½(x⁴ − 16x² + 5x): (where, value).
const GLOBAL: (f64, f64) = (-2.903_534_027_771_177, -39.166_165_703_771_41);
const LOCAL: (f64, f64) = (2.746_802_770_990_837, -25.029_446_655_283_943);
const PEAK: (f64, f64) = (0.156_731_256_780_340_1, 0.195_612_359_055_358_07);

/// Every combination of per-coordinate critical points, listed up to this dimension (3ⁿ points).
const LISTED_UP_TO: usize = 4;

fn critical_points(dim: usize) -> Vec<CriticalPoint> {
    if dim > LISTED_UP_TO {
        let point = vec![GLOBAL.0; dim];
        return vec![CriticalPoint { point, value: GLOBAL.1 * dim as f64, kind: CriticalKind::GlobalMinimum }];
    }
    let mut points = Vec::new();
    for code in 0..3usize.pow(dim as u32) {
        let choice: Vec<usize> = (0..dim).map(|i| code / 3usize.pow(i as u32) % 3).collect();
        let parts: Vec<(f64, f64)> = choice.iter().map(|&c| [GLOBAL, LOCAL, PEAK][c]).collect();
        let peaks = choice.iter().filter(|&&c| c == 2).count();
        let kind = match (peaks, choice.iter().all(|&c| c == 0)) {
            (_, true) => CriticalKind::GlobalMinimum,
            (0, false) => CriticalKind::LocalMinimum,
            (p, _) if p == dim => CriticalKind::Maximum,
            _ => CriticalKind::Saddle,
        };
        let point = parts.iter().map(|p| p.0).collect();
        points.push(CriticalPoint { point, value: parts.iter().map(|p| p.1).sum(), kind });
    }
    points.sort_by_key(|p| p.kind != CriticalKind::GlobalMinimum);
    points
}

pub(super) const STYBLINSKI_TANG: Builtin = Builtin {
    name: "styblinski_tang",
    summary: "one global minimum and a local one in every other basin",
    formula: "½ Σ (xᵢ⁴ − 16xᵢ² + 5xᵢ)",
    formula_2d: Some("½(x⁴ − 16x² + 5x + y⁴ − 16y² + 5y)"),
    dims: Dims::AtLeast(1),
    value: |x| x.iter().map(|v| 0.5 * (v.powi(4) - 16.0 * v * v + 5.0 * v)).sum(),
    gradient: |x, g| {
        for (g, v) in g.iter_mut().zip(x) {
            *g = 2.0 * v.powi(3) - 16.0 * v + 2.5;
        }
    },
    critical_points,
    domain: Domain::square(-5.0, 5.0),
    start: |dim| repeat(&[0.5, 0.3], dim),
};
