//! Groups of different optimizers in one: Muon for matrices and AdamW for the rest step exactly as the two would
//! alone, clip by the norm of every gradient, save and load their state together, and refuse what cannot mix.

use descent::checkpoint::{self, Checkpoint};
use descent::{clip_grad_norm, AdamW, Clip, DynOptimizer, Error, Muon, Optimizer, Param, Spec};

mod common;
use common::value;

fn spec(text: &str) -> Spec {
    text.parse().unwrap()
}

/// Groups in the order adamw [b], muon [W], adamw(weight_decay=0) [c], muon(lr=0.05) [M, N].
fn hybrid() -> Box<dyn DynOptimizer<f32>> {
    Spec::build_groups::<f32>([
        (spec("adamw(lr=0.01)"), vec![Param::named("b", 7)]),
        (spec("muon(lr=0.02)"), vec![Param::named("W", [12, 7])]),
        (spec("adamw(lr=0.01, weight_decay=0)"), vec![Param::named("c", 3)]),
        (spec("muon(lr=0.05)"), vec![Param::named("M", [5, 9]), Param::named("N", [4, 4])]),
    ])
    .unwrap()
}

const SHAPES: [usize; 5] = [7, 84, 3, 45, 16];

fn start() -> Vec<Vec<f32>> {
    SHAPES.iter().enumerate().map(|(k, &n)| (0..n).map(|i| value(0, k, i) as f32).collect()).collect()
}

fn grads(step: usize) -> Vec<Vec<f32>> {
    SHAPES.iter().enumerate().map(|(k, &n)| (0..n).map(|i| value(step, k, i) as f32).collect()).collect()
}

/// `c` gets no gradient every third step.
fn present(step: usize, k: usize) -> bool {
    k != 2 || !step.is_multiple_of(3)
}

#[test]
fn each_part_steps_exactly_as_it_would_alone() {
    let mut hybrid = hybrid();
    assert_eq!(hybrid.name(), "AdamW+Muon");
    assert_eq!(hybrid.group_count(), 4);
    assert_eq!((0..5).map(|p| hybrid.group_of(p).unwrap()).collect::<Vec<_>>(), [0, 1, 2, 3, 3]);
    let adamw = AdamW { lr: 0.01, ..AdamW::default() };
    let mut alone_adamw = Optimizer::<AdamW, f32>::with_groups([
        descent::Group::new(adamw, [Param::named("b", 7)]),
        descent::Group::new(AdamW { weight_decay: 0.0, ..adamw }, [Param::named("c", 3)]),
    ])
    .unwrap();
    let muon = Muon { lr: 0.02, ..Muon::default() };
    let mut alone_muon = Optimizer::<Muon, f32>::with_groups([
        descent::Group::new(muon, [Param::named("W", [12, 7])]),
        descent::Group::new(Muon { lr: 0.05, ..muon }, [Param::named("M", [5, 9]), Param::named("N", [4, 4])]),
    ])
    .unwrap();
    let mut ours = start();
    let mut theirs = start();
    for step in 1..=6 {
        let g = grads(step);
        let given: Vec<Option<&[f32]>> =
            g.iter().enumerate().map(|(k, g)| present(step, k).then_some(&g[..])).collect();
        let mut slices: Vec<&mut [f32]> = ours.iter_mut().map(Vec::as_mut_slice).collect();
        hybrid.step(&mut slices, &given).unwrap();
        let [b, w, c, m, n] = &mut theirs[..] else { unreachable!() };
        alone_adamw.step(&mut [b, c], &[given[0], given[2]]).unwrap();
        alone_muon.step(&mut [w, m, n], &[given[1], given[3], given[4]]).unwrap();
        assert_eq!(ours, theirs, "step {step}");
    }
    assert_eq!(hybrid.state(1), alone_muon.state(0));
    assert_eq!(hybrid.state(2), alone_adamw.state(1));
    assert_eq!(hybrid.lr(3), Ok(0.05));
    hybrid.set_lr(2, 0.5).unwrap();
    assert_eq!(hybrid.lr(2), Ok(0.5));
    assert_eq!(hybrid.lr(0), Ok(0.01));
}

#[test]
fn clipping_measures_every_gradient_together() {
    let mut hybrid = hybrid();
    hybrid.set_clip(Some(Clip::norm(0.5))).unwrap();
    let mut separate = self::hybrid();
    let mut ours = start();
    let mut theirs = start();
    let mut g = grads(1);
    let given: Vec<Option<&[f32]>> = g.iter().map(|g| Some(&g[..])).collect();
    hybrid.step(&mut ours.iter_mut().map(Vec::as_mut_slice).collect::<Vec<_>>(), &given).unwrap();
    let norm = clip_grad_norm(&mut g.iter_mut().map(Vec::as_mut_slice).collect::<Vec<_>>(), 0.5, 2.0, false).unwrap();
    assert_eq!(hybrid.last_grad_norm(), Some(norm));
    assert!(norm > 0.5, "the test clips");
    let clipped: Vec<Option<&[f32]>> = g.iter().map(|g| Some(&g[..])).collect();
    separate.step(&mut theirs.iter_mut().map(Vec::as_mut_slice).collect::<Vec<_>>(), &clipped).unwrap();
    assert_eq!(ours, theirs);
}

#[test]
fn the_state_saves_and_resumes_bit_for_bit() {
    let run = |optimizer: &mut dyn DynOptimizer<f32>, params: &mut Vec<Vec<f32>>, steps: std::ops::Range<usize>| {
        for step in steps {
            let g = grads(step);
            let given: Vec<Option<&[f32]>> =
                g.iter().enumerate().map(|(k, g)| present(step, k).then_some(&g[..])).collect();
            optimizer.step(&mut params.iter_mut().map(Vec::as_mut_slice).collect::<Vec<_>>(), &given).unwrap();
        }
    };
    let (mut straight, mut first) = (hybrid(), hybrid());
    let (mut a, mut b) = (start(), start());
    run(&mut *straight, &mut a, 1..9);
    run(&mut *first, &mut b, 1..5);
    let dir = std::env::temp_dir().join(format!("descent-composite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hybrid.safetensors");
    checkpoint::save(&path, &Checkpoint::of(first.state_dict())).unwrap();
    let saved = checkpoint::load::<f32>(&path).unwrap().optimizer;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(saved.optimizer, "AdamW+Muon");
    assert_eq!(saved.groups[1].optimizer.as_deref(), Some("Muon"));
    assert_eq!(saved.groups[3].params, [3, 4]);
    let mut second = hybrid();
    second.load_state_dict(&saved).unwrap();
    run(&mut *second, &mut b, 5..9);
    assert_eq!(a, b);
    assert_eq!(second.state_dict(), straight.state_dict());
}

#[test]
fn a_state_that_does_not_fit_changes_nothing() {
    let mut hybrid = hybrid();
    let mut params = start();
    let g = grads(1);
    let given: Vec<Option<&[f32]>> = g.iter().map(|g| Some(&g[..])).collect();
    hybrid.step(&mut params.iter_mut().map(Vec::as_mut_slice).collect::<Vec<_>>(), &given).unwrap();
    let before = hybrid.state_dict();
    let mut fresh = self::hybrid().state_dict();
    // The AdamW part would load; the Muon part's group holds the wrong parameters.
    fresh.groups[3].params = vec![1, 3];
    assert!(matches!(hybrid.load_state_dict(&fresh), Err(Error::StateMismatch(_))));
    let mut bad = before.clone();
    bad.params[4].state.as_mut().unwrap().tensors[0].2.pop();
    assert!(matches!(hybrid.load_state_dict(&bad), Err(Error::StateMismatch(_))));
    assert_eq!(hybrid.state_dict(), before);
    let mut renamed = before.clone();
    renamed.groups[0].optimizer = Some("Adam".into());
    assert!(hybrid.load_state_dict(&renamed).is_err());
    assert_eq!(hybrid.state_dict(), before);
    // A step with a wrong length changes nothing either.
    let mut short = start();
    short[4].pop();
    let err = hybrid.step(&mut short.iter_mut().map(Vec::as_mut_slice).collect::<Vec<_>>(), &given).unwrap_err();
    assert!(matches!(err, Error::ParameterLengthMismatch { .. }), "{err}");
    assert_eq!(hybrid.state_dict(), before);
}

#[test]
fn groups_come_and_go() {
    let mut hybrid = hybrid();
    hybrid.add_group(&spec("muon"), vec![Param::named("P", [3, 3])]).unwrap();
    hybrid.add_group(&spec("sgd(lr=0.1)"), vec![Param::named("s", 2)]).unwrap();
    assert_eq!(hybrid.name(), "AdamW+Muon+SGD");
    assert_eq!(hybrid.group_of(5), Some(4));
    assert_eq!(hybrid.group_of(6), Some(5));
    assert!(matches!(
        hybrid.add_group(&spec("adam"), vec![Param::named("W", 2)]),
        Err(Error::DuplicateParameterName(_))
    ));
    // Removing Muon's first group moves every later parameter up.
    let removed = hybrid.remove_group(1).unwrap();
    assert_eq!(removed, [Param::named("W", [12, 7])]);
    let names: Vec<_> =
        (0..hybrid.param_count()).map(|p| hybrid.param(p).unwrap().name().unwrap().to_owned()).collect();
    assert_eq!(names, ["b", "c", "M", "N", "P", "s"]);
    assert_eq!((0..6).map(|p| hybrid.group_of(p).unwrap()).collect::<Vec<_>>(), [0, 1, 2, 2, 3, 4]);
    // Removing the only SGD group removes the part.
    hybrid.remove_group(4).unwrap();
    assert_eq!(hybrid.name(), "AdamW+Muon");
    assert_eq!(hybrid.lr(3), Ok(1e-3));
    let mut params: Vec<Vec<f32>> = [7, 3, 45, 16, 9].iter().map(|&n| vec![0.5; n]).collect();
    let g: Vec<Vec<f32>> = params.iter().map(|p| vec![0.25; p.len()]).collect();
    let given: Vec<Option<&[f32]>> = g.iter().map(|g| Some(&g[..])).collect();
    hybrid.step(&mut params.iter_mut().map(Vec::as_mut_slice).collect::<Vec<_>>(), &given).unwrap();
    assert_eq!(hybrid.state(4).unwrap().names(), ["momentum_buffer"]);
}

#[test]
fn optimizers_that_need_the_whole_step_do_not_mix() {
    for other in ["lbfgs", "nag"] {
        let err = Spec::build_groups::<f32>([(spec("adamw"), vec![Param::new(3)]), (spec(other), vec![Param::new(2)])])
            .unwrap_err();
        assert!(err.to_string().contains("cannot share a step with other optimizers"), "{other}: {err}");
    }
    let err = Spec::build_groups::<f32>([
        (spec("adamw"), vec![Param::named("x", 3)]),
        (spec("muon"), vec![Param::named("x", [2, 2])]),
    ])
    .unwrap_err();
    assert!(matches!(err, Error::DuplicateParameterName(_)));
    let err = Spec::build_groups::<f32>([(spec("adamw"), vec![Param::new(3)]), (spec("muon"), vec![Param::new(4)])])
        .unwrap_err();
    assert!(err.to_string().contains("Muon optimizes only"), "{err}");
}
