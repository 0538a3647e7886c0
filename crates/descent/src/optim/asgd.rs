//! ASGD: SGD with a decaying step and a running average of the iterates.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::kernel::{Inline, CHUNK};
use crate::registry::{Entry, Registry};
use crate::validate::{finite, non_negative};
use crate::{with_best_isa, Error, Float, Rule, Shape, StateLayout, TensorStage};

/// Averaged SGD (Polyak and Juditsky, 1992; the schedule of Bottou, 2012): PyTorch's `torch.optim.ASGD`.
///
/// Plain SGD's last iterate keeps bouncing around a minimum by an amount set by the step size and the gradient
/// noise. Averaging the iterates cancels that noise: ASGD takes SGD steps with a slowly decaying step size η_t and
/// keeps, beside θ, the running average θ̄ of the points visited since step t₀. θ̄ (the state `ax`) is the answer to
/// evaluate; θ goes on exploring. In the article's notation:
///
/// ```text
/// θ   ← θ·(1 − λ·η_t) − η_t·g_t                 (λ = `lambd`, a decay toward 0)
/// θ̄   ← θ̄ + μ_t·(θ − θ̄)                        (θ̄ ← θ while μ_t = 1)
/// η_{t+1} = η / (1 + λ·η·t)^α                   μ_{t+1} = 1 / max(1, t − t₀)
/// ```
///
/// PyTorch's rule, followed exactly: g ← −∇J(θ) if maximize, g ← g + wd·θ if `weight_decay` ≠ 0, then the lines
/// above with η_t and μ_t kept as `f32` scalars (`eta`, `mu`), as PyTorch keeps them. With the default t₀ = 10⁶,
/// averaging starts only after a million steps; set `t0` lower to average sooner.
///
/// State: `step`, `eta`, `mu` (scalars), `ax` (θ̄).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Asgd {
    /// Learning rate η (default 1e-2).
    pub lr: f64,
    /// Decay term λ (default 1e-4).
    pub lambd: f64,
    /// Power α of the step-size decay (default 0.75).
    pub alpha: f64,
    /// The step t₀ at which averaging starts (default 1e6).
    pub t0: f64,
    /// L2 penalty added to the gradient (default 0).
    pub weight_decay: f64,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for Asgd {
    fn default() -> Self {
        Asgd { lr: 1e-2, lambd: 1e-4, alpha: 0.75, t0: 1e6, weight_decay: 0.0, maximize: false }
    }
}

impl Rule for Asgd {
    const NAME: &'static str = "ASGD";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        non_negative(Self::NAME, "lambd", self.lambd)?;
        non_negative(Self::NAME, "alpha", self.alpha)?;
        finite(Self::NAME, "t0", self.t0)?;
        non_negative(Self::NAME, "weight_decay", self.weight_decay)
    }

    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new().step().scalar("eta", f64::from(self.lr as f32)).scalar("mu", 1.0).tensor(
            "ax",
            shape.clone(),
            0.0,
        ))
    }

    const TENSOR_STAGE: bool = true;

    /// The whole step: the update needs η_t and μ_t from before the step, and leaves η_{t+1} and μ_{t+1}.
    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        let state = &mut *stage.state;
        let t = state.step().map_or(1.0, f64::from);
        let eta = state.scalar("eta").expect("the layout has eta");
        let mu = state.scalar("mu").expect("the layout has mu");
        let decay = T::from_f64(1.0 - self.lambd * eta);
        let minus_eta = T::from_f64(-eta);
        let weight_decay = (self.weight_decay != 0.0).then(|| T::from_f64(self.weight_decay));
        let mu_value = T::from_f64(mu);
        let ax = state.tensor_mut("ax").expect("the layout has ax").values_mut();
        let (param, grad) = (&mut *stage.param, stage.grad);
        // μ while it is not 1 (θ̄ ← θ while it is).
        let average = (mu != 1.0).then_some(mu_value);
        let maximize = self.maximize;
        // Chunks on rayon's threads, as the fused pass splits a tensor, each compiled for the CPU.
        let chunks = param.par_chunks_mut(CHUNK).zip(grad.par_chunks(CHUNK)).zip(ax.par_chunks_mut(CHUNK));
        chunks.for_each(|((param, grad), ax)| {
            with_best_isa(Inline(
                #[inline(always)]
                || {
                    for ((p, &g), a) in param.iter_mut().zip(grad).zip(ax.iter_mut()) {
                        let mut g = if maximize { -g } else { g };
                        if let Some(wd) = weight_decay {
                            g = wd.mul_add(*p, g);
                        }
                        *p = minus_eta.mul_add(g, *p * decay);
                        *a = match average {
                            Some(mu) => *a + (*p - *a) * mu,
                            None => *p,
                        };
                    }
                },
            ))
        });
        let next_eta = self.lr / (1.0 + self.lambd * self.lr * t).powf(self.alpha);
        state.set_scalar("eta", f64::from(next_eta as f32));
        state.set_scalar("mu", f64::from((1.0 / (t - self.t0).max(1.0)) as f32));
    }

    crate::rule::no_elementwise_update!();
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("asgd", "ASGD: SGD with a decaying step and an average of the iterates", Asgd::default())
        .torch("torch.optim.ASGD");
    registry.add(entry).expect("built-in names are distinct");
}
