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
//! Each variable is updated in place, through a candle in-place custom op that hands descent's kernels the
//! variable's storage and its gradient's: a step allocates no tensor. Variables of `f32` and `f64` are supported
//! (on the CPU device); a variable without a gradient in a step is skipped, as PyTorch skips a parameter whose
//! `.grad` is `None`.

use std::cell::RefCell;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Var};
use descent::{DynOptimizer, Float, Param, Spec};

/// A descent optimizer driving candle variables.
#[derive(Debug)]
pub struct DescentOptimizer {
    spec: Spec,
    vars: Vec<Slot>,
    f32: Option<Box<dyn DynOptimizer<f32>>>,
    f64: Option<Box<dyn DynOptimizer<f64>>>,
}

/// A variable and its position among the optimizer's parameters of its element type.
#[derive(Debug)]
struct Slot {
    var: Var,
    position: usize,
}

impl DescentOptimizer {
    /// The optimizer's spec, with its current learning rate.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Sets the learning rate of every parameter, or says why it cannot be set (and keeps the previous one).
    pub fn try_set_learning_rate(&mut self, lr: f64) -> Result<(), descent::Error> {
        let spec = self.spec.with_lr(lr);
        spec.validate()?;
        if let Some(optimizer) = &mut self.f32 {
            optimizer.set_lr(0, lr)?;
        }
        if let Some(optimizer) = &mut self.f64 {
            optimizer.set_lr(0, lr)?;
        }
        self.spec = spec;
        Ok(())
    }
}

fn error(e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

impl candle_nn::Optimizer for DescentOptimizer {
    type Config = Spec;

    fn new(vars: Vec<Var>, spec: Spec) -> candle_core::Result<Self> {
        spec.validate().map_err(error)?;
        let (mut f32_params, mut f64_params) = (Vec::new(), Vec::new());
        let mut slots = Vec::with_capacity(vars.len());
        for var in vars {
            let params = match var.dtype() {
                DType::F32 => &mut f32_params,
                DType::F64 => &mut f64_params,
                other => return Err(error(format!("descent optimizes f32 and f64 variables, not {other:?}"))),
            };
            params.push(Param::new(var.elem_count()));
            slots.push(Slot { var, position: params.len() - 1 });
        }
        let f32 = if f32_params.is_empty() { None } else { Some(spec.build::<f32>(f32_params).map_err(error)?) };
        let f64 = if f64_params.is_empty() { None } else { Some(spec.build::<f64>(f64_params).map_err(error)?) };
        Ok(DescentOptimizer { spec, vars: slots, f32, f64 })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        for slot in &self.vars {
            let Some(grad) = grads.get(slot.var.as_tensor()) else { continue };
            let grad = grad.contiguous()?;
            let tensor = slot.var.as_tensor();
            match slot.var.dtype() {
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

    fn learning_rate(&self) -> f64 {
        self.spec.lr()
    }

    /// Sets the learning rate. The trait cannot report errors: an invalid rate (negative, not finite) is refused
    /// and the previous one kept; [`DescentOptimizer::try_set_learning_rate`] says why.
    fn set_learning_rate(&mut self, lr: f64) {
        let _ = self.try_set_learning_rate(lr);
    }
}

/// The in-place op that steps one variable with its gradient.
struct Step<'a, T: Float> {
    optimizer: RefCell<&'a mut dyn DynOptimizer<T>>,
    position: usize,
}

/// The element types whose candle storage descent can update.
trait StorageFloat: Float {
    fn values_mut(storage: &mut CpuStorage) -> Option<&mut Vec<Self>>;
    fn values(storage: &CpuStorage) -> Option<&Vec<Self>>;
}

impl StorageFloat for f32 {
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
        let param = T::values_mut(s1).ok_or_else(|| error("the variable's storage has another element type"))?;
        let grad = T::values(s2).ok_or_else(|| error("the gradient's storage has another element type"))?;
        let (p_start, p_end) = l1.contiguous_offsets().ok_or_else(|| error("the variable is not contiguous"))?;
        let (g_start, g_end) = l2.contiguous_offsets().ok_or_else(|| error("the gradient is not contiguous"))?;
        self.optimizer
            .borrow_mut()
            .step_param(self.position, &mut param[p_start..p_end], &grad[g_start..g_end])
            .map_err(error)
    }
}
