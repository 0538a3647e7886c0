//! How long a step of the adapter takes when the loop runs outside rayon's pool and when it runs on a pool thread:
//! Adam on the 784-256-10 MLP's four variables (203,530 parameters), with the same gradients every step, so that
//! the data stay in cache and only where the loop runs differs.
//!
//! ```sh
//! cargo run --release -p descent-candle --example step_in_pool
//! ```

use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer;
use descent_candle::DescentOptimizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shapes: [&[usize]; 4] = [&[256, 784], &[256], &[10, 256], &[10]];
    let vars = shapes
        .iter()
        .map(|&shape| Var::from_tensor(&Tensor::randn(0f32, 0.05, shape, &Device::Cpu)?))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let mut loss = Tensor::new(0f32, &Device::Cpu)?;
    for var in &vars {
        loss = (loss + var.as_tensor().sqr()?.sum_all()?)?;
    }
    let grads = loss.backward()?;
    let mut optimizer = DescentOptimizer::new(vars, "adam(lr=1e-3)".parse()?)?;
    let steps = 2000;
    let time = |optimizer: &mut DescentOptimizer| -> candle_core::Result<f64> {
        for _ in 0..200 {
            optimizer.step(&grads)?;
        }
        let start = Instant::now();
        for _ in 0..steps {
            optimizer.step(&grads)?;
        }
        Ok(start.elapsed().as_secs_f64() / f64::from(steps) * 1e6)
    };
    println!("threads: {}", rayon::current_num_threads());
    for round in 1..=3 {
        let outside = time(&mut optimizer)?;
        let inside = rayon::scope(|_| time(&mut optimizer))?;
        println!("round {round}: {outside:.1} µs a step from outside the pool, {inside:.1} µs on a pool thread");
    }
    Ok(())
}
