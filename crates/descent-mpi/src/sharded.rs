//! A sharded optimizer: ZeRO stages 1 and 2 over a [`Communicator`].

use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;

use descent::{Clip, DynOptimizer, Param, ParamState, Point, Spec, StateDict};

use crate::{Communicator, Partition, ShardError};

/// How much a sharded optimizer splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// ZeRO stage 1: the optimizer state is split. Gradients are summed in full on every rank (all-reduce), each
    /// rank steps its own parameters, and the parameters are all-gathered.
    One,
    /// ZeRO stage 2: the state and the summed gradients are split. Gradients are reduce-scattered, so that each
    /// rank receives the sum of only its own parameters' gradients; it steps them, and the parameters are
    /// all-gathered. The same bytes cross the network as with stage 1, and each rank holds 1/N of the summed
    /// gradients.
    Two,
}

impl Stage {
    /// Stage 1 or 2 by number.
    pub fn from_number(number: u8) -> Option<Stage> {
        match number {
            1 => Some(Stage::One),
            2 => Some(Stage::Two),
            _ => None,
        }
    }

    /// 1 or 2.
    pub fn number(self) -> u8 {
        match self {
            Stage::One => 1,
            Stage::Two => 2,
        }
    }
}

/// Any descent optimizer, its state split across the ranks of a [`Communicator`] (ZeRO stages 1 and 2, as
/// DeepSpeed and PyTorch's `ZeroRedundancyOptimizer` do).
///
/// Every rank holds the whole model and the gradients of its own share of a global batch. A [`step`](Self::step)
/// sums the gradients across ranks (weighted by each rank's share), each rank updates the parameters it owns
/// ([`Partition`]: whole parameters, balanced by size) with the wrapped optimizer, which holds state for those
/// only, and the updated parameters are all-gathered, so that every rank leaves the step with the same model.
///
/// With one rank, a step is the wrapped optimizer's step bit for bit. With several, the parameters differ from one
/// process's training on the whole batch only by the order in which the gradients are summed. Clipping by norm
/// measures the norm over every rank's parameters (each rank measures its own, and the per-tensor norms are
/// summed across ranks in `f64`, then combined in position order as one process would).
///
/// Optimizers whose step couples every parameter through an optimizer-wide state (Prodigy's step-size estimate,
/// L-BFGS's history) or that evaluate the loss themselves are refused. Adagrad creates its state for every
/// parameter up front (as PyTorch's does), so a sharded Adagrad holds the initial accumulator of the parameters
/// it does not own as well.
///
/// Every rank must build the same optimizer over the same parameters (checked when it is built) and call every
/// method in the same order. A refusal on one rank is an error on every rank, with nothing changed, never a hang.
pub struct Sharded {
    comm: Rc<dyn Communicator>,
    /// The wrapped optimizer, over every parameter; it steps, and keeps state for, this rank's only.
    inner: Box<dyn DynOptimizer<f32>>,
    partition: Partition,
    stage: Stage,
    clip: Option<Clip>,
    last_grad_norm: Option<f64>,
    /// Each parameter's offset in a packed buffer (the ranks' shares one after another).
    offsets: Vec<usize>,
    /// Every gradient, packed by owner (and, at stage 1, summed there).
    packed: Vec<f32>,
    /// This rank's summed gradients, then its updated parameters.
    mine: Vec<f32>,
}

impl std::fmt::Debug for Sharded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sharded")
            .field("optimizer", &self.inner.name())
            .field("rank", &self.comm.rank())
            .field("ranks", &self.comm.size())
            .field("stage", &self.stage)
            .finish()
    }
}

/// The result of `local` on every rank: this rank's error, or [`ShardError::OtherRank`] if another failed.
pub(crate) fn agree<T>(comm: &dyn Communicator, local: Result<T, ShardError>) -> Result<T, ShardError> {
    let (rank, ranks) = (comm.rank(), comm.size());
    // The largest flag is the lowest failing rank's.
    let flag = if local.is_err() { (ranks - rank) as u64 } else { 0 };
    let worst = comm.all_reduce_max(flag);
    match local {
        Ok(_) if worst > 0 => Err(ShardError::OtherRank { rank: ranks - worst as usize, ranks }),
        other => other,
    }
}

impl Sharded {
    /// The optimizer `Spec::build_groups` builds from `groups`, sharded across `comm`'s ranks at `stage`. Every
    /// rank must pass the same groups (checked: a difference is an error on every rank).
    pub fn new(
        comm: Rc<dyn Communicator>,
        groups: Vec<(Spec, Vec<Param>)>,
        stage: Stage,
    ) -> Result<Sharded, ShardError> {
        let mut hasher = DefaultHasher::new();
        stage.number().hash(&mut hasher);
        for (spec, params) in &groups {
            format!("{spec:#}").hash(&mut hasher);
            for param in params {
                (param.name(), param.shape().dims()).hash(&mut hasher);
            }
        }
        let summary = format!(
            "{} parameters of {} values, {}",
            groups.iter().map(|(_, p)| p.len()).sum::<usize>(),
            groups.iter().flat_map(|(_, p)| p).map(Param::len).sum::<usize>(),
            groups.iter().map(|(spec, _)| format!("{spec}")).collect::<Vec<_>>().join(" / ")
        );
        let built = Self::build(groups);
        let inner = agree(&*comm, built)?;
        let fingerprint = hasher.finish();
        // Both collectives on every rank, whatever the first says.
        let (largest, smallest) = (comm.all_reduce_max(fingerprint), !comm.all_reduce_max(!fingerprint));
        if (largest, smallest) != (fingerprint, fingerprint) {
            return Err(ShardError::Disagreement { ranks: comm.size(), this: summary });
        }
        let lens: Vec<usize> = (0..inner.param_count()).map(|p| inner.param(p).expect("counted").len()).collect();
        let partition = Partition::balanced(&lens, comm.size());
        let mut offsets = vec![0; lens.len()];
        let mut offset = 0;
        for p in partition.packing_order() {
            offsets[p] = offset;
            offset += lens[p];
        }
        let mine = vec![0.0; partition.counts()[comm.rank()]];
        Ok(Sharded {
            comm,
            inner,
            partition,
            stage,
            clip: None,
            last_grad_norm: None,
            offsets,
            packed: vec![0.0; offset],
            mine,
        })
    }

    fn build(groups: Vec<(Spec, Vec<Param>)>) -> Result<Box<dyn DynOptimizer<f32>>, ShardError> {
        if let Some((spec, _)) = groups.iter().find(|(spec, _)| spec.needs_closure()) {
            return Err(ShardError::Unshardable {
                optimizer: spec.class().to_owned(),
                reason: "it evaluates the loss itself, through a closure",
            });
        }
        let inner = Spec::build_groups::<f32>(groups)?;
        if inner.global_state().is_some() {
            return Err(ShardError::Unshardable {
                optimizer: inner.name(),
                reason: "its step couples every parameter through an optimizer-wide state",
            });
        }
        Ok(inner)
    }

    /// The ranks it is sharded across.
    pub fn communicator(&self) -> &dyn Communicator {
        &*self.comm
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// The number of ranks.
    pub fn ranks(&self) -> usize {
        self.comm.size()
    }

    /// The ZeRO stage.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Which rank owns which parameter.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// The wrapped optimizer: its hyperparameters, and the state of this rank's parameters.
    pub fn optimizer(&self) -> &dyn DynOptimizer<f32> {
        &*self.inner
    }

    /// The wrapped optimizer, to set hyperparameters (a scheduler does, the same on every rank). Step through
    /// [`Sharded::step`], never through this.
    pub fn optimizer_mut(&mut self) -> &mut (dyn DynOptimizer<f32> + 'static) {
        &mut *self.inner
    }

    /// Sets the clipping of every step: by the norm of all ranks' gradients together and/or by value.
    pub fn set_clip(&mut self, clip: Option<Clip>) -> Result<(), ShardError> {
        if let Some(clip) = &clip {
            clip.validate()?;
        }
        // The wrapped optimizer clamps by value in its own pass; the norm is the sharded step's.
        self.inner.set_clip(clip.and_then(|c| c.value.map(Clip::value)))?;
        self.clip = clip;
        Ok(())
    }

    /// The total gradient norm of the last step, when clipping by norm.
    pub fn last_grad_norm(&self) -> Option<f64> {
        self.last_grad_norm
    }

    /// The bytes of optimizer state this rank holds (about 1/N of an unsharded optimizer's).
    pub fn state_bytes(&self) -> usize {
        self.partition.owned(self.rank()).filter_map(|p| self.inner.state(p)).map(ParamState::bytes).sum()
    }

    /// Checks that `params` (and `grads`) are the optimizer's, in number and length.
    fn check(&self, params: &[&mut [f32]], grads: Option<&[&[f32]]>) -> Result<(), ShardError> {
        let expected = self.inner.param_count();
        let mismatch = |what, got| descent::Error::CountMismatch { what, expected, got };
        if params.len() != expected {
            return Err(mismatch("parameters", params.len()).into());
        }
        if let Some(grads) = grads {
            if grads.len() != expected {
                return Err(mismatch("gradients", grads.len()).into());
            }
        }
        for p in 0..expected {
            let registered = self.inner.param(p).expect("counted");
            let lens = [Some(params[p].len()), grads.map(|g| g[p].len())];
            if let Some(got) = lens.into_iter().flatten().find(|&len| len != registered.len()) {
                let (param, expected) = (registered.label(p), registered.len());
                return Err(descent::Error::ParameterLengthMismatch { param, expected, got }.into());
            }
        }
        Ok(())
    }

    /// One step of every rank together. `params` is the whole model (the same on every rank) and `grads` this
    /// rank's gradients of its share of the batch; the gradients are summed across ranks multiplied by `weight`
    /// (a rank's share of the global batch, e.g. its images / all images, when each rank's loss is a mean over its
    /// own images). Afterwards every rank has the same updated parameters.
    ///
    /// Wrong counts or lengths, or a weight that is not finite, on any rank are an error on every rank that changes
    /// nothing, as is a non-finite total norm when clipping with `error_if_nonfinite`.
    pub fn step(&mut self, params: &mut [&mut [f32]], grads: &[&[f32]], weight: f32) -> Result<(), ShardError> {
        let checked = self.check(params, Some(grads)).and_then(|()| {
            if weight.is_finite() {
                Ok(())
            } else {
                Err(ShardError::Optimizer(descent::Error::InvalidHyperparameter {
                    optimizer: "sharded step",
                    name: "weight",
                    value: f64::from(weight),
                    expected: "a finite number",
                }))
            }
        });
        agree(&*self.comm, checked)?;
        for (p, grad) in grads.iter().enumerate() {
            let packed = &mut self.packed[self.offsets[p]..self.offsets[p] + grad.len()];
            for (out, &g) in packed.iter_mut().zip(grad.iter()) {
                *out = g * weight;
            }
        }
        let (rank, counts) = (self.comm.rank(), self.partition.counts());
        match self.stage {
            Stage::One => {
                self.comm.all_reduce_sum(&mut self.packed);
                let start: usize = counts[..rank].iter().sum();
                self.mine.copy_from_slice(&self.packed[start..start + counts[rank]]);
            }
            Stage::Two => self.comm.reduce_scatter_sum(&self.packed, &counts, &mut self.mine),
        }
        let start = self.partition.owned(rank).next().map_or(0, |p| self.offsets[p]);
        let local = |offsets: &[usize], p: usize, len: usize| offsets[p] - start..offsets[p] - start + len;
        if let Some(clip) = self.clip.filter(|c| c.max_norm.is_some()) {
            let mut norms = vec![0.0; params.len()];
            for p in self.partition.owned(rank) {
                norms[p] = descent::tensor_norm(&self.mine[local(&self.offsets, p, params[p].len())], clip.norm_type);
            }
            self.comm.all_reduce_sum_f64(&mut norms);
            let norm = descent::norm_of_norms(norms.into_iter(), clip.norm_type);
            // The same norm on every rank: an error here is everyone's.
            let coefficient = clip.coefficient(norm)?.expect("clipping by norm") as f32;
            self.last_grad_norm = Some(norm);
            for g in &mut self.mine {
                *g *= coefficient;
            }
        }
        let owned: Vec<bool> = (0..params.len()).map(|p| self.partition.owner(p) == rank).collect();
        let grads: Vec<Option<&[f32]>> =
            (0..params.len()).map(|p| owned[p].then(|| &self.mine[local(&self.offsets, p, params[p].len())])).collect();
        let stepped = self.inner.step(params, &grads).map_err(ShardError::from);
        agree(&*self.comm, stepped)?;
        self.gather(params);
        Ok(())
    }

    /// Every rank's parameters to every rank: each sends those it owns.
    fn gather(&mut self, params: &mut [&mut [f32]]) {
        let rank = self.comm.rank();
        let start = self.partition.owned(rank).next().map_or(0, |p| self.offsets[p]);
        for p in self.partition.owned(rank) {
            let at = self.offsets[p] - start;
            self.mine[at..at + params[p].len()].copy_from_slice(params[p]);
        }
        self.comm.all_gather(&self.mine, &self.partition.counts(), &mut self.packed);
        for (p, param) in params.iter_mut().enumerate() {
            param.copy_from_slice(&self.packed[self.offsets[p]..self.offsets[p] + param.len()]);
        }
    }

    /// Whether the optimizer evaluates at another point than it trains at (Schedule-Free).
    pub fn has_evaluation_point(&self) -> bool {
        self.inner.has_evaluation_point()
    }

    /// Moves every parameter to the training or the evaluation point (see [`descent::Optimizer::move_point`]):
    /// each rank moves those it owns, and they are all-gathered. Nothing happens for optimizers without an
    /// evaluation point.
    pub fn move_point(&mut self, params: &mut [&mut [f32]], to: Point) -> Result<(), ShardError> {
        if !self.has_evaluation_point() {
            return Ok(());
        }
        agree(&*self.comm, self.check(params, None))?;
        let rank = self.comm.rank();
        let moved = self.partition.owned(rank).try_for_each(|p| self.inner.move_point(p, params[p], to));
        agree(&*self.comm, moved.map_err(ShardError::from))?;
        self.gather(params);
        Ok(())
    }

    /// This rank's share of the state: the wrapped optimizer's state dict, with the state of the parameters it owns
    /// only. The shares of every rank together make the whole ([`merge`](crate::merge)).
    pub fn state_dict(&self) -> StateDict<f32> {
        let mut dict = self.inner.state_dict();
        let rank = self.comm.rank();
        for (p, record) in dict.params.iter_mut().enumerate() {
            if self.partition.owner(p) != rank {
                record.state = None;
            }
        }
        dict
    }

    /// Loads a whole state (an unsharded optimizer's, or the shares of any number of ranks [merged](crate::merge)),
    /// keeping the state of this rank's parameters. A state that does not fit, on any rank, is an error on every
    /// rank that changes nothing.
    pub fn load_state_dict(&mut self, whole: &StateDict<f32>) -> Result<(), ShardError> {
        let mut dict = whole.clone();
        let rank = self.comm.rank();
        for (p, record) in dict.params.iter_mut().enumerate() {
            // A rule that creates its state up front (Adagrad) keeps it for every parameter.
            if self.partition.owner(p) != rank && self.inner.state(p).is_none() {
                record.state = None;
            }
        }
        let before = self.inner.state_dict();
        let loaded = self.inner.load_state_dict(&dict).map_err(ShardError::from);
        let loaded_here = loaded.is_ok();
        let agreed = agree(&*self.comm, loaded);
        if agreed.is_err() && loaded_here {
            self.inner.load_state_dict(&before).expect("the state it had loads back");
        }
        agreed
    }
}
