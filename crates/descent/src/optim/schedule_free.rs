//! What the Schedule-Free optimizers share: the weights of their running average, and the move between the
//! point they train at and the point they are evaluated at.

use crate::kernel::Inline;
use crate::torch_ops::lerp;
use crate::{with_best_isa, Float, ParamState, Point, StateLayout, StepContext};

/// The averaging of Schedule-Free (Defazio et al. 2024): its hyperparameters and the scalars it keeps.
///
/// Step t (counting from 1) has the learning rate η_t = η·min(1, t/warmup_steps), and weighs its point by
/// c_t = w_t/Σw, w_t = t^r·(max η)^weight_lr_power, so that the warm-up's small steps count for little.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Averaging {
    pub(crate) lr: f64,
    pub(crate) warmup_steps: u64,
    pub(crate) r: f64,
    pub(crate) weight_lr_power: f64,
}

/// The scalars a step needs, as the reference computes them in Python floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Weights {
    /// The warmed-up learning rate η_t.
    pub(crate) lr: f64,
    /// The weight c_t of the new point in the average.
    pub(crate) ckp1: f64,
}

impl Averaging {
    /// Adds the scalars the averaging keeps to a layout: the largest rate so far and the sum of the weights.
    pub(crate) fn layout(layout: StateLayout) -> StateLayout {
        layout.step().scalar("lr_max", -1.0).scalar("weight_sum", 0.0)
    }

    fn scheduled_lr(&self, t: f64) -> f64 {
        let warmup = self.warmup_steps as f64;
        if t - 1.0 < warmup {
            self.lr * (t / warmup)
        } else {
            self.lr
        }
    }

    fn weight(&self, t: f64, lr_max: f64) -> f64 {
        t.powf(self.r) * lr_max.powf(self.weight_lr_power)
    }

    /// Advances the kept scalars for step t (the per-tensor stage: the state's counter already counts it).
    pub(crate) fn advance<T>(&self, state: &mut ParamState<T>) {
        let t = state.step().map_or(1.0, f64::from);
        let previous = state.scalar("lr_max").expect("the layout has lr_max");
        let lr_max = previous.max(self.scheduled_lr(t));
        let weight_sum = state.scalar("weight_sum").expect("the layout has weight_sum") + self.weight(t, lr_max);
        state.set_scalar("lr_max", lr_max);
        state.set_scalar("weight_sum", weight_sum);
    }

    /// The step's rate and weight, from the scalars [`Averaging::advance`] left.
    pub(crate) fn weights(&self, step: &StepContext<'_>) -> Weights {
        let (lr_max, weight_sum) = (step.scalar("lr_max"), step.scalar("weight_sum"));
        let weight = self.weight(step.t, lr_max);
        // The reference's ZeroDivisionError (every rate so far zero) gives a weight of zero.
        let ckp1 = if weight_sum == 0.0 { 0.0 } else { weight / weight_sum };
        Weights { lr: self.scheduled_lr(step.t), ckp1 }
    }
}

/// Moves a parameter between y, the point Schedule-Free trains at, and x, the average it is evaluated at, with
/// z from its state: x = y + (1 − 1/β)·(z − y) and back, y = x + (1 − β)·(z − x), each a `lerp` as the reference's
/// `eval()` and `train()` compute it.
pub(crate) fn move_point<T: Float>(beta: f64, to: Point, param: &mut [T], state: &ParamState<T>) {
    let z = state.get("z").expect("the layout has z");
    let weight = T::from_f64(match to {
        Point::Evaluation => 1.0 - 1.0 / beta,
        Point::Training => 1.0 - beta,
    });
    // Compiled for the CPU's instruction set (the `lerp`'s fused multiply-add in hardware).
    with_best_isa(Inline(
        #[inline(always)]
        || {
            for (p, &z) in param.iter_mut().zip(z) {
                *p = lerp(*p, z, weight);
            }
        },
    ));
}
