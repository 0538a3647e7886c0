//! Parameter groups chosen by variable name, a rule declared outside the library, and checkpoints, all through
//! candle: each equals the same optimizer on plain slices.

use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer as _;
use descent::{Entry, Error, Float, Lane, Optimizer, Param, Registry, Rule, Shape, Spec, StateLayout, StepContext};
use descent_candle::{DescentOptimizer, ParamGroups};
use serde::{Deserialize, Serialize};

fn var(values: &[f32], shape: &[usize]) -> Var {
    Var::from_tensor(&Tensor::new(values, &Device::Cpu).unwrap().reshape(shape).unwrap()).unwrap()
}

fn values(var: &Var) -> Vec<f32> {
    var.as_tensor().flatten_all().unwrap().to_vec1().unwrap()
}

/// Σ (i+1)·w_i² + Σ b_i³ over the two variables.
fn loss(w: &Var, b: &Var) -> Tensor {
    let c = Tensor::arange(1.0f32, 7.0, &Device::Cpu).unwrap().reshape((2, 3)).unwrap();
    let quadratic = (w.as_tensor().sqr().unwrap() * c).unwrap().sum_all().unwrap();
    let cubic = b.as_tensor().powf(3.0).unwrap().sum_all().unwrap();
    (quadratic + cubic).unwrap()
}

fn gradients(w: &Var, b: &Var) -> (Vec<f32>, Vec<f32>) {
    let grads = loss(w, b).backward().unwrap();
    let g = |v: &Var| grads.get(v.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    (g(w), g(b))
}

#[test]
fn groups_are_chosen_by_variable_name() {
    let (w, b) = (var(&[1.0, -2.0, 0.5, 0.25, -1.0, 2.0], &[2, 3]), var(&[0.5, -0.5, 1.0], &[3]));
    let decay: Spec = "adamw(lr=0.01, weight_decay=0.1)".parse().unwrap();
    let no_decay: Spec = "adamw(lr=0.01, weight_decay=0)".parse().unwrap();
    let groups = ParamGroups::new(decay.clone()).group(no_decay.clone(), |name| name.ends_with(".bias"));
    let vars = vec![("fc.bias".to_owned(), b.clone()), ("fc.weight".to_owned(), w.clone())];
    let mut opt = DescentOptimizer::with_groups(vars, groups).unwrap();
    assert_eq!((opt.group_of("fc.weight"), opt.group_of("fc.bias")), (Some(0), Some(1)));

    let mut plain = Spec::build_groups::<f32>([
        (decay, vec![Param::named("fc.weight", [2, 3])]),
        (no_decay, vec![Param::named("fc.bias", 3)]),
    ])
    .unwrap();
    let (mut pw, mut pb) = (values(&w), values(&b));
    for _ in 0..5 {
        let (gw, gb) = gradients(&w, &b);
        opt.backward_step(&loss(&w, &b)).unwrap();
        plain.step(&mut [&mut pw, &mut pb], &[Some(&gw), Some(&gb)]).unwrap();
    }
    assert_eq!((values(&w), values(&b)), (pw, pb));
    assert_eq!(opt.optimizer_f32().unwrap().state_dict(), plain.state_dict());

    // Scheduling one group leaves the other alone; an invalid rate changes nothing.
    opt.try_set_group_learning_rate(Some(1), 0.5).unwrap();
    let optimizer = opt.optimizer_f32().unwrap();
    assert_eq!((optimizer.lr(0), optimizer.lr(1)), (Ok(0.01), Ok(0.5)));
    assert!(opt.try_set_group_learning_rate(None, -1.0).is_err());
    let optimizer = opt.optimizer_f32().unwrap();
    assert_eq!((optimizer.lr(0), optimizer.lr(1)), (Ok(0.01), Ok(0.5)));
}

/// Sign descent with a step that shrinks as 1/t: θ ← θ − (η/t)·sign(g). Declared here, outside the library.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SignDescent {
    lr: f64,
}

impl Default for SignDescent {
    fn default() -> Self {
        SignDescent { lr: 0.1 }
    }
}

impl Rule for SignDescent {
    const NAME: &'static str = "SignDescent";

    fn validate(&self) -> Result<(), Error> {
        match self.lr.is_finite() && self.lr >= 0.0 {
            true => Ok(()),
            false => Err(Error::InvalidHyperparameter {
                optimizer: Self::NAME,
                name: "lr",
                value: self.lr,
                expected: "a finite number >= 0",
            }),
        }
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new().step())
    }

    type Coefficients<L: Lane> = (L, L);

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> (L, L) {
        let scalar = |v: f64| L::splat(<L::Scalar as Float>::from_f64(v));
        (scalar(self.lr / step.t), scalar(0.0))
    }

    fn update<L: Lane>(c: &(L, L), param: &mut L, grad: L, _state: &mut [L]) {
        let (step, zero) = *c;
        // sign(g)·step without branches: step·g / |g|, and 0 for g = 0.
        let magnitude = (grad * grad).sqrt();
        let direction = grad / magnitude.maximum(L::splat(<L::Scalar as Float>::from_f64(f64::MIN_POSITIVE)));
        *param = *param - step * direction + zero;
    }
}

/// The closed form of `steps` steps from `start` when the gradient's sign never changes: θ − η·Σ 1/t·sign(g).
fn closed_form(start: f32, sign: f32, lr: f64, steps: usize) -> f32 {
    (1..=steps).fold(start, |theta, t| theta - (lr / t as f64) as f32 * sign)
}

#[test]
fn a_rule_of_our_own_runs_everywhere_a_built_in_one_does() {
    let start = [3.0f32, -4.0, 5.0, 6.0, -7.0, 8.0];
    let lr = 0.25;
    // Through Optimizer, with gradient sign(θ) (the iterates never cross zero in three steps).
    let mut direct = Optimizer::<SignDescent, f32>::new(SignDescent { lr }, [Param::named("w", [2, 3])]).unwrap();
    let mut theta = start.to_vec();
    for _ in 0..3 {
        let grad: Vec<f32> = theta.iter().map(|v| v.signum() * 2.0).collect();
        direct.step(&mut [&mut theta], &[Some(&grad)]).unwrap();
    }
    let expected: Vec<f32> = start.iter().map(|&v| closed_form(v, v.signum(), lr, 3)).collect();
    assert_eq!(theta, expected);

    // Through a registry entry, a parsed spec and the dynamic optimizer.
    let mut registry = Registry::builtin().clone();
    registry.add(Entry::new("sign_descent", "sign descent with a 1/t step", SignDescent::default())).unwrap();
    let spec = registry.parse("sign_descent(lr=0.25)").unwrap();
    assert_eq!(spec.to_string(), "sign_descent(lr=0.25)");
    let mut dynamic = Spec::build_groups::<f32>([(spec.clone(), vec![Param::named("w", [2, 3])])]).unwrap();
    let mut dynamic_theta = start.to_vec();
    for _ in 0..3 {
        let grad: Vec<f32> = dynamic_theta.iter().map(|v| v.signum() * 2.0).collect();
        dynamic.step(&mut [&mut dynamic_theta], &[Some(&grad)]).unwrap();
    }
    assert_eq!(dynamic_theta, expected);
    assert_eq!(dynamic.state_dict(), direct.state_dict());

    // Through the candle adapter, on the loss Σ 2·|w| whose gradient is 2·sign(w).
    let w = var(&start, &[2, 3]);
    let mut candle = DescentOptimizer::with_groups(vec![("w".into(), w.clone())], ParamGroups::new(spec)).unwrap();
    for _ in 0..3 {
        let loss = (w.as_tensor().abs().unwrap().sum_all().unwrap() * 2.0).unwrap();
        candle.backward_step(&loss).unwrap();
    }
    assert_eq!(values(&w), expected);
    assert_eq!(candle.optimizer_f32().unwrap().state(0).unwrap().step(), Some(3.0));

    // And Spec::from_rule names a rule the built-in registry does not know after its class.
    assert_eq!(Spec::from_rule(SignDescent { lr }).to_string(), "SignDescent(lr=0.25)");
}

#[test]
fn a_candle_run_resumes_from_a_checkpoint_bit_for_bit() {
    let start_w = [1.0f32, -2.0, 0.5, 0.25, -1.0, 2.0];
    let start_b = [0.5f32, -0.5, 1.0];
    let spec: Spec = "adam(lr=0.05, amsgrad=True)".parse().unwrap();
    let make = |w: &Var, b: &Var| {
        let vars = vec![("w".to_owned(), w.clone()), ("b".to_owned(), b.clone())];
        DescentOptimizer::with_groups(vars, ParamGroups::new(spec.clone())).unwrap()
    };
    let (w, b) = (var(&start_w, &[2, 3]), var(&start_b, &[3]));
    let mut straight = make(&w, &b);
    for _ in 0..8 {
        straight.backward_step(&loss(&w, &b)).unwrap();
    }

    let (w2, b2) = (var(&start_w, &[2, 3]), var(&start_b, &[3]));
    let mut first = make(&w2, &b2);
    for _ in 0..4 {
        first.backward_step(&loss(&w2, &b2)).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("descent-candle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.safetensors");
    let checkpoint = descent::checkpoint::Checkpoint {
        optimizer: first.optimizer_f32().unwrap().state_dict(),
        tensors: vec![("w".into(), [2, 3].into(), values(&w2)), ("b".into(), [3].into(), values(&b2))],
        metadata: serde_json::Value::Null,
    };
    descent::checkpoint::save(&path, &checkpoint).unwrap();
    drop(first);

    let loaded = descent::checkpoint::load::<f32>(&path).unwrap();
    let (w3, b3) = (var(&loaded.tensors[0].2, &[2, 3]), var(&loaded.tensors[1].2, &[3]));
    let mut second = make(&w3, &b3);
    second.optimizer_f32_mut().unwrap().load_state_dict(&loaded.optimizer).unwrap();
    for _ in 0..4 {
        second.backward_step(&loss(&w3, &b3)).unwrap();
    }
    assert_eq!((values(&w3), values(&b3)), (values(&w), values(&b)));
    assert_eq!(second.optimizer_f32().unwrap().state_dict(), straight.optimizer_f32().unwrap().state_dict());
    std::fs::remove_dir_all(dir).unwrap();
}
