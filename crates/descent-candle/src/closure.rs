//! Steps that evaluate the loss themselves: the optimizers that ask for their gradients (L-BFGS's line search, the
//! article's look-ahead Nesterov); any other optimizer steps this way too.

use candle_core::{DType, Tensor, WithDType};
use descent::{DynOptimizer, Float};

use crate::{error, DescentOptimizer, Slot};

impl DescentOptimizer {
    /// Takes one step with gradients the optimizer asks for: PyTorch's `optimizer.step(closure)`.
    ///
    /// `loss` computes the loss from the variables' current values (a forward pass); the optimizer sets the
    /// variables to the points it wants, calls `loss`, and reads the gradients of its result. L-BFGS calls it as often
    /// as its iterations and line search need; the look-ahead rules call it once, at the look-ahead point; every other
    /// optimizer calls it once, at the variables. Returns the loss of the first call.
    ///
    /// Every variable must have the same element type. An error of `loss` (or of the optimizer) stops the step and
    /// leaves the variables and the optimizer's state as they were.
    ///
    /// ```
    /// use candle_core::{Device, Tensor, Var};
    /// use descent_candle::{DescentOptimizer, ParamGroups};
    ///
    /// let w = Var::from_tensor(&Tensor::new(&[3.0f64, -2.0], &Device::Cpu)?)?;
    /// let spec = "lbfgs(line_search_fn=\"strong_wolfe\")".parse()?;
    /// let mut opt = DescentOptimizer::with_groups(vec![("w".into(), w.clone())], ParamGroups::new(spec))?;
    /// // J(w) = Σ (w − 1)², whose minimum L-BFGS finds in one step.
    /// opt.step_with_closure(|| (w.as_tensor() - 1.0)?.sqr()?.sum_all())?;
    /// assert!(w.as_tensor().to_vec1::<f64>()?.iter().all(|v| (v - 1.0).abs() < 1e-6));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn step_with_closure(
        &mut self,
        mut loss: impl FnMut() -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<f64> {
        match (self.f32.as_deref_mut(), self.f64.as_deref_mut()) {
            (Some(optimizer), None) => closure_step::<f32>(&mut self.vars, optimizer, &mut loss),
            (None, Some(optimizer)) => closure_step::<f64>(&mut self.vars, optimizer, &mut loss),
            _ => Err(error("a closure step needs every variable to have the same element type")),
        }
    }
}

/// The closure step of every variable (of one element type: bfloat16 variables step their `f32` master weights).
fn closure_step<T: Float + WithDType>(
    vars: &mut [Slot],
    optimizer: &mut dyn DynOptimizer<T>,
    loss: &mut dyn FnMut() -> candle_core::Result<Tensor>,
) -> candle_core::Result<f64> {
    let mut slots: Vec<&Slot> = vars.iter().collect();
    slots.sort_by_key(|slot| slot.position);
    let original = slots
        .iter()
        .map(|slot| match &slot.master {
            Some(master) => Ok(master.iter().map(|&v| <T as Float>::from_f64(f64::from(v))).collect()),
            None => slot.var.as_tensor().flatten_all()?.to_vec1::<T>(),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut params = original.clone();
    let before = optimizer.state_dict();
    let mut failure = None;
    let result = {
        let mut slices: Vec<&mut [T]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        optimizer.step_with_closure(&mut slices, &mut |points, grads| {
            if failure.is_some() {
                return f64::NAN;
            }
            evaluate(&slots, points, grads, loss).unwrap_or_else(|e| {
                failure = Some(e);
                f64::NAN
            })
        })
    };
    let outcome = match (failure, result) {
        (Some(e), _) => {
            optimizer.load_state_dict(&before).map_err(error)?;
            Err(e)
        }
        (None, Err(e)) => Err(error(e)),
        (None, Ok(loss)) => Ok(loss),
    };
    let values = if outcome.is_ok() { &params } else { &original };
    for (slot, values) in slots.iter().zip(values) {
        set(slot, values)?;
    }
    let positions: Vec<usize> = slots.iter().map(|slot| slot.position).collect();
    for (position, values) in positions.into_iter().zip(values) {
        let slot = vars.iter_mut().find(|s| s.position == position).expect("a slot per position");
        if let Some(master) = &mut slot.master {
            // Exact: bfloat16 variables are stepped by the f32 optimizer.
            *master = values.iter().map(|&v| Float::to_f64(v) as f32).collect();
        }
    }
    outcome
}

/// Puts `points` into the variables, evaluates the loss and writes its gradients (zeros for a variable the loss
/// does not depend on).
fn evaluate<T: Float + WithDType>(
    slots: &[&Slot],
    points: &[&[T]],
    grads: &mut [&mut [T]],
    loss: &mut dyn FnMut() -> candle_core::Result<Tensor>,
) -> candle_core::Result<f64> {
    for (slot, point) in slots.iter().zip(points) {
        set(slot, point)?;
    }
    let loss = loss()?;
    let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    let store = loss.backward()?;
    for (slot, grad) in slots.iter().zip(grads.iter_mut()) {
        match store.get(slot.var.as_tensor()) {
            Some(g) => grad.copy_from_slice(&g.flatten_all()?.to_dtype(T::DTYPE)?.to_vec1::<T>()?),
            None => grad.fill(T::default()),
        }
    }
    Ok(value)
}

/// Sets a variable to `values` (rounded to bfloat16 for a bfloat16 variable).
fn set<T: WithDType>(slot: &Slot, values: &[T]) -> candle_core::Result<()> {
    let tensor = slot.var.as_tensor();
    slot.var.set(&Tensor::from_slice(values, tensor.dims(), tensor.device())?.to_dtype(tensor.dtype())?)
}
