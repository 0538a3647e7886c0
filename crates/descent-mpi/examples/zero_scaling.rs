//! The time of a sharded Adam step against the number of ranks and parameters, and its parts: the collectives alone
//! (reduce-scatter and all-gather of the same sizes) and the wrapped optimizer's step on this rank's share alone.
//! Run under mpirun, e.g. `mpirun -np 2 target/release/examples/zero_scaling`; rank 0 prints one JSON line per size
//! and stage (docs/scaling.md fits its model to them).

use std::rc::Rc;
use std::time::Instant;

use descent::{Param, Spec};
use descent_mpi::{Communicator, MpiWorld, Sharded, Stage};

/// The tensors the parameters are split into (Adam cuts them where the ranks' shares meet).
const TENSORS: usize = 16;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let world = Rc::new(MpiWorld::init()?);
    let comm: Rc<dyn Communicator> = world.clone();
    let spec: Spec = "adam(lr=1e-3)".parse()?;
    let sizes: Vec<usize> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() { vec![1_000_000, 10_000_000, 100_000_000] } else { sizes };
    for params in sizes {
        let len = params / TENSORS;
        let shapes: Vec<Param> = (0..TENSORS).map(|i| Param::named(format!("t{i}"), vec![len])).collect();
        let mut values: Vec<Vec<f32>> = (0..TENSORS).map(|i| vec![0.01 * i as f32; len]).collect();
        let grads: Vec<Vec<f32>> = (0..TENSORS).map(|i| vec![1e-3 * (i as f32 + 1.0); len]).collect();
        let repeats = if params >= 100_000_000 { 5 } else { 15 };
        for stage in [Stage::One, Stage::Two] {
            let mut sharded = Sharded::new(comm.clone(), vec![(spec.clone(), shapes.clone())], stage)?;
            let grad_refs: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
            let mut time_step = || -> Result<f64, descent_mpi::ShardError> {
                let mut refs: Vec<&mut [f32]> = values.iter_mut().map(Vec::as_mut_slice).collect();
                world.all_reduce_max(0);
                let start = Instant::now();
                sharded.step(&mut refs, &grad_refs, 0.5)?;
                Ok(start.elapsed().as_secs_f64())
            };
            time_step()?;
            let step = median((0..repeats).map(|_| time_step()).collect::<Result<_, _>>()?);
            // The collectives alone, on buffers of the same sizes.
            let counts = sharded.partition().counts();
            let mut whole = vec![0.5f32; params / TENSORS * TENSORS];
            let mut mine = vec![0.0f32; counts[world.rank()]];
            let comm_time = median(
                (0..repeats)
                    .map(|_| {
                        world.all_reduce_max(0);
                        let start = Instant::now();
                        match stage {
                            Stage::One => world.all_reduce_sum(&mut whole),
                            Stage::Two => world.reduce_scatter_sum(&whole, &counts, &mut mine),
                        }
                        world.all_gather(&mine, &counts, &mut whole);
                        start.elapsed().as_secs_f64()
                    })
                    .collect(),
            );
            // The wrapped optimizer alone, on this rank's share.
            let pieces = sharded.partition().pieces();
            let owned: Vec<&descent_mpi::Piece> = sharded.partition().owned(world.rank()).map(|k| &pieces[k]).collect();
            let mut local = spec.build::<f32>(owned.iter().map(|piece| Param::new(piece.len())))?;
            let mut local_values: Vec<Vec<f32>> =
                owned.iter().map(|piece| values[piece.param][piece.values.clone()].to_vec()).collect();
            let local_grads: Vec<Option<&[f32]>> =
                owned.iter().map(|piece| Some(&grads[piece.param][piece.values.clone()])).collect();
            let mut time_local = || -> Result<f64, descent::Error> {
                let mut refs: Vec<&mut [f32]> = local_values.iter_mut().map(Vec::as_mut_slice).collect();
                let start = Instant::now();
                local.step(&mut refs, &local_grads)?;
                Ok(start.elapsed().as_secs_f64())
            };
            time_local()?;
            let local_time = median((0..repeats).map(|_| time_local()).collect::<Result<_, _>>()?);
            if world.rank() == 0 {
                println!(
                    "{{\"ranks\": {}, \"params\": {}, \"stage\": {}, \"step_ms\": {:.3}, \"collectives_ms\": {:.3}, \
                     \"local_step_ms\": {:.3}, \"state_bytes_rank0\": {}}}",
                    world.size(),
                    params,
                    stage.number(),
                    step * 1e3,
                    comm_time * 1e3,
                    local_time * 1e3,
                    sharded.state_bytes()
                );
            }
        }
    }
    Ok(())
}
