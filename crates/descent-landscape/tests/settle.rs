//! Where runs end: critical points refined and classified, checked against the surfaces' formulas; escapes from
//! saddle points, checked against gradient descent's closed form on x² − y².

use std::f64::consts::PI;

use descent_landscape::{critical_point_near, race, surfaces, CriticalKind, Entrant, ExpressionSurface, Run, Surface};

fn entrant(spec: &str) -> Entrant {
    Entrant { label: spec.to_owned(), spec: spec.parse().unwrap() }
}

#[test]
fn a_run_stuck_on_rastrigin_reports_the_local_minimum_it_reached() {
    let surface = surfaces::by_name("rastrigin", 2).unwrap();
    let outcomes = race(&surface, &[entrant("sgd(lr=0.002)")], &Run::new(vec![3.2, -2.1], 400), 1e-3).unwrap();
    let ended = outcomes[0].summary.ended_at.clone().expect("it settled");
    assert_eq!(ended.kind, CriticalKind::LocalMinimum);
    // Rastrigin, J = 20 + Σ (xᵢ² − 10 cos 2πxᵢ): each coordinate is a root of 2x + 20π sin 2πx near an integer,
    // where the curvature 2 + 40π² cos 2πx is positive.
    for (x, near) in ended.point.iter().zip([3.0, -2.0]) {
        assert!((x - near).abs() < 0.05, "{x}");
        assert!((2.0 * x + 20.0 * PI * (2.0 * PI * x).sin()).abs() < 1e-9, "{x}");
        assert!(2.0 + 40.0 * PI * PI * (2.0 * PI * x).cos() > 0.0);
    }
    let formula: f64 = 20.0 + ended.point.iter().map(|x| x * x - 10.0 * (2.0 * PI * x).cos()).sum::<f64>();
    assert!((ended.value - formula).abs() < 1e-12, "{} vs {formula}", ended.value);
    assert!((ended.value - 12.93).abs() < 0.05, "{}", ended.value);
    // From (0.3, −0.2) the same descent reaches the global minimum.
    let outcomes = race(&surface, &[entrant("sgd(lr=0.002)")], &Run::new(vec![0.3, -0.2], 400), 1e-3).unwrap();
    let ended = outcomes[0].summary.ended_at.clone().unwrap();
    assert_eq!(ended.kind, CriticalKind::GlobalMinimum);
    assert!(ended.point.iter().all(|x| x.abs() < 1e-12) && ended.value.abs() < 1e-12);
}

#[test]
fn saddle_points_and_maxima_are_told_apart_and_moving_runs_are_not_settled() {
    let hill = ExpressionSurface::parse("-(x^2 + 2*y^2) + x*y").unwrap();
    let top = critical_point_near(&hill, &[0.05, -0.03], 0.5).unwrap();
    assert_eq!(top.kind, CriticalKind::Maximum);
    assert!(top.point.iter().all(|v| v.abs() < 1e-12));
    let saddle = ExpressionSurface::parse("x^2 - y^2").unwrap();
    assert_eq!(critical_point_near(&saddle, &[0.1, 0.1], 0.5).unwrap().kind, CriticalKind::Saddle);
    // Too far away to count as "at" the point.
    assert!(critical_point_near(&saddle, &[1.0, 1.0], 0.5).is_none());
    // A flat point (x⁴ has no curvature at 0) is not classified.
    let flat = ExpressionSurface::parse("x^4 + y^2").unwrap();
    assert!(critical_point_near(&flat, &[0.01, 0.0], 0.5).is_none());
    // AdaDelta at lr = 1 barely moves on the bowl in 60 steps: still moving, not settled.
    let bowl = surfaces::by_name("quadratic", 2).unwrap();
    let outcomes = race(&bowl, &[entrant("adadelta(lr=1.0)")], &Run::new(vec![-1.8, 1.2], 60), 1e-3).unwrap();
    assert!(outcomes[0].summary.ended_at.is_none());
}

#[test]
fn escapes_from_the_saddle_follow_gradient_descents_closed_form() {
    let surface = surfaces::by_name("saddle", 2).unwrap();
    let domain = surface.domain();
    let radius = 0.1 * (domain.x.1 - domain.x.0).hypot(domain.y.1 - domain.y.0);
    let (x0, y0) = (-1.8, 0.001);
    for (lr, steps) in [(0.02f64, 120i32), (0.05, 200)] {
        let spec = format!("sgd(lr={lr})");
        let outcome =
            race(&surface, &[entrant(&spec)], &Run::new(vec![x0, y0], steps as usize), 1e-3).unwrap().remove(0);
        // On J = x² − y², SGD's steps are x ← (1 − 2η)x and y ← (1 + 2η)y.
        let at = |k: i32| ((x0 * (1.0 - 2.0 * lr).powi(k)), (y0 * (1.0 + 2.0 * lr).powi(k)));
        let near = |k: i32| at(k).0.hypot(at(k).1) <= radius;
        let arrived = (0..=steps).find(|&k| near(k)).unwrap();
        let escaped = (arrived..=steps).find(|&k| !near(k));
        let escape = outcome.summary.saddle.clone().expect("it came near the saddle");
        assert_eq!(escape.arrived_at.map(|s| s as i32), Some(arrived), "{spec}");
        assert_eq!(escape.escaped_at.map(|s| s as i32), escaped, "{spec}");
        let (x, y) = at(steps);
        assert!((escape.depth - (y * y - x * x)).abs() < 1e-9 * (1.0 + escape.depth.abs()), "{spec}");
        match escaped {
            None => assert!(escape.stuck() && escape.depth < 0.1, "{spec} stalls at it"),
            Some(_) => assert!(!escape.stuck() && escape.depth > 1.0, "{spec} went far down"),
        }
    }
}
