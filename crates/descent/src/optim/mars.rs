//! MARS: a variance-reduced gradient fed to AdamW (or Lion).

use half::bf16;
use serde::{Deserialize, Serialize};

use crate::kernel::Inline;
use crate::newton_schulz::{orthogonalize, QUINTIC};
use crate::registry::{Entry, Registry};
use crate::rule::no_elementwise_update;
use crate::torch_ops::lerp;
use crate::validate::{non_negative, unit_open};
use crate::{with_best_isa, Error, Float, Rule, Shape, StateLayout, TensorStage};

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
/// θ  ← θ − η·(m/(1 − β₁ᵗ))/((√(v + 10⁻¹⁵) + ε)/√(1 − β₂ᵗ))       AdamW form
/// θ  ← θ − η·sign(m)                                               Lion form
/// θ  ← θ − η·√max(1, rows/cols)·NS₅(m/(1 − β₁))                   Shampoo form (matrices; no v)
/// ```
///
/// NS₅ is the quintic Newton–Schulz orthogonalization Muon uses, in bfloat16 (five steps, coefficients
/// (3.4445, −4.7750, 2.0315), the matrix divided by its norm but at least ε); a tensor of more dimensions is seen as
/// its first dimension by the rest, and its factor uses its first two. With `ams_bound`, v in the AdamW form is
/// replaced by v̄ ← max(v̄, v), the largest so far. With `cautious`, the step's m keeps only the values that agree
/// in sign with the gradient g (m·g > 0), scaled by n/(k + 1) for k agreeing values of n.
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
/// `f64`. The Shampoo form's products are summed in another order than PyTorch's, so its step can differ from
/// the reference's by a few bfloat16 roundings (each a relative 2⁻⁸) of its largest value, as Muon's does.
///
/// State: `step`, `exp_avg` (m), `exp_avg_sq` (v), `last_grad` (g_prev), and `max_exp_avg_sq` (v̄) with `ams_bound`.
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
    /// Divide by the root of the largest second moment so far, AMSGrad's bound (default false).
    pub ams_bound: bool,
    /// Cautious: step only where the first moment agrees in sign with the gradient, scaled up by the share of
    /// agreeing values (default false).
    pub cautious: bool,
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
            ams_bound: false,
            cautious: false,
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
    /// Muon's, for matrices: m/(1 − β₁) orthogonalized by five Newton–Schulz steps in bfloat16, times
    /// √max(1, rows/cols); tensors of fewer dimensions take AdamW's.
    Shampoo,
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
        let layout = StateLayout::new()
            .step()
            .elementwise("exp_avg", 0.0)
            .elementwise("exp_avg_sq", 0.0)
            .elementwise("last_grad", 0.0);
        Ok(if self.ams_bound { layout.elementwise("max_exp_avg_sq", 0.0) } else { layout })
    }

    const TENSOR_STAGE: bool = true;

    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        with_best_isa(Inline(
            #[inline(always)]
            || self.step(stage),
        ));
    }

    no_elementwise_update!();
}

impl Mars {
    /// One step, run by [`with_best_isa`] (the hardware's fused multiply-adds; subnormal numbers count as zero).
    #[inline(always)]
    fn step<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        let TensorStage { shape, param, grad, state } = stage;
        let t = state.step().map_or(1.0, f64::from);
        let dims = shape.dims();
        let mixed = self.optimize_1d || dims.len() >= 2;
        let (lr, (beta1, beta2), weight_decay) = if mixed {
            (self.lr, self.betas, self.weight_decay)
        } else {
            (self.lr_1d, self.betas_1d, self.weight_decay_1d)
        };
        let (exp_avg, exp_avg_sq, last_grad, max_exp_avg_sq) = match &mut state.tensors[..] {
            [m, v, last] => (m.values_mut(), v.values_mut(), last.values_mut(), None),
            [m, v, last, max] => (m.values_mut(), v.values_mut(), last.values_mut(), Some(max.values_mut())),
            _ => unreachable!("MARS keeps three or four state tensors"),
        };
        let maximize = self.maximize;
        let signed = move |g: T| if maximize { -g } else { g };
        // The gradient the moments see: the corrected one, clipped to norm 1, or (vectors' AdamW) the gradient. It
        // is computed where it is used, from the gradient and the previous one, rather than kept.
        let scale = mixed.then(|| T::from_f64(self.gamma * (beta1 / (1.0 - beta1))));
        let corrected = move |g: T, last: T| scale.map_or(g, |scale| (g - last) * scale + g);
        let norm = if mixed {
            let squares =
                grad.iter().zip(last_grad.iter()).map(|(&g, &last)| corrected(signed(g), last).to_f64().powi(2));
            T::from_f64(squares.sum::<f64>().sqrt())
        } else {
            T::from_f64(1.0)
        };
        let clipped = norm.to_f64() > 1.0;
        let seen = move |g: T, last: T| {
            let c = corrected(signed(g), last);
            if clipped {
                c / norm
            } else {
                c
            }
        };
        let weight = T::from_f64(1.0 - beta1);
        for ((m, &g), &last) in exp_avg.iter_mut().zip(grad.iter()).zip(last_grad.iter()) {
            *m = lerp(*m, seen(g, last), weight);
        }
        // The first moment as the step takes it: with `cautious`, only where it agrees with the gradient.
        let zero = T::from_f64(0.0);
        let ratio = self.cautious.then(|| cautious_ratio(exp_avg, grad, signed));
        let cautious = move |m: T, g: T| ratio.map_or(m, |ratio| m * if m * signed(g) > zero { ratio } else { zero });
        let minus_lr = T::from_f64(-lr);
        let decay = weight_decay != 0.0;
        let decay_factor = T::from_f64(1.0 - weight_decay * if self.fixed_decay { 1.0 } else { lr });
        let l2 = T::from_f64(weight_decay);
        let weight_decouple = self.weight_decouple;
        // The parameter's step by `u`, and the gradient kept for the next correction.
        let apply = move |p: &mut T, u: T, g: T, last: &mut T| {
            let mut g = signed(g);
            if decay && weight_decouple {
                *p = *p * decay_factor;
            } else if decay {
                g = l2.mul_add(*p, g);
            }
            *p = minus_lr.mul_add(u, *p);
            *last = g;
        };
        // Vectors take the AdamW form, in the Shampoo form too (with `optimize_1d`).
        let form = if !mixed || (self.mars_type == MarsType::Shampoo && dims.len() < 2) {
            MarsType::Adamw
        } else {
            self.mars_type
        };
        match form {
            MarsType::Adamw => {
                let (b2, one_minus_b2) = (T::from_f64(beta2), T::from_f64(1.0 - beta2));
                let correction1 = T::from_f64(1.0 - beta1.powf(t));
                let correction2 = T::from_f64((1.0 - beta2.powf(t)).sqrt());
                let (v_eps, eps) = (T::from_f64(V_EPS), T::from_f64(self.eps));
                let mut max_exp_avg_sq = max_exp_avg_sq.map(|max| max.iter_mut());
                let elements = param.iter_mut().zip(grad.iter()).zip(last_grad.iter_mut()).zip(exp_avg.iter());
                for ((((p, &g), last), &m), v) in elements.zip(exp_avg_sq.iter_mut()) {
                    let c = seen(g, *last);
                    *v = (one_minus_b2 * c).mul_add(c, *v * b2);
                    let second_moment = match max_exp_avg_sq.as_mut().and_then(Iterator::next) {
                        Some(max) => {
                            *max = max.maximum(*v);
                            *max
                        }
                        None => *v,
                    };
                    let u = cautious(m, g) / ((((second_moment + v_eps).sqrt() + eps) / correction2) * correction1);
                    apply(p, u, g, last);
                }
            }
            MarsType::Lion => {
                let one = T::from_f64(1.0);
                let elements = param.iter_mut().zip(grad.iter()).zip(last_grad.iter_mut()).zip(exp_avg.iter());
                for (((p, &g), last), &m) in elements {
                    let u = cautious(m, g);
                    // Zero stays zero and NaN stays NaN, as `sign` gives them.
                    let sign = if u > zero {
                        one
                    } else if u < zero {
                        -one
                    } else {
                        u * zero
                    };
                    apply(p, sign, g, last);
                }
            }
            MarsType::Shampoo => {
                let scale = T::from_f64(1.0 / (1.0 - beta1));
                let scaled: Vec<f32> =
                    exp_avg.iter().zip(grad.iter()).map(|(&m, &g)| (cautious(m, g) * scale).to_f64() as f32).collect();
                let (rows, cols) = (dims[0], scaled.len() / dims[0].max(1));
                let (coefficients, steps) = QUINTIC;
                let orthogonal = orthogonalize(&scaled, rows, cols, coefficients, steps, self.eps);
                let factor = (dims[0] as f64 / dims[1] as f64).max(1.0).sqrt() as f32;
                let elements = param.iter_mut().zip(grad.iter()).zip(last_grad.iter_mut()).zip(orthogonal);
                for (((p, &g), last), o) in elements {
                    apply(p, T::from_f64(f64::from(bf16::from_f32(o * factor).to_f32())), g, last);
                }
            }
        }
    }
}

/// The factor of the reference's `apply_cautious` for a first moment `m` and gradient `grad` (its sign taken by
/// `signed`): each value of m that does not agree in sign with the gradient (their product not positive) is set to
/// zero, and the others multiplied by n/(k + 1) for k agreeing values of n, as PyTorch computes `n / tensor`: the
/// reciprocal of k + 1, times n.
fn cautious_ratio<T: Float>(m: &[T], grad: &[T], signed: impl Fn(T) -> T) -> T {
    let zero = T::from_f64(0.0);
    let agreeing = m.iter().zip(grad).filter(|&(&m, &g)| m * signed(g) > zero).count();
    let one = T::from_f64(1.0);
    one / (T::from_f64(agreeing as f64) + one) * T::from_f64(m.len() as f64)
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("mars", "MARS: AdamW on a variance-reduced gradient", Mars::default());
    registry.add(entry).expect("built-in names are distinct");
}
