//! Adam: momentum and RMSprop's per-coordinate scaling, with bias correction.

use serde::{Deserialize, Serialize};

use crate::compact_step::{self, Encoding};
use crate::quantize::{QuantizationMap, BLOCK};
use crate::registry::{Entry, Registry};
use crate::torch_ops::{addcdiv, addcmul, scalar, Divisor, Lerp, Prelude};
use crate::validate::adam_family;
use crate::{CompactType, Error, Float, Lane, Rule, Shape, StateLayout, StateType, StepContext, TensorStage};

/// Adam (Kingma and Ba, 2014): PyTorch's `torch.optim.Adam`.
///
/// Keeps a decaying average of past gradients (the first moment, like momentum) and of past squared gradients (the
/// second moment, like RMSprop), corrects both for their start at zero, and steps along the first divided by the
/// root of the second. In the article's notation:
///
/// ```text
/// m_t = β₁·m_{t−1} + (1 − β₁)·g_t
/// v_t = β₂·v_{t−1} + (1 − β₂)·g_t²
/// m̂_t = m_t / (1 − β₁ᵗ)        v̂_t = v_t / (1 − β₂ᵗ)
/// θ  ← θ − η·m̂_t / (√v̂_t + ε)
/// ```
///
/// The bias corrections divide by 1 − βᵗ, β to the power of the step number t (not by 1 − β): they matter in the
/// first steps and fade as βᵗ → 0.
///
/// PyTorch's rule, followed exactly (λ = `weight_decay`):
///
/// ```text
/// g ← ∇J(θ) (−∇J(θ) if maximize)
/// θ ← θ·(1 − η·λ)   if decoupled_weight_decay      g ← g + λ·θ   otherwise (if λ ≠ 0)
/// m ← m + (1 − β₁)·(g − m)
/// v ← β₂·v + (1 − β₂)·g²
/// v̄ ← max(v̄, v) and use v̄ for v below            amsgrad only
/// θ ← θ − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// ε is added to the bias-corrected root √v̂, outside the root (not the paper's ε̂ = ε·√(1 − β₂ᵗ)); AMSGrad takes
/// the maximum of the raw v. With `decoupled_weight_decay` this is AdamW ([`AdamW`](crate::AdamW)).
///
/// State: `step`, `exp_avg` (m), `exp_avg_sq` (v), and `max_exp_avg_sq` (v̄) with AMSGrad.
///
/// **Compact state** (`state="int8"`, `"bf16"`, `"bf16_stochastic"`; not with AMSGrad) keeps m and v in fewer
/// bytes, and a step, bound by memory traffic, moves fewer bytes. `"int8"` is `bitsandbytes`' block-wise dynamic
/// quantization (Dettmers et al. 2022): each block of 256 values stored as one byte each, an index into a map of
/// 256 values in [−1, 1] (signed for m, unsigned for v), times the block's largest magnitude (`exp_avg_absmax`,
/// `exp_avg_sq_absmax`); its arithmetic is that package's CPU kernel's (m by `mul` then `add`, c₂ by `sqrt`), with
/// one deliberate difference: each value takes the map's nearest entry, where `bitsandbytes`' CPU search can take
/// one several entries off for values below about 10⁻⁵ of their block's largest (its CUDA kernel and its pure-PyTorch
/// one take the nearest too). Its Adam8bit always decouples weight decay; here `weight_decay` keeps Adam's
/// meaning. `"bf16"` keeps m and v in bfloat16, rounded to nearest, with PyTorch's arithmetic in the parameters'
/// type; `"bf16_stochastic"` rounds them up or down at random in proportion (seeded by the step and the position),
/// so that updates smaller than a bfloat16 step are not lost on average. Such a step runs in the per-tensor stage,
/// a block at a time, split across threads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Adam {
    /// Learning rate η (default 1e-3).
    pub lr: f64,
    /// Decays (β₁, β₂) of the first and second moments (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term ε added to the denominator (default 1e-8).
    pub eps: f64,
    /// Weight decay λ: an L2 penalty added to the gradient, or decoupled (default 0).
    pub weight_decay: f64,
    /// Use the maximum of past second moments, AMSGrad (default false).
    pub amsgrad: bool,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
    /// Decay the weights directly, as AdamW does, instead of adding λ·θ to the gradient (default false).
    pub decoupled_weight_decay: bool,
    /// How the moments are kept (default `"f32"`: in the parameters' type; `"bf16"`, `"bf16_stochastic"`,
    /// `"int8"`: see [`StateType`]).
    pub state: StateType,
}

impl Default for Adam {
    fn default() -> Self {
        Adam {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
            state: StateType::Full,
        }
    }
}

/// [`Adam`]'s (and [`AdamW`](crate::AdamW)'s) per-step scalars.
#[derive(Debug, Clone, Copy)]
pub struct AdamCoefficients<L> {
    prelude: Prelude<L>,
    first_moment: Lerp<L>,
    beta2: L,
    one_minus_beta2: L,
    bias_correction2_sqrt: Divisor<L>,
    eps: L,
    neg_step_size: L,
}

impl Adam {
    pub(crate) fn validate_as(&self, optimizer: &'static str) -> Result<(), Error> {
        adam_family(optimizer, self.lr, self.eps, self.betas, self.weight_decay)?;
        if self.amsgrad && self.state.is_compact() {
            return Err(Error::InvalidCombination {
                optimizer,
                reason: "AMSGrad keeps its maximum in the parameters' type; it cannot take a compact state",
            });
        }
        Ok(())
    }

    /// How the moments are stored when they are compact.
    fn encodings(&self, t: f64, len: usize) -> [Encoding; 2] {
        match self.state {
            StateType::Int8 => [Encoding::Int8(QuantizationMap::signed()), Encoding::Int8(QuantizationMap::unsigned())],
            kind => {
                let stochastic =
                    (kind == StateType::Bf16Stochastic).then(|| (t as u32).wrapping_mul(0x85EB_CA77) ^ len as u32);
                [Encoding::Bf16 { stochastic }, Encoding::Bf16 { stochastic }]
            }
        }
    }

    /// The step with compact moments: `bitsandbytes`' arithmetic for 8-bit state (its CPU kernel, in the
    /// element type), PyTorch's (the fused pass's own update) for bfloat16.
    fn compact_step<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        let t = stage.state.step().map_or(1.0, f64::from);
        let encodings = self.encodings(t, stage.param.len());
        let TensorStage { param, grad, state, .. } = stage;
        let to_t = |v: f32| T::from_f64(f64::from(v));
        if self.state == StateType::Int8 {
            let (beta1, beta2) = self.betas;
            let correction1 = 1.0 - beta1.powf(t);
            let correction2 = Divisor::<T>::new((1.0 - beta2.powf(t)).sqrt());
            let (b1, one_minus_b1) = (T::from_f64(beta1), T::from_f64(1.0 - beta1));
            let (b2, one_minus_b2) = (T::from_f64(beta2), T::from_f64(1.0 - beta2));
            let (eps, step_size) = (T::from_f64(self.eps), T::from_f64(-self.lr / correction1));
            let decays = self.weight_decay != 0.0;
            let decay = (decays && self.decoupled_weight_decay).then(|| T::from_f64(1.0 - self.lr * self.weight_decay));
            let l2 = (decays && !self.decoupled_weight_decay).then(|| T::from_f64(self.weight_decay));
            let maximize = self.maximize;
            compact_step::step(
                param,
                grad,
                &mut state.compact,
                &encodings,
                #[inline(always)]
                move |p, g, m_value, v_value| {
                    let g = if maximize { -g } else { g };
                    let g = l2.map_or(g, |l2| l2.mul_add(*p, g));
                    let m = one_minus_b1.mul_add(g, to_t(*m_value) * b1);
                    let v = (one_minus_b2 * g).mul_add(g, to_t(*v_value) * b2);
                    let denom = correction2.divide(v.sqrt()) + eps;
                    if let Some(decay) = decay {
                        *p = *p * decay;
                    }
                    *p = *p + (step_size * m) / denom;
                    *m_value = m.to_f64() as f32;
                    *v_value = v.to_f64() as f32;
                },
            );
        } else {
            let c: AdamCoefficients<T> = self.coefficients(&StepContext { t, first: false, scalars: &[], global: &[] });
            compact_step::step(
                param,
                grad,
                &mut state.compact,
                &encodings,
                #[inline(always)]
                move |p, g, m_value, v_value| {
                    let mut values = [to_t(*m_value), to_t(*v_value)];
                    Adam::update(&c, p, g, &mut values);
                    *m_value = values[0].to_f64() as f32;
                    *v_value = values[1].to_f64() as f32;
                },
            );
        }
    }

    /// The layout of compact moments.
    fn compact_layout(&self, shape: &Shape) -> StateLayout {
        let layout = StateLayout::new().step();
        match self.state {
            StateType::Int8 => {
                let blocks = Some(Shape::from(shape.len().div_ceil(BLOCK)));
                layout
                    .compact("exp_avg", CompactType::U8, None)
                    .compact("exp_avg_absmax", CompactType::F32, blocks.clone())
                    .compact("exp_avg_sq", CompactType::U8, None)
                    .compact("exp_avg_sq_absmax", CompactType::F32, blocks)
            }
            _ => layout.compact("exp_avg", CompactType::Bf16, None).compact("exp_avg_sq", CompactType::Bf16, None),
        }
    }
}

impl Rule for Adam {
    const NAME: &'static str = "Adam";

    fn validate(&self) -> Result<(), Error> {
        self.validate_as(Self::NAME)
    }

    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error> {
        if self.state.is_compact() {
            return Ok(self.compact_layout(shape));
        }
        let layout = StateLayout::new().step().elementwise("exp_avg", 0.0).elementwise("exp_avg_sq", 0.0);
        Ok(if self.amsgrad { layout.elementwise("max_exp_avg_sq", 0.0) } else { layout })
    }

    fn steps_in_tensor_stage(&self) -> bool {
        self.state.is_compact()
    }

    fn tensor_stage<T: Float>(&self, stage: &mut TensorStage<'_, T>) {
        self.compact_step(stage);
    }

    type Coefficients<L: Lane> = AdamCoefficients<L>;

    fn coefficients<L: Lane>(&self, step: &StepContext<'_>) -> AdamCoefficients<L> {
        let (beta1, beta2) = self.betas;
        let bias_correction1 = 1.0 - beta1.powf(step.t);
        let bias_correction2 = 1.0 - beta2.powf(step.t);
        AdamCoefficients {
            prelude: Prelude::new(self.lr, self.weight_decay, self.decoupled_weight_decay, self.maximize),
            first_moment: Lerp::new(1.0 - beta1),
            beta2: scalar(beta2),
            one_minus_beta2: scalar(1.0 - beta2),
            // Python's `bias_correction2 ** 0.5`, which is pow(x, 0.5), not sqrt(x).
            bias_correction2_sqrt: Divisor::new(bias_correction2.powf(0.5)),
            eps: scalar(self.eps),
            neg_step_size: scalar(-(self.lr / bias_correction1)),
        }
    }

    #[inline(always)]
    fn update<L: Lane>(c: &AdamCoefficients<L>, param: &mut L, grad: L, state: &mut [L]) {
        let g = c.prelude.apply(param, grad);
        // The state's length (known when the loop is compiled) says whether this is AMSGrad.
        let (exp_avg, exp_avg_sq, max_exp_avg_sq) = match state {
            [exp_avg, exp_avg_sq] => (exp_avg, exp_avg_sq, None),
            [exp_avg, exp_avg_sq, max_exp_avg_sq] => (exp_avg, exp_avg_sq, Some(max_exp_avg_sq)),
            _ => unreachable!("Adam keeps two or three state tensors"),
        };
        *exp_avg = c.first_moment.apply(*exp_avg, g);
        *exp_avg_sq = addcmul(*exp_avg_sq * c.beta2, g, g, c.one_minus_beta2);
        let second_moment = match max_exp_avg_sq {
            Some(max_exp_avg_sq) => {
                *max_exp_avg_sq = max_exp_avg_sq.maximum(*exp_avg_sq);
                *max_exp_avg_sq
            }
            None => *exp_avg_sq,
        };
        let denom = c.bias_correction2_sqrt.divide(second_moment.sqrt()) + c.eps;
        *param = addcdiv(*param, *exp_avg, denom, c.neg_step_size);
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::new("adam", "Adam: momentum and RMSprop's scaling, with bias correction", Adam::default())
        .torch("torch.optim.Adam");
    registry.add(entry).expect("built-in names are distinct");
}
