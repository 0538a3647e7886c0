//! Gradient clipping: the optimizer's global stage, and the same operations on plain slices.

use crate::{Error, Float};

/// Clipping of all gradients of a step, PyTorch's `clip_grad_norm_` and/or `clip_grad_value_`, run as the
/// optimizer's global stage ([`Optimizer::set_clip`](crate::Optimizer::set_clip)): the norm is measured over every
/// gradient before any update, and the clipping itself happens inside the fused pass, with no pass of its own.
///
/// By norm: with N the p-norm of all gradients together (the norm of the per-tensor norms, as PyTorch computes
/// it), every gradient is multiplied by min(1, max_norm / (N + 1e-6)). By value: each gradient value is clamped
/// to [−value, value]. With both, the norm's coefficient applies first.
///
/// The norms are accumulated in `f64` (PyTorch accumulates in the gradients' type), so the coefficient can differ
/// from PyTorch's in its last bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clip {
    /// The largest total norm allowed (`None`: no clipping by norm).
    pub max_norm: Option<f64>,
    /// The p of the p-norm: any positive number, or `f64::INFINITY` for the largest absolute value (default 2).
    pub norm_type: f64,
    /// Refuse a step whose total norm is NaN or infinite, changing nothing (default false).
    pub error_if_nonfinite: bool,
    /// The largest absolute gradient value allowed (`None`: no clipping by value).
    pub value: Option<f64>,
}

impl Clip {
    /// Clipping by the 2-norm to at most `max_norm`.
    pub fn norm(max_norm: f64) -> Self {
        Clip { max_norm: Some(max_norm), norm_type: 2.0, error_if_nonfinite: false, value: None }
    }

    /// Clamping every gradient value to [−value, value].
    pub fn value(value: f64) -> Self {
        Clip { max_norm: None, norm_type: 2.0, error_if_nonfinite: false, value: Some(value) }
    }

    /// Checks the limits: a finite max_norm and value > 0, and a norm_type > 0 (or inf).
    pub fn validate(&self) -> Result<(), Error> {
        let invalid =
            |name, value, expected| Err(Error::InvalidHyperparameter { optimizer: "clip", name, value, expected });
        if let Some(max_norm) = self.max_norm {
            if !max_norm.is_finite() || max_norm <= 0.0 {
                return invalid("max_norm", max_norm, "a finite number > 0");
            }
        }
        if self.norm_type.is_nan() || self.norm_type <= 0.0 {
            return invalid("norm_type", self.norm_type, "a number > 0, or inf");
        }
        if let Some(value) = self.value {
            if !value.is_finite() || value <= 0.0 {
                return invalid("clip_value", value, "a finite number > 0");
            }
        }
        Ok(())
    }

    /// The coefficient every gradient is multiplied by, and the total norm it was measured from.
    pub(crate) fn scale<'a, T: Float>(
        &self,
        grads: impl Iterator<Item = &'a [T]>,
    ) -> Result<(Option<f64>, Option<f64>), Error> {
        if self.max_norm.is_none() {
            return Ok((None, None));
        }
        let norm = total_norm(grads, self.norm_type);
        Ok((self.coefficient(norm)?, Some(norm)))
    }

    /// The coefficient every gradient is multiplied by when all of them together have the total norm `norm`
    /// (`None` without clipping by norm): min(1, max_norm / (norm + 1e-6)). A non-finite norm with
    /// `error_if_nonfinite` is an error. For a caller that measures the norm itself, e.g. over parameters held
    /// by several processes ([`tensor_norm`], [`norm_of_norms`]).
    pub fn coefficient(&self, norm: f64) -> Result<Option<f64>, Error> {
        let Some(max_norm) = self.max_norm else { return Ok(None) };
        if self.error_if_nonfinite && !norm.is_finite() {
            return Err(Error::NonFiniteGradientNorm { norm_type: self.norm_type, norm });
        }
        Ok(Some((max_norm / (norm + 1e-6)).min(1.0)))
    }
}

/// The p-norm of all `grads` together: the p-norm of their per-tensor p-norms, accumulated in `f64`.
pub fn total_norm<'a, T: Float>(grads: impl Iterator<Item = &'a [T]>, norm_type: f64) -> f64 {
    norm_of_norms(grads.map(|g| tensor_norm(g, norm_type)), norm_type)
}

/// The p-norm of one gradient tensor, accumulated in `f64`: a part of [`total_norm`].
pub fn tensor_norm<T: Float>(grad: &[T], norm_type: f64) -> f64 {
    p_norm(grad.iter().map(|v| v.to_f64()), norm_type)
}

/// The p-norm of per-tensor p-norms, in the order given: [`total_norm`] from [`tensor_norm`]s measured apart.
pub fn norm_of_norms(norms: impl Iterator<Item = f64>, norm_type: f64) -> f64 {
    p_norm(norms, norm_type)
}

fn p_norm(values: impl Iterator<Item = f64>, p: f64) -> f64 {
    if p == f64::INFINITY {
        values.fold(0.0, |m: f64, v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.max(v.abs()) })
    } else if p == 2.0 {
        values.map(|v| v * v).sum::<f64>().sqrt()
    } else if p == 1.0 {
        values.map(f64::abs).sum()
    } else {
        values.map(|v| v.abs().powf(p)).sum::<f64>().powf(1.0 / p)
    }
}

/// PyTorch's `clip_grad_norm_` on plain slices: scales every gradient so that their total p-norm is at most
/// `max_norm`, and returns the total norm before clipping. A non-finite norm with `error_if_nonfinite` is an error
/// that changes nothing.
pub fn clip_grad_norm<T: Float>(
    grads: &mut [&mut [T]],
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> Result<f64, Error> {
    let clip = Clip { max_norm: Some(max_norm), norm_type, error_if_nonfinite, value: None };
    clip.validate()?;
    let (coefficient, norm) = clip.scale(grads.iter().map(|g| &**g))?;
    let coefficient = T::from_f64(coefficient.expect("clipping by norm"));
    for g in grads.iter_mut().flat_map(|g| g.iter_mut()) {
        *g = *g * coefficient;
    }
    Ok(norm.expect("clipping by norm"))
}

/// PyTorch's `clip_grad_value_` on plain slices: clamps every gradient value to [−value, value].
pub fn clip_grad_value<T: Float>(grads: &mut [&mut [T]], value: f64) -> Result<(), Error> {
    Clip::value(value).validate()?;
    let (low, high) = (T::from_f64(-value), T::from_f64(value));
    for g in grads.iter_mut().flat_map(|g| g.iter_mut()) {
        if *g < low {
            *g = low;
        } else if *g > high {
            *g = high;
        }
    }
    Ok(())
}
