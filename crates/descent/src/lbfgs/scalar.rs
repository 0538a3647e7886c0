//! The scalars of PyTorch's L-BFGS: some are Python floats (`f64`), others 0-dimensional tensors of the parameters'
//! type, and which one a value is decides the precision of what is computed from it.

use std::cmp::Ordering;
use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::Float;

/// A Python float or a 0-dimensional tensor of element type `T`.
///
/// Arithmetic follows PyTorch's type promotion: two floats give a float (in `f64`); anything with a tensor gives a
/// tensor, the float first rounded to `T` (as a wrapped Python scalar is). Comparisons with a tensor are made in `T`.
/// The `f64` arithmetic rounded to `T` is exactly `T`'s own: an `f64` holds the exact result of an `f32` operation
/// to well within the double-rounding bound.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<T> {
    /// A Python float.
    Float(f64),
    /// A tensor's value.
    Tensor(T),
}

impl<T: Float> Scalar<T> {
    /// The value, as an `f64` (exact).
    pub(crate) fn value(self) -> f64 {
        match self {
            Scalar::Float(v) => v,
            Scalar::Tensor(v) => v.to_f64(),
        }
    }

    /// The value as a tensor of `T` would hold it (how an `alpha` or a multiplier reaches a kernel).
    pub(crate) fn to_tensor(self) -> T {
        match self {
            Scalar::Float(v) => T::from_f64(v),
            Scalar::Tensor(v) => v,
        }
    }

    fn combine(self, other: Self, op: impl Fn(f64, f64) -> f64) -> Self {
        match (self, other) {
            (Scalar::Float(a), Scalar::Float(b)) => Scalar::Float(op(a, b)),
            _ => Scalar::Tensor(T::from_f64(op(self.to_tensor().to_f64(), other.to_tensor().to_f64()))),
        }
    }

    /// Python's `abs`.
    pub(crate) fn abs(self) -> Self {
        match self {
            Scalar::Float(v) => Scalar::Float(v.abs()),
            Scalar::Tensor(v) => Scalar::Tensor(T::from_f64(v.to_f64().abs())),
        }
    }

    /// `tensor.sqrt()` (or `math.sqrt` of a float).
    pub(crate) fn sqrt(self) -> Self {
        match self {
            Scalar::Float(v) => Scalar::Float(v.sqrt()),
            Scalar::Tensor(v) => Scalar::Tensor(T::from_f64(v.to_f64().sqrt())),
        }
    }

    /// Python's `min(self, other)`: `other` only if it is smaller.
    pub(crate) fn min(self, other: Self) -> Self {
        if other < self {
            other
        } else {
            self
        }
    }

    /// Python's `max(self, other)`: `other` only if it is larger.
    pub(crate) fn max(self, other: Self) -> Self {
        if other > self {
            other
        } else {
            self
        }
    }
}

impl<T: Float> From<f64> for Scalar<T> {
    fn from(value: f64) -> Self {
        Scalar::Float(value)
    }
}

impl<T: Float> PartialEq for Scalar<T> {
    fn eq(&self, other: &Self) -> bool {
        self.partial_cmp(other) == Some(Ordering::Equal)
    }
}

impl<T: Float> PartialOrd for Scalar<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Scalar::Float(a), Scalar::Float(b)) => a.partial_cmp(b),
            _ => self.to_tensor().to_f64().partial_cmp(&other.to_tensor().to_f64()),
        }
    }
}

macro_rules! binary {
    ($trait:ident, $method:ident, $op:tt) => {
        impl<T: Float> $trait for Scalar<T> {
            type Output = Scalar<T>;

            fn $method(self, other: Scalar<T>) -> Scalar<T> {
                self.combine(other, |a, b| a $op b)
            }
        }

        impl<T: Float> $trait<f64> for Scalar<T> {
            type Output = Scalar<T>;

            fn $method(self, other: f64) -> Scalar<T> {
                self.combine(Scalar::Float(other), |a, b| a $op b)
            }
        }

        impl<T: Float> $trait<Scalar<T>> for f64 {
            type Output = Scalar<T>;

            fn $method(self, other: Scalar<T>) -> Scalar<T> {
                Scalar::Float(self).combine(other, |a, b| a $op b)
            }
        }
    };
}

binary!(Add, add, +);
binary!(Sub, sub, -);
binary!(Mul, mul, *);
binary!(Div, div, /);

impl<T: Float> Neg for Scalar<T> {
    type Output = Scalar<T>;

    fn neg(self) -> Scalar<T> {
        match self {
            Scalar::Float(v) => Scalar::Float(-v),
            Scalar::Tensor(v) => Scalar::Tensor(T::from_f64(-v.to_f64())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scalar;

    #[test]
    fn a_float_meeting_a_tensor_is_rounded_to_the_tensor_type_first() {
        let third = Scalar::<f32>::Float(1.0 / 3.0);
        let tensor = Scalar::<f32>::Tensor(3.0);
        assert!(matches!(third * tensor, Scalar::Tensor(v) if v == (1.0_f32 / 3.0) * 3.0));
        assert!(matches!(third * Scalar::Float(3.0), Scalar::Float(v) if v == (1.0 / 3.0) * 3.0));
        // 1 + 2⁻³⁰ is above 1 as a float, equal to 1 once rounded to f32.
        let above = Scalar::<f32>::Float(1.0 + 2f64.powi(-30));
        assert!(above > Scalar::Float(1.0));
        assert!(above <= Scalar::Tensor(1.0));
    }

    #[test]
    fn min_and_max_keep_the_first_of_equals_as_python_does() {
        let (float, tensor) = (Scalar::<f32>::Float(2.0), Scalar::<f32>::Tensor(2.0));
        assert!(matches!(float.min(tensor), Scalar::Float(_)));
        assert!(matches!(tensor.max(float), Scalar::Tensor(_)));
        assert!(matches!(float.max(Scalar::Tensor(3.0)), Scalar::Tensor(_)));
    }
}
