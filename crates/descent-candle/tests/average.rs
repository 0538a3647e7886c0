//! `AveragedVars` over bfloat16 variables (averaged in `f32`, evaluated at the average rounded to bfloat16), and
//! over variables of several types at once.

use candle_core::{DType, Device, Tensor, Var};
use descent::average::Averaging;
use descent_candle::AveragedVars;
use half::bf16;

fn bf16_var(values: &[f32]) -> Var {
    let values: Vec<bf16> = values.iter().map(|&v| bf16::from_f32(v)).collect();
    Var::from_tensor(&Tensor::new(values.as_slice(), &Device::Cpu).unwrap()).unwrap()
}

fn set_bf16(var: &Var, values: &[f32]) {
    let values: Vec<bf16> = values.iter().map(|&v| bf16::from_f32(v)).collect();
    var.set(&Tensor::new(values.as_slice(), &Device::Cpu).unwrap()).unwrap();
}

fn read_f32(tensor: &Tensor) -> Vec<f32> {
    tensor.to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap()
}

/// The SWA average of three bfloat16 snapshots.
fn swa_of_three(var: &Var) -> AveragedVars {
    let mut swa = AveragedVars::new(vec![("w".into(), var.clone())], Averaging::Swa).unwrap();
    // 1 + 2⁻⁷ is the bfloat16 after 1; the means of the snapshots, 1 + 2⁻⁶/3 and 3 + 2/3, fall between
    // bfloat16 values.
    for values in [[1.0, 2.0], [1.0078125, 4.0], [1.0078125, 5.0]] {
        set_bf16(var, &values);
        swa.update().unwrap();
    }
    swa
}

#[test]
fn bfloat16_variables_are_averaged_in_f32() {
    let var = bf16_var(&[0.0, 0.0]);
    let swa = swa_of_three(&var);
    let averages = swa.averages().unwrap();
    assert_eq!(averages[0].1.dtype(), DType::F32);
    let average = read_f32(&averages[0].1);
    let means = [1.0 + 2f64.powi(-6) / 3.0, 11.0 / 3.0];
    for (got, want) in average.iter().zip(means) {
        // SWA's running mean: three roundings of f32, each within half an ulp.
        let ulp = f64::from(f32::EPSILON) * want.abs();
        assert!((f64::from(*got) - want).abs() <= 1.5 * ulp, "average {got}, mean {want}");
    }
}

#[test]
fn evaluating_a_bfloat16_average_rounds_it_and_restores_the_weights() {
    let var = bf16_var(&[0.0, 0.0]);
    let swa = swa_of_three(&var);
    let at_average = swa.with_averaged(|| var.as_tensor().to_vec1::<bf16>()).unwrap();
    // The means rounded to the nearest bfloat16: 1 + 2⁻⁶/3 ≈ 1.0052 → 1.0078125 (averaging in bfloat16 would have
    // rounded 1.0039 to 1 on the way and ended at 1); 11/3 → 3.671875.
    assert_eq!(at_average, [bf16::from_f32(1.0078125), bf16::from_f32(3.671875)]);
    assert_eq!(read_f32(var.as_tensor()), [1.0078125, 5.0]);
}

#[test]
fn a_bfloat16_average_restores_from_its_saved_values() {
    let var = bf16_var(&[0.0, 0.0]);
    let swa = swa_of_three(&var);
    let saved = swa.averages().unwrap();
    let mut restored = AveragedVars::new(vec![("w".into(), var.clone())], Averaging::Swa).unwrap();
    restored.restore(swa.n_averaged(), &saved).unwrap();
    assert_eq!(restored.n_averaged(), 3);
    assert_eq!(read_f32(&restored.averages().unwrap()[0].1), read_f32(&saved[0].1));
    // The next update continues the same mean: (3·avg + x)/4.
    set_bf16(&var, &[1.0, 8.0]);
    restored.update().unwrap();
    let fourth = read_f32(&restored.averages().unwrap()[0].1);
    assert!((f64::from(fourth[1]) - (2.0 + 4.0 + 5.0 + 8.0) / 4.0).abs() < 1e-6, "{fourth:?}");
}

#[test]
fn other_types_are_refused_by_name() {
    let half = Var::from_tensor(&Tensor::new(&[1.0f32], &Device::Cpu).unwrap().to_dtype(DType::F16).unwrap()).unwrap();
    let error = AveragedVars::new(vec![("h".into(), half)], Averaging::Swa).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("not F16 (variable \"h\")"), "{message}");
}

#[test]
fn an_ema_of_f32_bf16_and_f64_variables_follows_its_closed_form() {
    // `f32` variables are read in place, `bf16` ones widened, `f64` ones averaged apart; a matrix and a vector of
    // each, registered interleaved. With decay 1/2 (exact in binary), the average after values x₁, x₂, x₃ is
    // x₁/4 + x₂/4 + x₃/2 (the first update takes x₁ as it is), exactly.
    let cpu = &Device::Cpu;
    let w32 = Var::from_tensor(&Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]], cpu).unwrap()).unwrap();
    let b16 = bf16_var(&[8.0, 16.0]);
    let w64 = Var::from_tensor(&Tensor::new(&[0.5f64, -0.25, 1.0], cpu).unwrap()).unwrap();
    let vars = vec![("w32".into(), w32.clone()), ("b16".into(), b16.clone()), ("w64".into(), w64.clone())];
    let mut ema = AveragedVars::new(vars, Averaging::Ema { decay: 0.5 }).unwrap();
    let snapshots = [1.0f32, 3.0, 5.0];
    for &k in &snapshots {
        w32.set(&Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]], cpu).unwrap().affine(f64::from(k), 0.0).unwrap()).unwrap();
        set_bf16(&b16, &[8.0 * k, 16.0 * k]);
        w64.set(&Tensor::new(&[0.5f64, -0.25, 1.0], cpu).unwrap().affine(f64::from(k), 0.0).unwrap()).unwrap();
        ema.update().unwrap();
    }
    let factor = snapshots[0] / 4.0 + snapshots[1] / 4.0 + snapshots[2] / 2.0;
    let averages = ema.averages().unwrap();
    let by_name = |name: &str| &averages.iter().find(|(n, _)| n == name).unwrap().1;
    let w32_average = by_name("w32").flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(w32_average, [1.0, 2.0, 3.0, 4.0].map(|v| v * factor));
    assert_eq!(read_f32(by_name("b16")), [8.0 * factor, 16.0 * factor]);
    let w64_average = by_name("w64").to_vec1::<f64>().unwrap();
    assert_eq!(w64_average, [0.5, -0.25, 1.0].map(|v| v * f64::from(factor)));
    assert_eq!(ema.n_averaged(), 3);
}
