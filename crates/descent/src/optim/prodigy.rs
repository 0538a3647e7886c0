//! Prodigy: Adam that estimates its own step size.

use serde::{Deserialize, Serialize};

use crate::kernel::Inline;
use crate::registry::{Entry, Registry};
use crate::torch_ops::{add_scaled, addcdiv, addcmul, scalar};
use crate::validate::{at_least_one, non_negative, positive, unit_closed, unit_open};
use crate::{with_best_isa, Error, Float, GlobalStage, Lane, Rule, Shape, StateLayout, StepContext};

/// Prodigy (Mishchenko & Defazio 2024, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner"), as the
/// authors' package `prodigyopt` computes it.
///
/// Adam's step is η·m/√v, and η must be tuned: too small crawls, too large diverges. Prodigy multiplies it by d, an
/// estimate of the distance from the start θ₀ to the solution, which it grows from a tiny d₀ as the gradients show
/// how far the run has come: lr = 1.0 works, and a schedule (cosine, say) still helps. In the article's notation,
/// with θ₀ the parameters at the first step and all sums over every parameter:
///
/// ```text
/// η' = d·η                                              (times Adam's bias correction, if asked)
/// m ← β₁·m + d·(1 − β₁)·g          v ← β₂·v + d²·(1 − β₂)·g²
/// s ← β₃·s + (d/d₀)·η'·g           r ← β₃·r + (d/d₀)·η'·⟨g, θ₀ − θ⟩
/// d ← max(d, d_coef·r/‖s‖₁)                            (at most d·growth_rate)
/// θ ← θ − η'·m/(√v + d·ε)                               with decoupled weight decay θ ← θ − λ·η'·θ
/// ```
///
/// d is one number for the whole model: the optimizer-wide state holds it (`d`, `d_max`, `d_numerator`, with the
/// last estimate `d_hat` and denominator `d_denom`, the step's `dlr` and the `d` its moments used), and checkpoints
/// save it with the rest. So Prodigy needs every gradient of a step at once ([`Rule::GLOBAL_STAGE`]).
///
/// Followed operation by operation (the moments by `mul` then `add(alpha=…)` or `addcmul`, the step by `addcdiv`).
/// Where the reference differs: its inner product and ‖s‖₁ are summed in the element type by PyTorch's reductions,
/// descent's in `f64`, so d can differ in its last bits; it takes η as the largest of the groups' rates (and
/// refuses others but 0), descent takes each global value (η, betas, d₀, d_coef, growth_rate, bias correction)
/// from the first group; when every gradient so far is zero it returns before the step, where descent updates the
/// moments as it does and leaves the parameters, but counts the step; its `slice_p` (s and θ₀ kept for every p-th
/// element) is not offered; an unbounded `growth_rate` is `None` rather than infinity, and `beta3` `None` means √β₂.
///
/// State: `step`, `s`, `p0` (θ₀), `exp_avg` (m; not kept with β₁ = 0), `exp_avg_sq` (v).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Prodigy {
    /// Learning rate η, a factor of the estimated step (default 1.0).
    pub lr: f64,
    /// (β₁, β₂) of the moments (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// The decay β₃ of s and r, in [0, 1] (default `None`: √β₂); 1 keeps them as plain sums, as the paper's
    /// first algorithm does.
    pub beta3: Option<f64>,
    /// Term added to the denominator, times d (default 1e-8).
    pub eps: f64,
    /// Weight decay λ (default 0).
    pub weight_decay: f64,
    /// Decoupled (AdamW's) weight decay rather than an L2 term in the gradient (default true).
    pub decouple: bool,
    /// Adam's bias correction in the step (default false).
    pub use_bias_correction: bool,
    /// Leave η out of s's update, which keeps d from growing too fast in a warm-up (default false).
    pub safeguard_warmup: bool,
    /// The initial estimate d₀ (default 1e-6).
    pub d0: f64,
    /// A factor of every estimate (default 1.0).
    pub d_coef: f64,
    /// The largest factor d may grow by in a step (default `None`: unbounded).
    pub growth_rate: Option<f64>,
}

impl Default for Prodigy {
    fn default() -> Self {
        Prodigy {
            lr: 1.0,
            betas: (0.9, 0.999),
            beta3: None,
            eps: 1e-8,
            weight_decay: 0.0,
            decouple: true,
            use_bias_correction: false,
            safeguard_warmup: false,
            d0: 1e-6,
            d_coef: 1.0,
            growth_rate: None,
        }
    }
}

impl Prodigy {
    fn beta3(&self) -> f64 {
        self.beta3.unwrap_or_else(|| self.betas.1.sqrt())
    }

    /// The factor of the gradient in s's update, for a step whose estimate is `d` and rate `dlr`.
    fn s_factor(&self, d: f64, dlr: f64) -> f64 {
        (d / self.d0) * if self.safeguard_warmup { d } else { dlr }
    }

    /// The gradient the moments see: with an L2 term if the decay is not decoupled.
    fn l2(&self) -> Option<f64> {
        (self.weight_decay != 0.0 && !self.decouple).then_some(self.weight_decay)
    }
}

/// [`Prodigy`]'s per-step scalars, rounded to the element type as PyTorch rounds them.
#[derive(Debug, Clone, Copy)]
pub struct ProdigyCoefficients<L> {
    first: bool,
    /// Whether the group accumulates (a rate above 0) and whether the parameters move this step.
    accumulates: bool,
    moves: bool,
    l2: Option<L>,
    beta1: L,
    first_moment: L,
    beta2: L,
    second_moment: L,
    beta3: L,
    s_factor: L,
    d_eps: L,
    decay: Option<L>,
    minus_dlr: L,
    minus_dlr_d: L,
}

impl Rule for Prodigy {
    const NAME: &'static str = "Prodigy";

    fn validate(&self) -> Result<(), Error> {
        for (name, value) in [("lr", self.lr), ("eps", self.eps), ("d0", self.d0)] {
            positive(Self::NAME, name, value)?;
        }
        unit_open(Self::NAME, "betas[0]", self.betas.0)?;
        unit_open(Self::NAME, "betas[1]", self.betas.1)?;
        if let Some(beta3) = self.beta3 {
            unit_closed(Self::NAME, "beta3", beta3)?;
        }
        non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        non_negative(Self::NAME, "d_coef", self.d_coef)?;
        if let Some(growth_rate) = self.growth_rate {
            at_least_one(Self::NAME, "growth_rate", growth_rate)?;
        }
        Ok(())
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        let layout = StateLayout::new().step().elementwise("s", 0.0).elementwise("p0", 0.0);
        let layout = if self.betas.0 > 0.0 { layout.elementwise("exp_avg", 0.0) } else { layout };
        Ok(layout.elementwise("exp_avg_sq", 0.0))
    }

    fn global_layout(&self) -> Result<StateLayout, Error> {
        Ok(StateLayout::new()
            .step()
            .scalar("d", self.d0)
            .scalar("d_max", self.d0)
            .scalar("d_numerator", 0.0)
            .scalar("d_hat", 0.0)
            .scalar("d_denom", 0.0)
            .scalar("dlr", 0.0)
            .scalar("d_step", self.d0))
    }

    const GLOBAL_STAGE: bool = true;

    fn global_stage<T: Float>(&self, stage: &mut GlobalStage<'_, Self, T>) {
        let global = |name: &str| stage.state.scalar(name).expect("the global layout has it");
        let (d, d_max) = (global("d"), global("d_max"));
        let t = stage.state.step().map_or(1.0, f64::from);
        let (beta1, beta2) = self.betas;
        let beta3 = self.beta3();
        let bias_correction =
            if self.use_bias_correction { (1.0 - beta2.powf(t)).powf(0.5) / (1.0 - beta1.powf(t)) } else { 1.0 };
        let dlr = d * self.lr * bias_correction;
        let numerator = global("d_numerator") * beta3;
        let (mut delta, mut denominator) = (0.0, 0.0);
        let beta3_t = T::from_f64(beta3);
        for (position, grad) in stage.grads.iter().enumerate() {
            let Some(grad) = grad else { continue };
            let hyper = stage.hyperparameters(position);
            if hyper.lr <= 0.0 {
                continue;
            }
            let state = stage.param_state(position);
            let param: &[T] = stage.params[position];
            // θ₀ and s before the parameter's first step: the parameter itself, and zeros.
            let p0 = state.map(|state| state.get("p0").expect("the layout has p0"));
            let s = state.map(|state| state.get("s").expect("the layout has s"));
            let (l2, factor) = (hyper.l2().map(T::from_f64), T::from_f64(self.s_factor(d, dlr)));
            // The parameter's share of d's estimate: ⟨g, θ₀ − θ⟩ and ‖s‖₁ after this step's update of s, summed in
            // `f64`, compiled for the CPU's instruction set (its fused multiply-adds in hardware).
            let (dot, s_norm) = with_best_isa(Inline(
                #[inline(always)]
                || {
                    let (mut dot, mut s_norm) = (0.0, 0.0);
                    for (k, (&g, &p)) in grad.iter().zip(param).enumerate() {
                        let g = stage.seen(g);
                        let g = l2.map_or(g, |decay| decay.mul_add(p, g));
                        let (p0, s) = (p0.map_or(p, |p0| p0[k]), s.map_or(T::from_f64(0.0), |s| s[k]));
                        dot += g.to_f64() * (p0 - p).to_f64();
                        s_norm += factor.mul_add(g, s * beta3_t).to_f64().abs();
                    }
                    (dot, s_norm)
                },
            ));
            delta += (d / self.d0) * dlr * dot;
            denominator += s_norm;
        }
        stage.state.set_scalar("dlr", dlr);
        stage.state.set_scalar("d_step", d);
        stage.state.set_scalar("d_denom", denominator);
        if denominator == 0.0 {
            stage.state.set_scalar("d_hat", d);
            return;
        }
        let numerator = numerator + delta;
        let d_hat = self.d_coef * numerator / denominator;
        let d = if d == self.d0 { d.max(d_hat) } else { d };
        let d_max = d_max.max(d_hat);
        let d = self.growth_rate.map_or(d_max, |rate| d_max.min(d * rate));
        for (name, value) in [("d_numerator", numerator), ("d", d), ("d_max", d_max), ("d_hat", d_hat)] {
            stage.state.set_scalar(name, value);
        }
    }

    type Coefficients<L: Lane> = ProdigyCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> ProdigyCoefficients<L> {
        let (beta1, beta2) = self.betas;
        let (d_step, d, dlr) = (step.global_scalar("d_step"), step.global_scalar("d"), step.global_scalar("dlr"));
        ProdigyCoefficients {
            first: step.first,
            accumulates: self.lr > 0.0,
            moves: step.global_scalar("d_denom") != 0.0,
            l2: self.l2().map(scalar),
            beta1: scalar(beta1),
            first_moment: scalar(d_step * (1.0 - beta1)),
            beta2: scalar(beta2),
            second_moment: scalar(d_step * d_step * (1.0 - beta2)),
            beta3: scalar(self.beta3()),
            s_factor: scalar(self.s_factor(d_step, dlr)),
            d_eps: scalar(d * self.eps),
            decay: (self.weight_decay != 0.0 && self.decouple).then(|| scalar(-self.weight_decay * dlr)),
            minus_dlr: scalar(-dlr),
            minus_dlr_d: scalar(-dlr * d),
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &ProdigyCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let (s, p0, mut exp_avg, exp_avg_sq) = match state {
            [s, p0, exp_avg, exp_avg_sq] => (s, p0, Some(exp_avg), exp_avg_sq),
            [s, p0, exp_avg_sq] => (s, p0, None, exp_avg_sq),
            _ => unreachable!("Prodigy keeps three or four state tensors"),
        };
        if c.first {
            *p0 = *param;
        }
        let g = c.l2.map_or(grad, |decay| add_scaled(grad, *param, decay));
        if c.accumulates {
            if let Some(m) = exp_avg.as_deref_mut() {
                *m = add_scaled(*m * c.beta1, g, c.first_moment);
            }
            *exp_avg_sq = addcmul(*exp_avg_sq * c.beta2, g, g, c.second_moment);
            *s = add_scaled(*s * c.beta3, g, c.s_factor);
        }
        if c.moves {
            let denom = exp_avg_sq.sqrt() + c.d_eps;
            if let Some(decay) = c.decay {
                *param = add_scaled(*param, *param, decay);
            }
            *param = match exp_avg {
                Some(m) => addcdiv(*param, *m, denom, c.minus_dlr),
                None => addcdiv(*param, g, denom, c.minus_dlr_d),
            };
        }
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("prodigy", "Prodigy: Adam that estimates its own step size", Prodigy::default());
    registry.add(entry).expect("built-in names are distinct");
}
