//! Muon's Newton–Schulz iteration against what it promises: an orthogonal-like matrix with the input's singular
//! vectors, whose singular values lie in PyTorch's documented band (0.5, 1.5); checked with an independent
//! eigenvalue computation (cyclic Jacobi) in f64.

use descent::newton_schulz::orthogonalize;

/// A deterministic pseudo-random matrix with entries in [−1, 1).
fn matrix(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..rows * cols)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
        })
        .collect()
}

/// `Mᵀ·M` (cols × cols) in f64.
fn gram(m: &[f32], rows: usize, cols: usize) -> Vec<Vec<f64>> {
    (0..cols)
        .map(|i| {
            (0..cols)
                .map(|j| (0..rows).map(|r| f64::from(m[r * cols + i]) * f64::from(m[r * cols + j])).sum())
                .collect()
        })
        .collect()
}

/// The eigenvalues of a symmetric matrix, by cyclic Jacobi rotations.
fn eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (row_p, row_q) = (a[p].clone(), a[q].clone());
                for (k, (apk, aqk)) in row_p.into_iter().zip(row_q).enumerate() {
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
            }
        }
    }
    (0..n).map(|i| a[i][i]).collect()
}

/// The singular values of a rows × cols matrix (the smaller side's count).
fn singular_values(m: &[f32], rows: usize, cols: usize) -> Vec<f64> {
    let transposed: Vec<f32>;
    let (m, rows, cols) = if cols > rows {
        transposed = (0..rows * cols).map(|i| m[(i % rows) * cols + i / rows]).collect();
        (transposed.as_slice(), cols, rows)
    } else {
        (m, rows, cols)
    };
    eigenvalues(gram(m, rows, cols)).into_iter().map(|e| e.max(0.0).sqrt()).collect()
}

#[test]
fn the_jacobi_check_finds_known_singular_values() {
    // diag(3, 2) embedded in a 3 × 2 matrix, rotated: singular values 3 and 2.
    let (c, s) = (0.6f32, 0.8f32);
    let m = [3.0 * c, -2.0 * s, 3.0 * s, 2.0 * c, 0.0, 0.0];
    let mut found = singular_values(&m, 3, 2);
    found.sort_by(f64::total_cmp);
    assert!((found[0] - 2.0).abs() < 1e-6 && (found[1] - 3.0).abs() < 1e-6, "{found:?}");
}

#[test]
fn singular_values_land_in_the_documented_band() {
    for (rows, cols, seed) in [(32, 16, 1), (16, 32, 2), (48, 24, 3), (7, 20, 4), (40, 40, 5)] {
        let g = matrix(rows, cols, seed);
        let o = orthogonalize(&g, rows, cols, (3.4445, -4.7750, 2.0315), 5, 1e-7);
        assert!(o.iter().all(|&v| v == half::bf16::from_f32(v).to_f32()), "values are bfloat16");
        let sigma = singular_values(&o, rows, cols);
        let (low, high) = sigma.iter().fold((f64::MAX, 0.0f64), |(l, h), &s| (l.min(s), h.max(s)));
        if rows != cols {
            assert!(low > 0.5 && high < 1.5, "{rows}×{cols}: singular values in [{low:.3}, {high:.3}]");
        } else {
            // A square random matrix has singular values near zero, which five steps cannot lift: only the
            // upper bound holds for all of them.
            assert!(high < 1.5, "{rows}×{cols}: largest singular value {high:.3}");
        }
        // The same singular vectors: ⟨O, G⟩ = Σ s′ᵢ·σᵢ is at least half the nuclear norm Σ σᵢ.
        let inner: f64 = o.iter().zip(&g).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
        let nuclear: f64 = singular_values(&g, rows, cols).iter().sum();
        assert!(inner >= 0.5 * nuclear, "{rows}×{cols}: ⟨O, G⟩ = {inner:.3}, nuclear norm {nuclear:.3}");
    }
}

#[test]
fn zero_stays_zero_and_scale_does_not_matter() {
    let zero = orthogonalize(&[0.0; 12], 3, 4, (3.4445, -4.7750, 2.0315), 5, 1e-7);
    assert!(zero.iter().all(|&v| v == 0.0));
    let g = matrix(6, 10, 7);
    let scaled: Vec<f32> = g.iter().map(|v| v * 1024.0).collect();
    let coefficients = (3.4445, -4.7750, 2.0315);
    assert_eq!(orthogonalize(&g, 6, 10, coefficients, 5, 1e-7), orthogonalize(&scaled, 6, 10, coefficients, 5, 1e-7));
}
