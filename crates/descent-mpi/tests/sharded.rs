//! Sharded optimizers against the unsharded ones they wrap, with ranks as threads (tests/common): the same
//! parameters bit for bit, state split by owner, checkpoints that reshard, and errors on every rank.

mod common;

use std::rc::Rc;

use common::model::{grads, groups, plain_run, sharded_after, start, step_plain, step_sharded, summed};
use common::Threads;
use descent::{Clip, Param, Point, Spec};
use descent_mpi::{Communicator, Sharded, Solo, Stage};

const SPECS: [&[&str]; 9] = [
    &["sgd(lr=0.1, momentum=0.9, nesterov=true)"],
    &["adam(lr=0.01, weight_decay=0.01)"],
    &["adamw(lr=0.01, state=\"int8\")"],
    &["lion(lr=0.001)"],
    &["adagrad(lr=0.1)"],
    &["mars(lr=0.01)"],
    &["soap(lr=0.01, precondition_frequency=2)"],
    &["adamw_schedulefree(lr=0.01)"],
    &["muon(lr=0.02)", "adamw(lr=0.001)"],
];

#[test]
fn sharded_steps_equal_the_unsharded_optimizer_bit_for_bit() {
    let clip = Clip { max_norm: Some(0.8), norm_type: 2.0, error_if_nonfinite: false, value: Some(0.5) };
    for specs in SPECS {
        for (ranks, stage, clip) in [(1, Stage::Two, None), (2, Stage::Two, Some(clip)), (3, Stage::One, None)] {
            let expected = plain_run(specs, clip, ranks, 4);
            let results = Threads::run(ranks, move |comm| {
                let mut optimizer = Sharded::new(Rc::new(comm), groups(specs), stage).unwrap();
                optimizer.set_clip(clip).unwrap();
                let mut params = start(&groups(specs));
                for step in 0..4 {
                    step_sharded(&mut optimizer, &mut params, step).unwrap();
                }
                let owned = optimizer.partition().owned(optimizer.rank()).collect::<Vec<_>>();
                let pieces = optimizer.optimizer().param_count();
                let stateful = (0..pieces).filter(|&k| optimizer.optimizer().state(k).is_some()).count();
                (params, owned, stateful, optimizer.last_grad_norm())
            });
            for (rank, (params, owned, stateful, norm)) in results.iter().enumerate() {
                assert_eq!(params, &expected, "{specs:?} on rank {rank} of {ranks}");
                assert_eq!(norm.is_some(), clip.is_some());
                // Adagrad makes its state up front, for every parameter.
                if !specs[0].starts_with("adagrad") && !specs[0].starts_with("sgd") {
                    assert_eq!(*stateful, owned.len(), "{specs:?}: rank {rank} keeps the state of its own only");
                }
            }
        }
    }
}

/// Models of many shapes (empty parameters, single values, one parameter larger than all the others together),
/// whole and cut parameters mixed in one model, on 1 to 5 ranks: the same values and the same whole state as one
/// process, bit for bit, and every rank's share of the values within one value of the others' wherever the cut
/// parameters can level them.
#[test]
fn models_of_every_shape_split_evenly_and_step_as_one_process() {
    let models: [&[usize]; 4] = [&[0, 1, 7, 0], &[1000, 3, 1, 2], &[5, 64, 300, 1], &[17]];
    for (m, lens) in models.into_iter().enumerate() {
        for ranks in 1..=5 {
            // Adam cuts its parameters; in every other model of several parameters, Adafactor, whose step reads a
            // whole tensor, keeps the second group's whole.
            let specs: &'static [&'static str] = if m % 2 == 0 || lens.len() < 2 {
                &["adam(lr=0.01)"]
            } else {
                &["adamw(lr=0.01)", "adafactor(lr=0.01)"]
            };
            let model = move || -> Vec<(Spec, Vec<Param>)> {
                let params = lens.iter().enumerate().map(|(p, &len)| Param::named(format!("p{p}"), vec![len]));
                let params: Vec<Param> = params.collect();
                match specs {
                    [one] => vec![(one.parse().unwrap(), params)],
                    [first, second] => {
                        let (a, b) = params.split_at(params.len() / 2);
                        vec![(first.parse().unwrap(), a.to_vec()), (second.parse().unwrap(), b.to_vec())]
                    }
                    _ => unreachable!(),
                }
            };
            let expected = {
                let mut optimizer = Spec::build_groups::<f32>(model()).unwrap();
                let mut params = start(&model());
                for step in 0..3 {
                    step_plain(&mut *optimizer, &mut params, &summed(lens, step, ranks));
                }
                (params, optimizer.state_dict())
            };
            let shares = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let results = Threads::run(ranks, move |comm| {
                let mut optimizer = Sharded::new(Rc::new(comm), model(), Stage::Two).unwrap();
                let mut params = start(&model());
                for step in 0..3 {
                    step_sharded(&mut optimizer, &mut params, step).unwrap();
                }
                shares.lock().unwrap().push(optimizer.state_dict());
                optimizer.communicator().all_reduce_max(0);
                let whole = optimizer.merge(&shares.lock().unwrap()).unwrap();
                (params, whole, optimizer.partition().counts())
            });
            for (params, whole, counts) in results {
                assert_eq!(params, expected.0, "model {m} on {ranks} ranks");
                assert_eq!(whole, expected.1, "model {m} on {ranks} ranks");
                if specs.len() == 1 {
                    let (least, most) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
                    assert!(most - least <= 1, "model {m} on {ranks} ranks: {counts:?}");
                }
            }
        }
    }
}

#[test]
fn one_rank_is_the_plain_optimizer_and_state_splits_across_ranks() {
    let specs: &[&str] = &["adam(lr=0.01)"];
    let whole = {
        let mut optimizer = Sharded::new(Rc::new(Solo), groups(specs), Stage::Two).unwrap();
        let mut params = start(&groups(specs));
        step_sharded(&mut optimizer, &mut params, 0).unwrap();
        assert_eq!(params, plain_run(specs, None, 1, 1));
        optimizer.state_bytes()
    };
    // Adam: two f32 moments per value of the 24 + 4 + 12 + 3 values.
    assert_eq!(whole, 2 * 4 * 43);
    let shares = |specs: &'static [&'static str]| {
        Threads::run(2, move |comm| {
            let (optimizer, _) = sharded_after(comm, specs, Stage::Two, 1);
            optimizer.state_bytes()
        })
    };
    // Adam steps element by element: w0's first 22 values on rank 0, its last 2 and the rest (21) on rank 1.
    assert_eq!(shares(specs), vec![2 * 4 * 22, 2 * 4 * 21]);
    // 8-bit state goes by blocks, so its parameters stay whole: w0 (24 values) on rank 0; w1, b0, b1 (19) on
    // rank 1, each with the state the unsharded optimizer gives it.
    let int8: &[&str] = &["adam(state=\"int8\")"];
    let mut plain = Spec::build_groups::<f32>(groups(int8)).unwrap();
    let mut params = start(&groups(int8));
    let lens: Vec<usize> = params.iter().map(Vec::len).collect();
    step_plain(&mut *plain, &mut params, &grads(&lens, 0, 0));
    let bytes: Vec<usize> = (0..4).map(|p| plain.state(p).unwrap().bytes()).collect();
    assert_eq!(shares(int8), vec![bytes[0], bytes[1] + bytes[2] + bytes[3]]);
}

#[test]
fn schedule_free_evaluates_at_the_average_on_every_rank() {
    let specs: &[&str] = &["adamw_schedulefree(lr=0.05)"];
    let expected = {
        let groups = groups(specs);
        let mut params = start(&groups);
        let lens: Vec<usize> = params.iter().map(Vec::len).collect();
        let mut optimizer = Spec::build_groups::<f32>(groups).unwrap();
        for step in 0..3 {
            step_plain(&mut *optimizer, &mut params, &summed(&lens, step, 2));
        }
        for (p, param) in params.iter_mut().enumerate() {
            optimizer.move_point(p, param, Point::Evaluation).unwrap();
        }
        params
    };
    let results = Threads::run(2, move |comm| {
        let (mut optimizer, mut params) = sharded_after(comm, specs, Stage::Two, 3);
        let training = params.clone();
        let mut refs: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        optimizer.move_point(&mut refs, Point::Evaluation).unwrap();
        let evaluation = params.clone();
        let mut refs: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        optimizer.move_point(&mut refs, Point::Training).unwrap();
        (evaluation, training == params)
    });
    for (evaluation, back) in results {
        assert_eq!(evaluation, expected);
        assert!(back, "moving back restores the training point");
    }
}

#[test]
fn checkpoints_reshard_into_any_number_of_ranks_and_into_one_plain_optimizer() {
    // Whole parameters (Muon, 8-bit state), and parameters cut into pieces (Adam, NAdam's shared scalar).
    for specs in
        [&["muon(lr=0.02)", "adamw(lr=0.01, state=\"int8\")"][..], &["adam(lr=0.01, amsgrad=true)", "nadam(lr=0.01)"]]
    {
        reshard(specs);
    }
}

fn reshard(specs: &'static [&'static str]) {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("run.safetensors");
    // Two ranks take three steps with the gradients of a two-rank split, then save.
    let saved = path.clone();
    let after_three = Threads::run(2, move |comm| {
        let (optimizer, params) = sharded_after(comm, specs, Stage::Two, 3);
        descent_mpi::save(&optimizer, &saved, Vec::new(), serde_json::json!({"epoch": 3})).unwrap();
        params
    });
    let params = after_three[0].clone();
    let files: Vec<String> =
        std::fs::read_dir(folder.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(files.len(), 3, "{files:?}: the index and one file per rank");
    // The reference: one process, all five steps, with the two-rank sums.
    let groups_ = groups(specs);
    let lens: Vec<usize> = params.iter().map(Vec::len).collect();
    let mut reference = Spec::build_groups::<f32>(groups_.clone()).unwrap();
    let mut expected = start(&groups_);
    for step in 0..5 {
        step_plain(&mut *reference, &mut expected, &summed(&lens, step, 2));
    }
    // The shares join into the state one process has after the same three steps, bit for bit.
    let whole = descent_mpi::load(&path).unwrap();
    assert_eq!(whole.metadata["epoch"], 3);
    let mut three = Spec::build_groups::<f32>(groups(specs)).unwrap();
    let mut at_three = start(&groups_);
    for step in 0..3 {
        step_plain(&mut *three, &mut at_three, &summed(&lens, step, 2));
    }
    assert_eq!(whole.optimizer, three.state_dict(), "{specs:?}");
    assert_eq!(at_three, params);
    // One plain optimizer resumes from the sharded checkpoint.
    let mut plain = Spec::build_groups::<f32>(groups(specs)).unwrap();
    plain.load_state_dict(&whole.optimizer).unwrap();
    let mut resumed = params.clone();
    for step in 3..5 {
        step_plain(&mut *plain, &mut resumed, &summed(&lens, step, 2));
    }
    assert_eq!(resumed, expected, "resumed by one unsharded optimizer");
    // Three ranks resume from it: their weights are chosen so that their sums are the two-rank sums? No: the
    // gradients are theirs, so compare with the reference of a 2-rank run for 3 steps and a 3-rank run after.
    let mut reference3 = Spec::build_groups::<f32>(groups(specs)).unwrap();
    reference3.load_state_dict(&whole.optimizer).unwrap();
    let mut expected3 = params.clone();
    for step in 3..5 {
        step_plain(&mut *reference3, &mut expected3, &summed(&lens, step, 3));
    }
    let loaded = path.clone();
    let from_three = Threads::run(3, move |comm| {
        let mut optimizer = Sharded::new(Rc::new(comm), groups(specs), Stage::One).unwrap();
        optimizer.load_state_dict(&descent_mpi::load(&loaded).unwrap().optimizer).unwrap();
        let mut params = params.clone();
        for step in 3..5 {
            step_sharded(&mut optimizer, &mut params, step).unwrap();
        }
        params
    });
    for params in from_three {
        assert_eq!(params, expected3, "resumed by three ranks");
    }
    // Saving again replaces the rank files of the save before.
    let again = path.clone();
    Threads::run(2, move |comm| {
        let optimizer = Sharded::new(Rc::new(comm), groups(specs), Stage::Two).unwrap();
        descent_mpi::save(&optimizer, &again, Vec::new(), serde_json::Value::Null).unwrap();
    });
    let after: Vec<String> =
        std::fs::read_dir(folder.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(after.iter().all(|f| f == "run.safetensors" || !files.contains(f)), "{files:?} → {after:?}");
    // One process saving over the sharded checkpoint leaves its file alone.
    descent_mpi::save_unsharded(&path, &descent::checkpoint::Checkpoint::of(plain.state_dict())).unwrap();
    let last: Vec<String> =
        std::fs::read_dir(folder.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(last, ["run.safetensors"]);
    assert_eq!(descent_mpi::load(&path).unwrap().optimizer, plain.state_dict());
}

/// The shares of every rank, in any order, merge into the state one process has after the same steps; a share
/// given twice is an error.
#[test]
fn shares_merge_into_the_plain_optimizers_state() {
    let specs: &[&str] = &["adamw(lr=0.01)", "adagrad(lr=0.1)"];
    let shares = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let gathered = shares.clone();
    let merged = Threads::run(3, move |comm| {
        let (optimizer, _) = sharded_after(comm, specs, Stage::Two, 2);
        gathered.lock().unwrap().push(optimizer.state_dict());
        optimizer.communicator().all_reduce_max(0);
        let shares = gathered.lock().unwrap().clone();
        let twice = [shares.clone(), shares[..1].to_vec()].concat();
        (optimizer.merge(&shares).unwrap(), optimizer.merge(&twice).unwrap_err().to_string())
    });
    let mut plain = Spec::build_groups::<f32>(groups(specs)).unwrap();
    let mut params = start(&groups(specs));
    let lens: Vec<usize> = params.iter().map(Vec::len).collect();
    for step in 0..2 {
        step_plain(&mut *plain, &mut params, &summed(&lens, step, 3));
    }
    for (whole, twice) in merged {
        assert_eq!(whole, plain.state_dict());
        assert!(twice.contains("two shares hold the state of piece"), "{twice}");
    }
    assert_eq!(shares.lock().unwrap().len(), 3);
}

#[test]
fn broken_sharded_checkpoints_are_clear_errors() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("run.safetensors");
    let saved = path.clone();
    Threads::run(2, move |comm| {
        let mut optimizer = Sharded::new(Rc::new(comm), groups(&["adam"]), Stage::Two).unwrap();
        let mut params = start(&groups(&["adam"]));
        step_sharded(&mut optimizer, &mut params, 0).unwrap();
        descent_mpi::save(&optimizer, &saved, Vec::new(), serde_json::Value::Null).unwrap();
    });
    let rank1 = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".rank1.safetensors"))
        .unwrap();
    let bytes = std::fs::read(&rank1).unwrap();
    std::fs::write(&rank1, &bytes[..bytes.len() / 2]).unwrap();
    let error = descent_mpi::load(&path).unwrap_err().to_string();
    assert!(error.contains(".rank1.safetensors"), "{error}");
    std::fs::remove_file(&rank1).unwrap();
    let error = descent_mpi::load(&path).unwrap_err().to_string();
    assert!(error.contains(".rank1.safetensors"), "{error}");
    // A share of another optimizer's state.
    let other = folder.path().join("other.safetensors");
    let mut sgd = Spec::build_groups::<f32>(groups(&["sgd(momentum=0.9)"])).unwrap();
    let mut params = start(&groups(&["sgd"]));
    step_plain(&mut *sgd, &mut params, &grads(&[24, 4, 12, 3], 0, 0));
    descent::checkpoint::save(&other, &descent::checkpoint::Checkpoint::of(sgd.state_dict())).unwrap();
    std::fs::rename(&other, &rank1).unwrap();
    let error = descent_mpi::load(&path).unwrap_err().to_string();
    assert!(error.contains("it is the state of SGD, not of Adam"), "{error}");
}

/// An index records its partition's pieces; one that records each whole parameter's owner instead (as indices did
/// before parameters were cut) loads the same, and pieces that do not cover the parameters are a clear error.
#[test]
fn indices_record_pieces_or_owners() {
    let specs: &[&str] = &["adamw(lr=0.01, state=\"int8\")"];
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("run.safetensors");
    let saved = path.clone();
    Threads::run(2, move |comm| {
        let (optimizer, _) = sharded_after(comm, specs, Stage::Two, 1);
        descent_mpi::save(&optimizer, &saved, Vec::new(), serde_json::Value::Null).unwrap();
    });
    let whole = descent_mpi::load(&path).unwrap().optimizer;
    let index = descent::checkpoint::load::<f32>(&path).unwrap();
    let pieces = index.metadata["shards"]["pieces"].as_array().unwrap().clone();
    // 8-bit state keeps parameters whole: one piece each, [parameter, 0, its length, owner].
    assert_eq!(pieces.len(), 4);
    let owners: Vec<serde_json::Value> = pieces.iter().map(|piece| piece[3].clone()).collect();
    let rewrite = |shards: serde_json::Value| {
        let mut index = index.clone();
        index.metadata["shards"] = shards;
        descent::checkpoint::save(&path, &index).unwrap();
    };
    let mut shards = index.metadata["shards"].clone();
    shards.as_object_mut().unwrap().remove("pieces");
    shards["owners"] = serde_json::Value::Array(owners);
    rewrite(shards.clone());
    assert_eq!(descent_mpi::load(&path).unwrap().optimizer, whole);
    shards.as_object_mut().unwrap().remove("owners");
    let mut gap = pieces.clone();
    gap[1][1] = serde_json::json!(1);
    for bad in [gap, pieces[..3].to_vec()] {
        shards["pieces"] = serde_json::Value::Array(bad);
        rewrite(shards.clone());
        let error = descent_mpi::load(&path).unwrap_err().to_string();
        assert!(error.contains("its pieces do not fit its parameters and rank files"), "{error}");
    }
}

#[test]
fn a_rank_with_other_parameters_or_inputs_is_an_error_on_every_rank() {
    // Rank 1 builds a different model: both ranks say so, neither waits.
    let errors = Threads::run(2, |comm| {
        let mut groups = groups(&["adam"]);
        if comm.rank() == 1 {
            groups[0].1[1] = Param::named("b0", vec![5]);
        }
        Sharded::new(Rc::new(comm), groups, Stage::Two).unwrap_err().to_string()
    });
    for error in &errors {
        assert!(error.contains("the 2 ranks disagree on the parameters"), "{error}");
    }
    // Rank 1 passes a gradient of the wrong length: it says which, rank 0 says rank 1 failed; nothing changes.
    let results = Threads::run(2, |comm| {
        let rank = comm.rank();
        let mut optimizer = Sharded::new(Rc::new(comm), groups(&["adam"]), Stage::Two).unwrap();
        let mut params = start(&groups(&["adam"]));
        let before = params.clone();
        let mut grads = grads(&[24, 4, 12, 3], 0, rank);
        if rank == 1 {
            grads[2].pop();
        }
        let mut refs: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        let grads: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
        let error = optimizer.step(&mut refs, &grads, 0.5).unwrap_err().to_string();
        let pieces = optimizer.optimizer().param_count();
        let untouched = params == before && (0..pieces).all(|k| optimizer.optimizer().state(k).is_none());
        // And the next good step works on both.
        step_sharded(&mut optimizer, &mut params, 1).unwrap();
        (error, untouched)
    });
    assert!(results[1].0.contains("\"w1\"") && results[1].0.contains("11"), "{}", results[1].0);
    assert!(results[0].0.contains("rank 1 of 2 could not go on"), "{}", results[0].0);
    assert!(results.iter().all(|(_, untouched)| *untouched));
    // A shape whose values cannot be counted, on one rank: an error on both, no panic.
    let errors = Threads::run(2, |comm| {
        let mut groups = groups(&["adam"]);
        if comm.rank() == 0 {
            groups[0].1[2] = Param::named("w1", vec![usize::MAX, 2]);
        }
        Sharded::new(Rc::new(comm), groups, Stage::Two).unwrap_err().to_string()
    });
    assert!(errors[0].contains("\"w1\"") && errors[0].contains("more elements than memory"), "{}", errors[0]);
    assert!(errors[1].contains("rank 0 of 2 could not go on"), "{}", errors[1]);
    // A weight that is not finite.
    let mut optimizer = Sharded::new(Rc::new(Solo), groups(&["adam"]), Stage::Two).unwrap();
    let mut params = start(&groups(&["adam"]));
    let grads = grads(&[24, 4, 12, 3], 0, 0);
    let mut refs: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
    let grads: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
    let error = optimizer.step(&mut refs, &grads, f32::NAN).unwrap_err().to_string();
    assert!(error.contains("weight"), "{error}");
}

#[test]
fn optimizers_that_couple_every_parameter_are_refused() {
    for (spec, says) in [("prodigy", "Prodigy cannot be sharded"), ("lbfgs", "LBFGS cannot be sharded")] {
        let error = Sharded::new(Rc::new(Solo), groups(&[spec]), Stage::Two).unwrap_err().to_string();
        assert!(error.contains(says), "{error}");
    }
}

/// `ShardedVars` steps candle variables as `Sharded` steps slices: on one rank and two, with a variable that has
/// no gradient (a zero gradient) and a gradient that is not contiguous (the transpose of a transposed matrix).
#[test]
fn candle_variables_step_as_slices_do() {
    use candle_core::backprop::GradStore;
    use candle_core::{Device, Tensor, Var};
    use descent_candle::ParamGroups;
    use descent_mpi::ShardedVars;

    let specs: &[&str] = &["adam(lr=0.01, weight_decay=0.01)"];
    // Rank `rank`'s gradients at `step`, with b1's (the last) absent.
    let gradients = |lens: &[usize], step: usize, rank: usize| {
        let mut all = grads(lens, step, rank);
        all.last_mut().unwrap().fill(0.0);
        all
    };
    for ranks in [1, 2] {
        let expected = Threads::run(ranks, move |comm| {
            let (rank, ranks) = (comm.rank(), comm.size());
            let mut optimizer = Sharded::new(Rc::new(comm), groups(specs), Stage::Two).unwrap();
            let mut params = start(&groups(specs));
            let lens: Vec<usize> = params.iter().map(Vec::len).collect();
            for step in 0..3 {
                let grads = gradients(&lens, step, rank);
                let mut refs: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
                let grads: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
                optimizer.step(&mut refs, &grads, common::model::weight(rank, ranks)).unwrap();
            }
            params
        });
        let results = Threads::run(ranks, move |comm| {
            let (rank, ranks) = (comm.rank(), comm.size());
            let params = common::model::params();
            let vars: Vec<(String, Var)> = params
                .iter()
                .zip(start(&groups(specs)))
                .map(|(p, values)| {
                    let var = Var::from_slice(&values, p.shape().dims(), &Device::Cpu).unwrap();
                    (p.name().unwrap().to_owned(), var)
                })
                .collect();
            let lens: Vec<usize> = params.iter().map(Param::len).collect();
            let default = specs[0].parse::<Spec>().unwrap();
            let mut sharded = ShardedVars::new(Rc::new(comm), vars, &ParamGroups::new(default), Stage::Two).unwrap();
            for step in 0..3 {
                let mut store = GradStore::default();
                let grads = gradients(&lens, step, rank);
                for ((_, var), (param, grad)) in sharded.vars().iter().zip(params.iter().zip(&grads)).take(3) {
                    let tensor = match param.shape().dims() {
                        // The same values, held transposed.
                        &[rows, cols] if param.name() == Some("w0") => {
                            let mut transposed = vec![0.0; grad.len()];
                            for (i, value) in grad.iter().enumerate() {
                                transposed[(i % cols) * rows + i / cols] = *value;
                            }
                            Tensor::from_slice(&transposed, (cols, rows), &Device::Cpu).unwrap().t().unwrap()
                        }
                        dims => Tensor::from_slice(grad, dims, &Device::Cpu).unwrap(),
                    };
                    store.insert(var.as_tensor(), tensor);
                }
                sharded.step(Some(&store), common::model::weight(rank, ranks)).unwrap();
            }
            let values = sharded.vars().iter().map(|(_, var)| var.as_tensor().flatten_all().unwrap().to_vec1::<f32>());
            values.collect::<candle_core::Result<Vec<_>>>().unwrap()
        });
        assert_eq!(results, expected, "{ranks} ranks");
    }
}
