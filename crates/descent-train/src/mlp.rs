//! A multilayer perceptron in candle: linear layers with ReLU between them, logits out, each layer one
//! [`Dense`](crate::dense) operation.

use crate::dense::{cpu_values, Dense, Sizes};
use candle_core::backprop::GradStore;
use candle_core::{Device, Error, Result, Tensor, Var};
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

    /// The mean cross-entropy loss of a batch, as candle's `cross_entropy` of [`Mlp::forward`]'s logits, and the
    /// gradient of every parameter, for `inputs` (row-major, `labels.len() × sizes[0]`) and class `labels`.
    ///
    /// The backward pass is written out rather than left to candle's autograd, which adds each gradient to a
    /// fresh tensor of zeros and builds the softmax's gradient from several operations: here the loss's gradient
    /// with respect to the logits is `(softmax − one-hot) / batch`, and each layer's gradients are
    /// those of its own candle operation's backward pass. They equal autograd's to rounding (tested).
    pub fn loss_and_gradients(&self, inputs: &[f32], labels: &[u32]) -> Result<(f32, GradStore)> {
        let batch = labels.len();
        let guards: Vec<_> = self
            .layers
            .iter()
            .map(|(w, b)| (w.as_tensor().storage_and_layout(), b.as_tensor().storage_and_layout()))
            .collect();
        let mut params = Vec::with_capacity(guards.len());
        for ((w, w_layout), (b, b_layout)) in &guards {
            let (inputs, outputs) = w_layout.shape().dims2()?;
            params.push((Sizes { batch, inputs, outputs }, cpu_values(w, w_layout)?, cpu_values(b, b_layout)?));
        }
        let first = params[0].0.inputs;
        if batch == 0 {
            return Err(Error::msg("a batch needs at least one image (the mean loss of none is undefined)"));
        }
        if inputs.len() != batch * first {
            return Err(Error::msg(format!(
                "{} input values do not make {batch} rows of {first} (one row per label)",
                inputs.len()
            )));
        }
        let classes = params[params.len() - 1].0.outputs;
        if let Some(label) = labels.iter().find(|&&l| l as usize >= classes) {
            return Err(Error::msg(format!("label {label} is not one of the {classes} classes")));
        }
        let last = params.len() - 1;
        // Each layer's output, the last one's the logits.
        let mut outputs: Vec<Vec<f32>> = Vec::with_capacity(params.len());
        for (i, &(sizes, w, b)) in params.iter().enumerate() {
            let x = if i == 0 { inputs } else { &outputs[i - 1] };
            let y = Dense { relu: i < last }.forward(sizes, x, w, b);
            outputs.push(y);
        }
        // log softmax(z)ᵢ = (zᵢ − max z) − ln Σⱼ exp(zⱼ − max z), as candle's `log_softmax` computes it.
        let mut grad = Vec::with_capacity(batch * classes);
        let mut picked = 0.0f32;
        let share = 1.0 / batch as f32;
        for (row, &label) in outputs[last].chunks_exact(classes).zip(labels) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z));
            let start = grad.len();
            grad.extend(row.iter().map(|&z| (z - max).exp()));
            let sum: f32 = grad[start..].iter().sum();
            picked += (row[label as usize] - max) - sum.ln();
            grad[start..].iter_mut().for_each(|e| *e = *e / sum * share);
            grad[start + label as usize] -= share;
        }
        let loss = picked * -share;
        let mut grads = GradStore::default();
        let mut grad = Some(grad);
        for (i, &(sizes, w, _)) in params.iter().enumerate().rev() {
            let x = if i == 0 { inputs } else { &outputs[i - 1] };
            let g = grad.take().expect("every layer but the first passes a gradient back");
            let layer = Dense { relu: i < last }.backward(sizes, (x, w, &outputs[i]), g, i > 0);
            let (weight, bias) = &self.layers[i];
            let device = &Device::Cpu;
            grads.insert(weight.as_tensor(), Tensor::from_vec(layer.weight, (sizes.inputs, sizes.outputs), device)?);
            grads.insert(bias.as_tensor(), Tensor::from_vec(layer.bias, sizes.outputs, device)?);
            grad = layer.x;
        }
        Ok((loss, grads))
    }
}

#[cfg(test)]
mod tests {
    use super::Mlp;
    use candle_core::{Device, Tensor};

    /// Inputs in [−1, 1) from a small linear congruential sequence.
    fn inputs(count: usize) -> Vec<f32> {
        let mut state = 7u64;
        (0..count)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The loss and every gradient equal those of candle's autograd through a network built from candle's own
    /// matmul, broadcast addition, ReLU and `cross_entropy`, to rounding (the sums run in other orders).
    #[test]
    fn gradients_equal_candles_autograd() -> candle_core::Result<()> {
        let sizes = [13, 17, 11, 5];
        let model = Mlp::new(&sizes, 3)?;
        let batch = 9;
        let values = inputs(batch * sizes[0]);
        let labels: Vec<u32> = (0..batch as u32).map(|i| (i * 3) % 5).collect();
        let (loss, grads) = model.loss_and_gradients(&values, &labels)?;

        let device = &Device::Cpu;
        let mut x = Tensor::from_vec(values, (batch, sizes[0]), device)?;
        for (i, (w, b)) in model.layers.iter().enumerate() {
            x = x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            if i + 1 < model.layers.len() {
                x = x.relu()?;
            }
        }
        let reference = candle_nn::loss::cross_entropy(&x, &Tensor::from_vec(labels, batch, device)?)?;
        let expected = reference.to_scalar::<f32>()?;
        assert!((loss - expected).abs() <= 4.0 * f32::EPSILON * expected.abs(), "loss {loss} against {expected}");
        let autograd = reference.backward()?;
        for (name, var) in model.named_vars() {
            let ours =
                grads.get(var.as_tensor()).expect("a gradient for every parameter").flatten_all()?.to_vec1::<f32>()?;
            let theirs = autograd.get(var.as_tensor()).expect("autograd's gradient").flatten_all()?.to_vec1::<f32>()?;
            let scale = theirs.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "{name}: a zero gradient tests nothing");
            for (a, b) in ours.iter().zip(&theirs) {
                assert!((a - b).abs() <= 1e-6 * scale, "{name}: {a} against {b} (largest {scale})");
            }
        }
        Ok(())
    }

    #[test]
    fn inputs_that_do_not_fit_are_refused() -> candle_core::Result<()> {
        let model = Mlp::new(&[4, 3, 2], 0)?;
        let error = model.loss_and_gradients(&[0.0; 7], &[0, 1]).expect_err("7 values for 2 rows of 4").to_string();
        assert!(error.contains("do not make 2 rows of 4"), "{error}");
        let error = model.loss_and_gradients(&[0.0; 8], &[0, 2]).expect_err("label 2 of 2 classes").to_string();
        assert!(error.contains("label 2 is not one of the 2 classes"), "{error}");
        let error = model.loss_and_gradients(&[], &[]).expect_err("an empty batch").to_string();
        assert!(error.contains("at least one image"), "{error}");
        Ok(())
    }
}
