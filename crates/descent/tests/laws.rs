//! Laws every optimizer must obey, checked on random hyperparameters, parameters and gradients.

use descent::{Adadelta, Adagrad, Adam, AdamW, Error, Float, Optimizer, Param, RmsProp, Rule, Sgd};
use proptest::prelude::*;

/// A parameter and the gradients of a few steps. Values are multiples of 1/1024, exact in `f32` and `f64`.
#[derive(Debug, Clone)]
struct Problem {
    start: Vec<f64>,
    grads: Vec<Vec<f64>>,
}

fn problem() -> impl Strategy<Value = Problem> {
    (1usize..24, 1usize..7).prop_flat_map(|(len, steps)| {
        let values = |range: std::ops::RangeInclusive<i32>| {
            proptest::collection::vec(range.prop_map(|v| f64::from(v) / 1024.0), len)
        };
        (values(-4096..=4096), proptest::collection::vec(values(-3072..=3072), steps))
            .prop_map(|(start, grads)| Problem { start, grads })
    })
}

/// Runs `hyper` on `problem` in element type `T`; returns the final parameter and the final state tensors.
fn run<R: Rule, T: Float>(hyper: R, problem: &Problem, negate_grads: bool) -> (Vec<T>, Vec<Vec<T>>) {
    let mut param: Vec<T> = problem.start.iter().map(|&v| T::from_f64(v)).collect();
    let mut opt = Optimizer::<R, T>::new(hyper, [Param::new(param.len())]).unwrap();
    for grad in &problem.grads {
        let grad: Vec<T> = grad.iter().map(|&g| T::from_f64(if negate_grads { -g } else { g })).collect();
        opt.step(&mut [&mut param], &[Some(&grad)]).unwrap();
    }
    let state = opt.state(0).map(|s| s.tensors().map(|(_, t)| t.to_vec()).collect()).unwrap_or_default();
    (param, state)
}

/// Maximizing J with gradients g is minimizing −J with gradients −g: identical bits.
fn maximize_law<R: Rule>(hyper: R, maximize: impl Fn(&mut R), problem: &Problem) -> Result<(), TestCaseError> {
    let mut ascending = hyper.clone();
    maximize(&mut ascending);
    let (p_max, s_max) = run::<R, f32>(ascending, problem, false);
    let (p_min, s_min) = run::<R, f32>(hyper, problem, true);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    prop_assert_eq!(bits(&p_max), bits(&p_min));
    for (a, b) in s_max.iter().zip(&s_min) {
        prop_assert_eq!(bits(a), bits(b));
    }
    Ok(())
}

/// The `f32` path agrees with the `f64` path to `f32` precision.
fn precision_law<R: Rule>(hyper: R, problem: &Problem) -> Result<(), TestCaseError> {
    let (p32, _) = run::<R, f32>(hyper.clone(), problem, false);
    let (p64, _) = run::<R, f64>(hyper, problem, false);
    for (a, b) in p32.iter().zip(&p64) {
        let tolerance = 2e-6 * (1.0 + b.abs()) * problem.grads.len() as f64;
        prop_assert!((f64::from(*a) - b).abs() <= tolerance, "f32 {a:e} vs f64 {b:e}");
    }
    Ok(())
}

prop_compose! {
    fn sgd()(lr in 1e-4..0.3, momentum in prop_oneof![Just(0.0), 0.0..0.99], dampening in prop_oneof![Just(0.0), 0.0..0.5],
             weight_decay in prop_oneof![Just(0.0), 0.0..0.1], nesterov: bool) -> Sgd {
        let nesterov = nesterov && momentum > 0.0 && dampening == 0.0;
        Sgd { lr, momentum, dampening, weight_decay, nesterov, maximize: false }
    }
}

prop_compose! {
    fn adagrad()(lr in 1e-4..0.5, lr_decay in prop_oneof![Just(0.0), 0.0..0.1], weight_decay in prop_oneof![Just(0.0), 0.0..0.1],
                 initial_accumulator_value in prop_oneof![Just(0.0), 0.0..1.0], eps in prop_oneof![Just(1e-10), 1e-8..1e-3]) -> Adagrad {
        Adagrad { lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize: false }
    }
}

prop_compose! {
    fn rmsprop()(lr in 1e-4..0.1, alpha in 0.5..0.999, eps in prop_oneof![Just(1e-8), 1e-8..1e-3],
                 weight_decay in prop_oneof![Just(0.0), 0.0..0.1], momentum in prop_oneof![Just(0.0), 0.0..0.95], centered: bool) -> RmsProp {
        RmsProp { lr, alpha, eps, weight_decay, momentum, centered, maximize: false }
    }
}

prop_compose! {
    fn adadelta()(lr in 0.01..2.0, rho in 0.5..0.99, eps in prop_oneof![Just(1e-6), 1e-8..1e-3],
                  weight_decay in prop_oneof![Just(0.0), 0.0..0.1]) -> Adadelta {
        Adadelta { lr, rho, eps, weight_decay, maximize: false }
    }
}

prop_compose! {
    fn adam()(lr in 1e-4..0.1, beta1 in 0.0..0.99, beta2 in 0.5..0.9999, eps in prop_oneof![Just(1e-8), 1e-8..1e-3],
              weight_decay in prop_oneof![Just(0.0), 0.0..0.1], amsgrad: bool, decoupled_weight_decay: bool) -> Adam {
        Adam { lr, betas: (beta1, beta2), eps, weight_decay, amsgrad, maximize: false, decoupled_weight_decay, state: descent::StateType::Full }
    }
}

fn adamw() -> impl Strategy<Value = AdamW> {
    adam().prop_map(AdamW::from)
}

/// Both laws for one optimizer, in a module named after it.
macro_rules! laws {
    ($($optimizer:ident: $strategy:expr;)*) => {$(
        mod $optimizer {
            use super::*;

            proptest! {
                #[test]
                fn maximize_is_minimize_of_negated_gradient(h in $strategy, p in problem()) {
                    maximize_law(h, |h| h.maximize = true, &p)?;
                }

                #[test]
                fn f32_agrees_with_f64(h in $strategy, p in problem()) {
                    precision_law(h, &p)?;
                }
            }
        }
    )*};
}

laws! {
    sgd: sgd();
    adagrad: adagrad();
    rmsprop: rmsprop();
    adadelta: adadelta();
    adam: adam();
    adamw: adamw();
}

proptest! {
    /// m̂₁ = g and v̂₁ = g², so Adam's first step is η·g/(|g| + ε) for every coordinate, whatever the betas.
    #[test]
    fn adam_first_step_moves_each_coordinate_by_lr_g_over_abs_g_plus_eps(
        lr in 1e-4..1.0, beta1 in 0.0..0.999, beta2 in 0.0..0.9999, eps in 1e-10..1e-2, p in problem(),
    ) {
        let hyper = Adam { lr, betas: (beta1, beta2), eps, ..Adam::default() };
        let first = Problem { start: p.start.clone(), grads: vec![p.grads[0].clone()] };
        let (param, _) = run::<Adam, f64>(hyper, &first, false);
        for ((after, before), g) in param.iter().zip(&first.start).zip(&first.grads[0]) {
            let expected = lr * g.abs() / (g.abs() + eps);
            let moved = before - after;
            prop_assert!((moved.abs() - expected).abs() <= 1e-12 * (1.0 + before.abs()), "moved {moved:e}, expected {expected:e}");
            prop_assert!(moved == 0.0 || moved.signum() == g.signum());
        }
    }
}

/// One numeric hyperparameter of an optimizer: how to set it, and PyTorch's rule for its valid values.
struct Field<R> {
    name: &'static str,
    set: fn(&mut R, f64),
    valid: fn(f64) -> bool,
}

fn non_negative(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

fn beta(v: f64) -> bool {
    (0.0..1.0).contains(&v)
}

fn any_finite(v: f64) -> bool {
    v.is_finite()
}

fn check_field<R: Rule>(base: R, field: &Field<R>, value: f64) -> Result<(), TestCaseError> {
    let mut hyper = base;
    (field.set)(&mut hyper, value);
    match hyper.validate() {
        Ok(()) => prop_assert!((field.valid)(value), "{} = {value} accepted", field.name),
        Err(Error::InvalidHyperparameter { name, value: reported, .. }) => {
            prop_assert!(!(field.valid)(value), "{} = {value} rejected", field.name);
            prop_assert_eq!(name, field.name);
            prop_assert!(reported == value || (reported.is_nan() && value.is_nan()));
        }
        Err(other) => prop_assert!(false, "{} = {value}: unexpected error {other}", field.name),
    }
    let optimizer = Optimizer::<R, f32>::new(hyper, [Param::new(1)]);
    prop_assert_eq!(optimizer.is_ok(), (field.valid)(value));
    Ok(())
}

fn hyperparameter_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        -10.0..10.0,
        -1.5..1.5,
        Just(0.0),
        Just(-0.0),
        Just(1.0),
        Just(-f64::MIN_POSITIVE),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
    ]
}

proptest! {
    #[test]
    fn validation_follows_pytorch_rules(value in hyperparameter_value()) {
        let sgd: [Field<Sgd>; 4] = [
            Field { name: "lr", set: |h, v| h.lr = v, valid: non_negative },
            Field { name: "momentum", set: |h, v| h.momentum = v, valid: non_negative },
            Field { name: "weight_decay", set: |h, v| h.weight_decay = v, valid: non_negative },
            Field { name: "dampening", set: |h, v| h.dampening = v, valid: any_finite },
        ];
        for f in &sgd { check_field(Sgd::default(), f, value)?; }
        let adagrad: [Field<Adagrad>; 5] = [
            Field { name: "lr", set: |h, v| h.lr = v, valid: non_negative },
            Field { name: "lr_decay", set: |h, v| h.lr_decay = v, valid: non_negative },
            Field { name: "weight_decay", set: |h, v| h.weight_decay = v, valid: non_negative },
            Field { name: "initial_accumulator_value", set: |h, v| h.initial_accumulator_value = v, valid: non_negative },
            Field { name: "eps", set: |h, v| h.eps = v, valid: non_negative },
        ];
        for f in &adagrad { check_field(Adagrad::default(), f, value)?; }
        let rmsprop: [Field<RmsProp>; 5] = [
            Field { name: "lr", set: |h, v| h.lr = v, valid: non_negative },
            Field { name: "eps", set: |h, v| h.eps = v, valid: non_negative },
            Field { name: "momentum", set: |h, v| h.momentum = v, valid: non_negative },
            Field { name: "weight_decay", set: |h, v| h.weight_decay = v, valid: non_negative },
            Field { name: "alpha", set: |h, v| h.alpha = v, valid: non_negative },
        ];
        for f in &rmsprop { check_field(RmsProp::default(), f, value)?; }
        let adadelta: [Field<Adadelta>; 4] = [
            Field { name: "lr", set: |h, v| h.lr = v, valid: non_negative },
            Field { name: "rho", set: |h, v| h.rho = v, valid: |v| (0.0..=1.0).contains(&v) },
            Field { name: "eps", set: |h, v| h.eps = v, valid: non_negative },
            Field { name: "weight_decay", set: |h, v| h.weight_decay = v, valid: non_negative },
        ];
        for f in &adadelta { check_field(Adadelta::default(), f, value)?; }
        let adam: [Field<Adam>; 5] = [
            Field { name: "lr", set: |h, v| h.lr = v, valid: non_negative },
            Field { name: "eps", set: |h, v| h.eps = v, valid: non_negative },
            Field { name: "betas[0]", set: |h, v| h.betas.0 = v, valid: beta },
            Field { name: "betas[1]", set: |h, v| h.betas.1 = v, valid: beta },
            Field { name: "weight_decay", set: |h, v| h.weight_decay = v, valid: non_negative },
        ];
        for f in &adam { check_field(Adam::default(), f, value)?; }
        let adamw: [Field<AdamW>; 5] = [
            Field { name: "lr", set: |h, v| h.lr = v, valid: non_negative },
            Field { name: "eps", set: |h, v| h.eps = v, valid: non_negative },
            Field { name: "betas[0]", set: |h, v| h.betas.0 = v, valid: beta },
            Field { name: "betas[1]", set: |h, v| h.betas.1 = v, valid: beta },
            Field { name: "weight_decay", set: |h, v| h.weight_decay = v, valid: non_negative },
        ];
        for f in &adamw { check_field(AdamW::default(), f, value)?; }
    }
}

#[test]
fn nesterov_needs_momentum_and_no_dampening() {
    let reason = "Nesterov momentum requires a momentum and zero dampening";
    for sgd in [
        Sgd { nesterov: true, ..Sgd::default() },
        Sgd { nesterov: true, momentum: 0.9, dampening: 0.1, ..Sgd::default() },
    ] {
        assert_eq!(sgd.validate(), Err(Error::InvalidCombination { optimizer: "SGD", reason }));
    }
    assert_eq!(Sgd { nesterov: true, momentum: 0.9, ..Sgd::default() }.validate(), Ok(()));
}
