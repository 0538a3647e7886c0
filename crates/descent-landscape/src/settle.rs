//! Where a run really ended: its end point refined to the critical point it lies at, and that point classified.

// Small dense matrix algorithms (elimination, rotations) read as their textbook index loops.
#![allow(clippy::needless_range_loop)]

use crate::{distance, CriticalKind, CriticalPoint, Surface};

/// The most coordinates a refinement handles (its Hessian is dense).
const MAX_DIM: usize = 16;

/// The Newton iterations allowed.
const ITERATIONS: usize = 60;

/// The critical point that `point` lies at, if it lies at one: Newton's method on the gradient (the Hessian by
/// central differences of the exact gradient) from `point`, accepted if it converges to a point where the
/// gradient vanishes within `radius` of `point`, and classified by the signs of the Hessian's eigenvalues: a
/// minimum (global if its value is the surface's known global minimum's), a saddle point, or a maximum.
///
/// `None` when the run is still moving (no critical point near its end), for flat critical points (a zero
/// eigenvalue), and for more than 16 coordinates.
pub fn critical_point_near(surface: &dyn Surface, point: &[f64], radius: f64) -> Option<CriticalPoint> {
    let dim = point.len();
    if dim == 0 || dim > MAX_DIM || !point.iter().all(|v| v.is_finite()) {
        return None;
    }
    let mut x = point.to_vec();
    let mut converged = false;
    for _ in 0..ITERATIONS {
        let g = gradient(surface, &x);
        let step = solve(hessian(surface, &x), g.iter().map(|v| -v).collect())?;
        for (xi, si) in x.iter_mut().zip(&step) {
            *xi += si;
        }
        let scale = 1.0 + x.iter().map(|v| v.abs()).fold(0.0, f64::max);
        if !x.iter().all(|v| v.is_finite()) || distance(&x, point) > radius {
            return None;
        }
        if step.iter().map(|s| s.abs()).fold(0.0, f64::max) <= 1e-12 * scale {
            converged = true;
            break;
        }
    }
    let value = surface.value(&x);
    let g = gradient(surface, &x);
    let slope = g.iter().map(|v| v.abs()).fold(0.0, f64::max);
    if !converged || slope > 1e-6 * (1.0 + value.abs()) {
        return None;
    }
    let eigenvalues = symmetric_eigenvalues(hessian(surface, &x));
    let largest = eigenvalues.iter().map(|v| v.abs()).fold(0.0, f64::max);
    let flat = 1e-7 * largest.max(1.0);
    if eigenvalues.iter().any(|v| v.abs() <= flat) {
        return None;
    }
    let kind = if eigenvalues.iter().all(|v| *v > 0.0) {
        let global = surface.critical_points().into_iter().find(|p| p.kind == CriticalKind::GlobalMinimum);
        match global {
            Some(g) if value <= g.value + 1e-9 * (1.0 + g.value.abs()) => CriticalKind::GlobalMinimum,
            _ => CriticalKind::LocalMinimum,
        }
    } else if eigenvalues.iter().all(|v| *v < 0.0) {
        CriticalKind::Maximum
    } else {
        CriticalKind::Saddle
    };
    Some(CriticalPoint { point: x, value, kind })
}

fn gradient(surface: &dyn Surface, x: &[f64]) -> Vec<f64> {
    let mut g = vec![0.0; x.len()];
    surface.gradient(x, &mut g);
    g
}

/// The Hessian by central differences of the exact gradient, symmetrized.
fn hessian(surface: &dyn Surface, x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let mut h = vec![vec![0.0; n]; n];
    let mut probe = x.to_vec();
    for j in 0..n {
        let step = 1e-5 * (1.0 + x[j].abs());
        probe[j] = x[j] + step;
        let up = gradient(surface, &probe);
        probe[j] = x[j] - step;
        let down = gradient(surface, &probe);
        probe[j] = x[j];
        for i in 0..n {
            h[i][j] = (up[i] - down[i]) / (2.0 * step);
        }
    }
    for i in 0..n {
        for j in 0..i {
            let mean = (h[i][j] + h[j][i]) / 2.0;
            h[i][j] = mean;
            h[j][i] = mean;
        }
    }
    h
}

/// Solves a·x = b by Gaussian elimination with partial pivoting; `None` for a singular matrix.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    let norm = a.iter().flatten().map(|v| v.abs()).fold(0.0, f64::max);
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= 1e-14 * norm.max(f64::MIN_POSITIVE) {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let factor = a[row][col] / a[col][col];
            for k in col..n {
                a[row][k] -= factor * a[col][k];
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

/// The eigenvalues of a symmetric matrix, by cyclic Jacobi rotations.
fn symmetric_eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let total: f64 = a.iter().flatten().map(|v| v * v).sum();
        if off <= 1e-30 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
            }
        }
    }
    (0..n).map(|i| a[i][i]).collect()
}
