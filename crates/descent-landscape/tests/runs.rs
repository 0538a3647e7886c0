//! Trajectories, noise, races and tuning.

use descent::{Adam, Optimizer, Param, Spec};
use descent_landscape::{
    default_grid, log_grid, race, run, surfaces, tune, CriticalKind, Entrant, LandscapeError, Noise, Precision, Run,
    Surface,
};

fn spec(text: &str) -> Spec {
    text.parse().unwrap()
}

fn config(start: &[f64], steps: usize) -> Run {
    Run::new(start.to_vec(), steps)
}

#[test]
fn a_trajectory_is_the_library_called_directly() {
    let surface = surfaces::by_name("rosenbrock", 2).unwrap();
    let trajectory = run(&surface, &spec("adam(lr=0.01, amsgrad=True)"), &config(&[-1.5, 2.0], 300)).unwrap();
    let mut theta = vec![-1.5, 2.0];
    let mut opt =
        Optimizer::<Adam, f64>::new(Adam { lr: 0.01, amsgrad: true, ..Adam::default() }, [Param::new(2)]).unwrap();
    assert_eq!(trajectory.points.len(), 301);
    assert_eq!(trajectory.points[0], theta);
    for step in 1..=300 {
        let mut grad = vec![0.0; 2];
        surface.gradient(&theta, &mut grad);
        opt.step(&mut [&mut theta], &[Some(&grad)]).unwrap();
        assert_eq!(trajectory.points[step], theta, "step {step}");
        assert_eq!(trajectory.losses[step], surface.value(&theta));
    }
    assert!(!trajectory.diverged);
}

#[test]
fn f32_runs_compute_in_f32() {
    let surface = surfaces::by_name("sphere", 2).unwrap();
    let run_config = Run { precision: Precision::F32, ..config(&[0.1, -0.3], 10) };
    let trajectory = run(&surface, &spec("sgd(lr=0.1)"), &run_config).unwrap();
    let (mut x, mut y) = (0.1f32, -0.3f32);
    for point in &trajectory.points[1..] {
        x = (-0.1f64 as f32).mul_add((2.0 * f64::from(x)) as f32, x);
        y = (-0.1f64 as f32).mul_add((2.0 * f64::from(y)) as f32, y);
        assert_eq!(point, &[f64::from(x), f64::from(y)]);
    }
}

#[test]
fn a_diverging_run_stops_and_says_so() {
    let surface = surfaces::by_name("rosenbrock", 2).unwrap();
    let trajectory = run(&surface, &spec("sgd(lr=0.1)"), &config(&[-1.5, 2.0], 1000)).unwrap();
    assert!(trajectory.diverged);
    assert!(trajectory.points.len() < 1001);
    assert!(!trajectory.final_loss().is_finite());
    assert!(trajectory.losses[..trajectory.losses.len() - 1].iter().all(|l| l.is_finite()));
}

#[test]
fn noise_is_reproducible_and_seeded() {
    let surface = surfaces::by_name("beale", 2).unwrap();
    let noisy = |sigma: f64, seed: u64| {
        let run_config = Run { noise: Some(Noise::new(sigma, seed).unwrap()), ..config(&[1.0, 1.0], 50) };
        run(&surface, &spec("momentum(lr=0.001)"), &run_config).unwrap()
    };
    assert_eq!(noisy(0.5, 7), noisy(0.5, 7));
    assert_ne!(noisy(0.5, 7).points, noisy(0.5, 8).points);
    let quiet = run(&surface, &spec("momentum(lr=0.001)"), &config(&[1.0, 1.0], 50)).unwrap();
    assert_eq!(noisy(0.0, 7), quiet);
    assert_ne!(noisy(0.5, 7).points, quiet.points);
    for bad in [-0.1, f64::NAN, f64::INFINITY] {
        assert!(matches!(Noise::new(bad, 1), Err(LandscapeError::Noise(_))));
    }
}

#[test]
fn noise_has_the_requested_spread() {
    // On J = 0 (an expression with no variables), SGD with lr = 1 moves by exactly −noise each step.
    let surface = descent_landscape::ExpressionSurface::parse("0").unwrap();
    let run_config = Run { noise: Some(Noise::new(2.0, 3).unwrap()), ..config(&[0.0, 0.0], 4000) };
    let trajectory = run(&surface, &spec("sgd(lr=1)"), &run_config).unwrap();
    let draws: Vec<f64> = trajectory.points.windows(2).flat_map(|w| [w[0][0] - w[1][0], w[0][1] - w[1][1]]).collect();
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    let sd = (draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64).sqrt();
    assert!(mean.abs() < 0.1 && (sd - 2.0).abs() < 0.1, "mean {mean}, sd {sd}");
}

#[test]
fn bad_runs_are_errors() {
    let surface = surfaces::by_name("beale", 2).unwrap();
    let adam = spec("adam");
    assert_eq!(run(&surface, &adam, &config(&[1.0, 1.0], 0)), Err(LandscapeError::ZeroSteps));
    assert!(matches!(run(&surface, &adam, &config(&[1.0], 5)), Err(LandscapeError::Dimension { .. })));
    assert!(matches!(run(&surface, &adam, &config(&[f64::NAN, 1.0], 5)), Err(LandscapeError::Start(_))));
}

#[test]
fn a_race_reports_which_minimum_each_optimizer_reached() {
    let surface = surfaces::by_name("himmelblau", 2).unwrap();
    let entrants: Vec<Entrant> = ["adam(lr=0.1)", "sgd(lr=0.01)", "sgd(lr=0.5)"]
        .iter()
        .map(|s| Entrant { label: s.to_string(), spec: spec(s) })
        .collect();
    let outcomes = race(&surface, &entrants, &config(&[0.0, 0.0], 400), 1e-4).unwrap();
    assert_eq!(outcomes.len(), 3);
    for outcome in &outcomes[..2] {
        let (minimum, distance) = outcome.summary.nearest.clone().unwrap();
        assert_eq!(minimum.kind, CriticalKind::GlobalMinimum);
        assert!(distance <= 1e-4, "{}: {distance}", outcome.entrant.label);
        let reached = outcome.summary.reached_at.unwrap();
        assert!(descent_landscape::distance(&outcome.trajectory.points[reached], &minimum.point) <= 1e-4);
        assert!(descent_landscape::distance(&outcome.trajectory.points[reached - 1], &minimum.point) > 1e-4);
    }
    let wild = &outcomes[2].summary;
    assert!(wild.diverged && wild.nearest.is_none() && wild.reached_at.is_none());
}

#[test]
fn tuning_picks_the_learning_rate_with_the_lowest_final_loss() {
    let surface = surfaces::by_name("quadratic", 2).unwrap();
    let run_config = config(&[-1.8, 1.2], 50);
    let grid = log_grid(1e-3, 1.0, 4);
    assert_eq!(grid.len(), 13);
    assert!((grid[12] - 1.0).abs() < 1e-12 && (grid[4] - 1e-2).abs() < 1e-15);
    let trials = std::sync::atomic::AtomicUsize::new(0);
    let tuned = tune(&surface, &spec("sgd"), &run_config, &grid, &|| {
        trials.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(trials.into_inner(), grid.len());
    for &lr in &grid {
        let trajectory = run(&surface, &spec("sgd").with_lr(lr).unwrap(), &run_config).unwrap();
        if !trajectory.diverged {
            assert!(tuned.score <= trajectory.final_loss(), "lr {lr} beats the tuned {}", tuned.spec.lr());
        }
    }
    assert_eq!(tuned.score, run(&surface, &tuned.spec, &run_config).unwrap().final_loss());
    assert!(default_grid().len() > 20);
}

/// Replays a run by hand on the sphere J = x² + y², whose gradient is 2θ, and returns the gradients it used.
fn sphere_gradients(points: &[Vec<f64>]) -> Vec<Vec<f64>> {
    points.iter().map(|p| p.iter().map(|v| 2.0 * v).collect()).collect()
}

#[test]
fn recorded_states_hold_the_gradient_velocity_and_step_size_of_each_step() {
    let surface = surfaces::by_name("sphere", 2).unwrap();
    let recorded = Run { record_states: true, ..config(&[1.0, -0.5], 5) };

    // SGD with momentum: the buffer b ← μ·b + g.
    let t = run(&surface, &spec("sgd(lr=0.1, momentum=0.9)"), &recorded).unwrap();
    let gradients = sphere_gradients(&t.points);
    let mut buffer = vec![0.0; 2];
    for (k, state) in t.states.iter().enumerate() {
        assert_eq!(state.gradient, gradients[k]);
        for (b, g) in buffer.iter_mut().zip(&gradients[k]) {
            *b = if k == 0 { *g } else { 0.9 * *b + g };
        }
        let (name, velocity) = state.velocity.as_ref().unwrap();
        assert_eq!(*name, "momentum_buffer");
        assert_eq!(velocity, &buffer);
        assert_eq!(state.step_size, None);
    }

    // AdaGrad: η/(√G + ε), G the sum of squared gradients.
    let t = run(&surface, &spec("adagrad(lr=0.5)"), &recorded).unwrap();
    let gradients = sphere_gradients(&t.points);
    let mut sum = [0.0f64; 2];
    for (k, state) in t.states.iter().enumerate() {
        for (i, s) in sum.iter_mut().enumerate() {
            *s += gradients[k][i] * gradients[k][i];
        }
        let expected: Vec<f64> = sum.iter().map(|s| 0.5 / (s.sqrt() + 1e-10)).collect();
        assert_eq!(state.step_size.as_ref().unwrap(), &expected, "step {}", k + 1);
        assert_eq!(state.velocity, None);
    }

    // Adam, after one step: m = (1 − β₁)g, v = (1 − β₂)g², so the step size is (η/(1 − β₁))/(|g| + ε).
    let t = run(&surface, &spec("adam(lr=0.1)"), &recorded).unwrap();
    let first = &t.states[0];
    for (i, g) in [2.0f64, -1.0].iter().enumerate() {
        let expected = (0.1 / (1.0 - 0.9)) / ((0.001 * g * g / 0.001).sqrt() + 1e-8);
        let got = first.step_size.as_ref().unwrap()[i];
        assert!((got - expected).abs() <= 4.0 * f64::EPSILON * expected, "{got} vs {expected}");
    }
    assert_eq!(first.velocity.as_ref().unwrap().0, "exp_avg");

    // Unrecorded runs keep nothing.
    assert!(run(&surface, &spec("adam"), &config(&[1.0, -0.5], 5)).unwrap().states.is_empty());
}

#[test]
fn a_run_past_its_deadline_stops_with_an_error() {
    let surface = surfaces::by_name("sphere", 2).unwrap();
    let late = Run { deadline: Some(std::time::Instant::now()), ..config(&[1.0, 1.0], 1000) };
    assert_eq!(run(&surface, &spec("sgd"), &late), Err(LandscapeError::Deadline { steps: 0 }));
    let early = Run { deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(600)), ..late };
    assert_eq!(run(&surface, &spec("sgd"), &early).unwrap().points.len(), 1001);
}

/// One L-BFGS step may evaluate the gradient as often as its `max_iter` and `max_eval` allow: here about 10⁹ times,
/// minutes of work, on a surface where it never settles. The deadline ends it within the step.
#[test]
fn a_step_that_evaluates_without_end_stops_at_the_deadline() {
    let surface = descent_landscape::ExpressionSurface::parse("sin(3*x)*cos(5*y) + 0.001*x").unwrap();
    let endless = spec("lbfgs(max_iter=1000000000, max_eval=1000000000, tolerance_grad=0, tolerance_change=0)");
    let started = std::time::Instant::now();
    let limited = Run { deadline: Some(started + std::time::Duration::from_millis(100)), ..config(&[0.5, 0.5], 3) };
    assert_eq!(run(&surface, &endless, &limited), Err(LandscapeError::Deadline { steps: 0 }));
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(10), "stopped after {took:?}");
}

/// Schedule-Free's trajectory is its evaluation point x, the running mean of z, while the gradient is taken at
/// y = (1 − β)·z + β·x: the paper's three sequences, on J = Σ θᵢ² with a constant rate (equal weights).
#[test]
fn schedule_free_runs_report_the_evaluation_point() {
    let surface = surfaces::by_name("sphere", 2).unwrap();
    let trajectory = run(&surface, &spec("sgd_schedulefree(lr=0.1, momentum=0.9)"), &config(&[-1.5, 1.8], 30)).unwrap();
    let (mut z, mut x) = (vec![-1.5, 1.8], vec![-1.5, 1.8]);
    for t in 1..=30 {
        for (z, x) in z.iter_mut().zip(&mut x) {
            let y = 0.1 * *z + 0.9 * *x;
            *z -= 0.1 * (2.0 * y);
            *x += (*z - *x) / f64::from(t);
        }
        for (ours, paper) in trajectory.points[t as usize].iter().zip(&x) {
            assert!((ours - paper).abs() <= 1e-14, "step {t}: {ours} vs the paper's {paper}");
        }
    }
}
