//! The staged step (global clipping, per-tensor stages, shapes), hyperparameters by name, and groups added and
//! removed: checked against closed forms.

use descent::{
    clip_grad_norm, clip_grad_value, Adam, Clip, Error, Group, Lane, Mars, MarsType, Optimizer, Param, Rule, Sgd,
    Shape, Spec, StateLayout, StepContext, TensorStage,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[test]
fn parameters_have_shapes() {
    let opt = Optimizer::<Adam, f32>::new(Adam::default(), [Param::named("w", [3, 4]), Param::vector(5)]).unwrap();
    assert_eq!(opt.param(0).unwrap().shape().dims(), [3, 4]);
    assert_eq!(opt.param(0).unwrap().len(), 12);
    assert_eq!(opt.param(1).unwrap().shape().dims(), [5]);
    let mut opt = opt;
    let (mut w, mut b) = (vec![1.0; 12], vec![1.0; 5]);
    opt.step(&mut [&mut w, &mut b], &[Some(&[0.5; 12]), Some(&[0.5; 5])]).unwrap();
    assert_eq!(opt.state(0).unwrap().tensor("exp_avg").unwrap().shape().dims(), [3, 4]);
    let err = opt.step(&mut [&mut w[..11], &mut b], &[Some(&[0.5; 11]), Some(&[0.5; 5])]).unwrap_err();
    assert_eq!(err, Error::ParameterLengthMismatch { param: "\"w\"".into(), expected: 12, got: 11 });
    let huge = Optimizer::<Sgd, f32>::new(Sgd::default(), [Param::new([usize::MAX, 2])]).unwrap_err();
    assert!(matches!(huge, Error::ShapeTooLarge { .. }), "{huge}");
}

#[test]
fn hyperparameters_are_read_and_set_by_name() {
    let mut opt = Optimizer::<Adam, f64>::new(Adam::default(), [Param::new(2)]).unwrap();
    assert_eq!(opt.hyperparameter(0, "betas"), Ok(json!([0.9, 0.999])));
    opt.set_hyperparameter(0, "betas", json!([0.8, 0.99])).unwrap();
    assert_eq!(opt.hyperparameters(0).unwrap().betas, (0.8, 0.99));
    let before = opt.clone();
    let err = opt.set_hyperparameter(0, "beta", json!(0.9)).unwrap_err();
    assert!(err.to_string().contains("no hyperparameter \"beta\" (known: lr, betas, eps"), "{err}");
    let err = opt.set_hyperparameter(0, "betas", json!(0.9)).unwrap_err();
    assert!(matches!(err, Error::HyperparameterValue { .. }), "{err}");
    let err = opt.set_hyperparameter(0, "betas", json!([0.9, 1.0])).unwrap_err();
    assert!(matches!(err, Error::InvalidHyperparameter { name: "betas[1]", .. }), "{err}");
    assert_eq!(opt, before, "refused changes change nothing");
    let mut dynamic = Spec::from_rule(Sgd::default()).build::<f32>([Param::new(1)]).unwrap();
    dynamic.set_hyperparameter(0, "momentum", json!(0.5)).unwrap();
    assert_eq!(dynamic.hyperparameter(0, "momentum"), Ok(json!(0.5)));
}

#[test]
fn groups_are_added_and_removed() {
    let mut opt = Optimizer::<Sgd, f64>::new(Sgd { lr: 0.1, ..Sgd::default() }, [Param::named("w", 1)]).unwrap();
    opt.add_group(Group::new(Sgd { lr: 0.5, ..Sgd::default() }, [Param::named("b", 1), Param::named("c", 2)])).unwrap();
    assert_eq!((opt.group_count(), opt.param_count(), opt.group_of(2)), (2, 3, Some(1)));
    let (mut w, mut b, mut c) = (vec![1.0], vec![1.0], vec![1.0, 1.0]);
    opt.step(&mut [&mut w, &mut b, &mut c], &[Some(&[1.0]), Some(&[1.0]), Some(&[1.0, 1.0])]).unwrap();
    assert_eq!((w[0], b[0]), (0.9, 0.5));
    let removed = opt.remove_group(0).unwrap();
    assert_eq!(removed.params, [Param::named("w", 1)]);
    assert_eq!((opt.group_count(), opt.position("b"), opt.group_of(0)), (1, Some(0), Some(0)));
    assert_eq!(opt.remove_group(0).unwrap_err(), Error::EmptyParameterList);
    assert_eq!(opt.remove_group(3).unwrap_err(), Error::NoSuchGroup { index: 3, count: 1 });
    // Groups of the dynamic optimizer must share the rule type.
    let mut dynamic = Spec::from_rule(Sgd::default()).build::<f32>([Param::new(1)]).unwrap();
    let adam = Spec::from_rule(Adam::default());
    assert_eq!(
        dynamic.add_group(&adam, vec![Param::new(1)]),
        Err(Error::MixedOptimizers { first: "SGD", other: "Adam" })
    );
    dynamic.add_group(&"momentum(lr=0.5)".parse().unwrap(), vec![Param::new(2)]).unwrap();
    assert_eq!(dynamic.lr(1), Ok(0.5));
}

#[test]
fn clipping_by_norm_scales_every_gradient_in_the_fused_pass() {
    // Two gradients with total 2-norm 5: clipping to 1 multiplies both by 1 / (5 + 1e-6).
    let hyper = Sgd { lr: 1.0, ..Sgd::default() };
    let mut opt = Optimizer::<Sgd, f64>::new(hyper, [Param::new(1), Param::new(1)]).unwrap();
    opt.set_clip(Some(Clip::norm(1.0))).unwrap();
    let (mut a, mut b) = (vec![0.0], vec![0.0]);
    opt.step(&mut [&mut a, &mut b], &[Some(&[3.0]), Some(&[4.0])]).unwrap();
    let coefficient = 1.0 / (5.0 + 1e-6);
    assert_eq!((a[0], b[0]), (-3.0 * coefficient, -4.0 * coefficient));
    assert_eq!(opt.last_grad_norm(), Some(5.0));
    // Under the limit, nothing changes.
    opt.set_clip(Some(Clip::norm(10.0))).unwrap();
    opt.step(&mut [&mut a, &mut b], &[Some(&[3.0]), Some(&[4.0])]).unwrap();
    assert_eq!((a[0], b[0]), (-3.0 * coefficient - 3.0, -4.0 * coefficient - 4.0));
    // By value.
    opt.set_clip(Some(Clip::value(0.5))).unwrap();
    let (mut a, mut b) = (vec![0.0], vec![0.0]);
    opt.step(&mut [&mut a, &mut b], &[Some(&[3.0]), Some(&[-0.25])]).unwrap();
    assert_eq!((a[0], b[0]), (-0.5, 0.25));
    // A non-finite norm is refused when asked, and nothing changes.
    opt.set_clip(Some(Clip { error_if_nonfinite: true, ..Clip::norm(1.0) })).unwrap();
    let before = opt.clone();
    let err = opt.step(&mut [&mut a, &mut b], &[Some(&[f64::NAN]), Some(&[1.0])]).unwrap_err();
    assert!(matches!(err, Error::NonFiniteGradientNorm { .. }), "{err}");
    assert_eq!((opt, a[0], b[0]), (before, -0.5, 0.25));
    let mut opt = Optimizer::<Sgd, f64>::new(hyper, [Param::new(1)]).unwrap();
    for bad in [Clip::norm(0.0), Clip::norm(-1.0), Clip::value(f64::NAN), Clip { norm_type: 0.0, ..Clip::norm(1.0) }] {
        assert!(matches!(opt.set_clip(Some(bad)), Err(Error::InvalidHyperparameter { .. })), "{bad:?}");
    }
    assert_eq!(opt.clip(), None, "a refused clip is not set");
}

#[test]
fn clipping_works_on_plain_slices() {
    let (mut a, mut b) = (vec![3.0f32, 0.0], vec![4.0f32]);
    let norm = clip_grad_norm(&mut [&mut a, &mut b], 1.0, 2.0, false).unwrap();
    assert_eq!(norm, 5.0);
    let c = (1.0 / (5.0 + 1e-6)) as f32;
    assert_eq!((a[0], b[0]), (3.0 * c, 4.0 * c));
    let (mut a, mut b) = (vec![1.0f64, -2.0], vec![4.0]);
    assert_eq!(clip_grad_norm(&mut [&mut a, &mut b], 100.0, 1.0, false), Ok(7.0));
    assert_eq!(clip_grad_norm(&mut [&mut a, &mut b], 100.0, f64::INFINITY, false), Ok(4.0));
    let p3 = clip_grad_norm(&mut [&mut a, &mut b], 100.0, 3.0, false).unwrap();
    assert!((p3 - (1.0f64 + 8.0 + 64.0).cbrt()).abs() < 1e-12);
    clip_grad_value(&mut [&mut a, &mut b], 1.5).unwrap();
    assert_eq!((a, b), (vec![1.0, -1.5], vec![1.5]));
}

/// A rule declared here, outside the library, with a per-tensor stage, a named scalar and a matrix shape: each
/// row of the parameter moves by η along its own normalized gradient, θ_r ← θ_r − η·g_r / ‖g‖.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Normalized {
    lr: f64,
}

impl Rule for Normalized {
    const NAME: &'static str = "Normalized";

    fn validate(&self) -> Result<(), Error> {
        Ok(())
    }

    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error> {
        if shape.rank() != 2 {
            return Err(Error::InvalidCombination { optimizer: Self::NAME, reason: "needs matrices" });
        }
        Ok(StateLayout::new().step().scalar("norm", 0.0).tensor("row_norms", [shape.dims()[0]], 0.0))
    }

    const TENSOR_STAGE: bool = true;

    fn tensor_stage<T: descent::Float>(&self, stage: &mut TensorStage<'_, T>) {
        let cols = stage.shape.dims()[1];
        let norms: Vec<f64> =
            stage.grad.chunks(cols).map(|row| row.iter().map(|g| g.to_f64().powi(2)).sum::<f64>().sqrt()).collect();
        let total = norms.iter().map(|n| n * n).sum::<f64>().sqrt();
        stage.state.set_scalar("norm", total);
        for (out, n) in stage.state.tensor_mut("row_norms").unwrap().values_mut().iter_mut().zip(norms) {
            *out = T::from_f64(n);
        }
    }

    type Coefficients<L: Lane> = L;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> L {
        L::splat(<L::Scalar as descent::Float>::from_f64(-self.lr / step.scalar("norm")))
    }

    fn update<L: Lane>(c: &L, param: &mut L, grad: L, _state: &mut [L]) {
        *param = c.mul_add(grad, *param);
    }
}

#[test]
fn a_rule_of_our_own_gets_shapes_stages_and_scalars() {
    let mut opt = Optimizer::<Normalized, f64>::new(Normalized { lr: 1.0 }, [Param::named("m", [2, 2])]).unwrap();
    let mut m = vec![0.0; 4];
    opt.step(&mut [&mut m], &[Some(&[3.0, 0.0, 0.0, 4.0])]).unwrap();
    let c = -1.0 / 5.0;
    assert_eq!(m, [c * 3.0, 0.0, 0.0, c * 4.0]);
    let state = opt.state(0).unwrap();
    assert_eq!((state.step(), state.scalar("norm")), (Some(1.0), Some(5.0)));
    assert_eq!(state.get("row_norms"), Some(&[3.0, 4.0][..]));
    // With clipping, the stage sees the clipped gradient.
    opt.set_clip(Some(Clip::value(1.0))).unwrap();
    opt.step(&mut [&mut m], &[Some(&[3.0, 0.0, 0.0, 4.0])]).unwrap();
    assert_eq!(opt.state(0).unwrap().get("row_norms"), Some(&[1.0, 1.0][..]));
    // The layout is checked when a parameter is registered.
    let err = Optimizer::<Normalized, f32>::new(Normalized { lr: 1.0 }, [Param::new(3)]).unwrap_err();
    assert_eq!(err.to_string(), "Normalized: needs matrices");
}

/// A rule that asks for more element-wise tensors than the fused pass takes.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
struct Greedy;

impl Rule for Greedy {
    const NAME: &'static str = "Greedy";

    fn validate(&self) -> Result<(), Error> {
        Ok(())
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(["a", "b", "c", "d", "e"].iter().fold(StateLayout::new(), |l, name| l.elementwise(name, 0.0)))
    }

    type Coefficients<L: Lane> = ();

    fn coefficients<L: Lane>(&self, _step: &StepContext<'_>) {}

    fn update<L: Lane>(_: &(), _param: &mut L, _grad: L, _state: &mut [L]) {}
}

#[test]
fn a_layout_the_fused_pass_cannot_run_is_an_error_when_built() {
    let err = Optimizer::<Greedy, f32>::new(Greedy, [Param::new(3)]).unwrap_err();
    assert_eq!(err, Error::TooManyStateTensors { optimizer: "Greedy", count: 5, max: 4 });
}

#[test]
fn adagrad_uses_each_groups_own_initial_accumulator() {
    // G₁ = G₀ + g² and θ₁ = θ₀ − η·g / (√G₁ + ε), with each group's G₀ (PyTorch would use group 0's for both).
    use descent::Adagrad;
    let group = |initial: f64| Adagrad { lr: 1.0, eps: 0.0, initial_accumulator_value: initial, ..Adagrad::default() };
    let mut opt = Optimizer::<Adagrad, f64>::with_groups([
        Group::new(group(0.0), [Param::new(1)]),
        Group::new(group(3.0), [Param::new(1)]),
    ])
    .unwrap();
    assert_eq!(opt.state(1).unwrap().get("sum"), Some(&[3.0][..]));
    let (mut a, mut b) = (vec![0.0], vec![0.0]);
    opt.step(&mut [&mut a, &mut b], &[Some(&[1.0]), Some(&[1.0])]).unwrap();
    assert_eq!((a[0], b[0]), (-1.0, -0.5));
    assert_eq!(opt.state(1).unwrap().get("sum"), Some(&[4.0][..]));
}

#[test]
fn parameters_of_one_group_at_different_steps_get_their_own_coefficients() {
    // One group's coefficients are computed once per step; a parameter that skipped steps (another t) and one
    // stepping for the first time must still get their own, as stepping each alone gives.
    let hyper = Adam { lr: 0.1, amsgrad: true, ..Adam::default() };
    let params = [Param::new(3), Param::new(2), Param::new(40_000), Param::new(70_000)];
    let mut together = Optimizer::<Adam, f32>::new(hyper, params.clone()).unwrap();
    let mut alone = together.clone();
    let mut values: Vec<Vec<f32>> = params.iter().map(|p| vec![1.0; p.len()]).collect();
    let mut alone_values = values.clone();
    for step in 0..6usize {
        let grads: Vec<Vec<f32>> =
            params.iter().enumerate().map(|(k, p)| vec![0.25 * (k + step) as f32 - 0.5; p.len()]).collect();
        // Parameter 1 starts at step 3; parameter 0 skips every other step.
        let has = |k: usize| match k {
            0 => step % 2 == 0,
            1 => step >= 3,
            _ => true,
        };
        let grad_refs: Vec<Option<&[f32]>> =
            grads.iter().enumerate().map(|(k, g)| has(k).then_some(g.as_slice())).collect();
        let mut slices: Vec<&mut [f32]> = values.iter_mut().map(Vec::as_mut_slice).collect();
        together.step(&mut slices, &grad_refs).unwrap();
        for (k, grad) in grad_refs.iter().enumerate() {
            if let Some(grad) = grad {
                alone.step_param(k, &mut alone_values[k], grad).unwrap();
            }
        }
        assert_eq!(values, alone_values, "step {step}");
    }
    assert_eq!(together, alone);
}

/// A rule with optimizer-wide state and a global stage: every parameter steps along the gradient of all of them,
/// normalized by their total norm, θ ← θ − η·g / ‖(g₁, …, gₙ)‖, and the stage keeps a running maximum of that norm.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct GloballyNormalized {
    lr: f64,
}

impl Rule for GloballyNormalized {
    const NAME: &'static str = "GloballyNormalized";

    fn validate(&self) -> Result<(), Error> {
        Ok(())
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new())
    }

    fn global_layout(&self) -> Result<StateLayout, Error> {
        Ok(StateLayout::new().step().scalar("norm", 0.0).tensor("norms", [2], 0.0))
    }

    const GLOBAL_STAGE: bool = true;

    fn global_stage<T: descent::Float>(&self, stage: &mut descent::GlobalStage<'_, Self, T>) {
        let squares: f64 = stage.grads.iter().flatten().flat_map(|g| g.iter()).map(|v| v.to_f64().powi(2)).sum();
        let norm = squares.sqrt();
        stage.state.set_scalar("norm", norm);
        let norms = stage.state.tensor_mut("norms").unwrap().values_mut();
        norms[0] = T::from_f64(norm);
        norms[1] = if norms[1].to_f64() > norm { norms[1] } else { T::from_f64(norm) };
    }

    type Coefficients<L: Lane> = L;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> L {
        L::splat(<L::Scalar as descent::Float>::from_f64(-self.lr / step.global_scalar("norm")))
    }

    fn update<L: Lane>(c: &L, param: &mut L, grad: L, _state: &mut [L]) {
        *param = c.mul_add(grad, *param);
    }
}

#[test]
fn optimizer_wide_state_and_a_global_stage() {
    let params = [Param::named("a", 1), Param::named("b", [1, 1])];
    let mut opt = Optimizer::<GloballyNormalized, f64>::new(GloballyNormalized { lr: 1.0 }, params.clone()).unwrap();
    let (mut a, mut b) = (vec![0.0], vec![0.0]);
    opt.step(&mut [&mut a, &mut b], &[Some(&[3.0]), Some(&[4.0])]).unwrap();
    let c = -1.0 / 5.0;
    assert_eq!((a[0], b[0]), (c * 3.0, c * 4.0));
    opt.step(&mut [&mut a, &mut b], &[Some(&[0.6]), Some(&[0.8])]).unwrap();
    let global = opt.global_state().unwrap();
    assert_eq!((global.step(), global.scalar("norm")), (Some(2.0), Some(1.0)));
    assert_eq!(global.get("norms"), Some(&[1.0, 5.0][..]));
    // One parameter at a time cannot work: the stage needs every gradient.
    let err = opt.step_param(0, &mut a, &[1.0]).unwrap_err();
    assert_eq!(err, Error::NeedsAllGradients { optimizer: "GloballyNormalized" });

    // The optimizer-wide state is saved and loaded with the rest, and checked.
    let bytes = descent::checkpoint::to_bytes(&descent::checkpoint::Checkpoint::of(opt.state_dict())).unwrap();
    let loaded = descent::checkpoint::from_bytes::<f64>(&bytes).unwrap();
    let mut resumed = Optimizer::<GloballyNormalized, f64>::new(GloballyNormalized::default(), params).unwrap();
    resumed.load_state_dict(&loaded.optimizer).unwrap();
    assert_eq!(resumed, opt);
    let mut missing = loaded.optimizer.clone();
    missing.global = None;
    let before = resumed.clone();
    let err = resumed.load_state_dict(&missing).unwrap_err();
    assert!(err.to_string().contains("no optimizer-wide state"), "{err}");
    let mut wrong = loaded.optimizer;
    wrong.global.as_mut().unwrap().tensors[0].1 = [3].into();
    assert!(resumed.load_state_dict(&wrong).is_err());
    assert_eq!(resumed, before);
    // Through a spec, the candle adapter's one-at-a-time steps are refused up front.
    assert!(Spec::from_rule(GloballyNormalized::default()).needs_all_gradients());
}

/// MARS's Shampoo form sees a tensor as its first dimension by the rest: a 3 × 4 × 2 tensor steps exactly as the
/// 3 × 8 matrix of the same values (both have the factor √max(1, 3/4) = √max(1, 3/8) = 1); empty tensors step
/// without error.
#[test]
fn mars_shampoo_flattens_trailing_dimensions() {
    let mars = Mars { mars_type: MarsType::Shampoo, cautious: true, ams_bound: true, ..Mars::default() };
    let run = |dims: &[usize]| {
        let mut opt = Optimizer::<Mars, f32>::new(mars, [Param::new(dims.to_vec())]).unwrap();
        let len: usize = dims.iter().product();
        let mut p: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
        for step in 0..3 {
            let g: Vec<f32> = (0..len).map(|i| ((i * 7 + step) as f32 * 0.11).cos()).collect();
            opt.step(&mut [&mut p], &[Some(&g)]).unwrap();
        }
        p
    };
    let (tensor, matrix) = (run(&[3, 4, 2]), run(&[3, 8]));
    assert_eq!(tensor, matrix);
    assert!(tensor.iter().all(|v| v.is_finite()));
    assert!(run(&[0, 5]).is_empty() && run(&[5, 0]).is_empty());
}

/// Cautious MARS steps only where the moment agrees in sign with the gradient: after a first step (m = 0.05·c,
/// the same signs as g), a small gradient of the opposite sign leaves every m with its old sign, so nothing moves
/// (no weight decay); on the first step every value agrees, k = n = 4, and the step is scaled by 4/5.
#[test]
fn cautious_mars_moves_only_where_the_moment_agrees_with_the_gradient() {
    let plain = Mars { cautious: false, gamma: 0.0, weight_decay: 0.0, ..Mars::default() };
    let cautious = Mars { cautious: true, ..plain };
    let first = [0.5f32, -0.25, 1.0, -2.0];
    let mut moved = Vec::new();
    for mars in [plain, cautious] {
        let mut opt = Optimizer::<Mars, f32>::new(mars, [Param::new([2, 2])]).unwrap();
        let mut p = vec![1.0f32; 4];
        opt.step(&mut [&mut p], &[Some(&first)]).unwrap();
        moved.push(p.iter().map(|v| v - 1.0).collect::<Vec<_>>());
        if mars.cautious {
            let before = p.clone();
            let against: Vec<f32> = first.iter().map(|g| -0.001 * g).collect();
            opt.step(&mut [&mut p], &[Some(&against)]).unwrap();
            assert_eq!(p, before);
        }
    }
    // Each move is read as p − 1, to within an ulp of 1 (1.2e-7, 4e-5 of a move of 0.003).
    for (plain, cautious) in moved[0].iter().zip(&moved[1]) {
        assert!((cautious / plain - 0.8).abs() < 1e-4, "{cautious} vs 0.8 × {plain}");
    }
}
