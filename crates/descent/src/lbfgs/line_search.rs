//! The strong-Wolfe line search of PyTorch's L-BFGS (itself from Torch7's `lswolfe.lua`), operation for operation.

use super::scalar::Scalar;
use super::vector::{abs_max, dot};
use crate::Float;

/// Sufficient decrease: f(t) ≤ f(0) + c₁·t·∇f·d.
const C1: f64 = 1e-4;
/// Curvature: |∇f(t)·d| ≤ c₂·|∇f(0)·d|.
const C2: f64 = 0.9;

/// The loss along the search direction.
pub(crate) trait Objective<T> {
    /// The loss and the gradient at x + t·d (the parameters are restored to x after).
    fn at(&mut self, t: Scalar<T>) -> (f64, Vec<T>);

    /// Takes back a gradient buffer the search no longer needs.
    fn recycle(&mut self, buffer: Vec<T>);
}

/// Where the search stopped.
pub(crate) struct Found<T> {
    /// The loss there.
    pub(crate) loss: f64,
    /// The gradient there.
    pub(crate) grad: Vec<T>,
    /// The step length t.
    pub(crate) t: Scalar<T>,
    /// The evaluations made.
    pub(crate) evaluations: usize,
}

/// A point on the line: t, the loss, the gradient and the directional derivative there.
struct Point<T> {
    t: Scalar<T>,
    f: f64,
    g: Vec<T>,
    gtd: Scalar<T>,
}

/// Finds a step length t along `d` that satisfies the strong Wolfe conditions, from t (the first guess), the
/// loss `f`, gradient `g` and directional derivative `gtd` at t = 0, in at most `max_ls` evaluations.
#[allow(clippy::too_many_arguments)]
pub(crate) fn strong_wolfe<T: Float>(
    objective: &mut dyn Objective<T>,
    d: &[T],
    t: Scalar<T>,
    f: f64,
    g: Vec<T>,
    gtd: Scalar<T>,
    tolerance_change: f64,
    max_ls: usize,
) -> Found<T> {
    let d_norm = Scalar::Tensor(abs_max(d));
    let sufficient = |t: Scalar<T>, f_new: f64| Scalar::Float(f_new) > Scalar::Float(f) + C1 * t * gtd;
    let curvature = |gtd_new: Scalar<T>| gtd_new.abs() <= -C2 * gtd;
    let evaluate = |objective: &mut dyn Objective<T>, t: Scalar<T>| {
        let (f, g) = objective.at(t);
        let gtd = Scalar::Tensor(dot(&g, d));
        Point { t, f, g, gtd }
    };
    let mut evaluations = 1;
    let mut new = evaluate(objective, t);
    let mut start = Some(g);

    // Bracket an interval that holds a point satisfying the conditions.
    let mut prev: Option<Point<T>> = None;
    let (mut t_prev, mut f_prev, mut gtd_prev) = (Scalar::Float(0.0), f, gtd);
    let mut done = false;
    let mut ls_iter = 0;
    let mut bracket = loop {
        if ls_iter >= max_ls {
            // Out of evaluations: the bracket is [0, t].
            if let Some(old) = prev.take() {
                objective.recycle(old.g);
            }
            let g = start.take().expect("the gradient at 0 is still here");
            break vec![Point { t: Scalar::Float(0.0), f, g, gtd: Scalar::Float(f64::NAN) }, new];
        }
        let previous = |prev: Option<Point<T>>, start: &mut Option<Vec<T>>| {
            prev.unwrap_or_else(|| Point {
                t: t_prev,
                f: f_prev,
                g: start.take().expect("the gradient at 0 is taken once"),
                gtd: gtd_prev,
            })
        };
        if sufficient(new.t, new.f) || (ls_iter > 1 && new.f >= f_prev) {
            break vec![previous(prev.take(), &mut start), new];
        }
        if curvature(new.gtd) {
            done = true;
            break vec![new];
        }
        if new.gtd >= Scalar::Float(0.0) {
            break vec![previous(prev.take(), &mut start), new];
        }
        // Interpolate.
        let t = new.t;
        let min_step = t + 0.01 * (t - t_prev);
        let max_step = t * 10.0;
        let next = cubic_interpolate(t_prev, f_prev, gtd_prev, t, new.f, new.gtd, Some((min_step, max_step)));
        (t_prev, f_prev, gtd_prev) = (t, new.f, new.gtd);
        if let Some(old) = prev.replace(new) {
            objective.recycle(old.g);
        }
        new = evaluate(objective, next);
        evaluations += 1;
        ls_iter += 1;
    };
    if let Some(old) = prev {
        objective.recycle(old.g);
    }
    if let Some(g) = start {
        objective.recycle(g);
    }

    // Zoom: shrink the bracket until a point satisfies the conditions.
    let mut insufficient_progress = false;
    let order = |b: &[Point<T>]| if b[0].f <= b[b.len() - 1].f { (0, 1) } else { (1, 0) };
    let (mut low, mut high) = order(&bracket);
    while !done && ls_iter < max_ls {
        if (bracket[1].t - bracket[0].t).abs() * d_norm < Scalar::Float(tolerance_change) {
            break;
        }
        let (a, b) = (&bracket[0], &bracket[1]);
        let mut t = cubic_interpolate(a.t, a.f, a.gtd, b.t, b.f, b.gtd, None);
        // Keep away from the ends of the bracket when progress is slow.
        let (top, bottom) = (a.t.max(b.t), a.t.min(b.t));
        let eps = 0.1 * (top - bottom);
        if (top - t).min(t - bottom) < eps {
            if insufficient_progress || t >= top || t <= bottom {
                t = if (t - top).abs() < (t - bottom).abs() { top - eps } else { bottom + eps };
                insufficient_progress = false;
            } else {
                insufficient_progress = true;
            }
        } else {
            insufficient_progress = false;
        }
        let new = evaluate(objective, t);
        evaluations += 1;
        ls_iter += 1;
        if sufficient(new.t, new.f) || new.f >= bracket[low].f {
            // Not a sufficient decrease, or not below the lowest point: the new high end.
            let old = std::mem::replace(&mut bracket[high], new);
            objective.recycle(old.g);
            (low, high) = order(&bracket);
        } else {
            if curvature(new.gtd) {
                done = true;
            } else if new.gtd * (bracket[high].t - bracket[low].t) >= Scalar::Float(0.0) {
                // The old low end becomes the high end.
                bracket.swap(high, low);
            }
            let old = std::mem::replace(&mut bracket[low], new);
            objective.recycle(old.g);
        }
    }
    let found = bracket.swap_remove(low);
    for rest in bracket {
        objective.recycle(rest.g);
    }
    Found { loss: found.f, grad: found.g, t: found.t, evaluations }
}

/// The minimizer of the cubic through (x₁, f₁) and (x₂, f₂) with slopes g₁ and g₂, within `bounds` (the points'
/// interval if none); the middle of the bounds if the cubic has no minimum.
fn cubic_interpolate<T: Float>(
    x1: Scalar<T>,
    f1: f64,
    g1: Scalar<T>,
    x2: Scalar<T>,
    f2: f64,
    g2: Scalar<T>,
    bounds: Option<(Scalar<T>, Scalar<T>)>,
) -> Scalar<T> {
    let (low, high) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - Scalar::Float(3.0 * (f1 - f2)) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= Scalar::Float(0.0) {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        min_pos.max(low).min(high)
    } else {
        (low + high) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cubic_through_a_cubic_finds_its_minimum() {
        // f(x) = x³ − 3x has its local minimum at x = 1; from x = 0 and x = 2 the cubic is f itself.
        let f = |x: f64| x * x * x - 3.0 * x;
        let g = |x: f64| 3.0 * x * x - 3.0;
        let s = |v: f64| Scalar::<f64>::Tensor(v);
        let t = cubic_interpolate(s(0.0), f(0.0), s(g(0.0)), s(2.0), f(2.0), s(g(2.0)), None);
        assert!((t.value() - 1.0).abs() < 1e-12, "{t:?}");
        // Bounds clamp it.
        let t = cubic_interpolate(s(0.0), f(0.0), s(g(0.0)), s(2.0), f(2.0), s(g(2.0)), Some((s(1.5), s(3.0))));
        assert_eq!(t.value(), 1.5);
    }
}
