//! Schedule-Free's two points: the evaluation point against the paper's form, and the guard around it.

use descent::{Adam, Error, Optimizer, Param, ScheduleFreeAdamW, ScheduleFreeSgd};

/// The paper's Algorithm 1 for SGD, written as the paper writes it (three sequences), on J(θ) = ½·a·θ²:
/// y = (1 − β)·z + β·x, z ← z − η_t·∇J(y), x ← (1 − c)·x + c·z with c = w_t/Σw, w_t = t^r·(max η)^p.
struct Paper {
    z: Vec<f64>,
    x: Vec<f64>,
    lr_max: f64,
    weight_sum: f64,
}

impl Paper {
    fn y(&self, beta: f64) -> Vec<f64> {
        self.z.iter().zip(&self.x).map(|(z, x)| (1.0 - beta) * z + beta * x).collect()
    }

    fn step(&mut self, hyper: &ScheduleFreeSgd, t: f64, grad: &[f64]) {
        let lr = hyper.lr * (t / hyper.warmup_steps as f64).min(1.0);
        self.lr_max = self.lr_max.max(lr);
        let weight = t.powf(hyper.r) * self.lr_max.powf(hyper.weight_lr_power);
        self.weight_sum += weight;
        let c = weight / self.weight_sum;
        for ((z, x), g) in self.z.iter_mut().zip(&mut self.x).zip(grad) {
            *z -= lr * g;
            *x = (1.0 - c) * *x + c * *z;
        }
    }
}

fn curvature(i: usize) -> f64 {
    0.5 + i as f64
}

#[test]
fn the_evaluation_point_is_the_papers_average() {
    let hyper = ScheduleFreeSgd { lr: 0.3, momentum: 0.8, warmup_steps: 5, r: 0.5, ..ScheduleFreeSgd::default() };
    let start = vec![1.0, -2.0, 0.5];
    let mut paper = Paper { z: start.clone(), x: start.clone(), lr_max: -1.0, weight_sum: 0.0 };
    let mut theta = start.clone();
    let mut opt = Optimizer::<_, f64>::new(hyper, [Param::vector(3)]).unwrap();
    for t in 1..=40 {
        let y = paper.y(hyper.momentum);
        for (ours, theirs) in theta.iter().zip(&y) {
            assert!((ours - theirs).abs() <= 1e-13, "step {t}: y {ours} vs the paper's {theirs}");
        }
        let grad: Vec<f64> = y.iter().enumerate().map(|(i, y)| curvature(i) * y).collect();
        paper.step(&hyper, f64::from(t), &grad);
        let ours: Vec<f64> = theta.iter().enumerate().map(|(i, y)| curvature(i) * y).collect();
        opt.step(&mut [&mut theta], &[Some(&ours)]).unwrap();
    }
    let x = opt.evaluate(&mut [&mut theta], |points| points[0].to_vec()).unwrap();
    for (ours, theirs) in x.iter().zip(&paper.x) {
        assert!((ours - theirs).abs() <= 1e-13, "x {ours} vs the paper's {theirs}");
    }
    // Back at y after the evaluation, up to the rounding of the way there and back.
    for (ours, theirs) in theta.iter().zip(paper.y(hyper.momentum)) {
        assert!((ours - theirs).abs() <= 1e-13, "y after evaluating: {ours} vs {theirs}");
    }
}

#[test]
fn the_average_is_nearer_the_minimum_than_the_training_point_under_noise() {
    // Gradients of ½θ² with noise: the average x smooths it, y follows it.
    let mut theta = vec![3.0_f64; 64];
    let hyper = ScheduleFreeSgd { lr: 0.2, ..ScheduleFreeSgd::default() };
    let mut opt = Optimizer::new(hyper, [Param::vector(64)]).unwrap();
    let mut seed = 7_u64;
    let mut noise = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0
    };
    for _ in 0..500 {
        let grad: Vec<f64> = theta.iter().map(|v| v + noise()).collect();
        opt.step(&mut [&mut theta], &[Some(&grad)]).unwrap();
    }
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let at_x = opt.evaluate(&mut [&mut theta], |points| norm(points[0])).unwrap();
    let at_y = norm(&theta);
    assert!(at_x < 0.8 * at_y, "|x| = {at_x}, |y| = {at_y}");
}

#[test]
fn evaluating_checks_first_and_moves_nothing_on_error() {
    let mut opt = Optimizer::<_, f32>::new(ScheduleFreeAdamW::default(), [Param::vector(2)]).unwrap();
    let mut w = vec![1.0_f32, -1.0];
    opt.step(&mut [&mut w], &[Some(&[0.5, 0.25])]).unwrap();
    opt.step(&mut [&mut w], &[Some(&[0.5, -0.25])]).unwrap();
    let before = w.clone();
    let mut ran = false;
    let mut short = vec![0.0_f32];
    let error = opt.evaluate(&mut [&mut short], |_| ran = true).unwrap_err();
    assert!(matches!(error, Error::ParameterLengthMismatch { .. }), "{error}");
    let error = opt.evaluate(&mut [&mut w, &mut short], |_| ran = true).unwrap_err();
    assert!(matches!(error, Error::CountMismatch { .. }), "{error}");
    assert!(!ran);
    assert_eq!(w, before);
    // The evaluation point differs from the training point once steps have been taken.
    let x = opt.evaluate(&mut [&mut w], |points| points[0].to_vec()).unwrap();
    assert_ne!(x, before);
}

#[test]
fn other_optimizers_evaluate_where_they_train() {
    let mut opt = Optimizer::<_, f32>::new(Adam::default(), [Param::vector(2)]).unwrap();
    let mut w = vec![1.0_f32, -1.0];
    opt.step(&mut [&mut w], &[Some(&[0.5, 0.25])]).unwrap();
    let before = w.clone();
    assert!(!opt.has_evaluation_point());
    let seen = opt.evaluate(&mut [&mut w], |points| points[0].to_vec()).unwrap();
    assert_eq!((seen, w), (before.clone(), before));
}

#[test]
fn before_the_first_step_nothing_moves() {
    let mut opt = Optimizer::<_, f64>::new(ScheduleFreeSgd::default(), [Param::vector(2)]).unwrap();
    let mut w = vec![1.0, -1.0];
    let seen = opt.evaluate(&mut [&mut w], |points| points[0].to_vec()).unwrap();
    assert_eq!(seen, vec![1.0, -1.0]);
}

#[test]
fn momentum_must_be_strictly_between_zero_and_one() {
    for momentum in [0.0, 1.0, -0.5, f64::NAN] {
        let hyper = ScheduleFreeSgd { momentum, ..ScheduleFreeSgd::default() };
        let error = Optimizer::<_, f32>::new(hyper, [Param::vector(1)]).unwrap_err();
        assert!(error.to_string().contains("momentum"), "{error}");
    }
    let hyper = ScheduleFreeAdamW { betas: (0.0, 0.999), ..ScheduleFreeAdamW::default() };
    let error = Optimizer::<_, f32>::new(hyper, [Param::vector(1)]).unwrap_err();
    assert!(error.to_string().contains("betas[0]"), "{error}");
}
