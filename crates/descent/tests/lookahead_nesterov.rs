//! The article's look-ahead Nesterov momentum follows the same path as PyTorch's reformulated Nesterov SGD, and
//! runs through the closure step.

use descent::{Error, LookaheadNesterov, Optimizer, Param, Sgd};

/// The Rosenbrock function's gradient: a curved valley where momentum matters.
fn rosenbrock_gradient(p: &[f64], g: &mut [f64]) -> f64 {
    let (x, y) = (p[0], p[1]);
    g[0] = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
    g[1] = 200.0 * (y - x * x);
    (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
}

fn lookahead(lr: f64, momentum: f64, len: usize) -> Optimizer<LookaheadNesterov, f64> {
    Optimizer::new(LookaheadNesterov { lr, momentum }, [Param::new(len)]).unwrap()
}

#[test]
fn lookahead_points_equal_pytorch_nesterov_parameters() {
    let (lr, momentum) = (1e-3, 0.9);
    let start = [-1.5, 2.0];
    let mut theta = start.to_vec();
    let mut nag = lookahead(lr, momentum, 2);
    let mut phi = start.to_vec();
    let hyper = Sgd { lr, momentum, nesterov: true, ..Sgd::default() };
    let mut sgd = Optimizer::<Sgd, f64>::new(hyper, [Param::new(2)]).unwrap();
    let mut grad = [0.0; 2];
    for step in 1..=500 {
        nag.step_with_closure(&mut [&mut theta], |p, g| rosenbrock_gradient(p[0], g[0])).unwrap();
        rosenbrock_gradient(&phi, &mut grad);
        sgd.step(&mut [&mut phi], &[Some(&grad)]).unwrap();
        // φ = θ + γ·v
        let velocity = nag.state(0).unwrap().get("velocity").unwrap();
        for i in 0..2 {
            let point = theta[i] + momentum * velocity[i];
            assert!((point - phi[i]).abs() <= 1e-9 * (1.0 + phi[i].abs()), "step {step}: {point} vs {}", phi[i]);
        }
    }
    // Both made real progress along the valley towards the minimum (1, 1).
    assert!(phi[0] > -1.0, "{phi:?}");
}

#[test]
fn the_gradient_is_taken_at_the_lookahead_point() {
    let mut opt = lookahead(0.1, 0.5, 1);
    let mut theta = vec![1.0f64];
    let mut seen = Vec::new();
    for _ in 0..3 {
        let loss = opt
            .step_with_closure(&mut [&mut theta], |point, grad| {
                seen.push(point[0][0]);
                grad[0][0] = 1.0;
                point[0][0]
            })
            .unwrap();
        assert_eq!(loss, *seen.last().unwrap(), "the step returns the closure's loss");
    }
    // v₁ = −0.1, θ₁ = 0.9; look-ahead 0.9 − 0.05 = 0.85; v₂ = −0.15, θ₂ = 0.75; look-ahead 0.75 − 0.075 = 0.675.
    let expected = [1.0, 0.85, 0.675];
    for (s, e) in seen.iter().zip(expected) {
        assert!((s - e).abs() < 1e-15, "{seen:?}");
    }
}

#[test]
fn bad_input_is_an_error_that_changes_nothing() {
    assert!(matches!(
        Optimizer::<LookaheadNesterov, f32>::new(LookaheadNesterov { lr: -1.0, momentum: 0.9 }, [Param::new(1)]),
        Err(Error::InvalidHyperparameter { name: "lr", .. })
    ));
    assert!(matches!(
        Optimizer::<LookaheadNesterov, f32>::new(LookaheadNesterov { lr: 0.1, momentum: f64::NAN }, [Param::new(1)]),
        Err(Error::InvalidHyperparameter { name: "momentum", .. })
    ));
    let mut opt = Optimizer::<LookaheadNesterov, f32>::new(LookaheadNesterov::default(), [Param::new(2)]).unwrap();
    let before = opt.clone();
    let mut theta = vec![1.0f32; 3];
    let err = opt.step_with_closure(&mut [&mut theta], |_, _| panic!("not called")).unwrap_err();
    assert_eq!(err, Error::ParameterLengthMismatch { param: "#0".into(), expected: 2, got: 3 });
    assert_eq!((opt.clone(), theta), (before.clone(), vec![1.0; 3]));
    let err = opt.step(&mut [&mut [1.0, 1.0]], &[Some(&[1.0, 1.0])]).unwrap_err();
    assert_eq!(err, Error::NeedsClosure { optimizer: "LookaheadNesterov" });
    assert_eq!(opt, before);
}
