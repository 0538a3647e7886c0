//! AdEMAMix: Adam with a second, slow moment mixed into its step.

use serde::{Deserialize, Serialize};

use crate::registry::{Entry, Registry};
use crate::torch_ops::{add_scaled, addcdiv, addcmul, scalar, Divisor, Lerp, Prelude};
use crate::validate::{non_negative, unit_closed, unit_open};
use crate::{Error, Lane, Rule, Shape, StateLayout, StepContext};

/// AdEMAMix (Pagliardini, Ablin and Grangier 2024, "The AdEMAMix Optimizer: Better, Faster, Older"), as
/// `pytorch-optimizer`'s `AdEMAMix` computes it.
///
/// One exponential moving average of the gradients cannot both react fast and remember long: Adam's β₁ = 0.9
/// forgets a gradient within about ten steps. AdEMAMix keeps Adam's fast moment m₁ and adds a slow one m₂
/// (β₃ = 0.9999, a memory of about ten thousand steps), weighted by α in the numerator of Adam's step. In the
/// article's notation, at step t:
///
/// ```text
/// m₁ ← β₁·m₁ + (1 − β₁)·g
/// v  ← β₂·v + (1 − β₂)·g²
/// m₂ ← β₃(t)·m₂ + (1 − β₃(t))·g
/// θ  ← θ − η·(m₁/(1 − β₁ᵗ) + α(t)·m₂)/(√v/√(1 − β₂ᵗ) + ε)
/// ```
///
/// The slow moment is not bias-corrected: it starts at zero and grows in, and so that it does not arrive too
/// strongly early on, α and β₃ can be warmed up over `t_alpha_beta3` steps: α(t) = min(t·α/T, α) linearly, and
/// β₃(t) = min(exp(ln β₁·ln β₃/((1 − t/T)·ln β₃ + (t/T)·ln β₁)), β₃), which moves the slow moment's half-life
/// linearly from β₁'s to β₃'s. Without `t_alpha_beta3` (the default), α and β₃ hold from the start.
///
/// Weight decay is an L2 penalty added to the gradient (g ← g + λ·θ), or with `weight_decouple` AdamW's
/// θ ← θ·(1 − η·λ) (with `fixed_decay`, θ·(1 − λ)). Followed operation by operation (`step`'s single-tensor path):
/// the moments by `lerp`, v by `mul` then `addcmul`, the denominator with three roundings, α·m₂ added fused.
///
/// Where the reference differs: it counts steps per parameter group (every group advances on every step, with a
/// gradient or without); descent counts them per parameter, as torch.optim does, so a parameter that misses steps
/// gets its own count. The two agree for parameters that get a gradient on every step. The paper's schedules are
/// the reference's.
///
/// State: `step`, `exp_avg` (m₁), `exp_avg_sq` (v), `exp_avg_slow` (m₂).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdEMAMix {
    /// Learning rate η (default 1e-3).
    pub lr: f64,
    /// (β₁, β₂, β₃): the fast moment's decay, the squared gradients', and the slow moment's (default
    /// (0.9, 0.999, 0.9999)).
    pub betas: (f64, f64, f64),
    /// Weight decay λ (default 0).
    pub weight_decay: f64,
    /// Decoupled weight decay, AdamW's form (default false).
    pub weight_decouple: bool,
    /// With `weight_decouple`, decay by λ rather than η·λ (default false).
    pub fixed_decay: bool,
    /// The weight α of the slow moment (default 5).
    pub alpha: f64,
    /// The steps T over which α and β₃ warm up (default None: no warm-up).
    pub t_alpha_beta3: Option<f64>,
    /// Term added to the denominator ε (default 1e-8).
    pub eps: f64,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for AdEMAMix {
    fn default() -> Self {
        AdEMAMix {
            lr: 1e-3,
            betas: (0.9, 0.999, 0.9999),
            weight_decay: 0.0,
            weight_decouple: false,
            fixed_decay: false,
            alpha: 5.0,
            t_alpha_beta3: None,
            eps: 1e-8,
            maximize: false,
        }
    }
}

impl AdEMAMix {
    /// α(t).
    fn alpha_at(&self, t: f64) -> f64 {
        match self.t_alpha_beta3 {
            None => self.alpha,
            Some(warmup) => (t * self.alpha / warmup).min(self.alpha),
        }
    }

    /// β₃(t).
    fn beta3_at(&self, t: f64) -> f64 {
        let (beta1, _, beta3) = self.betas;
        match self.t_alpha_beta3 {
            None => beta3,
            Some(warmup) => {
                let (log_beta1, log_beta3) = (beta1.ln(), beta3.ln());
                let fraction = t / warmup;
                (log_beta1 * log_beta3 / ((1.0 - fraction) * log_beta3 + fraction * log_beta1)).exp().min(beta3)
            }
        }
    }
}

/// [`AdEMAMix`]'s per-step scalars, rounded to the element type as PyTorch rounds them.
#[derive(Debug, Clone, Copy)]
pub struct AdEMAMixCoefficients<L> {
    prelude: Prelude<L>,
    fast: Lerp<L>,
    beta2: L,
    one_minus_beta2: L,
    slow: Lerp<L>,
    bias_correction1: L,
    bias_correction2_sqrt: Divisor<L>,
    eps: L,
    alpha: L,
    minus_lr: L,
}

impl Rule for AdEMAMix {
    const NAME: &'static str = "AdEMAMix";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        unit_open(Self::NAME, "betas[0]", self.betas.0)?;
        unit_open(Self::NAME, "betas[1]", self.betas.1)?;
        unit_closed(Self::NAME, "betas[2]", self.betas.2)?;
        non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        non_negative(Self::NAME, "alpha", self.alpha)?;
        non_negative(Self::NAME, "eps", self.eps)?;
        match self.t_alpha_beta3 {
            Some(t) if !(t.is_finite() && t > 0.0) => Err(Error::InvalidHyperparameter {
                optimizer: Self::NAME,
                name: "t_alpha_beta3",
                value: t,
                expected: "a finite number > 0, or None",
            }),
            _ => Ok(()),
        }
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new()
            .step()
            .elementwise("exp_avg", 0.0)
            .elementwise("exp_avg_sq", 0.0)
            .elementwise("exp_avg_slow", 0.0))
    }

    type Coefficients<L: Lane> = AdEMAMixCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> AdEMAMixCoefficients<L> {
        let (beta1, beta2, _) = self.betas;
        let t = step.t;
        // With `fixed_decay`, the decoupled decay is λ rather than η·λ.
        let decay_lr = if self.fixed_decay { 1.0 } else { self.lr };
        AdEMAMixCoefficients {
            prelude: Prelude::new(decay_lr, self.weight_decay, self.weight_decouple, self.maximize),
            fast: Lerp::new(1.0 - beta1),
            beta2: scalar(beta2),
            one_minus_beta2: scalar(1.0 - beta2),
            slow: Lerp::new(1.0 - self.beta3_at(t)),
            bias_correction1: scalar(1.0 - beta1.powf(t)),
            bias_correction2_sqrt: Divisor::new((1.0 - beta2.powf(t)).sqrt()),
            eps: scalar(self.eps),
            alpha: scalar(self.alpha_at(t)),
            minus_lr: scalar(-self.lr),
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &AdEMAMixCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let [exp_avg, exp_avg_sq, exp_avg_slow] = state else { unreachable!("AdEMAMix keeps three state tensors") };
        let g = c.prelude.apply(param, grad);
        *exp_avg = c.fast.apply(*exp_avg, g);
        *exp_avg_sq = addcmul(*exp_avg_sq * c.beta2, g, g, c.one_minus_beta2);
        *exp_avg_slow = c.slow.apply(*exp_avg_slow, g);
        let denominator = c.bias_correction2_sqrt.divide(exp_avg_sq.sqrt()) + c.eps;
        let update = add_scaled(*exp_avg / c.bias_correction1, *exp_avg_slow, c.alpha);
        *param = addcdiv(*param, update, denominator, c.minus_lr);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("ademamix", "AdEMAMix: Adam with a slow moment mixed into its step", AdEMAMix::default());
    registry.add(entry).expect("built-in names are distinct");
}
