//! The sharded optimizer driving candle variables.

use std::rc::Rc;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use descent::{Param, Point};
use descent_candle::ParamGroups;

use crate::{Communicator, ShardError, Sharded, Stage};

/// A [`Sharded`] optimizer of named `f32` candle variables: the sharded counterpart of
/// [`descent_candle::DescentOptimizer`]. Variables are registered group by group, as the unsharded adapter
/// registers them, so that their positions, state dicts and checkpoints are the same.
pub struct ShardedVars {
    /// The variables in position order.
    vars: Vec<(String, Var)>,
    sharded: Sharded,
}

impl std::fmt::Debug for ShardedVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedVars").field("variables", &self.vars.len()).field("sharded", &self.sharded).finish()
    }
}

fn candle_error(e: candle_core::Error) -> ShardError {
    ShardError::Optimizer(descent::Error::Io(e.to_string()))
}

impl ShardedVars {
    /// The optimizer of `vars` in the groups `groups` chooses, sharded across `comm`'s ranks at `stage`. Every
    /// rank passes the same variables (names and shapes) and groups.
    pub fn new(
        comm: Rc<dyn Communicator>,
        vars: Vec<(String, Var)>,
        groups: &ParamGroups,
        stage: Stage,
    ) -> Result<ShardedVars, ShardError> {
        if let Some((name, var)) = vars.iter().find(|(_, var)| var.dtype() != DType::F32) {
            let dtype = format!("{:?}", var.dtype());
            return Err(descent::Error::UnsupportedType { name: name.clone(), dtype }.into());
        }
        let assigned = groups.assign(vars);
        let specs = assigned
            .iter()
            .map(|(spec, vars)| {
                (spec.clone(), vars.iter().map(|(name, var)| Param::named(name.clone(), var.dims().to_vec())).collect())
            })
            .collect();
        let sharded = Sharded::new(comm, specs, stage)?;
        let vars = assigned.into_iter().flat_map(|(_, vars)| vars).collect();
        Ok(ShardedVars { vars, sharded })
    }

    /// The sharded optimizer: its partition, its state, its wrapped optimizer's hyperparameters.
    pub fn sharded(&self) -> &Sharded {
        &self.sharded
    }

    /// The sharded optimizer, to change (a scheduler, a checkpoint load).
    pub fn sharded_mut(&mut self) -> &mut Sharded {
        &mut self.sharded
    }

    /// The variables in position order, with their names.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    fn values(&self) -> Result<Vec<Vec<f32>>, ShardError> {
        self.vars
            .iter()
            .map(|(_, var)| var.as_tensor().flatten_all()?.to_vec1::<f32>())
            .collect::<Result<_, _>>()
            .map_err(candle_error)
    }

    /// Writes `values` into the variables' storage, one copy each.
    fn set(&self, values: &[Vec<f32>]) -> Result<(), ShardError> {
        for ((_, var), values) in self.vars.iter().zip(values) {
            descent_candle::write_f32_in_place(var, values).map_err(candle_error)?;
        }
        Ok(())
    }

    /// One step of every rank together with this rank's gradients, summed across ranks multiplied by `weight`
    /// (see [`Sharded::step`]). A variable without a gradient counts as a zero gradient, and `None` (a rank with
    /// no share of this batch) as zero gradients for all.
    pub fn step(&mut self, grads: Option<&GradStore>, weight: f32) -> Result<(), ShardError> {
        // The gradients are read where candle keeps them (a copy only of those that are not contiguous); a missing
        // one is a tensor of zeros.
        let grads: Vec<Tensor> = self
            .vars
            .iter()
            .map(|(_, var)| match grads.and_then(|g| g.get(var.as_tensor())) {
                Some(grad) => grad.contiguous(),
                None => var.as_tensor().zeros_like(),
            })
            .collect::<Result<_, _>>()
            .map_err(candle_error)?;
        let guards: Vec<_> = grads.iter().map(Tensor::storage_and_layout).collect();
        let grads = guards
            .iter()
            .map(|(storage, layout)| descent_candle::read_f32_in_place(storage, layout).map_err(candle_error))
            .collect::<Result<Vec<&[f32]>, _>>()?;
        let mut values = self.values()?;
        let mut params: Vec<&mut [f32]> = values.iter_mut().map(Vec::as_mut_slice).collect();
        self.sharded.step(&mut params, &grads, weight)?;
        drop(guards);
        self.set(&values)
    }

    /// Runs `f` with every variable at the evaluation point (Schedule-Free's average), then moves them back; see
    /// [`descent_candle::DescentOptimizer::evaluate`].
    pub fn evaluate<R>(&mut self, f: impl FnOnce() -> candle_core::Result<R>) -> Result<R, ShardError> {
        if !self.sharded.has_evaluation_point() {
            return f().map_err(candle_error);
        }
        self.move_all(Point::Evaluation)?;
        let result = f();
        self.move_all(Point::Training)?;
        result.map_err(candle_error)
    }

    fn move_all(&mut self, to: Point) -> Result<(), ShardError> {
        let mut values = self.values()?;
        let mut params: Vec<&mut [f32]> = values.iter_mut().map(Vec::as_mut_slice).collect();
        self.sharded.move_point(&mut params, to)?;
        self.set(&values)
    }
}
