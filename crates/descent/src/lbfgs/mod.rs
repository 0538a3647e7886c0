//! The L-BFGS optimizer: one history over all parameters, and steps that call the closure as often as the line
//! search needs. Its hyperparameters are [`Lbfgs`](crate::Lbfgs).

mod line_search;
mod scalar;
mod vector;

use std::collections::VecDeque;
use std::sync::OnceLock;

use serde_json::Value;

use crate::optim::lbfgs::{LineSearch, NAME};
use crate::state::StateTensor;
use crate::{
    hyper, Clip, Closure, DynOptimizer, Error, Float, GroupRecord, Lbfgs, Param, ParamRecord, ParamState, Point, Shape,
    Spec, StateDict, StateRecord,
};
use line_search::{strong_wolfe, Objective};
use scalar::Scalar;
use vector::{abs_max, abs_sum, add_scaled, difference, dot, scaled};

/// L-BFGS over parameters of element type `T`: PyTorch's `torch.optim.LBFGS`, built from an [`Lbfgs`] spec or with
/// [`LbfgsOptimizer::new`].
///
/// It has one parameter group, steps only through [`DynOptimizer::step_with_closure`], and keeps its state for the
/// parameters as a whole ([`DynOptimizer::global_state`]), under PyTorch's names: `d`, `prev_flat_grad`,
/// `old_dirs` and `old_stps` (one row per remembered pair), `ro`, and the scalars `func_evals`, `n_iter`, `t`,
/// `H_diag` and `prev_loss`.
///
/// ```
/// use descent::{DynOptimizer, Lbfgs, LbfgsOptimizer, LineSearch, Param};
///
/// // Rosenbrock's valley: J(x, y) = (1 − x)² + 100·(y − x²)².
/// let mut theta = vec![-1.5_f64, 2.0];
/// let hyper = Lbfgs { line_search_fn: Some(LineSearch::StrongWolfe), ..Lbfgs::default() };
/// let mut opt = LbfgsOptimizer::new(hyper, [Param::vector(2)])?;
/// for _ in 0..10 {
///     opt.step_with_closure(&mut [&mut theta], &mut |points, grads| {
///         let (x, y) = (points[0][0], points[0][1]);
///         grads[0][0] = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
///         grads[0][1] = 200.0 * (y - x * x);
///         (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
///     })?;
/// }
/// assert!((theta[0] - 1.0).abs() < 1e-4 && (theta[1] - 1.0).abs() < 1e-4);
/// # Ok::<(), descent::Error>(())
/// ```
#[derive(Debug)]
pub struct LbfgsOptimizer<T: Float> {
    hyper: Lbfgs,
    params: Vec<Param>,
    /// Where each parameter starts in the flat vector, and the total length last.
    offsets: Vec<usize>,
    history: Option<History<T>>,
    /// The state as [`ParamState`], made when asked for and forgotten at the next step.
    snapshot: OnceLock<Option<ParamState<T>>>,
    /// Gradient buffers to reuse.
    spare: Vec<Vec<T>>,
}

/// PyTorch's `state[params[0]]`.
#[derive(Debug, Clone)]
struct History<T> {
    func_evals: u64,
    n_iter: u64,
    /// The last direction (empty before the first iteration).
    d: Vec<T>,
    t: Scalar<T>,
    h_diag: Scalar<T>,
    prev_flat_grad: Vec<T>,
    prev_loss: f64,
    /// The remembered gradient changes y, oldest first.
    old_dirs: VecDeque<Vec<T>>,
    /// The remembered steps s.
    old_stps: VecDeque<Vec<T>>,
    /// 1 / yᵀs of each pair.
    ro: VecDeque<T>,
}

impl<T: Float> History<T> {
    fn new() -> Self {
        History {
            func_evals: 0,
            n_iter: 0,
            d: Vec::new(),
            t: Scalar::Float(f64::NAN),
            h_diag: Scalar::Float(1.0),
            prev_flat_grad: Vec::new(),
            prev_loss: f64::NAN,
            old_dirs: VecDeque::new(),
            old_stps: VecDeque::new(),
            ro: VecDeque::new(),
        }
    }
}

const TENSORS: [&str; 5] = ["d", "prev_flat_grad", "old_dirs", "old_stps", "ro"];
const SCALARS: [&str; 5] = ["func_evals", "n_iter", "t", "H_diag", "prev_loss"];

impl<T: Float> LbfgsOptimizer<T> {
    /// The names of the state, tensors then scalars.
    pub const STATE_NAMES: [&'static str; 10] = [
        TENSORS[0], TENSORS[1], TENSORS[2], TENSORS[3], TENSORS[4], SCALARS[0], SCALARS[1], SCALARS[2], SCALARS[3],
        SCALARS[4],
    ];
}

impl<T: Float> LbfgsOptimizer<T> {
    /// An L-BFGS optimizer of `params`, all in its one group.
    pub fn new(hyper: Lbfgs, params: impl IntoIterator<Item = Param>) -> Result<Self, Error> {
        hyper.check_all()?;
        let params: Vec<Param> = params.into_iter().collect();
        if params.is_empty() {
            return Err(Error::EmptyParameterList);
        }
        let mut offsets: Vec<usize> = vec![0];
        let mut names = std::collections::HashSet::new();
        for (position, param) in params.iter().enumerate() {
            param.check(position)?;
            if let Some(name) = param.name() {
                if !names.insert(name) {
                    return Err(Error::DuplicateParameterName(name.to_owned()));
                }
            }
            let end = offsets[position]
                .checked_add(param.len())
                .ok_or_else(|| Error::ShapeTooLarge { param: param.label(position), shape: param.shape.to_string() })?;
            offsets.push(end);
        }
        Ok(LbfgsOptimizer { hyper, params, offsets, history: None, snapshot: OnceLock::new(), spare: Vec::new() })
    }

    /// The hyperparameters.
    pub fn hyperparameters(&self) -> &Lbfgs {
        &self.hyper
    }

    /// The number of closure evaluations over all steps (PyTorch's `state["func_evals"]`).
    pub fn evaluations(&self) -> u64 {
        self.history.as_ref().map_or(0, |h| h.func_evals)
    }

    /// The number of iterations over all steps (PyTorch's `state["n_iter"]`).
    pub fn iterations(&self) -> u64 {
        self.history.as_ref().map_or(0, |h| h.n_iter)
    }

    fn len(&self) -> usize {
        self.offsets[self.offsets.len() - 1]
    }

    fn check_params(&self, params: &[&mut [T]]) -> Result<(), Error> {
        if params.len() != self.params.len() {
            return Err(Error::CountMismatch { what: "parameters", expected: self.params.len(), got: params.len() });
        }
        for (position, (param, registered)) in params.iter().zip(&self.params).enumerate() {
            if param.len() != registered.len() {
                return Err(Error::ParameterLengthMismatch {
                    param: registered.label(position),
                    expected: registered.len(),
                    got: param.len(),
                });
            }
        }
        Ok(())
    }

    /// One step: PyTorch's `LBFGS.step(closure)`, up to `max_iter` iterations and about `max_eval` evaluations.
    fn run(&mut self, params: &mut [&mut [T]], closure: &mut Closure<'_, T>) -> f64 {
        let n = self.len();
        let hyper = self.hyper.clone();
        let max_eval = hyper.max_eval_or_default();
        let mut state = self.history.take().unwrap_or_else(History::new);
        let mut eval = Evaluator { offsets: &self.offsets, spare: &mut self.spare, maximize: hyper.maximize, n };

        let (orig_loss, mut flat_grad) = eval.evaluate(params, closure);
        let mut loss = if hyper.maximize { -orig_loss } else { orig_loss };
        let mut current_evals = 1;
        state.func_evals += 1;
        let below = |value: T, tolerance: f64| Scalar::Tensor(value) <= Scalar::<T>::Float(tolerance);
        let mut opt_cond = below(abs_max(&flat_grad), hyper.tolerance_grad);
        if opt_cond {
            eval.spare.push(flat_grad);
            self.history = Some(state);
            return orig_loss;
        }

        // One coefficient per pair remembered: as many as the history holds, never more than `history_size`.
        let mut al = Vec::new();
        let mut n_iter = 0;
        while n_iter < hyper.max_iter {
            n_iter += 1;
            state.n_iter += 1;

            // The direction: steepest descent at first, then the two-loop recursion over the history.
            if state.n_iter == 1 {
                scaled(&mut state.d, &flat_grad, T::from_f64(-1.0));
                recycle_history(&mut state, eval.spare);
                state.h_diag = Scalar::Float(1.0);
            } else {
                let mut y = eval.spare.pop().unwrap_or_default();
                let mut s = eval.spare.pop().unwrap_or_default();
                difference(&mut y, &flat_grad, &state.prev_flat_grad);
                scaled(&mut s, &state.d, state.t.to_tensor());
                let ys = Scalar::Tensor(dot(&y, &s));
                if ys > Scalar::Float(1e-10) {
                    if state.old_dirs.len() == hyper.history_size {
                        eval.spare.extend(state.old_dirs.pop_front());
                        eval.spare.extend(state.old_stps.pop_front());
                        state.ro.pop_front();
                    }
                    state.h_diag = ys / Scalar::Tensor(dot(&y, &y));
                    state.ro.push_back((1.0 / ys).to_tensor());
                    state.old_dirs.push_back(y);
                    state.old_stps.push_back(s);
                } else {
                    eval.spare.extend([y, s]);
                }
                let count = state.old_dirs.len();
                al.resize(count, T::default());
                let mut q = eval.spare.pop().unwrap_or_default();
                scaled(&mut q, &flat_grad, T::from_f64(-1.0));
                for i in (0..count).rev() {
                    al[i] = (Scalar::Tensor(dot(&state.old_stps[i], &q)) * Scalar::Tensor(state.ro[i])).to_tensor();
                    add_scaled(&mut q, (-Scalar::Tensor(al[i])).to_tensor(), &state.old_dirs[i]);
                }
                scaled(&mut state.d, &q, state.h_diag.to_tensor());
                eval.spare.push(q);
                let pairs = state.old_dirs.iter().zip(&state.old_stps).zip(&state.ro);
                for (((y, s), &ro), &al) in pairs.zip(&al) {
                    let be_i = Scalar::Tensor(dot(y, &state.d)) * Scalar::Tensor(ro);
                    add_scaled(&mut state.d, (Scalar::Tensor(al) - be_i).to_tensor(), s);
                }
            }
            state.prev_flat_grad.clear();
            state.prev_flat_grad.extend_from_slice(&flat_grad);
            state.prev_loss = loss;

            // The step length: a first guess, then the line search's if there is one.
            state.t = if state.n_iter == 1 {
                Scalar::Float(1.0).min(1.0 / Scalar::Tensor(abs_sum(&flat_grad))) * hyper.lr
            } else {
                Scalar::Float(hyper.lr)
            };
            let gtd = Scalar::Tensor(dot(&flat_grad, &state.d));
            if gtd > Scalar::Float(-hyper.tolerance_change) {
                break;
            }
            let mut ls_func_evals = 0;
            match hyper.line_search_fn {
                Some(LineSearch::StrongWolfe) => {
                    let start: Vec<Vec<T>> = params.iter().map(|p| p.to_vec()).collect();
                    let mut objective = Line { eval: &mut eval, params, start, closure, d: &state.d };
                    let found = strong_wolfe(
                        &mut objective,
                        &state.d,
                        state.t,
                        loss,
                        flat_grad,
                        gtd,
                        hyper.tolerance_change,
                        max_eval.saturating_sub(current_evals),
                    );
                    (loss, flat_grad, state.t, ls_func_evals) = (found.loss, found.grad, found.t, found.evaluations);
                    eval.move_along(params, state.t.to_tensor(), &state.d);
                    opt_cond = below(abs_max(&flat_grad), hyper.tolerance_grad);
                }
                None => {
                    eval.move_along(params, state.t.to_tensor(), &state.d);
                    if n_iter != hyper.max_iter {
                        // Re-evaluated only if another iteration follows (in a stochastic setting, no use).
                        eval.spare.push(flat_grad);
                        let (value, grad) = eval.evaluate(params, closure);
                        (loss, flat_grad) = (if hyper.maximize { -value } else { value }, grad);
                        opt_cond = below(abs_max(&flat_grad), hyper.tolerance_grad);
                        ls_func_evals = 1;
                    }
                }
            }
            current_evals += ls_func_evals;
            state.func_evals += ls_func_evals as u64;

            if n_iter == hyper.max_iter || current_evals >= max_eval || opt_cond {
                break;
            }
            // Lack of progress: max |d·t| (rounding is monotonic, so this is `d.mul(t).abs().max()`).
            let moved = (Scalar::Tensor(abs_max(&state.d)) * state.t).abs();
            if moved <= Scalar::Float(hyper.tolerance_change) {
                break;
            }
            if (loss - state.prev_loss).abs() < hyper.tolerance_change {
                break;
            }
        }
        eval.spare.push(flat_grad);
        self.history = Some(state);
        orig_loss
    }
}

/// Evaluates the closure into reusable flat gradient buffers.
struct Evaluator<'a, T> {
    offsets: &'a [usize],
    spare: &'a mut Vec<Vec<T>>,
    maximize: bool,
    n: usize,
}

impl<T: Float> Evaluator<'_, T> {
    /// The closure's loss (as returned) and the flat gradient (negated to maximize) at the parameters.
    fn evaluate(&mut self, params: &[&mut [T]], closure: &mut Closure<'_, T>) -> (f64, Vec<T>) {
        let mut grad = self.spare.pop().unwrap_or_default();
        grad.resize(self.n, T::default());
        let loss = {
            let points: Vec<&[T]> = params.iter().map(|p| &**p).collect();
            let mut slices: Vec<&mut [T]> = Vec::with_capacity(points.len());
            let mut rest = grad.as_mut_slice();
            for window in self.offsets.windows(2) {
                let (head, tail) = rest.split_at_mut(window[1] - window[0]);
                slices.push(head);
                rest = tail;
            }
            closure(&points, &mut slices)
        };
        if self.maximize {
            for g in &mut grad {
                *g = -*g;
            }
        }
        (loss, grad)
    }

    /// θ ← θ + t·d (PyTorch's `_add_grad`).
    fn move_along(&self, params: &mut [&mut [T]], t: T, d: &[T]) {
        for (param, window) in params.iter_mut().zip(self.offsets.windows(2)) {
            add_scaled(param, t, &d[window[0]..window[1]]);
        }
    }
}

/// The loss along the line x + t·d, for the line search.
struct Line<'a, 'b, 'p, 'c, T> {
    eval: &'a mut Evaluator<'b, T>,
    params: &'a mut [&'p mut [T]],
    /// x.
    start: Vec<Vec<T>>,
    closure: &'a mut Closure<'c, T>,
    d: &'a [T],
}

impl<T: Float> Objective<T> for Line<'_, '_, '_, '_, T> {
    fn at(&mut self, t: Scalar<T>) -> (f64, Vec<T>) {
        self.eval.move_along(self.params, t.to_tensor(), self.d);
        let (loss, grad) = self.eval.evaluate(self.params, self.closure);
        for (param, start) in self.params.iter_mut().zip(&self.start) {
            param.copy_from_slice(start);
        }
        (if self.eval.maximize { -loss } else { loss }, grad)
    }

    fn recycle(&mut self, buffer: Vec<T>) {
        self.eval.spare.push(buffer);
    }
}

/// Forgets the remembered pairs, keeping their buffers.
fn recycle_history<T>(state: &mut History<T>, spare: &mut Vec<Vec<T>>) {
    spare.extend(state.old_dirs.drain(..));
    spare.extend(state.old_stps.drain(..));
    state.ro.clear();
}

impl<T: Float> History<T> {
    /// The state as PyTorch names it, the history oldest first.
    fn to_state(&self, n: usize) -> ParamState<T> {
        let rows = |pairs: &VecDeque<Vec<T>>| pairs.iter().flatten().copied().collect::<Vec<T>>();
        let k = self.old_dirs.len();
        let tensor = |name: &'static str, shape: Shape, values: Vec<T>| StateTensor { name, shape, values };
        ParamState {
            step: None,
            tensors: vec![
                tensor(TENSORS[0], Shape::from(self.d.len()), self.d.clone()),
                tensor(TENSORS[1], Shape::from(self.prev_flat_grad.len()), self.prev_flat_grad.clone()),
                tensor(TENSORS[2], Shape::from([k, n]), rows(&self.old_dirs)),
                tensor(TENSORS[3], Shape::from([k, n]), rows(&self.old_stps)),
                tensor(TENSORS[4], Shape::from(k), self.ro.iter().copied().collect()),
            ],
            elementwise: 0,
            compact: Vec::new(),
            scalars: vec![
                (SCALARS[0], self.func_evals as f64),
                (SCALARS[1], self.n_iter as f64),
                (SCALARS[2], self.t.value()),
                (SCALARS[3], self.h_diag.value()),
                (SCALARS[4], self.prev_loss),
            ],
        }
    }

    /// The state saved by [`History::to_state`], checked against `n` parameters and a history of `history_size`.
    fn from_record(record: &StateRecord<T>, n: usize, history_size: usize) -> Result<Self, Error> {
        let mismatch = |message: String| Err(Error::StateMismatch(format!("the L-BFGS state: {message}")));
        let names: Vec<&str> = record.tensors.iter().map(|(name, _, _)| name.as_str()).collect();
        let scalars: Vec<&str> = record.scalars.iter().map(|(name, _)| name.as_str()).collect();
        if names != TENSORS || scalars != SCALARS || record.step.is_some() {
            return mismatch(format!(
                "tensors [{}] and scalars [{}], expected [{}] and [{}]",
                names.join(", "),
                scalars.join(", "),
                TENSORS.join(", "),
                SCALARS.join(", ")
            ));
        }
        let count = |index: usize| {
            let value = record.scalars[index].1;
            if value >= 0.0 && value.fract() == 0.0 && value < 2f64.powi(53) {
                Ok(value as u64)
            } else {
                Err(Error::StateMismatch(format!("the L-BFGS state: {} = {value} is not a count", SCALARS[index])))
            }
        };
        let (func_evals, n_iter) = (count(0)?, count(1)?);
        let tensor = |index: usize| &record.tensors[index];
        let k = tensor(4).1.dims().first().copied().unwrap_or(0);
        let started = if n_iter > 0 { n } else { 0 };
        let expected =
            [Shape::from(started), Shape::from(started), Shape::from([k, n]), Shape::from([k, n]), Shape::from(k)];
        for (index, shape) in expected.iter().enumerate() {
            let (name, saved, values) = tensor(index);
            if saved != shape || Some(values.len()) != shape.checked_len() {
                return mismatch(format!("{name} has shape {saved} and {} values, expected {shape}", values.len()));
            }
        }
        if k > history_size {
            return mismatch(format!("it remembers {k} pairs, more than history_size = {history_size}"));
        }
        let rows = |index: usize| tensor(index).2.chunks(n.max(1)).take(k).map(<[T]>::to_vec).collect();
        Ok(History {
            func_evals,
            n_iter,
            d: tensor(0).2.clone(),
            t: Scalar::Float(record.scalars[2].1),
            h_diag: Scalar::Float(record.scalars[3].1),
            prev_flat_grad: tensor(1).2.clone(),
            prev_loss: record.scalars[4].1,
            old_dirs: rows(2),
            old_stps: rows(3),
            ro: tensor(4).2.iter().copied().collect(),
        })
    }
}

impl<T: Float> DynOptimizer<T> for LbfgsOptimizer<T> {
    fn name(&self) -> String {
        NAME.to_owned()
    }

    fn step(&mut self, _params: &mut [&mut [T]], _grads: &[Option<&[T]>]) -> Result<(), Error> {
        Err(Error::NeedsClosure { optimizer: NAME })
    }

    fn step_with_closure(&mut self, params: &mut [&mut [T]], closure: &mut Closure<'_, T>) -> Result<f64, Error> {
        self.check_params(params)?;
        self.snapshot = OnceLock::new();
        Ok(self.run(params, closure))
    }

    fn step_param(&mut self, _position: usize, _param: &mut [T], _grad: &[T]) -> Result<(), Error> {
        Err(Error::NeedsClosure { optimizer: NAME })
    }

    /// L-BFGS needs every gradient, but asks for them itself: see [`Spec::needs_closure`](crate::Spec::needs_closure).
    fn needs_all_gradients(&self) -> bool {
        false
    }

    fn has_evaluation_point(&self) -> bool {
        false
    }

    /// L-BFGS evaluates where it trains: checks the position and length, and moves nothing.
    fn move_point(&self, position: usize, param: &mut [T], _to: Point) -> Result<(), Error> {
        let count = self.params.len();
        let registered = self.params.get(position).ok_or(Error::NoSuchParameter { position, count })?;
        if param.len() != registered.len() {
            let (label, expected) = (registered.label(position), registered.len());
            return Err(Error::ParameterLengthMismatch { param: label, expected, got: param.len() });
        }
        Ok(())
    }

    fn group_count(&self) -> usize {
        1
    }

    fn add_group(&mut self, _spec: &Spec, _params: Vec<Param>) -> Result<(), Error> {
        Err(Error::InvalidCombination {
            optimizer: NAME,
            reason: "doesn't support per-parameter options (parameter groups)",
        })
    }

    fn remove_group(&mut self, group: usize) -> Result<Vec<Param>, Error> {
        self.group(group)?;
        Err(Error::EmptyParameterList)
    }

    fn hyperparameter(&self, group: usize, name: &str) -> Result<Value, Error> {
        hyper::get(self.group(group)?, name)
    }

    fn set_hyperparameter(&mut self, group: usize, name: &str, value: Value) -> Result<(), Error> {
        let mut changes = serde_json::Map::new();
        changes.insert(name.to_owned(), value);
        let changed = hyper::with(self.group(group)?, &changes)?;
        let remembered = self.history.as_ref().map_or(0, |h| h.old_dirs.len());
        if changed.history_size < remembered {
            return Err(Error::InvalidCombination {
                optimizer: NAME,
                reason: "history_size cannot drop below the number of pairs already remembered",
            });
        }
        self.hyper = changed;
        Ok(())
    }

    fn hyperparameters(&self, group: usize) -> Result<Value, Error> {
        Ok(Value::Object(hyper::to_object(self.group(group)?)))
    }

    fn lr(&self, group: usize) -> Result<f64, Error> {
        Ok(self.group(group)?.lr)
    }

    fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        self.group(group)?;
        let changed = Lbfgs { lr, ..self.hyper.clone() };
        changed.check_all()?;
        self.hyper = changed;
        Ok(())
    }

    fn set_clip(&mut self, clip: Option<Clip>) -> Result<(), Error> {
        match clip {
            None => Ok(()),
            Some(_) => Err(Error::InvalidCombination {
                optimizer: NAME,
                reason: "clips no gradients: its curvature model and line search need the true ones",
            }),
        }
    }

    fn clip(&self) -> Option<Clip> {
        None
    }

    fn last_grad_norm(&self) -> Option<f64> {
        None
    }

    fn param_count(&self) -> usize {
        self.params.len()
    }

    fn param(&self, position: usize) -> Option<&Param> {
        self.params.get(position)
    }

    fn group_of(&self, position: usize) -> Option<usize> {
        (position < self.params.len()).then_some(0)
    }

    fn state(&self, _position: usize) -> Option<&ParamState<T>> {
        None
    }

    fn global_state(&self) -> Option<&ParamState<T>> {
        self.snapshot.get_or_init(|| self.history.as_ref().map(|h| h.to_state(self.len()))).as_ref()
    }

    fn state_dict(&self) -> StateDict<T> {
        StateDict {
            optimizer: NAME.to_owned(),
            groups: vec![GroupRecord {
                optimizer: None,
                hyperparameters: hyper::to_object(&self.hyper),
                params: (0..self.params.len()).collect(),
            }],
            params: self
                .params
                .iter()
                .map(|param| ParamRecord { name: param.name.clone(), shape: param.shape.clone(), state: None })
                .collect(),
            global: self.global_state().map(crate::state_dict::record),
        }
    }

    fn load_state_dict(&mut self, dict: &StateDict<T>) -> Result<(), Error> {
        let mismatch = |message: String| Err(Error::StateMismatch(message));
        if dict.optimizer != NAME {
            return mismatch(format!("the state is of a {} optimizer, not {NAME}", dict.optimizer));
        }
        let [group] = dict.groups.as_slice() else {
            return mismatch(format!("the state has {} groups, LBFGS has 1", dict.groups.len()));
        };
        if dict.params.len() != self.params.len() || group.params != (0..self.params.len()).collect::<Vec<_>>() {
            return mismatch(format!(
                "the state has {} parameters in its group, the optimizer {}",
                group.params.len(),
                self.params.len()
            ));
        }
        for (position, (record, param)) in dict.params.iter().zip(&self.params).enumerate() {
            let label = param.label(position);
            if record.name != param.name || record.shape != param.shape {
                return mismatch(format!(
                    "parameter {label} is {:?} of shape {} in the state, {:?} of shape {} here",
                    record.name, record.shape, param.name, param.shape
                ));
            }
            if record.state.is_some() {
                return mismatch(format!("parameter {label} has state of its own; LBFGS keeps one for all"));
            }
        }
        let hyper: Lbfgs = serde_json::from_value(Value::Object(group.hyperparameters.clone()))
            .map_err(|e| Error::StateMismatch(format!("group 0: {}", hyper::serde_message(&e))))?;
        hyper.check_all()?;
        let history = match &dict.global {
            Some(record) => Some(History::from_record(record, self.len(), hyper.history_size)?),
            None => None,
        };
        self.hyper = hyper;
        self.history = history;
        self.snapshot = OnceLock::new();
        Ok(())
    }
}

impl<T: Float> LbfgsOptimizer<T> {
    /// The hyperparameters of group `group` (there is one).
    fn group(&self, group: usize) -> Result<&Lbfgs, Error> {
        match group {
            0 => Ok(&self.hyper),
            _ => Err(Error::NoSuchGroup { index: group, count: 1 }),
        }
    }
}
