//! Lion: the sign of an interpolated momentum, with decoupled weight decay.

use serde::{Deserialize, Serialize};

use crate::compact_step::{self, Encoding};
use crate::quantize::{QuantizationMap, BLOCK};
use crate::registry::{Entry, Registry};
use crate::torch_ops::{add_scaled, scalar};
use crate::validate::{non_negative, unit_closed};
use crate::{CompactType, Error, Float, Lane, Rule, Shape, StateLayout, StateType, StepContext, TensorStage};

/// Lion, EvoLved Sign Momentum (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), as the
/// authors' package `lion-pytorch` computes it.
///
/// Lion was found by a program search. It keeps one moment m, like momentum, but steps by the *sign* of an
/// interpolation between m and the gradient, so every coordinate moves by exactly η (the update has the norm of
/// a sign vector, larger than Adam's): use a learning rate 3–10 times smaller than AdamW's, and a weight decay as
/// many times larger. In the article's notation, with decoupled weight decay λ:
///
/// ```text
/// θ ← θ·(1 − η·λ)
/// θ ← θ − η·sign(β₁·m + (1 − β₁)·g)
/// m ← β₂·m + (1 − β₂)·g
/// ```
///
/// The interpolation that steps (β₁) is not the one that remembers (β₂ > β₁): the step reacts to the current
/// gradient, the memory is long. It keeps half of Adam's state. Followed operation by operation (`update_fn`):
/// the products by β rounded, the `add(alpha=…)` fused, sign(0) = sign(NaN) = 0 (`sgn_`). The package's
/// `decoupled_weight_decay` flag (λ divided by the constructor's η) is not offered: a spec's λ is used as it is;
/// η may be 0, as in `torch.optim` (the package asserts η > 0).
///
/// State: `exp_avg` (m). With `state="int8"` (`bitsandbytes`' Lion8bit: m in 8-bit blocks, the interpolation's
/// two products rounded apart as its CPU kernel does), `"bf16"` or `"bf16_stochastic"`, m is kept compact as
/// [`Adam`](crate::Adam)'s moments are, and `step` is counted (it seeds stochastic rounding).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lion {
    /// Learning rate η (default 1e-4).
    pub lr: f64,
    /// (β₁, β₂): the interpolation that steps and the decay of the moment (default (0.9, 0.99)).
    pub betas: (f64, f64),
    /// Decoupled weight decay λ (default 0).
    pub weight_decay: f64,
    /// How the moment is kept (default `"f32"`: in the parameters' type; `"bf16"`, `"bf16_stochastic"`, `"int8"`:
    /// see [`StateType`]).
    pub state: StateType,
}

impl Default for Lion {
    fn default() -> Self {
        Lion { lr: 1e-4, betas: (0.9, 0.99), weight_decay: 0.0, state: StateType::Full }
    }
}

impl Lion {
    /// The step with a compact moment: `bitsandbytes`' arithmetic for 8-bit state (its CPU kernel: the
    /// interpolation's two products rounded apart), the fused pass's own update for bfloat16.
    fn compact_step<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        let t = stage.state.step().map_or(1.0, f64::from);
        let TensorStage { param, grad, state, .. } = stage;
        let to_t = |v: f32| T::from_f64(f64::from(v));
        if self.state == StateType::Int8 {
            let encodings = [Encoding::Int8(QuantizationMap::signed())];
            let (beta1, beta2) = self.betas;
            let (b1, one_minus_b1) = (T::from_f64(beta1), T::from_f64(1.0 - beta1));
            let (b2, one_minus_b2) = (T::from_f64(beta2), T::from_f64(1.0 - beta2));
            let decay = (self.weight_decay > 0.0).then(|| T::from_f64(1.0 - self.lr * self.weight_decay));
            let (minus_lr, zero, one) = (T::from_f64(-self.lr), T::from_f64(0.0), T::from_f64(1.0));
            compact_step::step(
                param,
                grad,
                &mut state.compact,
                &encodings,
                #[inline(always)]
                move |p, g, m_value, _| {
                    let m = to_t(*m_value);
                    if let Some(decay) = decay {
                        *p = *p * decay;
                    }
                    let interpolated = m * b1 + g * one_minus_b1;
                    let sign = if interpolated > zero {
                        one
                    } else if interpolated < zero {
                        -one
                    } else {
                        zero
                    };
                    *p = minus_lr.mul_add(sign, *p);
                    *m_value = one_minus_b2.mul_add(g, m * b2).to_f64() as f32;
                },
            );
        } else {
            let stochastic = (self.state == StateType::Bf16Stochastic)
                .then(|| (t as u32).wrapping_mul(0x85EB_CA77) ^ param.len() as u32);
            let c: LionCoefficients<T> = self.coefficients(&StepContext { t, first: false, scalars: &[], global: &[] });
            compact_step::step(
                param,
                grad,
                &mut state.compact,
                &[Encoding::Bf16 { stochastic }],
                #[inline(always)]
                move |p, g, m_value, _| {
                    let mut values = [to_t(*m_value)];
                    Lion::update(&c, p, g, &mut values);
                    *m_value = values[0].to_f64() as f32;
                },
            );
        }
    }
}

/// [`Lion`]'s per-step scalars, rounded to the element type as PyTorch rounds them.
#[derive(Debug, Clone, Copy)]
pub struct LionCoefficients<L> {
    decay: L,
    beta1: L,
    one_minus_beta1: L,
    beta2: L,
    one_minus_beta2: L,
    minus_lr: L,
}

impl Rule for Lion {
    const NAME: &'static str = "Lion";

    fn validate(&self) -> Result<(), Error> {
        non_negative(Self::NAME, "lr", self.lr)?;
        unit_closed(Self::NAME, "betas[0]", self.betas.0)?;
        unit_closed(Self::NAME, "betas[1]", self.betas.1)?;
        non_negative(Self::NAME, "weight_decay", self.weight_decay)
    }

    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error> {
        Ok(match self.state {
            StateType::Full => StateLayout::new().elementwise("exp_avg", 0.0),
            // The step count seeds stochastic rounding, and is kept for every compact state alike.
            StateType::Int8 => StateLayout::new().step().compact("exp_avg", CompactType::U8, None).compact(
                "exp_avg_absmax",
                CompactType::F32,
                Some(Shape::from(shape.len().div_ceil(BLOCK))),
            ),
            _ => StateLayout::new().step().compact("exp_avg", CompactType::Bf16, None),
        })
    }

    fn steps_in_tensor_stage(&self) -> bool {
        self.state.is_compact()
    }

    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        self.compact_step(stage);
    }

    type Coefficients<L: Lane> = LionCoefficients<L>;

    fn coefficients<L: Lane>(&self, _step: &StepContext<'_>) -> LionCoefficients<L> {
        let (beta1, beta2) = self.betas;
        LionCoefficients {
            decay: scalar(1.0 - self.lr * self.weight_decay),
            beta1: scalar(beta1),
            one_minus_beta1: scalar(1.0 - beta1),
            beta2: scalar(beta2),
            one_minus_beta2: scalar(1.0 - beta2),
            minus_lr: scalar(-self.lr),
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &LionCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let [exp_avg] = state else { unreachable!("Lion keeps one state tensor") };
        let (zero, one) = (scalar::<L>(0.0), scalar::<L>(1.0));
        *param = *param * c.decay;
        let interpolated = add_scaled(*exp_avg * c.beta1, grad, c.one_minus_beta1);
        // sign, with 0 for 0 and for NaN, as `sgn_` gives.
        let sign = interpolated.select_lt(zero, -one, zero.select_lt(interpolated, one, zero));
        *param = add_scaled(*param, sign, c.minus_lr);
        *exp_avg = add_scaled(*exp_avg * c.beta2, grad, c.one_minus_beta2);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("lion", "Lion: steps by the sign of an interpolated momentum", Lion::default());
    registry.add(entry).expect("built-in names are distinct");
}
