//! PyTorch's element-wise tensor operations, with the rounding of its CPU kernels (AVX2/AVX-512 dispatch).
//!
//! Rules written with these read like PyTorch's `_single_tensor_*` functions and round the same way: scalar
//! arguments are rounded to the element type once, `add(alpha=…)` and `addcmul` are fused multiply-adds, `addcdiv`
//! multiplies, divides and adds with three roundings.

use crate::{Float, Lane};

/// The element type of lane `L`.
pub(crate) type Scalar<L> = <L as Lane>::Scalar;

/// A Python float as PyTorch passes it to a tensor op: rounded to the element type once, then broadcast.
#[inline(always)]
pub(crate) fn scalar<L: Lane>(value: f64) -> L {
    L::splat(Scalar::<L>::from_f64(value))
}

/// `x.add(y, alpha=alpha)`: `alpha·y + x`, rounded once.
#[inline(always)]
pub(crate) fn add_scaled<L: Lane>(x: L, y: L, alpha: L) -> L {
    alpha.mul_add(y, x)
}

/// `x.addcmul(t1, t2, value=value)`: `(value·t1)·t2 + x`, the product `value·t1` rounded first.
#[inline(always)]
pub(crate) fn addcmul<L: Lane>(x: L, t1: L, t2: L, value: L) -> L {
    (value * t1).mul_add(t2, x)
}

/// `x.addcdiv(t1, t2, value=value)`: `x + (value·t1)/t2`, three roundings.
#[inline(always)]
pub(crate) fn addcdiv<L: Lane>(x: L, t1: L, t2: L, value: L) -> L {
    x + (value * t1) / t2
}

/// `x / d` for a divisor `d` fixed for the step, rounded exactly as the division is, without dividing: a
/// multiplication and two fused multiply-adds, which cost a fraction of a division (a step of the Adam family is
/// otherwise bound by its divisions once its data sit in cache).
///
/// With y = 1/d rounded to nearest and q = x·y (within an ulp of x/d), the remainder r = x − q·d is exact in one
/// fused multiply-add, and q + r·y rounds to x/d (Markstein's theorem). It holds while neither the quotient nor the
/// remainder leaves the normal range: for the square roots the Adam family divides (zero, or at least the root of
/// the smallest subnormal number) by a divisor in (0, 1]. An infinite or NaN quotient is passed through as the
/// division gives it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Divisor<L> {
    divisor: L,
    reciprocal: L,
}

impl<L: Lane> Divisor<L> {
    /// The divisor `value`, rounded to the element type as PyTorch passes a Python float.
    pub(crate) fn new(value: f64) -> Self {
        let divisor = Scalar::<L>::from_f64(value);
        Divisor { divisor: L::splat(divisor), reciprocal: L::splat(Scalar::<L>::from_f64(1.0) / divisor) }
    }

    /// `x / d`.
    #[inline(always)]
    pub(crate) fn divide(&self, x: L) -> L {
        let quotient = x * self.reciprocal;
        let remainder = (-quotient).mul_add(self.divisor, x);
        let corrected = remainder.mul_add(self.reciprocal, quotient);
        quotient.select_lt(L::splat(Scalar::<L>::from_f64(f64::INFINITY)), corrected, quotient)
    }
}

/// `start.lerp(end, weight)` for one value and a weight already in the element type, as PyTorch's CPU kernel
/// rounds it (see [`Lerp`]), for rules that work a tensor at a time.
#[inline(always)]
pub(crate) fn lerp<T: Float>(start: T, end: T, weight: T) -> T {
    if weight.to_f64().abs() < 0.5 {
        weight.mul_add(end - start, start)
    } else {
        (weight - T::from_f64(1.0)).mul_add(end - start, end)
    }
}

/// `start.lerp(end, weight)` for a scalar weight, as PyTorch's CPU kernel computes it: `start + w·(end − start)`
/// for `|w| < 0.5`, else `end + (w − 1)·(end − start)`, each a fused multiply-add.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lerp<L> {
    coefficient: L,
    from_end: bool,
}

impl<L: Lane> Lerp<L> {
    pub(crate) fn new(weight: f64) -> Self {
        let w = Scalar::<L>::from_f64(weight);
        let from_end = w.to_f64().abs() >= 0.5;
        let coefficient = if from_end { w - Scalar::<L>::from_f64(1.0) } else { w };
        Lerp { coefficient: L::splat(coefficient), from_end }
    }

    #[inline(always)]
    pub(crate) fn apply(&self, start: L, end: L) -> L {
        let base = if self.from_end { end } else { start };
        self.coefficient.mul_add(end - start, base)
    }
}

/// How every step of the Adam family begins: the gradient negated to ascend, then weight decay, either an L2
/// penalty added to the gradient (g ← g + λ·θ) or decoupled (θ ← θ·(1 − η·λ), AdamW's form). Two options rather
/// than a three-way enum: the loop vectorizer handles if/else, not switch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prelude<L> {
    maximize: bool,
    l2: Option<L>,
    decay_factor: Option<L>,
}

impl<L: Lane> Prelude<L> {
    pub(crate) fn new(lr: f64, weight_decay: f64, decoupled: bool, maximize: bool) -> Self {
        let decays = weight_decay != 0.0;
        Prelude {
            maximize,
            l2: (decays && !decoupled).then(|| scalar(weight_decay)),
            decay_factor: (decays && decoupled).then(|| scalar(1.0 - lr * weight_decay)),
        }
    }

    /// Decays `param` (decoupled) and returns the gradient the moments see.
    #[inline(always)]
    pub(crate) fn apply(&self, param: &mut L, grad: L) -> L {
        let mut g = if self.maximize { -grad } else { grad };
        if let Some(factor) = self.decay_factor {
            *param = *param * factor;
        }
        if let Some(weight_decay) = self.l2 {
            g = add_scaled(g, *param, weight_decay);
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lerp_uses_the_form_of_the_weight() {
        // Both forms give the exact end points.
        assert_eq!(Lerp::<f32>::new(0.1).apply(2.0, 3.0), 2.1);
        assert_eq!(Lerp::<f64>::new(1.0).apply(2.0, 3.0), 3.0);
        assert_eq!(Lerp::<f64>::new(0.0).apply(2.0, 3.0), 2.0);
        // w = 0.75: end + (w - 1)(end - start) = 3 - 0.25 = 2.75.
        assert_eq!(Lerp::<f32>::new(0.75).apply(2.0, 3.0), 2.75);
    }

    #[test]
    fn addcdiv_multiplies_before_dividing() {
        // (3·1)/3 = 1 exactly; 3·(1/3) would round.
        assert_eq!(addcdiv(0.0f32, 1.0, 3.0, 3.0), 1.0);
    }

    /// Adam's bias corrections √(1 − β₂ᵗ) for common β₂ and the first thousand steps, and divisors spread over (0, 1].
    fn divisors() -> Vec<f64> {
        let corrections = [0.9, 0.99, 0.999, 0.9999]
            .into_iter()
            .flat_map(|beta2: f64| (1..=1000).map(move |t| (1.0 - beta2.powf(f64::from(t))).powf(0.5)));
        corrections.chain((1..=200).map(|k| f64::from(k) / 200.0)).collect()
    }

    /// Square roots spread over every binade, with a random significand (a 64-bit linear congruential generator).
    fn roots<T: Float>(exponent_range: std::ops::Range<i32>, per_binade: usize) -> Vec<T> {
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut values = vec![T::from_f64(0.0)];
        for exponent in exponent_range {
            for _ in 0..per_binade {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let significand = 1.0 + (state >> 11) as f64 / (1u64 << 53) as f64;
                values.push(T::from_f64(significand * 2f64.powi(exponent)).sqrt());
            }
        }
        values
    }

    fn check_divisor<T: Float>(exponent_range: std::ops::Range<i32>, per_binade: usize) {
        let dividends = roots::<T>(exponent_range, per_binade);
        for d in divisors() {
            let divisor = Divisor::<T>::new(d);
            let rounded = T::from_f64(d);
            for &x in &dividends {
                let (got, want) = (divisor.divide(x), x / rounded);
                assert!(got == want, "{x:e} / {rounded:e}: {got:e}, the division gives {want:e}");
            }
        }
    }

    #[test]
    fn a_fixed_divisor_divides_square_roots_exactly_in_f32() {
        // Every square root of a positive f32, subnormal ones included, and infinity.
        check_divisor::<f32>(-149..128, 32);
        let divisor = Divisor::<f32>::new(0.3);
        assert_eq!(divisor.divide(f32::INFINITY), f32::INFINITY);
        assert!(divisor.divide(f32::NAN).is_nan());
    }

    #[test]
    fn a_fixed_divisor_divides_square_roots_exactly_in_f64() {
        check_divisor::<f64>(-1074..1024, 8);
        assert_eq!(Divisor::<f64>::new(0.7).divide(f64::INFINITY), f64::INFINITY);
    }
}
