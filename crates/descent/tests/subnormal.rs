//! State that decays below the smallest normal number is stored as zero, so that a moment whose gradient stays zero
//! (the weight of an always-blank pixel) never takes the CPU's slow path for subnormal numbers again: the count of
//! subnormal values in the state stays zero: the count of slow-path events a step time that grows would show.
//! (Normal inputs are unaffected: tests/torch_parity.rs checks every
//! rule against PyTorch.)

use descent::{Float, Param, Spec};

/// Subnormal values among `values`.
fn subnormals<T: Float>(values: &[T]) -> usize {
    values.iter().filter(|v| v.to_f64() != 0.0 && v.to_f64().abs() < min_positive::<T>()).count()
}

fn min_positive<T: Float>() -> f64 {
    if T::NAME == "f32" {
        f64::from(f32::MIN_POSITIVE)
    } else {
        f64::MIN_POSITIVE
    }
}

fn decays_to_zero_not_subnormal<T: Float>(text: &str) {
    decays_to_zero_not_subnormal_in::<T>(text, vec![4]);
}

fn decays_to_zero_not_subnormal_in<T: Float>(text: &str, shape: Vec<usize>) {
    let spec: Spec = text.parse().unwrap();
    let mut opt = spec.build::<T>([Param::new(shape)]).unwrap();
    let mut theta: Vec<T> = [0.5, -0.25, 1.0, 2.0].map(T::from_f64).to_vec();
    let grad: Vec<T> = [0.3, -0.2, 0.1, 0.4].map(T::from_f64).to_vec();
    opt.step(&mut [&mut theta], &[Some(&grad)]).unwrap();
    // Every state value just above the smallest normal number, as after a long decay.
    let mut dict = opt.state_dict();
    let record = dict.params[0].state.as_mut().unwrap();
    for (_, _, values) in &mut record.tensors {
        for v in values.iter_mut() {
            let sign = if v.to_f64() < 0.0 { -1.0 } else { 1.0 };
            *v = T::from_f64(sign * 1.5 * min_positive::<T>());
        }
    }
    opt.load_state_dict(&dict).unwrap();
    let zero = vec![T::from_f64(0.0); 4];
    for step in 0..30 {
        opt.step(&mut [&mut theta], &[Some(&zero)]).unwrap();
        let state = opt.state(0).unwrap();
        for (name, tensor) in state.tensors() {
            assert_eq!(subnormals(tensor), 0, "{text} {}: {name} after {} zero steps: {tensor:?}", T::NAME, step + 1);
        }
        assert!(theta.iter().all(|v| v.is_finite()), "{text}: {theta:?}");
    }
}

#[test]
fn decaying_state_is_flushed_to_zero() {
    for text in [
        "sgd(lr=0.01, momentum=0.9)",
        "sgd(lr=0.01, momentum=0.9, dampening=0.5, nesterov=False)",
        "rmsprop(momentum=0.9, centered=True)",
        "adadelta",
        "adam",
        "adamw(amsgrad=True)",
        "nadam",
        "radam",
        "adamax",
        "lion",
        "ademamix",
    ] {
        decays_to_zero_not_subnormal::<f32>(text);
        decays_to_zero_not_subnormal::<f64>(text);
    }
}

/// Rules whose step runs in their own per-tensor stage: on x86 their loops run with flush-to-zero and
/// denormals-are-zero set, so their state does not keep subnormal values either (Adafactor's factored statistics,
/// Muon's momentum and SOAP's moments failed this before their loops set it).
#[cfg(target_arch = "x86_64")]
#[test]
fn decaying_state_of_per_tensor_stages_is_flushed_to_zero() {
    for text in [
        "mars",
        "adafactor",
        "adamw_schedulefree",
        "sgd_schedulefree",
        "prodigy",
        "muon",
        "soap(precondition_frequency=1)",
        "asgd",
        "rprop",
    ] {
        decays_to_zero_not_subnormal_in::<f32>(text, vec![2, 2]);
        decays_to_zero_not_subnormal_in::<f64>(text, vec![2, 2]);
    }
}
