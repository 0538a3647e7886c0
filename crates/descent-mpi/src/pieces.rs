//! An optimizer's state over whole parameters and over the pieces of a [`Partition`]: the parameters the wrapped
//! optimizer is built over, a whole state cut into pieces, and every rank's pieces joined back into the whole.
//!
//! Only parameters the optimizer steps element by element are cut ([`descent::Spec::splits`]); their state is
//! element-wise tensors, which cut and join value by value, and a step counter and named scalars, which every
//! piece of a parameter shares.

use descent::{GroupRecord, Param, ParamRecord, Shape, StateDict, StateRecord};

use crate::{Partition, Piece};

/// The shape of a piece as the wrapped optimizer sees it: the parameter's own if the piece is whole, a vector of
/// its values otherwise.
fn piece_shape(piece: &Piece, whole: &Shape) -> Shape {
    if piece.values.start == 0 && Some(piece.values.end) == whole.checked_len() {
        whole.clone()
    } else {
        Shape::from(piece.len())
    }
}

/// The name of a piece: its parameter's, with the range of its values if it is not whole (`w[0..100]`).
fn piece_name(piece: &Piece, name: Option<&str>, whole: &Shape) -> Option<String> {
    let values = &piece.values;
    name.map(|name| if piece_shape(piece, whole) == *whole { name.to_owned() } else { format!("{name}[{values:?}]") })
}

/// The parameters the wrapped optimizer steps: one per piece, named after its parameter.
pub(crate) fn piece_params(params: &[Param], partition: &Partition) -> Vec<Param> {
    partition
        .pieces()
        .iter()
        .map(|piece| {
            let param = &params[piece.param];
            let shape = piece_shape(piece, param.shape());
            match piece_name(piece, param.name(), param.shape()) {
                Some(name) => Param::named(name, shape),
                None => Param::new(shape),
            }
        })
        .collect()
}

/// The groups of `groups` (over one set of positions) over the other: `to(position)` maps a position of the first
/// to those of the second.
fn regroup(groups: &[GroupRecord], to: impl Fn(usize) -> Vec<usize>) -> Vec<GroupRecord> {
    groups
        .iter()
        .map(|group| {
            let mut params: Vec<usize> = group.params.iter().flat_map(|&p| to(p)).collect();
            params.dedup();
            GroupRecord { params, ..group.clone() }
        })
        .collect()
}

/// The whole state without any parameter's state (the groups and parameters of `pieces`, a state over the pieces of
/// `partition` of parameters `params`).
pub(crate) fn skeleton(pieces: &StateDict<f32>, params: &[Param], partition: &Partition) -> StateDict<f32> {
    let records =
        params.iter().map(|p| ParamRecord { name: p.name().map(str::to_owned), shape: p.shape().clone(), state: None });
    StateDict {
        optimizer: pieces.optimizer.clone(),
        groups: regroup(&pieces.groups, |k| vec![partition.pieces()[k].param]),
        params: records.collect(),
        global: pieces.global.clone(),
    }
}

/// A whole state (over the parameters of `skeleton`) cut into the pieces of `partition`.
pub(crate) fn cut(
    whole: &StateDict<f32>,
    skeleton: &StateDict<f32>,
    partition: &Partition,
) -> Result<StateDict<f32>, String> {
    if whole.params.len() != skeleton.params.len() {
        return Err(format!(
            "the state has {} parameters, the optimizer {}",
            whole.params.len(),
            skeleton.params.len()
        ));
    }
    for (p, (theirs, ours)) in whole.params.iter().zip(&skeleton.params).enumerate() {
        if theirs.shape != ours.shape {
            return Err(format!("parameter {p} has shape {} in the state, {} here", theirs.shape, ours.shape));
        }
    }
    let pieces = partition.pieces();
    let records = pieces.iter().map(|piece| {
        let record = &whole.params[piece.param];
        let shape = piece_shape(piece, &record.shape);
        let state = match &record.state {
            Some(state) if shape != record.shape => Some(cut_state(state, piece, &record.shape)?),
            state => state.clone(),
        };
        Ok(ParamRecord { name: piece_name(piece, record.name.as_deref(), &record.shape), shape, state })
    });
    Ok(StateDict {
        optimizer: whole.optimizer.clone(),
        groups: regroup(&whole.groups, |p| partition.pieces_of(p).collect()),
        params: records.collect::<Result<_, String>>()?,
        global: whole.global.clone(),
    })
}

fn cut_state(state: &StateRecord<f32>, piece: &Piece, whole: &Shape) -> Result<StateRecord<f32>, String> {
    if let Some((name, _, _)) = state.compact.first() {
        return Err(format!("parameter {} has compact state {name:?}, which cannot be split", piece.param));
    }
    let tensors = state.tensors.iter().map(|(name, shape, values)| {
        if shape != whole || values.len() != whole.checked_len().unwrap_or(0) {
            return Err(format!(
                "the state {name:?} of parameter {} is not element-wise: it cannot be split",
                piece.param
            ));
        }
        Ok((name.clone(), Shape::from(piece.len()), values[piece.values.clone()].to_vec()))
    });
    let tensors = tensors.collect::<Result<_, String>>()?;
    Ok(StateRecord { step: state.step, tensors, scalars: state.scalars.clone(), compact: Vec::new() })
}

/// The whole state (over the parameters of `skeleton`) that the shares of every rank make: each a state over the
/// pieces of `partition` that the caller has checked with [`fits`], holding the state of its own pieces. Each
/// piece's state is taken from the one share that holds it, and a parameter's pieces are joined value by value.
pub(crate) fn join(
    shares: &[StateDict<f32>],
    skeleton: &StateDict<f32>,
    partition: &Partition,
) -> Result<StateDict<f32>, String> {
    let pieces = partition.pieces();
    let mut states: Vec<Option<&StateRecord<f32>>> = vec![None; pieces.len()];
    for share in shares {
        for (k, record) in share.params.iter().enumerate() {
            match (states[k], &record.state) {
                (Some(_), Some(_)) => {
                    return Err(format!("two shares hold the state of piece {k} (parameter {})", pieces[k].param))
                }
                (None, Some(state)) => states[k] = Some(state),
                _ => {}
            }
        }
    }
    let mut whole = skeleton.clone();
    for (p, record) in whole.params.iter_mut().enumerate() {
        let own: Vec<Option<&StateRecord<f32>>> = partition.pieces_of(p).map(|k| states[k]).collect();
        record.state = match own[..] {
            [one] => one.cloned(),
            _ if own.iter().all(Option::is_none) => None,
            _ => Some(join_states(p, &own, &record.shape)?),
        };
    }
    Ok(whole)
}

fn join_states(param: usize, pieces: &[Option<&StateRecord<f32>>], shape: &Shape) -> Result<StateRecord<f32>, String> {
    let missing = || format!("some pieces of parameter {param} have state and some have none");
    let pieces: Vec<&StateRecord<f32>> = pieces.iter().map(|s| s.ok_or_else(missing)).collect::<Result<_, _>>()?;
    let first = pieces[0];
    let mut joined =
        StateRecord { step: first.step, tensors: Vec::new(), scalars: first.scalars.clone(), compact: Vec::new() };
    for piece in &pieces {
        if piece.step != first.step || piece.scalars != first.scalars || !piece.compact.is_empty() {
            return Err(format!("the pieces of parameter {param} disagree on their step or scalars"));
        }
        let names = |s: &StateRecord<f32>| s.tensors.iter().map(|(name, _, _)| name.clone()).collect::<Vec<_>>();
        if names(piece) != names(first) {
            return Err(format!("the pieces of parameter {param} hold different state tensors"));
        }
    }
    for (t, (name, _, _)) in first.tensors.iter().enumerate() {
        let values: Vec<f32> = pieces.iter().flat_map(|piece| piece.tensors[t].2.iter().copied()).collect();
        if Some(values.len()) != shape.checked_len() {
            return Err(format!("the pieces of parameter {param}'s state {name:?} do not make its {shape} values"));
        }
        joined.tensors.push((name.clone(), shape.clone(), values));
    }
    Ok(joined)
}

/// Whether a share is of the same optimizer, groups and pieces as the whole.
pub(crate) fn fits(share: &StateDict<f32>, skeleton: &StateDict<f32>, partition: &Partition) -> Result<(), String> {
    if share.optimizer != skeleton.optimizer {
        return Err(format!("it is the state of {}, not of {}", share.optimizer, skeleton.optimizer));
    }
    let pieces = partition.pieces();
    if share.groups.len() != skeleton.groups.len() || share.params.len() != pieces.len() {
        return Err(format!(
            "it has {} groups and {} pieces of parameters, the index {} and {}",
            share.groups.len(),
            share.params.len(),
            skeleton.groups.len(),
            pieces.len()
        ));
    }
    for (k, (record, piece)) in share.params.iter().zip(pieces).enumerate() {
        let whole = &skeleton.params[piece.param];
        let (shape, name) = (piece_shape(piece, &whole.shape), piece_name(piece, whole.name.as_deref(), &whole.shape));
        if record.name != name || record.shape != shape {
            return Err(format!(
                "its piece {k} is {:?} of shape {}, not {name:?} of shape {shape}",
                record.name, record.shape
            ));
        }
    }
    Ok(())
}
