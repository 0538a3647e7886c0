//! The model, gradients and reference runs the sharding tests share.

use descent::{Clip, DynOptimizer, Param, Spec};
use descent_mpi::{Communicator, ShardError, Sharded, Stage};

/// A small model: two weight matrices and two biases.
pub fn params() -> Vec<Param> {
    vec![
        Param::named("w0", vec![6, 4]),
        Param::named("b0", vec![4]),
        Param::named("w1", vec![4, 3]),
        Param::named("b1", vec![3]),
    ]
}

/// The groups of `specs`: one spec for everything, or one for the weights and one for the biases.
pub fn groups(specs: &[&str]) -> Vec<(Spec, Vec<Param>)> {
    let spec = |s: &str| s.parse::<Spec>().unwrap();
    match specs {
        [one] => vec![(spec(one), params())],
        [weights, biases] => {
            let (w, b): (Vec<Param>, Vec<Param>) =
                params().into_iter().partition(|p| p.name().unwrap().starts_with('w'));
            vec![(spec(weights), w), (spec(biases), b)]
        }
        _ => unreachable!(),
    }
}

/// The parameters in position order (group by group) and their first values.
pub fn start(groups: &[(Spec, Vec<Param>)]) -> Vec<Vec<f32>> {
    groups.iter().flat_map(|(_, ps)| ps).enumerate().map(|(p, param)| values(param.len(), 1000 + p as u64)).collect()
}

/// Values in [−1, 1) from a seed.
pub fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Rank `rank`'s gradients at step `step`.
pub fn grads(lens: &[usize], step: usize, rank: usize) -> Vec<Vec<f32>> {
    lens.iter().enumerate().map(|(p, &len)| values(len, (step * 97 + rank * 13 + p) as u64)).collect()
}

/// Each rank's weight: its share of a global batch split unevenly.
pub fn weight(rank: usize, ranks: usize) -> f32 {
    let shares: Vec<f32> = (0..ranks).map(|r| (r + 2) as f32).collect();
    shares[rank] / shares.iter().sum::<f32>()
}

/// The sum of every rank's weighted gradients, in rank order, in f32: what the ranks' collectives compute.
pub fn summed(lens: &[usize], step: usize, ranks: usize) -> Vec<Vec<f32>> {
    let mut total: Vec<Vec<f32>> = lens.iter().map(|&len| vec![0.0; len]).collect();
    for rank in 0..ranks {
        let w = weight(rank, ranks);
        for (t, g) in total.iter_mut().zip(grads(lens, step, rank)) {
            for (t, g) in t.iter_mut().zip(g) {
                *t = if rank == 0 { g * w } else { *t + g * w };
            }
        }
    }
    total
}

pub fn step_plain(optimizer: &mut dyn DynOptimizer<f32>, params: &mut [Vec<f32>], grads: &[Vec<f32>]) {
    let mut refs: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
    let grads: Vec<Option<&[f32]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
    optimizer.step(&mut refs, &grads).unwrap();
}

pub fn step_sharded(optimizer: &mut Sharded, params: &mut [Vec<f32>], step: usize) -> Result<(), ShardError> {
    let (rank, ranks) = (optimizer.rank(), optimizer.ranks());
    let lens: Vec<usize> = params.iter().map(Vec::len).collect();
    let grads = grads(&lens, step, rank);
    let mut refs: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
    let grads: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
    optimizer.step(&mut refs, &grads, weight(rank, ranks))
}

/// The unsharded optimizer of `specs` after `steps` steps on the ranks' summed gradients.
pub fn plain_run(specs: &[&str], clip: Option<Clip>, ranks: usize, steps: usize) -> Vec<Vec<f32>> {
    let groups = groups(specs);
    let mut params = start(&groups);
    let lens: Vec<usize> = params.iter().map(Vec::len).collect();
    let mut optimizer = Spec::build_groups::<f32>(groups).unwrap();
    optimizer.set_clip(clip).unwrap();
    for step in 0..steps {
        step_plain(&mut *optimizer, &mut params, &summed(&lens, step, ranks));
    }
    params
}

/// The sharded optimizer of `specs` on `comm`'s rank at `stage`, and the parameters after its first `steps` steps.
pub fn sharded_after(
    comm: impl Communicator + 'static,
    specs: &[&str],
    stage: Stage,
    steps: usize,
) -> (Sharded, Vec<Vec<f32>>) {
    let mut optimizer = Sharded::new(std::rc::Rc::new(comm), groups(specs), stage).unwrap();
    let mut params = start(&groups(specs));
    for step in 0..steps {
        step_sharded(&mut optimizer, &mut params, step).unwrap();
    }
    (optimizer, params)
}
