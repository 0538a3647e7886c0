//! Every surface's gradient against finite differences, and every known critical point checked.

use descent_landscape::surfaces::{self, Dims};
use descent_landscape::{CriticalKind, ExpressionSurface, LandscapeError, Surface};
use proptest::prelude::*;

/// Central differences with a step scaled to the coordinate.
fn finite_difference(surface: &dyn Surface, theta: &[f64]) -> Vec<f64> {
    (0..theta.len())
        .map(|i| {
            let h = 1e-6 * (1.0 + theta[i].abs());
            let (mut up, mut down) = (theta.to_vec(), theta.to_vec());
            up[i] += h;
            down[i] -= h;
            (surface.value(&up) - surface.value(&down)) / (2.0 * h)
        })
        .collect()
}

fn gradient(surface: &dyn Surface, theta: &[f64]) -> Vec<f64> {
    let mut g = vec![0.0; theta.len()];
    surface.gradient(theta, &mut g);
    g
}

/// Every built-in surface in the dimensions the tests use.
fn all_surfaces() -> Vec<Box<dyn Surface>> {
    let mut all: Vec<Box<dyn Surface>> = Vec::new();
    for def in surfaces::all() {
        let dims: Vec<usize> = match def.dims {
            Dims::Two => vec![2],
            Dims::AtLeast(min) => (min.max(1)..=5).collect(),
        };
        for dim in dims {
            all.push(Box::new(surfaces::by_name(def.name, dim).unwrap()));
        }
    }
    all
}

fn assert_gradient_matches(surface: &dyn Surface, theta: &[f64]) -> Result<(), TestCaseError> {
    let exact = gradient(surface, theta);
    let approx = finite_difference(surface, theta);
    let scale = exact.iter().chain(&approx).fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (e, a)) in exact.iter().zip(&approx).enumerate() {
        prop_assert!(
            (e - a).abs() <= 1e-5 * scale,
            "{} at {theta:?}: ∂{i} exact {e}, finite difference {a}",
            surface.name()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn gradients_match_finite_differences(unit in proptest::collection::vec(0.0..1.0f64, 5)) {
        for surface in all_surfaces() {
            let domain = surface.domain();
            // Points in the plot domain (its x range for coordinates beyond the second).
            let theta: Vec<f64> = (0..surface.dim())
                .map(|i| {
                    let (lo, hi) = if i == 1 { domain.y } else { domain.x };
                    lo + unit[i] * (hi - lo)
                })
                .collect();
            assert_gradient_matches(surface.as_ref(), &theta)?;
        }
    }

    #[test]
    fn expression_gradients_match_finite_differences(x in -2.0..2.0f64, y in -2.0..2.0f64) {
        for text in ["x^2 - y^2 + 0.1*sin(3*x)", "exp(-(x^2 + y^2)) * cos(x*y)", "sqrt(1 + x^2) + ln(2 + y^2)", "x*y^3"] {
            let surface = ExpressionSurface::parse(text).unwrap();
            assert_gradient_matches(&surface, &[x, y])?;
        }
    }
}

/// The Hessian by central differences of the exact gradient.
fn hessian(surface: &dyn Surface, theta: &[f64]) -> Vec<Vec<f64>> {
    let n = theta.len();
    (0..n)
        .map(|i| {
            let h = 1e-5 * (1.0 + theta[i].abs());
            let (mut up, mut down) = (theta.to_vec(), theta.to_vec());
            up[i] += h;
            down[i] -= h;
            let (gu, gd) = (gradient(surface, &up), gradient(surface, &down));
            (0..n).map(|j| (gu[j] - gd[j]) / (2.0 * h)).collect()
        })
        .collect()
}

/// The signs of the Hessian's eigenvalues, for dimensions 1 and 2 (closed forms), as (positive, negative) counts.
fn curvature_signs(h: &[Vec<f64>]) -> Option<(usize, usize)> {
    let eigenvalues = match h.len() {
        1 => vec![h[0][0]],
        2 => {
            let (t, d) = (h[0][0] + h[1][1], h[0][0] * h[1][1] - h[0][1] * h[1][0]);
            let root = (t * t / 4.0 - d).max(0.0).sqrt();
            vec![t / 2.0 - root, t / 2.0 + root]
        }
        _ => return None,
    };
    let scale = eigenvalues.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if eigenvalues.iter().any(|v| v.abs() <= 1e-6 * scale.max(1e-300)) || scale == 0.0 {
        return None; // degenerate: the sign test says nothing
    }
    Some((eigenvalues.iter().filter(|v| **v > 0.0).count(), eigenvalues.iter().filter(|v| **v < 0.0).count()))
}

#[test]
fn known_critical_points_are_critical_and_of_their_kind() {
    let mut checked = 0;
    for surface in all_surfaces() {
        let points = surface.critical_points();
        assert!(!points.is_empty(), "{} lists no critical point", surface.name());
        for p in &points {
            let at = format!("{} {:?} ({:?})", surface.name(), p.point, p.kind);
            let value = surface.value(&p.point);
            assert!((value - p.value).abs() <= 1e-9 * (1.0 + p.value.abs()), "{at}: J = {value}, listed {}", p.value);
            let g = gradient(surface.as_ref(), &p.point);
            assert!(g.iter().all(|v| v.abs() <= 1e-7), "{at}: gradient {g:?}");
            let signs = curvature_signs(&hessian(surface.as_ref(), &p.point));
            let n = p.point.len();
            match (p.kind, signs) {
                (_, None) if surface.name() == "monkey_saddle" || surface.name() == "ackley" => {}
                (CriticalKind::GlobalMinimum | CriticalKind::LocalMinimum, Some(s)) => assert_eq!(s, (n, 0), "{at}"),
                (CriticalKind::Maximum, Some(s)) => assert_eq!(s, (0, n), "{at}"),
                (CriticalKind::Saddle, Some((up, down))) => assert!(up > 0 && down > 0, "{at}"),
                (_, None) if n > 2 => {}
                (kind, None) => panic!("{at}: degenerate Hessian for a {kind:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 60, "{checked}");
}

#[test]
fn global_minima_are_lowest() {
    for surface in all_surfaces() {
        let minima = surface.minima();
        let Some(global) = minima.iter().find(|m| m.kind == CriticalKind::GlobalMinimum) else { continue };
        for m in &minima {
            assert!(m.value >= global.value - 1e-12, "{}: {:?} is below the global minimum", surface.name(), m.point);
        }
        // No point of a fine grid of the domain (in the first two coordinates, the rest at the minimum) is lower.
        let domain = surface.domain();
        let mut theta = global.point.clone();
        for i in 0..=100 {
            for j in 0..=100 {
                theta[0] = domain.x.0 + (domain.x.1 - domain.x.0) * i as f64 / 100.0;
                if theta.len() > 1 {
                    theta[1] = domain.y.0 + (domain.y.1 - domain.y.0) * j as f64 / 100.0;
                }
                let v = surface.value(&theta);
                assert!(v >= global.value - 1e-9, "{}: J{theta:?} = {v} < {}", surface.name(), global.value);
            }
        }
    }
}

#[test]
fn every_surface_has_a_start_point_in_its_domain() {
    for surface in all_surfaces() {
        let start = surface.default_start();
        assert_eq!(start.len(), surface.dim(), "{}", surface.name());
        assert!(surface.domain().contains(start[0], start[1.min(start.len() - 1)]), "{}", surface.name());
    }
}

#[test]
fn an_expression_equals_the_builtin_it_spells() {
    let expression = ExpressionSurface::parse("(1 - x)^2 + 100*(y - x^2)^2").unwrap();
    let builtin = surfaces::by_name("rosenbrock", 2).unwrap();
    for theta in [[-1.5, 2.0], [0.3, -0.7], [1.0, 1.0]] {
        assert!((expression.value(&theta) - builtin.value(&theta)).abs() < 1e-12);
        let (a, b) = (gradient(&expression, &theta), gradient(&builtin, &theta));
        assert!(a.iter().zip(&b).all(|(a, b)| (a - b).abs() < 1e-9), "{a:?} vs {b:?}");
    }
    let one_variable = ExpressionSurface::parse("y^2").unwrap();
    assert_eq!(gradient(&one_variable, &[3.0, 2.0]), [0.0, 4.0]);
}

#[test]
fn bad_names_dimensions_and_expressions_are_errors() {
    assert!(matches!(surfaces::by_name("rosenbrok", 2), Err(LandscapeError::UnknownSurface { .. })));
    let suggestion = |name: &str| match surfaces::by_name(name, 2) {
        Err(LandscapeError::UnknownSurface { suggestion, .. }) => suggestion,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(suggestion("rosenbrok").as_deref(), Some("rosenbrock"));
    assert_eq!(suggestion("Himmelblau2").as_deref(), Some("himmelblau"));
    assert_eq!(suggestion("sadle").as_deref(), Some("saddle"));
    assert_eq!(suggestion("xyzzy"), None, "nothing is close");
    assert!(surfaces::by_name("spher", 2)
        .unwrap_err()
        .to_string()
        .starts_with("unknown function \"spher\" (did you mean \"sphere\"? built in: sphere,"));
    assert_eq!(
        surfaces::by_name("beale", 3).unwrap_err().to_string(),
        "beale is defined in 2 dimensions, got a point with 3"
    );
    assert!(surfaces::by_name("rosenbrock", 1).is_err());
    assert!(surfaces::by_name("Styblinski-Tang", 3).is_ok());
    assert_eq!(
        ExpressionSurface::parse("x^2 + z").unwrap_err().to_string(),
        "expression \"x^2 + z\": unknown variable `z` at character 7 (use x and y)"
    );
    assert!(matches!(ExpressionSurface::parse("x^2 + (y"), Err(LandscapeError::Expression { .. })));
}
