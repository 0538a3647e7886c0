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

#[test]
fn a_tensor_of_several_chunks_takes_each_element_at_its_own_lookahead_point() {
    // Long enough to be split across threads (chunks of 2¹⁵ elements) with a ragged end. Written out element by
    // element: the point θ + γ·v in one fused multiply-add, v ← γ·v − η·g(point) in another, θ ← θ + v.
    let len = 3 * (1 << 15) + 5;
    let (lr, momentum) = (0.01f32, 0.9f32);
    let curvature = |i: usize| 1.0 + (i % 7) as f32;
    let mut opt = Optimizer::<LookaheadNesterov, f32>::new(
        LookaheadNesterov { lr: lr.into(), momentum: momentum.into() },
        [Param::new(len)],
    )
    .unwrap();
    let mut theta: Vec<f32> = (0..len).map(|i| 1.0 + i as f32 * 1e-5).collect();
    let (mut want_theta, mut want_velocity) = (theta.clone(), vec![0.0f32; len]);
    for _ in 0..4 {
        let mut seen = Vec::new();
        opt.step_with_closure(&mut [&mut theta], |points, grads| {
            seen = points[0].to_vec();
            for (i, (g, &p)) in grads[0].iter_mut().zip(points[0]).enumerate() {
                *g = curvature(i) * p;
            }
            0.0
        })
        .unwrap();
        for i in 0..len {
            let point = momentum.mul_add(want_velocity[i], want_theta[i]);
            assert_eq!(seen[i].to_bits(), point.to_bits(), "point of element {i}");
            want_velocity[i] = (-lr).mul_add(curvature(i) * point, momentum * want_velocity[i]);
            want_theta[i] += want_velocity[i];
        }
        assert!(theta.iter().zip(&want_theta).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
