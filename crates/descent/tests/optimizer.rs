//! The optimizer's bookkeeping: groups, skipped parameters, state, learning rates, and errors that change nothing.

use descent::{Adagrad, Adam, Error, Group, Optimizer, Param, RmsProp, Sgd};

fn two_params() -> [Param; 2] {
    [Param::named("w", 3), Param::named("b", 1)]
}

#[test]
fn a_parameter_without_gradient_gets_no_state_no_step_and_no_decay() {
    let hyper = Adam { weight_decay: 0.5, decoupled_weight_decay: true, ..Adam::default() };
    let mut opt = Optimizer::<Adam, f64>::new(hyper, two_params()).unwrap();
    let (mut w, mut b) = (vec![1.0; 3], vec![2.0]);
    for _ in 0..3 {
        opt.step(&mut [&mut w, &mut b], &[Some(&[0.1, 0.2, 0.3]), None]).unwrap();
    }
    assert_eq!(b, [2.0], "no decay without a gradient");
    assert!(opt.state_named("b").is_none());
    assert_eq!(opt.state_named("w").unwrap().step(), Some(3.0));

    opt.step(&mut [&mut w, &mut b], &[None, Some(&[1.0])]).unwrap();
    assert_eq!(opt.state_named("w").unwrap().step(), Some(3.0));
    let b_state = opt.state_named("b").unwrap();
    assert_eq!(b_state.step(), Some(1.0));
    // A first Adam step, with decoupled decay: b ← b·(1 − lr·wd) − lr·g/(|g| + ε).
    let expected = 2.0 * (1.0 - 1e-3 * 0.5) - 1e-3 / (1.0 + 1e-8);
    assert!((b[0] - expected).abs() < 1e-15, "{} vs {expected}", b[0]);
    // exp_avg = 0 + (1 − β₁)·g, with 1 − β₁ computed in f64 as PyTorch does (0.09999999999999998).
    assert_eq!(b_state.get("exp_avg"), Some(&[1.0 - 0.9][..]));
}

#[test]
fn a_zero_gradient_still_counts_and_decays() {
    let hyper = Sgd { lr: 0.1, weight_decay: 0.5, ..Sgd::default() };
    let mut opt = Optimizer::<Sgd, f64>::new(hyper, [Param::new(1)]).unwrap();
    let mut p = vec![1.0];
    opt.step(&mut [&mut p], &[Some(&[0.0])]).unwrap();
    assert_eq!(p, [1.0 - 0.1 * 0.5]);
}

#[test]
fn state_has_pytorch_names() {
    let names = |hyper: RmsProp| {
        let mut opt = Optimizer::<RmsProp, f32>::new(hyper, [Param::new(2)]).unwrap();
        opt.step(&mut [&mut [1.0, 2.0]], &[Some(&[0.5, 0.5])]).unwrap();
        opt.state(0).unwrap().names().to_vec()
    };
    assert_eq!(names(RmsProp::default()), ["square_avg"]);
    assert_eq!(
        names(RmsProp { momentum: 0.9, centered: true, ..RmsProp::default() }),
        ["square_avg", "momentum_buffer", "grad_avg"]
    );
    let mut sgd = Optimizer::<Sgd, f32>::new(Sgd::default(), [Param::new(1)]).unwrap();
    sgd.step(&mut [&mut [1.0]], &[Some(&[1.0])]).unwrap();
    assert!(sgd.state(0).is_none(), "SGD without momentum keeps no state");
}

#[test]
fn adagrad_creates_state_when_built() {
    let hyper = Adagrad { initial_accumulator_value: 0.25, ..Adagrad::default() };
    let opt = Optimizer::<Adagrad, f32>::new(hyper, two_params()).unwrap();
    let state = opt.state_named("w").unwrap();
    assert_eq!(state.step(), Some(0.0));
    assert_eq!(state.get("sum"), Some(&[0.25f32; 3][..]));
}

#[test]
fn groups_have_their_own_learning_rates() {
    let mut opt = Optimizer::<Sgd, f64>::with_groups([
        Group::new(Sgd { lr: 0.1, ..Sgd::default() }, [Param::named("w", 1)]),
        Group::new(Sgd { lr: 0.5, ..Sgd::default() }, [Param::named("b", 1)]),
    ])
    .unwrap();
    assert_eq!((opt.group_count(), opt.lr(0), opt.lr(1)), (2, Ok(0.1), Ok(0.5)));
    assert_eq!(opt.group_of(1), Some(1));
    assert_eq!(opt.position("b"), Some(1));
    let (mut w, mut b) = (vec![1.0], vec![1.0]);
    opt.step(&mut [&mut w, &mut b], &[Some(&[1.0]), Some(&[1.0])]).unwrap();
    assert_eq!((w[0], b[0]), (0.9, 0.5));
    opt.set_lr(1, 0.25).unwrap();
    opt.step(&mut [&mut w, &mut b], &[Some(&[1.0]), Some(&[1.0])]).unwrap();
    assert_eq!(b[0], 0.25);
    assert_eq!(opt.set_lr(2, 0.1), Err(Error::NoSuchGroup { index: 2, count: 2 }));
}

#[test]
fn invalid_learning_rate_leaves_the_group_as_it_was() {
    let mut opt = Optimizer::<Adam, f32>::new(Adam::default(), [Param::new(1)]).unwrap();
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(opt.set_lr(0, bad), Err(Error::InvalidHyperparameter { name: "lr", .. })));
    }
    assert_eq!(opt.lr(0), Ok(1e-3));
}

#[test]
fn hyperparameters_that_change_the_state_layout_are_refused_once_state_exists() {
    let mut opt = Optimizer::<Adam, f32>::new(Adam::default(), [Param::new(1)]).unwrap();
    let amsgrad = Adam { amsgrad: true, ..Adam::default() };
    opt.set_hyperparameters(0, amsgrad).unwrap();
    opt.set_hyperparameters(0, Adam::default()).unwrap();
    opt.step(&mut [&mut [1.0]], &[Some(&[1.0])]).unwrap();
    let err = opt.set_hyperparameters(0, amsgrad).unwrap_err();
    assert!(matches!(err, Error::StateLayoutChange { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "Adam: these hyperparameters change the state ([step, exp_avg, exp_avg_sq] to \
         [step, exp_avg, exp_avg_sq, max_exp_avg_sq]) of parameter #0, which already has state"
    );
    opt.set_hyperparameters(0, Adam { lr: 0.5, ..Adam::default() }).unwrap();
    assert_eq!(opt.lr(0), Ok(0.5));
}

#[test]
fn building_rejects_empty_and_duplicate_parameters() {
    assert_eq!(Optimizer::<Sgd, f32>::new(Sgd::default(), []).unwrap_err(), Error::EmptyParameterList);
    assert_eq!(
        Optimizer::<Sgd, f32>::with_groups([
            Group::new(Sgd::default(), [Param::named("w", 1)]),
            Group::new(Sgd::default(), [Param::named("w", 2)]),
        ])
        .unwrap_err(),
        Error::DuplicateParameterName("w".into())
    );
    let invalid = Sgd { lr: -0.1, ..Sgd::default() };
    let err = Optimizer::<Sgd, f32>::new(invalid, [Param::new(1)]).unwrap_err();
    assert_eq!(err.to_string(), "SGD: invalid lr = -0.1 (expected a finite number >= 0)");
}

/// Runs `step` with bad inputs and checks that it fails with `expected` and changes nothing.
fn assert_step_fails_untouched(params: &mut [&mut [f32]], grads: &[Option<&[f32]>], expected: Error) {
    let mut opt = Optimizer::<Adam, f32>::new(Adam::default(), two_params()).unwrap();
    let (mut w, mut b) = (vec![1.0, 2.0, 3.0], vec![4.0]);
    opt.step(&mut [&mut w, &mut b], &[Some(&[1.0, 1.0, 1.0]), Some(&[1.0])]).unwrap();
    let before = opt.clone();
    let params_before: Vec<Vec<f32>> = params.iter().map(|p| p.to_vec()).collect();
    assert_eq!(opt.step(params, grads), Err(expected.clone()));
    assert_eq!(opt, before, "{expected}: state changed");
    let params_after: Vec<Vec<f32>> = params.iter().map(|p| p.to_vec()).collect();
    assert_eq!(params_after, params_before, "{expected}: parameters changed");
}

#[test]
fn bad_steps_are_errors_that_change_nothing() {
    let (mut w, mut b, mut long_b) = (vec![1.0; 3], vec![1.0], vec![1.0; 2]);
    let g3 = [0.5; 3];
    assert_step_fails_untouched(
        &mut [&mut w, &mut b],
        &[Some(&g3), Some(&[0.5, 0.5])],
        Error::GradientLengthMismatch { param: "\"b\"".into(), expected: 1, got: 2 },
    );
    assert_step_fails_untouched(
        &mut [&mut w, &mut long_b],
        &[Some(&g3), Some(&[0.5, 0.5])],
        Error::ParameterLengthMismatch { param: "\"b\"".into(), expected: 1, got: 2 },
    );
    assert_step_fails_untouched(
        &mut [&mut w],
        &[Some(&g3)],
        Error::CountMismatch { what: "parameters", expected: 2, got: 1 },
    );
    assert_step_fails_untouched(
        &mut [&mut w, &mut b],
        &[Some(&g3)],
        Error::CountMismatch { what: "gradients", expected: 2, got: 1 },
    );
}

#[test]
fn errors_name_unnamed_parameters_by_position() {
    let mut opt = Optimizer::<Sgd, f32>::new(Sgd::default(), [Param::new(2)]).unwrap();
    let err = opt.step(&mut [&mut [1.0, 2.0]], &[Some(&[1.0])]).unwrap_err();
    assert_eq!(err.to_string(), "parameter #0: gradient has 1 elements, parameter has 2");
}

#[test]
fn non_finite_gradients_propagate_as_in_pytorch() {
    let mut opt = Optimizer::<Adam, f32>::new(Adam::default(), [Param::new(2)]).unwrap();
    let mut p = vec![1.0, 1.0];
    opt.step(&mut [&mut p], &[Some(&[f32::NAN, 1.0])]).unwrap();
    assert!(p[0].is_nan() && p[1].is_finite());
    assert!(opt.state(0).unwrap().get("exp_avg").unwrap()[0].is_nan());
}

#[test]
fn stepping_parameters_one_at_a_time_equals_one_step() {
    let hyper = Adam { amsgrad: true, weight_decay: 0.1, ..Adam::default() };
    let mut together = Optimizer::<Adam, f64>::new(hyper, two_params()).unwrap();
    let mut apart = together.clone();
    let (mut w1, mut b1) = (vec![1.0, -2.0, 0.5], vec![3.0]);
    let (mut w2, mut b2) = (w1.clone(), b1.clone());
    for step in 0..4 {
        let gw = [0.1 * f64::from(step), -0.3, 0.7];
        let gb = [1.5 - f64::from(step)];
        together.step(&mut [&mut w1, &mut b1], &[Some(&gw), Some(&gb)]).unwrap();
        apart.step_param(1, &mut b2, &gb).unwrap();
        apart.step_param(0, &mut w2, &gw).unwrap();
    }
    assert_eq!((w1, b1), (w2, b2));
    assert_eq!(together, apart);
    let before = apart.clone();
    assert_eq!(apart.step_param(2, &mut [1.0], &[1.0]), Err(Error::NoSuchParameter { position: 2, count: 2 }));
    assert!(matches!(apart.step_param(0, &mut [1.0; 3], &[1.0]), Err(Error::GradientLengthMismatch { .. })));
    assert_eq!(apart, before);
}
