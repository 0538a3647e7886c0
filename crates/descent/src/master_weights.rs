//! bfloat16 parameters trained through `f32` master weights (mixed precision, Micikevicius et al. 2018).
//!
//! The model computes with bfloat16 parameters θ̃ = bf16(θ) and gradients g̃ = ∇J(θ̃), while the optimizer keeps
//! the `f32` parameters θ, its master weights, and steps them with the widened gradients:
//!
//! ```text
//! θ_{t+1} = step(θ_t, f32(g̃_t)),    θ̃_{t+1} = bf16(θ_{t+1})  (to nearest, ties to even)
//! ```
//!
//! Updates smaller than half a bfloat16 ulp of a weight (8 bits of significand: ≈ 0.4% of it) would be lost if the
//! bfloat16 weights were stepped directly; the master weights accumulate them. The optimizer's own state is
//! whatever its spec says (`f32`, or compact with `state="bf16"` or `"int8"`), so that
//! `adam(state="bf16")` over bfloat16 parameters keeps 2 + 4 + 2 + 2 bytes per parameter (weight, master, moments).
//! PyTorch's counterpart is an `f32` model under `torch.autocast(dtype=torch.bfloat16)`, whose optimizer steps the
//! `f32` weights; here the bfloat16 copy is the one the caller owns.

use half::bf16;

use crate::{DynOptimizer, Error, Point};

/// The `f32` master weights of bfloat16 parameters, one per parameter of the optimizer they are stepped with.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterWeights {
    masters: Vec<Vec<f32>>,
}

impl MasterWeights {
    /// Master weights equal to `params` (widened exactly).
    pub fn new(params: &[&[bf16]]) -> Self {
        MasterWeights { masters: params.iter().map(|p| p.iter().map(|v| v.to_f32()).collect()).collect() }
    }

    /// Master weights from saved `f32` values (a checkpoint's).
    pub fn from_f32(masters: Vec<Vec<f32>>) -> Self {
        MasterWeights { masters }
    }

    /// The master weights, in the optimizer's parameter order.
    pub fn masters(&self) -> &[Vec<f32>] {
        &self.masters
    }

    /// Steps every parameter: `grads` (bfloat16, `None` for a parameter without one) are widened, `optimizer`
    /// steps the master weights, and `params` become the master weights rounded to bfloat16. On an error nothing
    /// has changed: neither parameters, master weights nor the optimizer's state.
    pub fn step(
        &mut self,
        optimizer: &mut dyn DynOptimizer<f32>,
        params: &mut [&mut [bf16]],
        grads: &[Option<&[bf16]>],
    ) -> Result<(), Error> {
        self.check(params.len(), grads.len())?;
        for (position, ((param, grad), master)) in params.iter().zip(grads).zip(&self.masters).enumerate() {
            check_lengths(position, master.len(), param.len(), grad.map(<[bf16]>::len))?;
        }
        let wide: Vec<Option<Vec<f32>>> = grads.iter().map(|g| g.map(widen)).collect();
        let wide: Vec<Option<&[f32]>> = wide.iter().map(Option::as_deref).collect();
        let mut masters: Vec<&mut [f32]> = self.masters.iter_mut().map(Vec::as_mut_slice).collect();
        optimizer.step(&mut masters, &wide)?;
        for (param, master) in params.iter_mut().zip(&self.masters) {
            narrow(master, param);
        }
        Ok(())
    }

    /// Steps the parameter at `position` alone (for optimizers without a global stage), as [`MasterWeights::step`]
    /// does.
    pub fn step_param(
        &mut self,
        optimizer: &mut dyn DynOptimizer<f32>,
        position: usize,
        param: &mut [bf16],
        grad: &[bf16],
    ) -> Result<(), Error> {
        let count = self.masters.len();
        let master = self.masters.get_mut(position).ok_or(Error::NoSuchParameter { position, count })?;
        check_lengths(position, master.len(), param.len(), Some(grad.len()))?;
        optimizer.step_param(position, master, &widen(grad))?;
        narrow(master, param);
        Ok(())
    }

    /// Moves the master weights of the parameter at `position` to the optimizer's point `to` (Schedule-Free's
    /// evaluation point) and rounds them into `param`.
    pub fn move_point(
        &mut self,
        optimizer: &dyn DynOptimizer<f32>,
        position: usize,
        param: &mut [bf16],
        to: Point,
    ) -> Result<(), Error> {
        let count = self.masters.len();
        let master = self.masters.get_mut(position).ok_or(Error::NoSuchParameter { position, count })?;
        check_lengths(position, master.len(), param.len(), None)?;
        optimizer.move_point(position, master, to)?;
        narrow(master, param);
        Ok(())
    }

    fn check(&self, params: usize, grads: usize) -> Result<(), Error> {
        let expected = self.masters.len();
        for (what, got) in [("parameters", params), ("gradients", grads)] {
            if got != expected {
                return Err(Error::CountMismatch { what, expected, got });
            }
        }
        Ok(())
    }
}

fn check_lengths(position: usize, expected: usize, param: usize, grad: Option<usize>) -> Result<(), Error> {
    if param != expected {
        return Err(Error::ParameterLengthMismatch { param: position.to_string(), expected, got: param });
    }
    match grad {
        Some(got) if got != expected => {
            Err(Error::GradientLengthMismatch { param: position.to_string(), expected, got })
        }
        _ => Ok(()),
    }
}

fn widen(values: &[bf16]) -> Vec<f32> {
    values.iter().map(|v| v.to_f32()).collect()
}

fn narrow(master: &[f32], param: &mut [bf16]) {
    for (p, &m) in param.iter_mut().zip(master) {
        *p = bf16::from_f32(m);
    }
}
