//! bfloat16 parameters stepped through f32 master weights: the master weights follow the f32 optimizer exactly,
//! the parameters are their bfloat16 roundings, updates too small for bfloat16 accumulate, and bad input changes
//! nothing.

use descent::{Clip, DynOptimizer, Error, MasterWeights, Param, Spec};
use half::bf16;

fn optimizer(spec: &str, lens: &[usize]) -> Box<dyn DynOptimizer<f32>> {
    let params: Vec<Param> = lens.iter().map(|&n| Param::new(vec![n])).collect();
    spec.parse::<Spec>().unwrap().build::<f32>(params).unwrap()
}

fn bf16s(values: &[f32]) -> Vec<bf16> {
    values.iter().map(|&v| bf16::from_f32(v)).collect()
}

/// With gradients that bfloat16 holds exactly, the master weights are the f32 optimizer's parameters to the bit,
/// and the bfloat16 parameters are those rounded to nearest.
#[test]
fn master_weights_follow_the_f32_optimizer_and_parameters_are_their_roundings() {
    for spec in ["adam(lr=0.01)", "adamw(lr=0.01, state=\"int8\")", "sgd(lr=0.1, momentum=0.9, nesterov=True)"] {
        let start = [0.3f32, -1.7, 2.5, 0.001, -0.25];
        let mut reference = optimizer(spec, &[5]);
        let mut stepped = optimizer(spec, &[5]);
        let mut f32_params = start.map(|v| bf16::from_f32(v).to_f32()).to_vec();
        let mut params = bf16s(&start);
        let mut masters = MasterWeights::new(&[&params]);
        for t in 0..50 {
            let grad: Vec<bf16> = (0..5).map(|i| bf16::from_f32(((t * 7 + i * 3) as f32).sin())).collect();
            let wide: Vec<f32> = grad.iter().map(|g| g.to_f32()).collect();
            reference.step(&mut [&mut f32_params], &[Some(&wide)]).unwrap();
            masters.step(&mut *stepped, &mut [&mut params], &[Some(&grad)]).unwrap();
            assert_eq!(masters.masters()[0], f32_params, "{spec}, step {t}");
            assert_eq!(params, bf16s(&f32_params), "{spec}, step {t}");
        }
    }
}

/// SGD at lr 1e-3 with gradient −1 adds 0.001 a step: under half a bfloat16 ulp at 1 (2⁻⁸), so a bfloat16 weight
/// stepped directly never moves, while the master weight reaches 1.1 after 100 steps.
#[test]
fn updates_below_a_bfloat16_ulp_accumulate_in_the_master_weights() {
    let mut sgd = optimizer("sgd(lr=1e-3)", &[1]);
    let mut param = [bf16::ONE];
    let mut masters = MasterWeights::new(&[&param]);
    let grad = [bf16::from_f32(-1.0)];
    let mut direct = bf16::ONE;
    let mut exact = 1.0f32;
    for _ in 0..100 {
        masters.step_param(&mut *sgd, 0, &mut param, &grad).unwrap();
        direct = bf16::from_f32(direct.to_f32() + 1e-3);
        exact += 1e-3;
    }
    assert_eq!(direct, bf16::ONE);
    assert_eq!(masters.masters()[0][0], exact);
    assert!((exact - 1.1).abs() < 1e-5);
    assert_eq!(param[0], bf16::from_f32(exact));
    assert_ne!(param[0], bf16::ONE);
}

#[test]
fn bad_input_changes_nothing() {
    let mut adam = optimizer("adam", &[2, 3]);
    let (mut a, mut b) = (bf16s(&[1.0, 2.0]), bf16s(&[3.0, 4.0, 5.0]));
    let mut masters = MasterWeights::new(&[&a, &b]);
    let before = masters.clone();
    let (ga, gb) = (bf16s(&[0.5, 0.5]), bf16s(&[0.5, 0.5]));
    let error = masters.step(&mut *adam, &mut [&mut a, &mut b], &[Some(&ga), Some(&gb)]).unwrap_err();
    assert!(matches!(error, Error::GradientLengthMismatch { expected: 3, got: 2, .. }), "{error}");
    let error = masters.step(&mut *adam, &mut [&mut a], &[Some(&ga)]).unwrap_err();
    assert!(matches!(error, Error::CountMismatch { expected: 2, got: 1, .. }), "{error}");
    let error = masters.step_param(&mut *adam, 2, &mut a, &ga).unwrap_err();
    assert!(matches!(error, Error::NoSuchParameter { position: 2, count: 2 }), "{error}");
    // A gradient the optimizer refuses (a NaN with error_if_nonfinite clipping) leaves everything as it was.
    adam.set_clip(Some(Clip { error_if_nonfinite: true, ..Clip::norm(1.0) })).unwrap();
    let nan = bf16s(&[f32::NAN, 0.0]);
    assert!(masters.step(&mut *adam, &mut [&mut a, &mut b], &[Some(&nan), None]).is_err());
    assert_eq!(masters, before);
    assert_eq!((a, b), (bf16s(&[1.0, 2.0]), bf16s(&[3.0, 4.0, 5.0])));
    assert!(adam.state(0).is_none_or(|s| s.step().unwrap_or(0.0) == 0.0));
}
