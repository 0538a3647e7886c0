//! MARS: a variance-reduced gradient fed to AdamW (or Lion).

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::rule::no_elementwise_update;
use crate::torch_ops::lerp;
use crate::validate::{non_negative, unit_open};
use crate::{Error, Float, Rule, Shape, StateLayout, TensorStage};

/// MARS, Make vAriance Reduction Shine (Yuan et al. 2024, "MARS: Unleashing the Power of Variance Reduction for
/// Training Large Models"), as `pytorch-optimizer`'s `MARS` computes it, in its AdamW and Lion forms.
///
/// A stochastic gradient is noisy; variance reduction corrects it with how the gradient changed since the last
/// step, scaled by γ (a stochastic recursive momentum, STORM's idea, made practical): the corrected gradient c is
/// clipped to norm 1 and fed to AdamW's moments. In the article's notation, for a weight matrix at step t:
///
/// ```text
/// c  ← g + γ·(β₁/(1 − β₁))·(g − g_prev)      g_prev: the previous step's gradient
/// c  ← c/‖c‖   if ‖c‖ > 1
/// m  ← β₁·m + (1 − β₁)·c
/// v  ← β₂·v + (1 − β₂)·c²                    (AdamW form)
/// θ  ← θ − η·(m/(1 − β₁ᵗ))/((√(v + 10⁻¹⁵) + ε)/√(1 − β₂ᵗ))       or, Lion form, θ ← θ − η·sign(m)
/// ```
///
/// Vectors and scalars (biases, norms' gains) take plain AdamW instead, with their own rate `lr_1d`, betas
/// `betas_1d` and weight decay `weight_decay_1d`, unless `optimize_1d` is set. Weight decay is decoupled by default
/// (θ ← θ·(1 − η·λ), or θ·(1 − λ) with `fixed_decay`); without `weight_decouple` the L2 term λ·θ is added to the
/// gradient after the update is computed, as the reference does, so it reaches only the gradient kept for the next
/// correction. Followed operation by operation (its single-tensor path): the correction with three roundings,
/// the moments by `lerp` and `mul`/`addcmul`, the denominator's 10⁻¹⁵ inside the root.
///
/// Where the reference differs: it counts steps per parameter group (every group advances on every step); descent
/// counts them per parameter, as torch.optim does, so they agree for parameters that get a gradient on every step.
/// It keeps `lr_1d` as a factor of the constructor's `lr`, so that a scheduler scaling `lr` scales `lr_1d` too;
/// here `lr_1d` is a rate of its own (equal to the reference's until a scheduler changes `lr`). ‖c‖ is summed in
/// `f64`. The reference's `mars_type="shampoo"`, `ams_bound` and `cautious` are not offered.
///
/// State: `step`, `exp_avg` (m), `exp_avg_sq` (v), `last_grad` (g_prev).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mars {
    /// Learning rate η (default 3e-3).
    pub lr: f64,
    /// (β₁, β₂) of the moments (default (0.95, 0.99)).
    pub betas: (f64, f64),
    /// The strength γ of the correction (default 0.025).
    pub gamma: f64,
    /// How the first moment becomes a step (default `"adamw"`).
    pub mars_type: MarsType,
    /// Whether vectors take MARS too, rather than AdamW (default false).
    pub optimize_1d: bool,
    /// The learning rate of vectors' AdamW (default 3e-3).
    pub lr_1d: f64,
    /// The betas of vectors' AdamW (default (0.9, 0.95)).
    pub betas_1d: (f64, f64),
    /// Weight decay λ of matrices (default 0).
    pub weight_decay: f64,
    /// Weight decay of vectors' AdamW (default 0.1).
    pub weight_decay_1d: f64,
    /// Decoupled weight decay (default true).
    pub weight_decouple: bool,
    /// With `weight_decouple`, decay by λ rather than η·λ (default false).
    pub fixed_decay: bool,
    /// Term added to the denominator ε (default 1e-8).
    pub eps: f64,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for Mars {
    fn default() -> Self {
        Mars {
            lr: 3e-3,
            betas: (0.95, 0.99),
            gamma: 0.025,
            mars_type: MarsType::Adamw,
            optimize_1d: false,
            lr_1d: 3e-3,
            betas_1d: (0.9, 0.95),
            weight_decay: 0.0,
            weight_decay_1d: 0.1,
            weight_decouple: true,
            fixed_decay: false,
            eps: 1e-8,
            maximize: false,
        }
    }
}

/// How MARS turns its first moment into a step (the reference's `mars_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarsType {
    /// AdamW's: divided by the root of the second moment.
    Adamw,
    /// Lion's: its sign.
    Lion,
}

/// The term the reference adds to v inside the square root.
const V_EPS: f64 = 1e-15;

impl Rule for Mars {
    const NAME: &'static str = "MARS";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        non_negative(Self::NAME, "lr_1d", self.lr_1d)?;
        unit_open(Self::NAME, "betas[0]", self.betas.0)?;
        unit_open(Self::NAME, "betas[1]", self.betas.1)?;
        unit_open(Self::NAME, "betas_1d[0]", self.betas_1d.0)?;
        unit_open(Self::NAME, "betas_1d[1]", self.betas_1d.1)?;
        non_negative(Self::NAME, "gamma", self.gamma)?;
        non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        non_negative(Self::NAME, "weight_decay_1d", self.weight_decay_1d)?;
        non_negative(Self::NAME, "eps", self.eps)
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new()
            .step()
            .elementwise("exp_avg", 0.0)
            .elementwise("exp_avg_sq", 0.0)
            .elementwise("last_grad", 0.0))
    }

    const TENSOR_STAGE: bool = true;

    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        let TensorStage { shape, param, grad, state } = stage;
        let t = state.step().map_or(1.0, f64::from);
        let mixed = self.optimize_1d || shape.dims().len() >= 2;
        let (lr, (beta1, beta2), weight_decay) = if mixed {
            (self.lr, self.betas, self.weight_decay)
        } else {
            (self.lr_1d, self.betas_1d, self.weight_decay_1d)
        };
        let [exp_avg, exp_avg_sq, last_grad] = &mut state.tensors[..] else {
            unreachable!("MARS keeps three state tensors")
        };
        let (exp_avg, exp_avg_sq, last_grad) = (exp_avg.values_mut(), exp_avg_sq.values_mut(), last_grad.values_mut());
        let grad: Vec<T> = grad.iter().map(|&g| if self.maximize { -g } else { g }).collect();
        // The gradient the moments see: the corrected one, clipped to norm 1, or (vectors' AdamW) the gradient.
        let seen: Vec<T> = if mixed {
            let scale = T::from_f64(self.gamma * (beta1 / (1.0 - beta1)));
            let mut c: Vec<T> = grad.iter().zip(last_grad.iter()).map(|(&g, &last)| (g - last) * scale + g).collect();
            let norm = T::from_f64(c.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>().sqrt());
            if norm.to_f64() > 1.0 {
                c.iter_mut().for_each(|v| *v = *v / norm);
            }
            c
        } else {
            grad.clone()
        };
        let weight = T::from_f64(1.0 - beta1);
        for (m, &c) in exp_avg.iter_mut().zip(&seen) {
            *m = lerp(*m, c, weight);
        }
        let lion = mixed && self.mars_type == MarsType::Lion;
        let minus_lr = T::from_f64(-lr);
        let decay = weight_decay != 0.0;
        let decay_factor = T::from_f64(1.0 - weight_decay * if self.fixed_decay { 1.0 } else { lr });
        let l2 = T::from_f64(weight_decay);
        let (zero, one) = (T::from_f64(0.0), T::from_f64(1.0));
        if !lion {
            let (b2, one_minus_b2) = (T::from_f64(beta2), T::from_f64(1.0 - beta2));
            for (v, &c) in exp_avg_sq.iter_mut().zip(&seen) {
                *v = (one_minus_b2 * c).mul_add(c, *v * b2);
            }
        }
        let correction1 = T::from_f64(1.0 - beta1.powf(t));
        let correction2 = T::from_f64((1.0 - beta2.powf(t)).sqrt());
        let (v_eps, eps) = (T::from_f64(V_EPS), T::from_f64(self.eps));
        for (k, p) in param.iter_mut().enumerate() {
            let m = exp_avg[k];
            let update = if lion {
                if m > zero {
                    one
                } else if m < zero {
                    -one
                } else {
                    zero
                }
            } else {
                m / ((((exp_avg_sq[k] + v_eps).sqrt() + eps) / correction2) * correction1)
            };
            let mut g = grad[k];
            if decay && self.weight_decouple {
                *p = *p * decay_factor;
            } else if decay {
                g = l2.mul_add(*p, g);
            }
            *p = minus_lr.mul_add(update, *p);
            last_grad[k] = g;
        }
    }

    no_elementwise_update!();
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("mars", "MARS: AdamW on a variance-reduced gradient", Mars::default());
    registry.add(entry).expect("built-in names are distinct");
}
