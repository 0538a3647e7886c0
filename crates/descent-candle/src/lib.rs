//! descent's optimizers inside candle training loops.
//!
//! [`DescentOptimizer`] implements [`candle_nn::Optimizer`], so an existing candle training loop switches to any
//! descent optimizer (with PyTorch's exact rules and defaults) by changing the line that builds its optimizer:
//!
//! ```
//! use candle_core::{DType, Device, Tensor, Var};
//! use candle_nn::Optimizer;
//! use descent_candle::DescentOptimizer;
//!
//! let w = Var::from_tensor(&Tensor::new(&[1.0f32, -2.0], &Device::Cpu)?)?;
//! let mut opt = DescentOptimizer::new(vec![w.clone()], "adam(lr=0.1)".parse()?)?;
//! for _ in 0..100 {
//!     let loss = w.as_tensor().sqr()?.sum_all()?;
//!     opt.backward_step(&loss)?;
//! }
//! assert!(w.as_tensor().abs()?.max(0)?.to_scalar::<f32>()? < 0.05);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Parameter groups are chosen by variable name, as PyTorch users do to keep weight decay off biases and norms:
//!
//! ```
//! use candle_core::{DType, Device, Tensor, Var};
//! use descent_candle::{DescentOptimizer, ParamGroups};
//!
//! let w = Var::from_tensor(&Tensor::new(&[[1.0f32, -2.0]], &Device::Cpu)?)?;
//! let b = Var::from_tensor(&Tensor::new(&[0.5f32], &Device::Cpu)?)?;
//! let groups = ParamGroups::new("adamw(lr=1e-3, weight_decay=0.1)".parse()?)
//!     .group("adamw(lr=1e-3, weight_decay=0)".parse()?, |name| name.ends_with("bias"));
//! let opt = DescentOptimizer::with_groups(vec![("fc.weight".into(), w), ("fc.bias".into(), b)], groups)?;
//! assert_eq!(opt.group_of("fc.bias"), Some(1));
//! assert_eq!(opt.optimizer_f32().unwrap().hyperparameter(1, "weight_decay")?, 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Each variable is updated in place, through a candle in-place custom op that hands descent's kernels the
//! variable's storage and its gradient's: a step allocates no tensor. Variables of `f32` and `f64` are supported
//! (on the CPU device); a variable without a gradient in a step is skipped, as PyTorch skips a parameter whose
//! `.grad` is `None`.
//!
//! A large step, like candle's matrix products, runs on rayon's threads. Called from a thread outside rayon's pool
//! (a loop on the main thread), every such parallel section wakes the pool's sleeping threads and puts the caller to
//! sleep, which costs tens of microseconds each: for a small model, run the whole loop on a pool thread, e.g. inside
//! `rayon::scope(|_| ...)`, as `descent train` does. Adam on a 784-256-10 MLP's variables stepped in 103–113 µs
//! from the main thread and 55–64 µs on a pool thread (BENCHMARKS.md; `examples/step_in_pool.rs`).
//!
//! Variables of `bf16` train through `f32` master weights (see [`descent::MasterWeights`]): the optimizer of the
//! `f32` variables keeps an `f32` copy of each, steps it with the widened gradient, and writes it back rounded to
//! bfloat16. The master weights are read and restored by name ([`DescentOptimizer::master_weights`],
//! [`DescentOptimizer::set_master_weights`]) for checkpoints.
//!
//! ```
//! use candle_core::{DType, Device, Tensor, Var};
//! use candle_nn::Optimizer;
//! use descent_candle::DescentOptimizer;
//!
//! let w = Var::from_tensor(&Tensor::new(&[1.0f32, -2.0], &Device::Cpu)?.to_dtype(DType::BF16)?)?;
//! let mut opt = DescentOptimizer::new(vec![w.clone()], "adam(lr=0.01, state=\"bf16\")".parse()?)?;
//! for _ in 0..500 {
//!     let loss = w.as_tensor().sqr()?.sum_all()?;
//!     opt.backward_step(&loss)?;
//! }
//! assert!(w.as_tensor().to_dtype(DType::F32)?.abs()?.max(0)?.to_scalar::<f32>()? < 0.1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Schedule-Free optimizers train at one point and are evaluated at another: evaluate the model inside
//! [`DescentOptimizer::evaluate`], which moves the variables there and back.
//!
//! Optimizers that ask for their gradients themselves (L-BFGS, the article's look-ahead Nesterov) step through
//! [`DescentOptimizer::step_with_closure`], which hands them a closure that evaluates the loss, as PyTorch's
//! `optimizer.step(closure)` does; [`candle_nn::Optimizer::step`] refuses them with an error that says so. One that
//! needs every gradient of a step at once (Prodigy's estimate) takes them from the gradient store, as PyTorch's
//! `optimizer.step()` does.

mod average;
mod closure;

pub use average::AveragedVars;

use std::cell::RefCell;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp1, InplaceOp2, Layout, Storage, Var};
use candle_nn::VarMap;
use descent::{DynOptimizer, Float, Param, Point, Spec};

/// Which variables go into which parameter group: a default spec for group 0, then groups chosen by a predicate on
/// the variable's name, in order (a variable goes into the first group whose predicate accepts its name, and into
/// group 0 if none does). Every spec must name the same optimizer, each with its own hyperparameters.
pub struct ParamGroups {
    default: Spec,
    groups: Vec<(Spec, Selector)>,
}

/// Chooses variables by name.
type Selector = Box<dyn Fn(&str) -> bool>;

impl ParamGroups {
    /// Every variable in one group with `default`'s hyperparameters.
    pub fn new(default: Spec) -> Self {
        ParamGroups { default, groups: Vec::new() }
    }

    /// Adds a group with `spec`'s hyperparameters for the variables whose names `select` accepts.
    pub fn group(mut self, spec: Spec, select: impl Fn(&str) -> bool + 'static) -> Self {
        self.groups.push((spec, Box::new(select)));
        self
    }

    /// Every group's spec with its variables, in group order (the order the optimizer registers them in), each
    /// group's variables in the order given.
    pub fn assign<V>(&self, vars: Vec<(String, V)>) -> Vec<(Spec, Vec<(String, V)>)> {
        let mut groups: Vec<(Spec, Vec<(String, V)>)> = self.specs().map(|s| (s.clone(), Vec::new())).collect();
        for (name, var) in vars {
            let group = self.group_of(&name);
            groups[group].1.push((name, var));
        }
        groups
    }

    /// The group of the variable called `name`.
    fn group_of(&self, name: &str) -> usize {
        self.groups.iter().position(|(_, select)| select(name)).map_or(0, |g| g + 1)
    }

    fn specs(&self) -> impl Iterator<Item = &Spec> {
        std::iter::once(&self.default).chain(self.groups.iter().map(|(spec, _)| spec))
    }
}

/// A descent optimizer driving candle variables.
#[derive(Debug)]
pub struct DescentOptimizer {
    vars: Vec<Slot>,
    f32: Option<Box<dyn DynOptimizer<f32>>>,
    f64: Option<Box<dyn DynOptimizer<f64>>>,
}

/// A variable, its name and group, and its position among the optimizer's parameters of its element type.
#[derive(Debug)]
struct Slot {
    name: String,
    var: Var,
    group: usize,
    position: usize,
    /// The `f32` master weights of a bfloat16 variable.
    master: Option<Vec<f32>>,
}

impl DescentOptimizer {
    /// An optimizer of named variables in the groups `groups` chooses. Variables are registered in the order
    /// given, under their names (which checkpoints use).
    pub fn with_groups(vars: Vec<(String, Var)>, groups: ParamGroups) -> Result<Self, descent::Error> {
        let group_count = groups.specs().count();
        let mut members: [Vec<Vec<Param>>; 2] = [vec![Vec::new(); group_count], vec![Vec::new(); group_count]];
        let mut slots: Vec<Slot> = Vec::with_capacity(vars.len());
        for (name, var) in vars {
            let (kind, master) = match var.dtype() {
                DType::F32 => (0, None),
                DType::F64 => (1, None),
                DType::BF16 => {
                    let values = var.as_tensor().flatten_all().and_then(|t| t.to_dtype(DType::F32)?.to_vec1());
                    (0, Some(values.map_err(|e| descent::Error::Io(format!("variable {name:?}: {e}")))?))
                }
                other => return Err(descent::Error::UnsupportedType { name, dtype: format!("{other:?}") }),
            };
            let group = groups.group_of(&name);
            let param = Param::named(name.clone(), var.dims().to_vec());
            members[kind][group].push(param);
            slots.push(Slot { name, var, group, position: 0, master });
        }
        // Positions count group by group, as the optimizer registers them.
        for kind in &members {
            let mut position = 0;
            for group in kind {
                for param in group {
                    let slot = slots.iter_mut().find(|s| Some(s.name.as_str()) == param.name()).expect("registered");
                    slot.position = position;
                    position += 1;
                }
            }
        }
        let build = |kind: usize| {
            members[kind]
                .iter()
                .any(|m| !m.is_empty())
                .then(|| groups.specs().cloned().zip(members[kind].iter().cloned()).collect::<Vec<_>>())
        };
        let f32 = build(0).map(Spec::build_groups::<f32>).transpose()?;
        let f64 = build(1).map(Spec::build_groups::<f64>).transpose()?;
        Ok(DescentOptimizer { vars: slots, f32, f64 })
    }

    /// An optimizer of every variable of `varmap`, by name in sorted order, in the groups `groups` chooses.
    pub fn from_varmap(varmap: &VarMap, groups: ParamGroups) -> Result<Self, descent::Error> {
        let data = varmap.data().lock().map_err(|_| descent::Error::Io("the VarMap's lock is poisoned".into()))?;
        let mut vars: Vec<(String, Var)> = data.iter().map(|(name, var)| (name.clone(), var.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        DescentOptimizer::with_groups(vars, groups)
    }

    /// The group of the variable called `name`.
    pub fn group_of(&self, name: &str) -> Option<usize> {
        self.vars.iter().find(|s| s.name == name).map(|s| s.group)
    }

    /// The optimizer of the `f32` variables, if there are any: state, hyperparameters by name, checkpoints.
    pub fn optimizer_f32(&self) -> Option<&dyn DynOptimizer<f32>> {
        self.f32.as_deref()
    }

    /// The optimizer of the `f32` variables, to change (a scheduler, a checkpoint load).
    pub fn optimizer_f32_mut(&mut self) -> Option<&mut (dyn DynOptimizer<f32> + 'static)> {
        self.f32.as_deref_mut()
    }

    /// The `f32` master weights of the bfloat16 variables, by name, in the order the variables were given.
    pub fn master_weights(&self) -> Vec<(&str, &[f32])> {
        self.vars.iter().filter_map(|s| Some((s.name.as_str(), s.master.as_deref()?))).collect()
    }

    /// Restores the master weights of the bfloat16 variable `name` (from a checkpoint), and sets the variable to
    /// them rounded to bfloat16. An unknown name, a variable that is not bfloat16 or a length that differs is an
    /// error that changes nothing.
    pub fn set_master_weights(&mut self, name: &str, values: &[f32]) -> candle_core::Result<()> {
        let slot =
            self.vars.iter_mut().find(|s| s.name == name).ok_or_else(|| error(format!("no variable {name:?}")))?;
        let master = slot.master.as_mut().ok_or_else(|| error(format!("variable {name:?} is not bfloat16")))?;
        if master.len() != values.len() {
            return Err(error(format!("variable {name:?} has {} elements, not {}", master.len(), values.len())));
        }
        set_rounded(&slot.var, values)?;
        master.copy_from_slice(values);
        Ok(())
    }

    /// The optimizer of the `f64` variables, if there are any.
    pub fn optimizer_f64(&self) -> Option<&dyn DynOptimizer<f64>> {
        self.f64.as_deref()
    }

    /// The optimizer of the `f64` variables, to change.
    pub fn optimizer_f64_mut(&mut self) -> Option<&mut (dyn DynOptimizer<f64> + 'static)> {
        self.f64.as_deref_mut()
    }

    /// Sets the learning rate of every group, or says why it cannot be set (and keeps the previous ones).
    pub fn try_set_learning_rate(&mut self, lr: f64) -> Result<(), descent::Error> {
        self.try_set_group_learning_rate(None, lr)
    }

    /// Sets the learning rate of group `group` (of every group with `None`); an invalid rate or a group that does
    /// not exist is an error that changes nothing.
    pub fn try_set_group_learning_rate(&mut self, group: Option<usize>, lr: f64) -> Result<(), descent::Error> {
        let before = (self.f32.as_ref().map(|o| lrs(&**o)), self.f64.as_ref().map(|o| lrs(&**o)));
        let result = (|| {
            if let Some(optimizer) = &mut self.f32 {
                set_lr(&mut **optimizer, group, lr)?;
            }
            if let Some(optimizer) = &mut self.f64 {
                set_lr(&mut **optimizer, group, lr)?;
            }
            Ok(())
        })();
        if result.is_err() {
            if let (Some(optimizer), Some(lrs)) = (&mut self.f32, before.0) {
                restore(&mut **optimizer, &lrs);
            }
            if let (Some(optimizer), Some(lrs)) = (&mut self.f64, before.1) {
                restore(&mut **optimizer, &lrs);
            }
        }
        result
    }
}

impl DescentOptimizer {
    /// Runs `f` with every variable at the point where the model is to be evaluated, then moves them back to the
    /// training point: see [`descent::Optimizer::evaluate`]. Schedule-Free trains at one point and is evaluated
    /// at another; compute test losses, accuracies and the weights to keep inside `f`. For other optimizers the
    /// variables do not move. The optimizer is borrowed while `f` runs, so no step can be taken there.
    pub fn evaluate<R>(&mut self, f: impl FnOnce() -> candle_core::Result<R>) -> candle_core::Result<R> {
        if !self.has_evaluation_point() {
            return f();
        }
        self.move_all(Point::Evaluation)?;
        let result = f();
        let back = self.move_all(Point::Training);
        let value = result?;
        back?;
        Ok(value)
    }

    /// Whether the optimizer evaluates at another point than it trains at (Schedule-Free).
    pub fn has_evaluation_point(&self) -> bool {
        self.f32.as_ref().is_some_and(|o| o.has_evaluation_point())
            || self.f64.as_ref().is_some_and(|o| o.has_evaluation_point())
    }

    fn move_all(&mut self, to: Point) -> candle_core::Result<()> {
        for slot in &mut self.vars {
            let tensor = slot.var.as_tensor();
            match slot.var.dtype() {
                DType::BF16 => {
                    let optimizer = self.f32.as_deref().expect("bf16 variables have an f32 optimizer");
                    let master = slot.master.as_mut().expect("bf16 variables have master weights");
                    optimizer.move_point(slot.position, master, to).map_err(error)?;
                    set_rounded(&slot.var, master)?;
                }
                DType::F32 => {
                    let optimizer = self.f32.as_deref().expect("f32 variables have an f32 optimizer");
                    tensor.inplace_op1(&Move { optimizer, position: slot.position, to })?
                }
                _ => {
                    let optimizer = self.f64.as_deref().expect("f64 variables have an f64 optimizer");
                    tensor.inplace_op1(&Move { optimizer, position: slot.position, to })?
                }
            }
        }
        Ok(())
    }
}

/// Sets a bfloat16 variable to `values` rounded to nearest bfloat16 (ties to even).
fn set_rounded(var: &Var, values: &[f32]) -> candle_core::Result<()> {
    let tensor = candle_core::Tensor::from_slice(values, var.dims(), var.device())?.to_dtype(DType::BF16)?;
    var.set(&tensor)
}

fn lrs<T: Float>(optimizer: &dyn DynOptimizer<T>) -> Vec<f64> {
    (0..optimizer.group_count()).map(|g| optimizer.lr(g).unwrap_or(f64::NAN)).collect()
}

fn set_lr<T: Float>(optimizer: &mut dyn DynOptimizer<T>, group: Option<usize>, lr: f64) -> Result<(), descent::Error> {
    match group {
        Some(group) => optimizer.set_lr(group, lr),
        None => (0..optimizer.group_count()).try_for_each(|g| optimizer.set_lr(g, lr)),
    }
}

fn restore<T: Float>(optimizer: &mut dyn DynOptimizer<T>, lrs: &[f64]) {
    for (g, &lr) in lrs.iter().enumerate() {
        let _ = optimizer.set_lr(g, lr);
    }
}

fn error(e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

impl DescentOptimizer {
    /// One [`DynOptimizer::step`] of every variable stepped by `T`'s optimizer (bfloat16 ones through their master
    /// weights): what clipping by the norm of all gradients, or an estimate over all of them, needs. The variables
    /// are copied out and written back in place; the gradients are read where candle keeps them (copied only if
    /// they are not contiguous, or of another type).
    fn step_together<T: StorageFloat + candle_core::WithDType>(
        &mut self,
        grads: &GradStore,
    ) -> candle_core::Result<()> {
        let slots: Vec<usize> = (0..self.vars.len()).filter(|&i| T::steps(self.vars[i].var.dtype())).collect();
        let mut values: Vec<Vec<T>> = vec![Vec::new(); slots.len()];
        let mut grad_tensors: Vec<Option<candle_core::Tensor>> = vec![None; slots.len()];
        for &i in &slots {
            let slot = &self.vars[i];
            values[slot.position] = match &slot.master {
                Some(master) => master.iter().map(|&v| <T as Float>::from_f64(f64::from(v))).collect(),
                None => slot.var.as_tensor().flatten_all()?.to_vec1::<T>()?,
            };
            grad_tensors[slot.position] =
                grads.get(slot.var.as_tensor()).map(|g| g.to_dtype(T::DTYPE)?.contiguous()).transpose()?;
        }
        let guards: Vec<_> = grad_tensors.iter().map(|g| g.as_ref().map(|g| g.storage_and_layout())).collect();
        let grad_values = guards
            .iter()
            .map(|guard| guard.as_ref().map(|(storage, layout)| values_in_place::<T>(storage, layout)).transpose())
            .collect::<candle_core::Result<Vec<Option<&[T]>>>>()?;
        let optimizer = T::optimizer(self).expect("variables of the type have its optimizer");
        let mut params: Vec<&mut [T]> = values.iter_mut().map(Vec::as_mut_slice).collect();
        optimizer.step(&mut params, &grad_values).map_err(error)?;
        drop(guards);
        for &i in &slots {
            let slot = &mut self.vars[i];
            let updated = &values[slot.position];
            match &mut slot.master {
                Some(master) => {
                    for (m, &v) in master.iter_mut().zip(updated) {
                        *m = Float::to_f64(v) as f32;
                    }
                    set_rounded(&slot.var, master)?;
                }
                None => slot.var.as_tensor().inplace_op1(&Overwrite(updated.as_slice()))?,
            }
        }
        Ok(())
    }
}

/// A contiguous tensor's values where candle keeps them (a gradient's, or a variable's to read).
fn cpu_values<'a, T: StorageFloat>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [T]> {
    let values = T::values(storage).ok_or_else(|| error("a tensor read in place has another element type"))?;
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| error("a tensor read in place is not contiguous"))?;
    Ok(&values[start..end])
}

/// [`cpu_values`] of a tensor on the CPU.
fn values_in_place<'a, T: StorageFloat>(storage: &'a Storage, layout: &Layout) -> candle_core::Result<&'a [T]> {
    match storage {
        Storage::Cpu(storage) => cpu_values(storage, layout),
        _ => Err(error("a tensor read in place is not on the CPU")),
    }
}

/// A contiguous variable's values where candle keeps them, to change in place.
fn variable<'a, T: StorageFloat>(storage: &'a mut CpuStorage, layout: &Layout) -> candle_core::Result<&'a mut [T]> {
    let values = T::values_mut(storage).ok_or_else(|| error("the variable's storage has another element type"))?;
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| error("the variable is not contiguous"))?;
    Ok(&mut values[start..end])
}

/// The values of a contiguous `f32` tensor on the CPU where candle keeps them, without a copy, from its
/// [`Tensor::storage_and_layout`](candle_core::Tensor::storage_and_layout) (e.g. a gradient, for a step of one's own).
pub fn read_f32_in_place<'a>(storage: &'a Storage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    values_in_place::<f32>(storage, layout)
}

/// Overwrites a contiguous `f32` variable on the CPU with `values`, in its own storage (one copy, no new tensor).
pub fn write_f32_in_place(var: &Var, values: &[f32]) -> candle_core::Result<()> {
    var.as_tensor().inplace_op1(&Overwrite(values))
}

/// The in-place op that overwrites a variable with new values (its storage kept).
struct Overwrite<'a, T>(&'a [T]);

impl<T: StorageFloat> InplaceOp1 for Overwrite<'_, T> {
    fn name(&self) -> &'static str {
        "descent-overwrite"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        variable::<T>(storage, layout)?.copy_from_slice(self.0);
        Ok(())
    }
}

impl candle_nn::Optimizer for DescentOptimizer {
    type Config = Spec;

    /// One group of every variable, named by position (`"0"`, `"1"`, …) in the order given.
    fn new(vars: Vec<Var>, spec: Spec) -> candle_core::Result<Self> {
        let named = vars.into_iter().enumerate().map(|(i, var)| (i.to_string(), var)).collect();
        DescentOptimizer::with_groups(named, ParamGroups::new(spec)).map_err(error)
    }

    /// Steps every variable with its gradient. Variables without a gradient are left alone. With clipping set
    /// ([`DynOptimizer::set_clip`]), or for an optimizer that needs every gradient at once (Prodigy), the
    /// variables of that optimizer are stepped together, in one [`DynOptimizer::step`], so that the norm or the
    /// estimate is measured over all their gradients (one copy of each variable in and out); otherwise each is
    /// stepped in place.
    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        let together = [
            self.f32.as_deref().is_some_and(|o| o.clip().is_some() || o.needs_all_gradients()),
            self.f64.as_deref().is_some_and(|o| o.clip().is_some() || o.needs_all_gradients()),
        ];
        if together[0] {
            self.step_together::<f32>(grads)?;
        }
        if together[1] {
            self.step_together::<f64>(grads)?;
        }
        for slot in &mut self.vars {
            let Some(grad) = grads.get(slot.var.as_tensor()) else { continue };
            let grad = grad.contiguous()?;
            let tensor = slot.var.as_tensor();
            match slot.var.dtype() {
                DType::F32 | DType::BF16 if together[0] => {}
                DType::F64 if together[1] => {}
                DType::BF16 => {
                    let optimizer = self.f32.as_deref_mut().expect("bf16 variables have an f32 optimizer");
                    let master = slot.master.as_mut().expect("bf16 variables have master weights");
                    let grad: Vec<f32> = grad.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
                    optimizer.step_param(slot.position, master, &grad).map_err(error)?;
                    set_rounded(&slot.var, master)?;
                }
                DType::F32 => {
                    let optimizer = self.f32.as_deref_mut().expect("f32 variables have an f32 optimizer");
                    tensor.inplace_op2(&grad, &Step { optimizer: RefCell::new(optimizer), position: slot.position })?
                }
                _ => {
                    let optimizer = self.f64.as_deref_mut().expect("f64 variables have an f64 optimizer");
                    tensor.inplace_op2(&grad, &Step { optimizer: RefCell::new(optimizer), position: slot.position })?
                }
            }
        }
        Ok(())
    }

    /// The learning rate of group 0.
    fn learning_rate(&self) -> f64 {
        match (&self.f32, &self.f64) {
            (Some(optimizer), _) => optimizer.lr(0).unwrap_or(f64::NAN),
            (None, Some(optimizer)) => optimizer.lr(0).unwrap_or(f64::NAN),
            (None, None) => f64::NAN,
        }
    }

    /// Sets the learning rate of every group. The trait cannot report errors: an invalid rate (negative, not
    /// finite) is refused and the previous ones kept; [`DescentOptimizer::try_set_learning_rate`] says why.
    fn set_learning_rate(&mut self, lr: f64) {
        let _ = self.try_set_learning_rate(lr);
    }
}

/// The in-place op that steps one variable with its gradient.
struct Step<'a, T: Float> {
    optimizer: RefCell<&'a mut dyn DynOptimizer<T>>,
    position: usize,
}

/// The in-place op that moves one variable between its training and evaluation points.
struct Move<'a, T: Float> {
    optimizer: &'a dyn DynOptimizer<T>,
    position: usize,
    to: Point,
}

impl<T: StorageFloat> InplaceOp1 for Move<'_, T> {
    fn name(&self) -> &'static str {
        "descent-move-point"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        self.optimizer.move_point(self.position, variable::<T>(storage, layout)?, self.to).map_err(error)
    }
}

/// The element types whose candle storage descent can update.
trait StorageFloat: Float {
    fn values_mut(storage: &mut CpuStorage) -> Option<&mut Vec<Self>>;
    fn values(storage: &CpuStorage) -> Option<&Vec<Self>>;
    /// Whether this type's optimizer steps variables of `dtype`.
    fn steps(dtype: DType) -> bool;
    /// The optimizer of this type's variables.
    fn optimizer(adapter: &mut DescentOptimizer) -> Option<&mut (dyn DynOptimizer<Self> + 'static)>;
}

impl StorageFloat for f32 {
    fn steps(dtype: DType) -> bool {
        matches!(dtype, DType::F32 | DType::BF16)
    }

    fn optimizer(adapter: &mut DescentOptimizer) -> Option<&mut (dyn DynOptimizer<f32> + 'static)> {
        adapter.f32.as_deref_mut()
    }

    fn values_mut(storage: &mut CpuStorage) -> Option<&mut Vec<f32>> {
        match storage {
            CpuStorage::F32(values) => Some(values),
            _ => None,
        }
    }

    fn values(storage: &CpuStorage) -> Option<&Vec<f32>> {
        match storage {
            CpuStorage::F32(values) => Some(values),
            _ => None,
        }
    }
}

impl StorageFloat for f64 {
    fn steps(dtype: DType) -> bool {
        dtype == DType::F64
    }

    fn optimizer(adapter: &mut DescentOptimizer) -> Option<&mut (dyn DynOptimizer<f64> + 'static)> {
        adapter.f64.as_deref_mut()
    }

    fn values_mut(storage: &mut CpuStorage) -> Option<&mut Vec<f64>> {
        match storage {
            CpuStorage::F64(values) => Some(values),
            _ => None,
        }
    }

    fn values(storage: &CpuStorage) -> Option<&Vec<f64>> {
        match storage {
            CpuStorage::F64(values) => Some(values),
            _ => None,
        }
    }
}

impl<T: StorageFloat> InplaceOp2 for Step<'_, T> {
    fn name(&self) -> &'static str {
        "descent-step"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<()> {
        let grad = cpu_values::<T>(s2, l2)?;
        self.optimizer.borrow_mut().step_param(self.position, variable::<T>(s1, l1)?, grad).map_err(error)
    }
}
