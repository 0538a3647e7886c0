//! Minimizes the Rosenbrock function with the seven optimizers of the article and prints how each one did.
//!
//! Run with `cargo run --release --example minimize`.
//!
//! J(x, y) = (1 − x)² + 100·(y − x²)² has its minimum J = 0 at (1, 1), at the end of a long, curved, flat-bottomed
//! valley: the gradient across the valley is steep, along it tiny. Every optimizer starts at (−1.5, 2).

use descent::{Adadelta, Adagrad, Adam, Optimizer, Param, RmsProp, Rule, Sgd};

const START: [f64; 2] = [-1.5, 2.0];
const MINIMUM: [f64; 2] = [1.0, 1.0];
const STEPS: usize = 5000;
const TOLERANCE: f64 = 1e-3;

fn loss(p: &[f64]) -> f64 {
    (1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2)
}

fn gradient(p: &[f64]) -> [f64; 2] {
    let (x, y) = (p[0], p[1]);
    [-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)]
}

fn distance_to_minimum(p: &[f64]) -> f64 {
    ((p[0] - MINIMUM[0]).powi(2) + (p[1] - MINIMUM[1]).powi(2)).sqrt()
}

/// How one optimizer's run ended.
struct Outcome {
    point: Vec<f64>,
    loss: f64,
    /// The first step after which the point stayed within `TOLERANCE` of the minimum.
    converged_at: Option<usize>,
}

fn run<R: Rule>(hyper: R) -> Result<Outcome, descent::Error> {
    let mut point = START.to_vec();
    let mut opt = Optimizer::<R, f64>::new(hyper, [Param::named("xy", 2)])?;
    let mut converged_at = None;
    for step in 1..=STEPS {
        let grad = gradient(&point);
        opt.step(&mut [&mut point], &[Some(&grad)])?;
        match (distance_to_minimum(&point) <= TOLERANCE, converged_at) {
            (true, None) => converged_at = Some(step),
            (false, Some(_)) => converged_at = None,
            _ => {}
        }
        if !point.iter().all(|v| v.is_finite()) {
            break;
        }
    }
    Ok(Outcome { loss: loss(&point), point, converged_at })
}

fn main() -> Result<(), descent::Error> {
    let sgd = Sgd { lr: 1e-3, ..Sgd::default() };
    let momentum = Sgd { momentum: 0.9, ..sgd };
    let nesterov = Sgd { nesterov: true, ..momentum };
    let races: [(&str, String, Result<Outcome, descent::Error>); 7] = [
        ("SGD", "lr=1e-3".into(), run(sgd)),
        ("Momentum", "lr=1e-3, momentum=0.9".into(), run(momentum)),
        ("Nesterov", "lr=1e-3, momentum=0.9, nesterov".into(), run(nesterov)),
        ("AdaGrad", "lr=0.5".into(), run(Adagrad { lr: 0.5, ..Adagrad::default() })),
        ("RMSprop", "lr=1e-3".into(), run(RmsProp { lr: 1e-3, ..RmsProp::default() })),
        ("AdaDelta", "lr=1.0 (PyTorch default)".into(), run(Adadelta::default())),
        ("Adam", "lr=0.05".into(), run(Adam { lr: 0.05, ..Adam::default() })),
    ];
    println!(
        "Rosenbrock J(x, y) = (1 − x)² + 100·(y − x²)², minimum J = 0 at (1, 1); start (−1.5, 2); {STEPS} steps\n"
    );
    println!(
        "{:<9} {:<34} {:>12} {:>24} {:>11} {:>10}",
        "optimizer", "hyperparameters", "final loss", "final point", "distance", "converged"
    );
    for (name, hyper, outcome) in races {
        let o = outcome?;
        let point = format!("({:.5}, {:.5})", o.point[0], o.point[1]);
        let converged = o.converged_at.map_or("no".to_owned(), |s| format!("step {s}"));
        let distance = distance_to_minimum(&o.point);
        println!("{name:<9} {hyper:<34} {:>12.3e} {point:>24} {distance:>11.2e} {converged:>10}", o.loss);
    }
    println!("\n\"converged\": the step after which the point stayed within {TOLERANCE} of (1, 1).");
    Ok(())
}
