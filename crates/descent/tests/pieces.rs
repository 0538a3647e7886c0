//! `Spec::splits`: an optimizer that says a parameter can be stepped in pieces steps the pieces, each a parameter of
//! its own, to the same values and state as the whole, bit for bit; the rules that read a whole tensor say they
//! cannot.

use descent::{DynOptimizer, Param, Point, Shape, Spec};

/// A matrix of 5 × 7 values, and where it is cut: three pieces of unequal lengths.
const SHAPE: [usize; 2] = [5, 7];
const CUTS: [usize; 2] = [9, 10];

fn gradient(values: &[f32], step: usize) -> Vec<f32> {
    // Both signs, some zeros, no two steps alike.
    values
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 11 == 3 { 0.0 } else { (v * (step + 2) as f32).sin() + 0.1 })
        .collect()
}

/// The values after a run, and each state tensor by name (a cut parameter's pieces joined).
type Outcome = (Vec<f32>, Vec<(String, Vec<f32>)>);

/// Five steps of `spec` on the whole matrix, and on its three pieces.
fn run(spec: &Spec) -> [Outcome; 2] {
    let start: Vec<f32> = (0..35).map(|i| (i as f32 * 0.37).cos()).collect();
    let bounds = [0, CUTS[0], CUTS[1], start.len()];
    let mut whole = spec.build::<f32>([Param::named("w", SHAPE.to_vec())]).unwrap();
    let pieces = (0..3).map(|k| Param::named(format!("w{k}"), vec![bounds[k + 1] - bounds[k]]));
    let mut cut = spec.build::<f32>(pieces).unwrap();
    let (mut a, mut b) = (start.clone(), start);
    for step in 0..5 {
        let grad = gradient(&a, step);
        whole.step(&mut [&mut a], &[Some(&grad)]).unwrap();
        let grads: Vec<&[f32]> = (0..3).map(|k| &grad[bounds[k]..bounds[k + 1]]).collect();
        let (head, rest) = b.split_at_mut(CUTS[0]);
        let (middle, tail) = rest.split_at_mut(CUTS[1] - CUTS[0]);
        cut.step(&mut [head, middle, tail], &grads.iter().map(|g| Some(*g)).collect::<Vec<_>>()).unwrap();
    }
    if whole.has_evaluation_point() {
        whole.move_point(0, &mut a, Point::Evaluation).unwrap();
        let (head, rest) = b.split_at_mut(CUTS[0]);
        let (middle, tail) = rest.split_at_mut(CUTS[1] - CUTS[0]);
        for (k, piece) in [head, middle, tail].into_iter().enumerate() {
            cut.move_point(k, piece, Point::Evaluation).unwrap();
        }
    }
    let state = |optimizer: &dyn DynOptimizer<f32>, count: usize| -> Vec<(String, Vec<f32>)> {
        let Some(first) = optimizer.state(0) else {
            assert!((0..count).all(|k| optimizer.state(k).is_none()), "{spec}: state for some pieces only");
            return Vec::new();
        };
        for k in 1..count {
            let piece = optimizer.state(k).unwrap();
            assert_eq!((piece.step(), piece.scalars()), (first.step(), first.scalars()), "{spec}: scalars");
        }
        first
            .tensors()
            .map(|(name, _)| {
                let joined = (0..count).flat_map(|k| optimizer.state(k).unwrap().get(name).unwrap().to_vec());
                (name.to_owned(), joined.collect())
            })
            .collect()
    };
    [(a, state(&*whole, 1)), (b, state(&*cut, 3))]
}

#[test]
fn optimizers_that_split_step_pieces_as_they_step_the_whole() {
    let mut split = Vec::new();
    let variants = [
        "sgd(lr=0.1, momentum=0.9, nesterov=true, weight_decay=0.01)",
        "adam(lr=0.01, amsgrad=true, weight_decay=0.1)",
        "adamax(lr=0.01, weight_decay=0.1)",
        "rmsprop(lr=0.01, centered=true, momentum=0.5)",
        "adagrad(lr=0.1, lr_decay=0.01)",
    ];
    let specs = descent::catalog().iter().map(|entry| entry.defaults().clone());
    for spec in specs.chain(variants.iter().map(|v| v.parse().unwrap())) {
        if spec.needs_closure() || !spec.splits(&Shape::from(SHAPE)) {
            continue;
        }
        let [whole, pieces] = run(&spec);
        assert_eq!(pieces.0, whole.0, "{spec}: values");
        assert_eq!(pieces.1, whole.1, "{spec}: state");
        assert!(!whole.1.is_empty() || spec.class() == "SGD", "{spec} keeps state");
        split.push(spec.class().to_owned());
    }
    split.dedup();
    // The article's seven, and the other rules that go element by element.
    for class in ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "NAdam", "RAdam", "Adamax", "Lion"] {
        assert!(split.iter().any(|c| c == class), "{class} splits: {split:?}");
    }
}

#[test]
fn optimizers_that_read_a_whole_tensor_do_not_split() {
    let matrix = Shape::from(SHAPE);
    for text in [
        "muon",
        "soap",
        "adafactor",
        "mars",
        "prodigy",
        "lbfgs",
        "asgd",
        "sparse_adam",
        "lookahead_nesterov",
        "adam(state=\"int8\")",
        "lion(state=\"int8\")",
        "adamw(state=\"bf16\")",
        "adamw(state=\"bf16_stochastic\")",
    ] {
        let spec: Spec = text.parse().unwrap();
        assert!(!spec.splits(&matrix), "{text} cannot be stepped in pieces");
    }
    for text in ["adam", "adamw(state=\"f32\")", "sgd", "adamw_schedulefree", "sgd_schedulefree", "nadam", "rprop"] {
        assert!(text.parse::<Spec>().unwrap().splits(&matrix), "{text} can be stepped in pieces");
    }
}
