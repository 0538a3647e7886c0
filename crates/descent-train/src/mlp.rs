//! A multilayer perceptron in candle: linear layers with ReLU between them, logits out, each layer one
//! [`Dense`](crate::dense) operation.

use crate::dense::Dense;
use candle_core::{Device, Result, Tensor, Var};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Linear layers `sizes[0] → sizes[1] → … → sizes[n]`, ReLU after each but the last.
pub struct Mlp {
    /// Each layer's weight (`in × out`, so that the forward pass multiplies without a transpose) and bias.
    layers: Vec<(Var, Var)>,
}

impl Mlp {
    /// Layers initialized as PyTorch's `nn.Linear` initializes them, U(−1/√in, 1/√in) for weights and biases, from a
    /// seeded generator: the same seed gives the same weights.
    pub fn new(sizes: &[usize], seed: u64) -> Result<Mlp> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut uniform = |count: usize, bound: f64| -> Vec<f32> {
            (0..count).map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32).collect()
        };
        let mut layers = Vec::new();
        for pair in sizes.windows(2) {
            let (inputs, outputs) = (pair[0], pair[1]);
            let bound = 1.0 / (inputs as f64).sqrt();
            let weight = Tensor::from_vec(uniform(inputs * outputs, bound), (inputs, outputs), &Device::Cpu)?;
            let bias = Tensor::from_vec(uniform(outputs, bound), outputs, &Device::Cpu)?;
            layers.push((Var::from_tensor(&weight)?, Var::from_tensor(&bias)?));
        }
        Ok(Mlp { layers })
    }

    /// Every parameter, weights and biases, layer by layer, with its name: `layers.N.weight` and `layers.N.bias`.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, (w, b))| {
                [(format!("layers.{i}.weight"), w.clone()), (format!("layers.{i}.bias"), b.clone())]
            })
            .collect()
    }

    /// The names of the hidden layers' weight matrices: every weight but the output layer's (what Muon is for).
    pub fn hidden_weights(&self) -> Vec<String> {
        (0..self.layers.len() - 1).map(|i| format!("layers.{i}.weight")).collect()
    }

    /// The logits of a batch of inputs (`batch × sizes[0]`).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let last = self.layers.len() - 1;
        let mut x = input.clone();
        for (i, (weight, bias)) in self.layers.iter().enumerate() {
            x = Dense { relu: i < last }.apply(&x, weight.as_tensor(), bias.as_tensor())?;
        }
        Ok(x)
    }
}
