//! L-BFGS: a quasi-Newton method that builds a curvature model from its last steps, with an optional line search.

use std::any::Any;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::hyper::Hyperparameters;
use crate::registry::{hyperparameter_methods, AnyRule, Entry, Registry};
use crate::validate::non_negative;
use crate::{DynOptimizer, Error, LbfgsOptimizer, Param, Shape, Spec, StateLayout};

/// The class name, as PyTorch's.
pub(crate) const NAME: &str = "LBFGS";

/// The line search L-BFGS can run (PyTorch's `line_search_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineSearch {
    /// A step length that satisfies the strong Wolfe conditions: a sufficient decrease of the loss, and a
    /// directional derivative that shrank by a factor 0.9 (`"strong_wolfe"`).
    StrongWolfe,
}

/// L-BFGS (Liu and Nocedal, 1989): PyTorch's `torch.optim.LBFGS`, after Mark Schmidt's minFunc.
///
/// Newton's method steps by H⁻¹·∇J, where the Hessian H holds the curvature that plain gradient descent ignores:
/// it crosses a long, narrow valley in one step where SGD zigzags. H has as many rows as θ has parameters, so
/// L-BFGS builds H⁻¹·g instead from the last m steps s_k = θ_{k+1} − θ_k and gradient changes
/// y_k = g_{k+1} − g_k, in O(m·n) memory and time (the two-loop recursion). In the article's notation:
///
/// ```text
/// q ← −g_t;  for k = t−1, …, t−m:  α_k = ρ_k·s_kᵀq,  q ← q − α_k·y_k        (ρ_k = 1 / y_kᵀs_k)
/// d ← γ·q    (γ = s_{t−1}ᵀy_{t−1} / y_{t−1}ᵀy_{t−1});  for k = t−m, …, t−1:  d ← d + (α_k − ρ_k·y_kᵀd)·s_k
/// θ ← θ + η_t·d
/// ```
///
/// A pair enters the memory only if yᵀs > 10⁻¹⁰ (the curvature is positive). The first iteration ever steps
/// along −g with η_1 = min(1, 1/‖g‖₁)·η. With `line_search_fn="strong_wolfe"`, η_t is searched for along d
/// (cubic interpolation, at most `max_eval` evaluations in all); without, η_t = η.
///
/// One step of L-BFGS is up to `max_iter` iterations of this, calling the closure once per iteration and once per
/// trial of the line search; it stops early when max|g| ≤ `tolerance_grad`, or when the step or the change of the
/// loss falls below `tolerance_change`. It needs the closure ([`DynOptimizer::step_with_closure`]), keeps one
/// history for all parameters together (their flat concatenation), and has one parameter group, as in PyTorch.
///
/// descent follows PyTorch's code operation for operation, including which scalars are `f64` Python floats and
/// which are tensors of the parameters' type. Its dot products and sums are added in another order than
/// PyTorch's (which calls BLAS), so results agree to a few ulps per operation, not to the bit.
///
/// State (for the parameters as a whole): `d`, `prev_flat_grad`, `old_dirs` (y), `old_stps` (s), `ro` (ρ), and
/// the scalars `func_evals`, `n_iter`, `t`, `H_diag` (γ) and `prev_loss`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lbfgs {
    /// Learning rate η (default 1).
    pub lr: f64,
    /// Iterations per step, at least 1 (default 20).
    pub max_iter: usize,
    /// Closure evaluations per step, at least 1 (`None`: max_iter·5/4).
    pub max_eval: Option<usize>,
    /// Stop when max|g| falls to this (default 1e-7).
    pub tolerance_grad: f64,
    /// Stop when the step or the loss changes less than this (default 1e-9).
    pub tolerance_change: f64,
    /// The pairs (s, y) remembered, at least 1 (default 100).
    pub history_size: usize,
    /// The line search, if any (default none: a fixed step η).
    pub line_search_fn: Option<LineSearch>,
    /// Ascend instead of descend (default false).
    pub maximize: bool,
}

impl Default for Lbfgs {
    fn default() -> Self {
        Lbfgs {
            lr: 1.0,
            max_iter: 20,
            max_eval: None,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            line_search_fn: None,
            maximize: false,
        }
    }
}

impl Lbfgs {
    /// `max_eval`, or its default max_iter·5/4.
    pub fn max_eval_or_default(&self) -> usize {
        self.max_eval.unwrap_or(self.max_iter * 5 / 4)
    }

    /// Checks the hyperparameters: PyTorch's check of `lr`, and the counts and tolerances that PyTorch would
    /// fail on later or silently ignore.
    pub(crate) fn check_all(&self) -> Result<(), Error> {
        non_negative(NAME, "lr", self.lr)?;
        non_negative(NAME, "tolerance_grad", self.tolerance_grad)?;
        non_negative(NAME, "tolerance_change", self.tolerance_change)?;
        let counts =
            [("max_iter", Some(self.max_iter)), ("max_eval", self.max_eval), ("history_size", Some(self.history_size))];
        for (name, value) in counts {
            if value == Some(0) {
                return Err(Error::InvalidHyperparameter {
                    optimizer: NAME,
                    name,
                    value: 0.0,
                    expected: "an integer >= 1",
                });
            }
        }
        Ok(())
    }
}

impl Hyperparameters for Lbfgs {
    const CLASS: &'static str = NAME;

    fn check(&self) -> Result<(), Error> {
        self.check_all()
    }
}

impl AnyRule for Lbfgs {
    fn class(&self) -> &'static str {
        NAME
    }

    fn type_name(&self) -> &'static str {
        "Lbfgs"
    }

    hyperparameter_methods!();

    fn looks_ahead(&self) -> bool {
        false
    }

    fn needs_closure(&self) -> bool {
        true
    }

    fn needs_all_gradients(&self) -> bool {
        true
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(StateLayout::new())
    }

    fn splits(&self, _shape: &Shape) -> bool {
        false
    }

    fn shared_state(&self) -> Vec<&'static str> {
        LbfgsOptimizer::<f64>::STATE_NAMES.to_vec()
    }

    fn build(&self, dtype: &str, groups: &[(Spec, Vec<Param>)]) -> Result<Box<dyn Any>, Error> {
        let [(spec, params)] = groups else {
            return Err(Error::InvalidCombination {
                optimizer: NAME,
                reason: "doesn't support per-parameter options (parameter groups)",
            });
        };
        let Some(hyper) = spec.rule::<Lbfgs>() else {
            return Err(Error::MixedOptimizers { first: NAME, other: spec.class() });
        };
        let params = params.iter().cloned();
        Ok(match dtype {
            "f32" => {
                Box::new(Box::new(LbfgsOptimizer::<f32>::new(hyper.clone(), params)?) as Box<dyn DynOptimizer<f32>>)
            }
            _ => Box::new(Box::new(LbfgsOptimizer::<f64>::new(hyper.clone(), params)?) as Box<dyn DynOptimizer<f64>>),
        })
    }
}

pub(crate) fn register(registry: &mut Registry) {
    let entry = Entry::of(
        "lbfgs",
        "L-BFGS: a curvature model from the last steps, with a line search",
        Arc::new(Lbfgs::default()),
    )
    .torch("torch.optim.LBFGS");
    registry.add(entry).expect("built-in names are distinct");
}
