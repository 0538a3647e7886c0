//! What an optimizer holds after a step, in the article's terms: the gradient it used, its velocity, and the
//! step size it now applies to each coordinate.

use descent::{DynOptimizer, Float, ParamState};
use serde_json::Value;

/// An optimizer's state after one step, for showing what it is doing.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    /// The gradient the step used: its first evaluation, at the point the optimizer asked for (θ, or the
    /// look-ahead point θ + γ·v), noise included.
    pub gradient: Vec<f64>,
    /// The velocity, where the optimizer keeps one: its name in the state (`momentum_buffer`, `exp_avg` or, for
    /// the article's look-ahead Nesterov, `velocity`) and its values. The first two are in the units of the
    /// gradient (the step goes against them); the third is a displacement (the step goes along it).
    pub velocity: Option<(&'static str, Vec<f64>)>,
    /// The learning rate each coordinate now gets, for the optimizers that adapt it per coordinate:
    /// AdaGrad η/(√G + ε) (η decayed by `lr_decay`), RMSprop η/(√E\[g²\] + ε) (centered: E\[g²\] − E\[g\]²),
    /// AdaDelta η·√(E\[Δθ²\] + ε)/√(E\[g²\] + ε), Adam and AdamW (η/(1 − β₁ᵗ))/(√(v/(1 − β₂ᵗ)) + ε), v the running
    /// maximum with `amsgrad`.
    pub step_size: Option<Vec<f64>>,
}

/// The state names that hold a velocity, as the optimizers call them.
const VELOCITIES: [&str; 3] = ["momentum_buffer", "exp_avg", "velocity"];

impl StepState {
    /// The state of the first parameter of `optimizer` after a step that used `gradient`.
    pub fn of<T: Float>(optimizer: &dyn DynOptimizer<T>, gradient: &[f64]) -> StepState {
        let state = optimizer.state(0);
        let values = |name: &str| state.and_then(|s| s.get(name)).map(|v| v.iter().map(|x| x.to_f64()).collect());
        let velocity = VELOCITIES.iter().find_map(|&name| values(name).map(|v: Vec<f64>| (name, v)));
        let step_size = match (state, optimizer.hyperparameters(0)) {
            (Some(state), Ok(hyper)) => step_size(&optimizer.name(), state, &hyper),
            _ => None,
        };
        StepState { gradient: gradient.to_vec(), velocity, step_size }
    }
}

/// The per-coordinate learning rate of the adaptive optimizers, from their state and hyperparameters.
fn step_size<T: Float>(class: &str, state: &ParamState<T>, hyper: &Value) -> Option<Vec<f64>> {
    let number = |key: &str| hyper.get(key).and_then(Value::as_f64);
    let flag = |key: &str| hyper.get(key).and_then(Value::as_bool).unwrap_or(false);
    let tensor = |name: &str| -> Option<Vec<f64>> { Some(state.get(name)?.iter().map(|x| x.to_f64()).collect()) };
    let lr = number("lr")?;
    let eps = number("eps")?;
    let step = f64::from(state.step().unwrap_or(0.0));
    match class {
        "Adagrad" => {
            let decayed = lr / (1.0 + (step - 1.0) * number("lr_decay")?);
            Some(tensor("sum")?.iter().map(|g| decayed / (g.sqrt() + eps)).collect())
        }
        "RMSprop" => {
            let square_avg = tensor("square_avg")?;
            let mean = if flag("centered") { tensor("grad_avg")? } else { vec![0.0; square_avg.len()] };
            Some(square_avg.iter().zip(&mean).map(|(v, m)| lr / ((v - m * m).sqrt() + eps)).collect())
        }
        "Adadelta" => {
            let (square_avg, acc_delta) = (tensor("square_avg")?, tensor("acc_delta")?);
            Some(square_avg.iter().zip(&acc_delta).map(|(v, d)| lr * (d + eps).sqrt() / (v + eps).sqrt()).collect())
        }
        "Adam" | "AdamW" => {
            let betas = hyper.get("betas")?.as_array()?;
            let (beta1, beta2) = (betas.first()?.as_f64()?, betas.get(1)?.as_f64()?);
            let v = if flag("amsgrad") { tensor("max_exp_avg_sq")? } else { tensor("exp_avg_sq")? };
            let (correction1, correction2) = (1.0 - beta1.powf(step), 1.0 - beta2.powf(step));
            Some(v.iter().map(|v| (lr / correction1) / ((v / correction2).sqrt() + eps)).collect())
        }
        _ => None,
    }
}
