//! The number types an update rule computes with.
//!
//! An optimizer's element-wise rule is written once, generic over [`Lane`]: one value of a parameter, its gradient
//! and its state. `f32` and `f64` are lanes of width one; vector types that hold several values implement the same
//! trait, so the scalar tail and a vector body run the very same rule.

use std::fmt::{Debug, Display, LowerExp};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// One or more values of an element type, with the operations optimizer rules need.
///
/// Every operation rounds exactly as the IEEE-754 operation of the same name on each value; in particular
/// [`Lane::mul_add`] rounds once, as PyTorch's CPU kernels do for `add(alpha=…)`, `addcmul` and `lerp` on x86-64
/// CPUs with FMA.
pub trait Lane:
    Copy
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// The element type.
    type Scalar: Float;

    /// Every value set to `value`.
    fn splat(value: Self::Scalar) -> Self;

    /// `self * a + b`, rounded once.
    fn mul_add(self, a: Self, b: Self) -> Self;

    /// The square root of each value.
    fn sqrt(self) -> Self;

    /// The absolute value of each value.
    fn abs(self) -> Self;

    /// The larger of each pair of values; NaN if either is NaN (like `torch.maximum`).
    fn maximum(self, other: Self) -> Self;

    /// The smaller of each pair of values; NaN if either is NaN (like `torch.minimum`).
    fn minimum(self, other: Self) -> Self;

    /// `then` where `self < other`, else `otherwise`, value by value (so `otherwise` where either is NaN).
    fn select_lt(self, other: Self, then: Self, otherwise: Self) -> Self;
}

/// An element type of parameters, gradients and state: `f32` or `f64`.
pub trait Float: Lane<Scalar = Self> + PartialOrd + Debug + Display + LowerExp + Default + 'static {
    /// The type's name, `"f32"` or `"f64"`.
    const NAME: &'static str;

    /// The machine epsilon: the gap between 1 and the next value (PyTorch's `finfo(dtype).eps`).
    const EPSILON: Self;

    /// Rounds an `f64` to the nearest value of this type (how PyTorch turns a Python float into a tensor scalar).
    fn from_f64(value: f64) -> Self;

    /// The value as an `f64` (exact).
    fn to_f64(self) -> f64;

    /// Neither infinite nor NaN.
    fn is_finite(self) -> bool;

    /// Zero of the value's sign if the value is subnormal (its magnitude below the smallest normal value), else
    /// the value itself (NaN included), without a branch.
    fn flush_subnormal(self) -> Self;
}

macro_rules! scalar_lane {
    ($t:ty) => {
        impl Lane for $t {
            type Scalar = $t;

            #[inline(always)]
            fn splat(value: $t) -> $t {
                value
            }

            #[inline(always)]
            fn mul_add(self, a: $t, b: $t) -> $t {
                <$t>::mul_add(self, a, b)
            }

            #[inline(always)]
            fn sqrt(self) -> $t {
                <$t>::sqrt(self)
            }

            #[inline(always)]
            fn abs(self) -> $t {
                <$t>::abs(self)
            }

            #[inline(always)]
            fn maximum(self, other: $t) -> $t {
                // `|`, not `||`: no branch, so that loops using it vectorize.
                if self.is_nan() | other.is_nan() {
                    <$t>::NAN
                } else {
                    <$t>::max(self, other)
                }
            }

            #[inline(always)]
            fn minimum(self, other: $t) -> $t {
                if self.is_nan() | other.is_nan() {
                    <$t>::NAN
                } else {
                    <$t>::min(self, other)
                }
            }

            #[inline(always)]
            fn select_lt(self, other: $t, then: $t, otherwise: $t) -> $t {
                if self < other {
                    then
                } else {
                    otherwise
                }
            }
        }

        impl Float for $t {
            const NAME: &'static str = stringify!($t);

            const EPSILON: $t = <$t>::EPSILON;

            #[inline(always)]
            fn from_f64(value: f64) -> $t {
                value as $t
            }

            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }

            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }

            #[inline(always)]
            fn flush_subnormal(self) -> $t {
                if self.abs() < <$t>::MIN_POSITIVE {
                    (0.0 as $t).copysign(self)
                } else {
                    self
                }
            }
        }
    };
}

scalar_lane!(f32);
scalar_lane!(f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_add_rounds_once() {
        // (1 + 2^-12)^2 - 1 = 2^-11 + 2^-24: the 2^-24 term is lost when the product is rounded first.
        let a = 1.0f32 + f32::EPSILON * 2048.0;
        assert_eq!(Lane::mul_add(a, a, -1.0), 2f32.powi(-11) + 2f32.powi(-24));
        assert_eq!(a * a - 1.0, 2f32.powi(-11));
    }

    #[test]
    fn maximum_propagates_nan() {
        assert!(Lane::maximum(f64::NAN, 1.0).is_nan());
        assert!(Lane::maximum(1.0, f64::NAN).is_nan());
        assert_eq!(Lane::maximum(-0.5f32, 2.0), 2.0);
    }

    #[test]
    fn minimum_propagates_nan_and_select_takes_otherwise_on_nan() {
        assert!(Lane::minimum(f64::NAN, 1.0).is_nan());
        assert!(Lane::minimum(1.0f32, f32::NAN).is_nan());
        assert_eq!(Lane::minimum(-0.5f32, 2.0), -0.5);
        assert_eq!(Lane::select_lt(1.0f64, 2.0, 10.0, 20.0), 10.0);
        assert_eq!(Lane::select_lt(2.0f64, 2.0, 10.0, 20.0), 20.0);
        assert_eq!(Lane::select_lt(f32::NAN, 2.0, 10.0, 20.0), 20.0);
    }

    #[test]
    fn from_f64_rounds_to_nearest() {
        assert_eq!(f32::from_f64(0.1), 0.1f32);
        assert_eq!(f32::from_f64(1.0 + 2f64.powi(-30)), 1.0);
    }
}
