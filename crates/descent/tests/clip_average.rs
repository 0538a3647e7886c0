//! Gradient clipping and weight averaging against PyTorch (fixtures by tools/make_clip_average_fixtures.py).

use descent::average::{AveragedParams, Averaging};
use descent::{clip_grad_norm, clip_grad_value, Error, Float};
use serde_json::Value;

fn fixtures() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/clip_average/fixtures.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("committed fixtures")).expect("fixtures parse")
}

/// A number, or one of the strings "inf", "-inf" and "nan" that stand for the values JSON lacks.
fn number(v: &Value) -> f64 {
    match v {
        Value::String(text) => text.parse().expect("inf, -inf or nan"),
        other => other.as_f64().expect("a number"),
    }
}

fn tensors<T: Float>(v: &Value) -> Vec<Vec<T>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_array().unwrap().iter().map(|x| T::from_f64(number(x))).collect())
        .collect()
}

/// How many representable values of `T` lie between `a` and `b` (0 for equal values, and for two NaNs).
fn ulps<T: Float>(a: T, b: T) -> u64 {
    let (a, b) = (a.to_f64(), b.to_f64());
    if a.is_nan() && b.is_nan() || a == b {
        return 0;
    }
    if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() {
        return u64::MAX;
    }
    let key = |x: f64| -> i64 {
        // Ordered integer keys of the values in T's own format.
        if T::NAME == "f32" {
            let bits = (x as f32).to_bits() as i32;
            i64::from(if bits < 0 { i32::MIN - bits } else { bits })
        } else {
            let bits = x.to_bits() as i64;
            if bits < 0 {
                i64::MIN - bits
            } else {
                bits
            }
        }
    };
    key(a).abs_diff(key(b))
}

fn check_clipping<T: Float>(dtype: &str) {
    let doc = fixtures();
    for (n, case) in doc[dtype]["clip"].as_array().unwrap().iter().enumerate() {
        let mut grads: Vec<Vec<T>> = tensors(&case["before"]);
        let mut views: Vec<&mut [T]> = grads.iter_mut().map(Vec::as_mut_slice).collect();
        if case["kind"] == "value" {
            clip_grad_value(&mut views, number(&case["value"])).unwrap();
            assert_eq!(grads, tensors::<T>(&case["after"]), "{dtype} case {n}: clip_grad_value_ is exact");
            continue;
        }
        let (max_norm, norm_type) = (number(&case["max_norm"]), number(&case["norm_type"]));
        let error_if_nonfinite = case["error_if_nonfinite"].as_bool().unwrap();
        let result = clip_grad_norm(&mut views, max_norm, norm_type, error_if_nonfinite);
        if case["after"].is_null() {
            assert!(matches!(result, Err(Error::NonFiniteGradientNorm { .. })), "{dtype} case {n}: {result:?}");
            assert_eq!(grads, tensors::<T>(&case["before"]), "{dtype} case {n}: a refused clip changes nothing");
            continue;
        }
        let norm = result.unwrap();
        let theirs = number(&case["norm"]);
        // The norm is summed in f64 here, in T and another order in PyTorch: up to 2 ulps of T apart.
        assert!(ulps(T::from_f64(norm), T::from_f64(theirs)) <= 2, "{dtype} case {n}: norm {norm} vs {theirs}");
        let expected: Vec<Vec<T>> = tensors(&case["after"]);
        for (g, e) in grads.iter().flatten().zip(expected.iter().flatten()) {
            // The coefficient max_norm/(norm + 1e-6) inherits the norm's 2 ulps; the product rounds once more.
            assert!(ulps(*g, *e) <= 3, "{dtype} case {n} (p = {norm_type}): {g:?} vs {e:?}");
        }
    }
}

#[test]
fn clipping_matches_pytorch_within_three_ulps() {
    check_clipping::<f32>("f32");
    check_clipping::<f64>("f64");
}

fn check_averages<T: Float>(dtype: &str) {
    let doc = fixtures();
    for case in doc[dtype]["average"].as_array().unwrap() {
        let averaging = match case["decay"].as_f64() {
            Some(decay) => Averaging::Ema { decay },
            None => Averaging::Swa,
        };
        let mut average = AveragedParams::<T>::new(averaging);
        for (t, (input, expected)) in
            case["inputs"].as_array().unwrap().iter().zip(case["averages"].as_array().unwrap()).enumerate()
        {
            let params: Vec<Vec<T>> = tensors(input);
            average.update(&params.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
            assert_eq!(average.params(), tensors::<T>(expected), "{dtype} {}: update {t}", case["kind"]);
            assert_eq!(average.n_averaged(), t as u64 + 1);
        }
    }
}

#[test]
fn swa_and_ema_match_pytorch_bit_for_bit() {
    check_averages::<f32>("f32");
    check_averages::<f64>("f64");
}

#[test]
fn averages_refuse_what_does_not_fit() {
    let mut average = AveragedParams::<f32>::new(Averaging::EMA);
    average.update(&[&[1.0, 2.0], &[3.0]]).unwrap();
    let before = average.clone();
    assert!(matches!(average.update(&[&[1.0, 2.0]]), Err(Error::CountMismatch { .. })));
    assert!(matches!(average.update(&[&[1.0, 2.0], &[3.0, 4.0]]), Err(Error::ParameterLengthMismatch { .. })));
    assert_eq!(average, before);
    let err = AveragedParams::<f32>::try_new(Averaging::Ema { decay: 1.5 }).unwrap_err();
    assert_eq!(err.to_string(), "AveragedModel: invalid decay = 1.5 (expected a value in [0, 1])");
}
