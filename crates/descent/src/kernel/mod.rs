//! Applies an update rule over whole slices.

use crate::{Float, Rule};

/// The most state tensors any rule keeps per parameter (Adam with AMSGrad, RMSprop centered with momentum).
pub(crate) const MAX_STATE_TENSORS: usize = 3;

/// Runs `R::update` on every element of `param`, with the matching elements of `grad` and each state tensor.
///
/// The caller has checked that every slice has `param.len()` elements and that there are at most
/// [`MAX_STATE_TENSORS`] state tensors.
pub(crate) fn apply<R: Rule, T: Float>(c: &R::Coefficients<T>, param: &mut [T], grad: &[T], state: &mut [Vec<T>]) {
    debug_assert!(state.len() <= MAX_STATE_TENSORS);
    debug_assert!(grad.len() == param.len() && state.iter().all(|s| s.len() == param.len()));
    let mut lanes = [T::default(); MAX_STATE_TENSORS];
    let lanes = &mut lanes[..state.len()];
    for (i, (p, &g)) in param.iter_mut().zip(grad).enumerate() {
        for (lane, tensor) in lanes.iter_mut().zip(state.iter()) {
            *lane = tensor[i];
        }
        R::update(c, p, g, lanes);
        for (lane, tensor) in lanes.iter().zip(state.iter_mut()) {
            tensor[i] = *lane;
        }
    }
}
