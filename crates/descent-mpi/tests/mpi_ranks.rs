//! The sharded optimizer over MPI: run under `mpirun -np N` (`.ci/run` runs it with 1 and 2 ranks). Every rank
//! checks its own results; rank 0 prints the count, and any failure stops the job with an error.

mod common;

use std::rc::Rc;

use common::model::{groups, plain_run, start, step_sharded, summed};
use descent::{Param, Spec};
use descent_mpi::{Communicator, MpiWorld, Sharded, Stage};

type Check = fn(&Rc<MpiWorld>);

fn main() {
    let world = Rc::new(MpiWorld::init().expect("MPI starts"));
    let checks: [(&str, Check); 4] = [
        ("sharded steps equal the unsharded optimizer", sharded_steps_equal_the_unsharded_optimizer),
        ("checkpoints reshard into one plain optimizer and back", checkpoints_reshard),
        ("a rank with other parameters is an error on every rank", a_rank_with_other_parameters_fails_everywhere),
        ("a refused step changes nothing on any rank", a_refused_step_changes_nothing),
    ];
    for (name, check) in checks {
        check(&world);
        if world.rank() == 0 {
            println!("test {name} ... ok ({} ranks)", world.size());
        }
    }
    if world.rank() == 0 {
        println!("{} passed, 0 failed", checks.len());
    }
}

fn sharded_steps_equal_the_unsharded_optimizer(world: &Rc<MpiWorld>) {
    let ranks = world.size();
    for specs in [&["adamw(lr=0.01, state=\"int8\")"][..], &["muon(lr=0.02)", "adamw(lr=0.001)"], &["lion(lr=1e-3)"]] {
        for stage in [Stage::One, Stage::Two] {
            let comm: Rc<dyn Communicator> = world.clone();
            let mut optimizer = Sharded::new(comm, groups(specs), stage).unwrap();
            let mut params = start(&groups(specs));
            for step in 0..4 {
                step_sharded(&mut optimizer, &mut params, step).unwrap();
            }
            let expected = plain_run(specs, None, ranks, 4);
            if ranks <= 2 {
                // One rank: no sum at all; two: a + b in either order is the same number.
                assert_eq!(params, expected, "{specs:?} at stage {stage:?} on rank {}", world.rank());
            } else {
                for (got, want) in params.iter().flatten().zip(expected.iter().flatten()) {
                    assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "{got} against {want}");
                }
            }
        }
    }
}

fn checkpoints_reshard(world: &Rc<MpiWorld>) {
    let specs: &[&str] = &["adam(lr=0.01)"];
    let lens: Vec<usize> = start(&groups(specs)).iter().map(Vec::len).collect();
    // A folder every rank sees, named by rank 0.
    let tag = world.all_reduce_max(if world.rank() == 0 { u64::from(std::process::id()) } else { 0 });
    let folder = std::env::temp_dir().join(format!("descent-mpi-test-{tag}"));
    if world.rank() == 0 {
        std::fs::create_dir_all(&folder).unwrap();
    }
    world.all_reduce_max(0);
    let path = folder.join("adam.safetensors");
    let comm: Rc<dyn Communicator> = world.clone();
    let mut optimizer = Sharded::new(comm.clone(), groups(specs), Stage::Two).unwrap();
    let mut params = start(&groups(specs));
    for step in 0..2 {
        step_sharded(&mut optimizer, &mut params, step).unwrap();
    }
    descent_mpi::save(&optimizer, &path, Vec::new(), serde_json::Value::Null).unwrap();
    // Every rank loads the whole state into one plain optimizer and takes a third step alone.
    let whole = descent_mpi::load(&path).unwrap();
    let mut plain = Spec::build_groups::<f32>(groups(specs)).unwrap();
    plain.load_state_dict(&whole.optimizer).unwrap();
    let mut alone = params.clone();
    common::model::step_plain(&mut *plain, &mut alone, &summed(&lens, 2, world.size()));
    // And the ranks load it into a fresh sharded optimizer at the other stage and take the same step together.
    let mut again = Sharded::new(comm, groups(specs), Stage::One).unwrap();
    again.load_state_dict(&whole.optimizer).unwrap();
    step_sharded(&mut again, &mut params, 2).unwrap();
    assert_eq!(params, alone);
    world.all_reduce_max(0);
    if world.rank() == 0 {
        std::fs::remove_dir_all(&folder).unwrap();
    }
}

fn a_rank_with_other_parameters_fails_everywhere(world: &Rc<MpiWorld>) {
    let mut groups = groups(&["adam"]);
    if world.rank() == world.size() - 1 {
        groups[0].1[3] = Param::named("b1", vec![7]);
    }
    let result = Sharded::new(world.clone(), groups, Stage::Two);
    if world.size() > 1 {
        let error = result.unwrap_err().to_string();
        assert!(error.contains("ranks disagree on the parameters"), "{error}");
    }
}

fn a_refused_step_changes_nothing(world: &Rc<MpiWorld>) {
    let mut optimizer = Sharded::new(world.clone(), groups(&["adam"]), Stage::Two).unwrap();
    let mut params = start(&groups(&["adam"]));
    let before = params.clone();
    let last = world.size() - 1;
    let lens: Vec<usize> = params.iter().map(Vec::len).collect();
    let mut grads = common::model::grads(&lens, 0, world.rank());
    if world.rank() == last {
        grads[0].push(1.0);
    }
    let mut refs: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
    let grads: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
    let error = optimizer.step(&mut refs, &grads, 1.0).unwrap_err().to_string();
    let expected = if world.rank() == last { "\"w0\"".to_owned() } else { format!("rank {last} of") };
    assert!(error.contains(&expected), "{error}");
    assert_eq!(params, before);
    assert_eq!(optimizer.state_bytes(), 0);
}
