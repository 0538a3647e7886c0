//! A sharded optimizer: ZeRO stages 1 and 2 over a [`Communicator`].

use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;

use descent::{Clip, DynOptimizer, Param, ParamState, Point, Spec, StateDict};

use crate::pieces::{cut, fits, join, piece_params, skeleton};
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
/// sums the gradients across ranks (weighted by each rank's share), each rank updates the values it owns with the
/// wrapped optimizer, which holds state for those only, and the updated values are all-gathered, so that every rank
/// leaves the step with the same model.
///
/// Which rank owns which values is the [`Partition`], balanced by size as DeepSpeed balances it: a parameter the
/// optimizer steps element by element ([`Spec::splits`]: SGD, Adam, RMSprop, Lion, …) may be cut into pieces on
/// several ranks, each piece stepped as a parameter of its own, to the same values bit for bit, so that every rank
/// holds 1/N of the state however large the largest parameter is; the others (Muon, SOAP, Adafactor, 8-bit state)
/// stay whole, as in PyTorch's `ZeroRedundancyOptimizer`. The wrapped optimizer is built over the pieces, in
/// position order ([`Partition::pieces`]); state dicts and checkpoints are over the whole parameters.
///
/// With one rank, a step is the wrapped optimizer's step bit for bit. With several, the parameters differ from one
/// process's training on the whole batch only by the order in which the gradients are summed. Clipping by norm
/// measures the norm over every rank's parameters (each rank measures its own pieces, and their norms are summed
/// across ranks in `f64`, then combined in position order as one process combines its tensors' norms).
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
    /// The wrapped optimizer, over every piece; it steps, and keeps state for, this rank's only.
    inner: Box<dyn DynOptimizer<f32>>,
    /// The whole parameters, in position order.
    params: Vec<Param>,
    partition: Partition,
    stage: Stage,
    clip: Option<Clip>,
    last_grad_norm: Option<f64>,
    /// Each piece's offset in a packed buffer (the ranks' shares one after another).
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
        let params: Vec<Param> = groups.iter().flat_map(|(_, params)| params.iter().cloned()).collect();
        // A shape too large to count is refused before anything counts its values.
        let too_large = params.iter().enumerate().find(|(_, param)| param.shape().checked_len().is_none());
        let counted = too_large.map_or(Ok(()), |(p, param)| {
            Err(descent::Error::ShapeTooLarge { param: param.label(p), shape: param.shape().to_string() }.into())
        });
        agree(&*comm, counted)?;
        let lens: Vec<usize> = params.iter().map(Param::len).collect();
        let summary = format!(
            "{} parameters of {} values, {}",
            params.len(),
            lens.iter().sum::<usize>(),
            groups.iter().map(|(spec, _)| format!("{spec}")).collect::<Vec<_>>().join(" / ")
        );
        let splits: Vec<bool> =
            groups.iter().flat_map(|(spec, params)| params.iter().map(|p| spec.splits(p.shape()))).collect();
        let partition = Partition::balanced(&lens, &splits, comm.size());
        let built = Self::build(groups, &partition);
        let inner = agree(&*comm, built)?;
        let fingerprint = hasher.finish();
        // Both collectives on every rank, whatever the first says.
        let (largest, smallest) = (comm.all_reduce_max(fingerprint), !comm.all_reduce_max(!fingerprint));
        if (largest, smallest) != (fingerprint, fingerprint) {
            return Err(ShardError::Disagreement { ranks: comm.size(), this: summary });
        }
        let pieces = partition.pieces();
        let mut offsets = vec![0; pieces.len()];
        let mut offset = 0;
        for k in partition.packing_order() {
            offsets[k] = offset;
            offset += pieces[k].len();
        }
        let mine = vec![0.0; partition.counts()[comm.rank()]];
        Ok(Sharded {
            comm,
            inner,
            params,
            partition,
            stage,
            clip: None,
            last_grad_norm: None,
            offsets,
            packed: vec![0.0; offset],
            mine,
        })
    }

    /// The wrapped optimizer over the pieces of `partition`, each in its parameter's group.
    fn build(groups: Vec<(Spec, Vec<Param>)>, partition: &Partition) -> Result<Box<dyn DynOptimizer<f32>>, ShardError> {
        if let Some((spec, _)) = groups.iter().find(|(spec, _)| spec.needs_closure()) {
            return Err(ShardError::Unshardable {
                optimizer: spec.class().to_owned(),
                reason: "it evaluates the loss itself, through a closure",
            });
        }
        let params: Vec<Param> = groups.iter().flat_map(|(_, params)| params.iter().cloned()).collect();
        let mut pieces = piece_params(&params, partition).into_iter().zip(partition.pieces()).peekable();
        let mut first = 0;
        let groups: Vec<(Spec, Vec<Param>)> = groups
            .into_iter()
            .map(|(spec, params)| {
                first += params.len();
                let group = std::iter::from_fn(|| pieces.next_if(|(_, piece)| piece.param < first)).map(|(p, _)| p);
                (spec, group.collect::<Vec<Param>>())
            })
            .collect();
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

    /// Which rank owns which values.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// The whole parameters, in position order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The wrapped optimizer, over the pieces of the [`partition`](Self::partition) (a parameter that is not cut is
    /// one piece): its hyperparameters, and the state of this rank's pieces.
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
        self.partition.owned(self.rank()).filter_map(|k| self.inner.state(k)).map(ParamState::bytes).sum()
    }

    /// Checks that `params` (and `grads`) are the optimizer's, in number and length.
    fn check(&self, params: &[&mut [f32]], grads: Option<&[&[f32]]>) -> Result<(), ShardError> {
        let expected = self.params.len();
        let mismatch = |what, got| descent::Error::CountMismatch { what, expected, got };
        if params.len() != expected {
            return Err(mismatch("parameters", params.len()).into());
        }
        if let Some(grads) = grads {
            if grads.len() != expected {
                return Err(mismatch("gradients", grads.len()).into());
            }
        }
        for (p, registered) in self.params.iter().enumerate() {
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
        for (piece, &offset) in self.partition.pieces().iter().zip(&self.offsets) {
            let grad = &grads[piece.param][piece.values.clone()];
            for (out, &g) in self.packed[offset..offset + piece.len()].iter_mut().zip(grad) {
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
        let pieces = self.partition.pieces();
        let start = self.partition.owned(rank).next().map_or(0, |k| self.offsets[k]);
        let local = |k: usize| self.offsets[k] - start..self.offsets[k] - start + pieces[k].len();
        if let Some(clip) = self.clip.filter(|c| c.max_norm.is_some()) {
            let mut norms = vec![0.0; pieces.len()];
            for k in self.partition.owned(rank) {
                norms[k] = descent::tensor_norm(&self.mine[local(k)], clip.norm_type);
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
        let grads: Vec<Option<&[f32]>> =
            (0..pieces.len()).map(|k| (pieces[k].owner == rank).then(|| &self.mine[local(k)])).collect();
        let stepped = self.inner.step(&mut cut_values(&self.partition, params), &grads).map_err(ShardError::from);
        agree(&*self.comm, stepped)?;
        self.gather(params);
        Ok(())
    }

    /// Every rank's parameters to every rank: each sends those it owns.
    fn gather(&mut self, params: &mut [&mut [f32]]) {
        let rank = self.comm.rank();
        let pieces = self.partition.pieces();
        let start = self.partition.owned(rank).next().map_or(0, |k| self.offsets[k]);
        for k in self.partition.owned(rank) {
            let at = self.offsets[k] - start;
            self.mine[at..at + pieces[k].len()].copy_from_slice(&params[pieces[k].param][pieces[k].values.clone()]);
        }
        self.comm.all_gather(&self.mine, &self.partition.counts(), &mut self.packed);
        for (piece, &offset) in pieces.iter().zip(&self.offsets) {
            params[piece.param][piece.values.clone()].copy_from_slice(&self.packed[offset..offset + piece.len()]);
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
        let mut values = cut_values(&self.partition, params);
        let moved = self.partition.owned(rank).try_for_each(|k| self.inner.move_point(k, values[k], to));
        drop(values);
        agree(&*self.comm, moved.map_err(ShardError::from))?;
        self.gather(params);
        Ok(())
    }

    /// This rank's share of the state: the wrapped optimizer's state dict over the pieces, with the state of the
    /// pieces it owns only. The shares of every rank together make the whole ([`merge`](Self::merge)).
    pub fn state_dict(&self) -> StateDict<f32> {
        let mut dict = self.inner.state_dict();
        for (record, piece) in dict.params.iter_mut().zip(self.partition.pieces()) {
            if piece.owner != self.comm.rank() {
                record.state = None;
            }
        }
        dict
    }

    /// The whole state over the parameters, without any parameter's state: the groups and their hyperparameters.
    pub fn skeleton(&self) -> StateDict<f32> {
        skeleton(&self.inner.state_dict(), &self.params, &self.partition)
    }

    /// Joins the shares of every rank (each [`Sharded::state_dict`], in any order) into the whole state over the
    /// parameters, which an unsharded optimizer of the same groups loads: each piece's state from the share that
    /// holds it, and a parameter's pieces joined value by value. Shares of another optimizer or partition, two
    /// holding one piece's state, or a parameter with state in some pieces only, are an error.
    pub fn merge(&self, shares: &[StateDict<f32>]) -> Result<StateDict<f32>, ShardError> {
        let skeleton = self.skeleton();
        shares
            .iter()
            .try_for_each(|share| fits(share, &skeleton, &self.partition))
            .and_then(|()| join(shares, &skeleton, &self.partition))
            .map_err(|reason| ShardError::Checkpoint { path: "(in memory)".into(), reason })
    }

    /// Loads a whole state (an unsharded optimizer's, or the shares of any number of ranks [merged](Self::merge)
    /// or [loaded](crate::load) together), keeping the state of this rank's pieces. A state that does not fit, on
    /// any rank, is an error on every rank that changes nothing.
    pub fn load_state_dict(&mut self, whole: &StateDict<f32>) -> Result<(), ShardError> {
        let rank = self.comm.rank();
        let before = self.inner.state_dict();
        let pieces = cut(whole, &skeleton(&before, &self.params, &self.partition), &self.partition);
        let loaded = pieces.map_err(|e| ShardError::from(descent::Error::StateMismatch(e))).and_then(|mut dict| {
            for (k, record) in dict.params.iter_mut().enumerate() {
                // A rule that creates its state up front (Adagrad) keeps it for every piece.
                if self.partition.pieces()[k].owner != rank && self.inner.state(k).is_none() {
                    record.state = None;
                }
            }
            self.inner.load_state_dict(&dict).map_err(ShardError::from).map(|()| before)
        });
        let (loaded, before) = match loaded {
            Ok(before) => (Ok(()), Some(before)),
            Err(e) => (Err(e), None),
        };
        let agreed = agree(&*self.comm, loaded);
        if let (Err(_), Some(before)) = (&agreed, before) {
            self.inner.load_state_dict(&before).expect("the state it had loads back");
        }
        agreed
    }
}

/// The values of every piece of `partition`, cut from `params`, in the order of its pieces.
fn cut_values<'a>(partition: &Partition, params: &'a mut [&mut [f32]]) -> Vec<&'a mut [f32]> {
    let mut pieces = partition.pieces().iter().peekable();
    let mut values = Vec::with_capacity(partition.pieces().len());
    for (p, param) in params.iter_mut().enumerate() {
        let mut rest: &mut [f32] = param;
        while let Some(piece) = pieces.next_if(|piece| piece.param == p) {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(piece.len());
            values.push(head);
            rest = tail;
        }
    }
    values
}
