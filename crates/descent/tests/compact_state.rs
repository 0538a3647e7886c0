//! Optimizers with compact state (8-bit and bfloat16 moments) against their references, step by step:
//! `bitsandbytes`' own 8-bit optimizers, and PyTorch with its moments rounded to bfloat16
//! (`tools/make_compact_fixtures.py` writes the fixtures).

use descent::quantize::{self, QuantizationMap, BLOCK};
use descent::{CompactData, DynOptimizer, Param, Spec};
use half::bf16;
use serde_json::Value;

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/compact")
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(name)).unwrap()).unwrap()
}

#[test]
fn the_dynamic_maps_are_bitsandbytes_to_the_bit() {
    let maps = json("maps.json");
    for (name, ours) in [("signed", QuantizationMap::signed()), ("unsigned", QuantizationMap::unsigned())] {
        let theirs: Vec<f32> = maps[name].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(ours.values()), bits(&theirs), "{name} map");
    }
}

#[test]
fn quantization_round_trips_within_half_a_step_of_the_map() {
    // Every value comes back as the nearest entry of the map, times its block's scale: the error is at most half
    // the gap between the two entries around it, and the largest magnitude of a block comes back exactly.
    let map = QuantizationMap::signed();
    let values: Vec<f32> = (0..4 * BLOCK).map(|i| (i as f32 * 0.7311).sin() * 10f32.powi(i as i32 % 7 - 5)).collect();
    for block in values.chunks(BLOCK) {
        let mut codes = vec![0; block.len()];
        let scale = quantize::quantize_block(map, block, &mut codes);
        assert_eq!(scale, quantize::absmax(block));
        for (&v, &code) in block.iter().zip(&codes) {
            let normed = v / scale;
            let back = map.value(code);
            let i = map.values().partition_point(|&e| e <= normed).clamp(1, 255);
            let gap = map.values()[i] - map.values()[i - 1];
            assert!((back - normed).abs() <= gap / 2.0 + f32::EPSILON, "{v}: {normed} came back as {back}");
            // The signed map ends at 1 above and at −0.993 below, as bitsandbytes' does.
            if v == scale {
                assert_eq!(back * scale, v);
            }
        }
    }
    // Zero blocks stay zero.
    let mut codes = [0; 8];
    let scale = quantize::quantize_block(map, &[0.0; 8], &mut codes);
    assert!(codes.iter().all(|&c| map.value(c) * scale == 0.0));
}

/// Reads the fixture's values in order.
struct Cursor {
    bytes: Vec<u8>,
    at: usize,
}

impl Cursor {
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        let values = self.bytes[self.at..self.at + 4 * n]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        self.at += 4 * n;
        values
    }

    fn u8s(&mut self, n: usize) -> Vec<u8> {
        self.at += n;
        self.bytes[self.at - n..self.at].to_vec()
    }
}

/// The gap between `a` and `b` in ulps of the largest magnitude the step involved (the value before it too: a
/// step larger than the value it moves carries its own rounding).
fn ulps(before: f32, a: f32, b: f32) -> f32 {
    (a - b).abs() / (before.abs().max(a.abs()).max(b.abs()) * f32::EPSILON).max(f32::MIN_POSITIVE)
}

/// The moment a step makes from the moment before and the gradient, in `f64`: `decay`·previous + (1 − decay)·g
/// (or g² for a second moment).
fn exact_moment(decay: f64, previous: f32, g: f32, squared: bool) -> f64 {
    let g = f64::from(g);
    decay * f64::from(previous) + (1.0 - decay) * if squared { g * g } else { g }
}

/// Each step starts from the reference's parameters and state of the step before.
///
/// Parameters: within `ulps`. 8-bit moments: the blocks' scales within 2 ulps, and each code the entry of the map
/// nearest the moment (computed here in `f64`, up to an ulp of it), where the reference's code is too; where the
/// reference's is not the nearest (its CPU search errs below about 10⁻⁵ of a block's scale), descent's is nearer.
/// bfloat16 moments: equal, or a bfloat16 ulp apart where the moments differ by an `f32` ulp at a rounding
/// boundary (at most `flips` a step).
fn replay(case: &Value, params_ulps: f32, flips: usize) {
    let manifest = json("manifest.json");
    let name = case["case"].as_str().unwrap();
    let int8 = case["state"] == "int8";
    let spec: Spec = case["spec"].as_str().unwrap().parse().unwrap();
    let shapes: Vec<Vec<usize>> = manifest["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect())
        .collect();
    let specs: Vec<Param> = manifest["params"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&shapes)
        .map(|(p, s)| Param::named(p["name"].as_str().unwrap(), s.clone()))
        .collect();
    let mut opt: Box<dyn DynOptimizer<f32>> = spec.build(specs).unwrap();
    let betas = opt.hyperparameter(0, "betas").unwrap();
    let (beta1, beta2) = (betas[0].as_f64().unwrap(), betas[1].as_f64().unwrap());
    let lion = name.starts_with("lion");
    // Each moment's decay, and whether it averages squares.
    let moments: Vec<(f64, bool, &QuantizationMap)> = if lion {
        vec![(beta2, false, QuantizationMap::signed())]
    } else {
        vec![(beta1, false, QuantizationMap::signed()), (beta2, true, QuantizationMap::unsigned())]
    };
    let mut params: Vec<Vec<f32>> = shapes
        .iter()
        .enumerate()
        .map(|(k, s)| (0..s.iter().product::<usize>()).map(|j| 2.0 * value(k as u32, j as u32)).collect())
        .collect();
    let mut cursor = Cursor { bytes: std::fs::read(dir().join(format!("{name}.bin"))).unwrap(), at: 0 };
    // The reference's moments after the step before, decoded.
    let mut previous_moments: Vec<Vec<Vec<f32>>> =
        params.iter().map(|p| vec![vec![0.0; p.len()]; moments.len()]).collect();
    let (mut nearest_checked, mut reference_off) = (0, 0);
    for step in 1..=manifest["steps"].as_u64().unwrap() {
        let mut grads = Vec::new();
        let mut expected = Vec::new();
        for p in &params {
            let n = p.len();
            grads.push(cursor.f32s(n));
            let values = cursor.f32s(n);
            let state: Vec<CompactData> = (0..moments.len())
                .flat_map(|_| {
                    if int8 {
                        vec![CompactData::U8(cursor.u8s(n)), CompactData::F32(cursor.f32s(n.div_ceil(BLOCK)))]
                    } else {
                        vec![CompactData::Bf16(cursor.f32s(n).into_iter().map(bf16::from_f32).collect())]
                    }
                })
                .collect();
            expected.push((values, state));
        }
        let previous = params.clone();
        let mut slices: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        let grad_refs: Vec<Option<&[f32]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
        opt.step(&mut slices, &grad_refs).unwrap();
        let mut dict = opt.state_dict();
        for (k, (values, state)) in expected.into_iter().enumerate() {
            let at = format!("{name} step {step} param {k}");
            for (i, (&ours, &theirs)) in params[k].iter().zip(&values).enumerate() {
                let before = previous[k][i];
                assert!(ulps(before, ours, theirs) <= params_ulps, "{at}[{i}]: {ours:e} vs {theirs:e}");
            }
            params[k] = values;
            let record = dict.params[k].state.as_mut().unwrap();
            if int8 {
                for (j, (decay, squared, map)) in moments.iter().enumerate() {
                    let [(_, _, CompactData::U8(ours)), (_, _, CompactData::F32(our_scales))] =
                        &record.compact[2 * j..2 * j + 2]
                    else {
                        panic!("{at}: 8-bit moments are codes and scales")
                    };
                    let (CompactData::U8(theirs), CompactData::F32(scales)) = (&state[2 * j], &state[2 * j + 1]) else {
                        unreachable!()
                    };
                    for (b, (&a, &s)) in our_scales.iter().zip(scales).enumerate() {
                        assert!(ulps(0.0, a, s) <= 2.0, "{at} moment {j} block {b}: scale {a:e} vs {s:e}");
                    }
                    for (i, (&a, &t)) in ours.iter().zip(theirs).enumerate() {
                        let moment = exact_moment(*decay, previous_moments[k][j][i], grads[k][i], *squared);
                        let x = moment / f64::from(scales[i / BLOCK]);
                        let distance = |code: u8| (x - f64::from(map.value(code))).abs();
                        let slack = 4.0 * f64::from(f32::EPSILON) * x.abs();
                        assert!(
                            distance(a) <= distance(t) + slack,
                            "{at} moment {j}[{i}]: {x:e}: ours {a}, theirs {t}"
                        );
                        let nearest = (0..=255u8).map(distance).fold(f64::INFINITY, f64::min);
                        if distance(t) <= nearest + slack {
                            nearest_checked += 1;
                            assert!(a == t || distance(a) <= nearest + slack, "{at} moment {j}[{i}]: {a} vs {t}");
                        } else {
                            reference_off += 1;
                        }
                    }
                    previous_moments[k][j] =
                        theirs.iter().enumerate().map(|(i, &c)| map.value(c) * scales[i / BLOCK]).collect();
                }
            } else {
                for (j, ((tensor, _, ours), theirs)) in record.compact.iter().zip(&state).enumerate() {
                    let (CompactData::Bf16(a), CompactData::Bf16(b)) = (ours, theirs) else {
                        panic!("{at} {tensor}: another storage type")
                    };
                    assert!(a.iter().zip(b).all(|(x, y)| x.to_bits().abs_diff(y.to_bits()) <= 1), "{at} {tensor}");
                    let differing = a.iter().zip(b).filter(|(x, y)| x != y).count();
                    assert!(differing <= flips, "{at} {tensor}: {differing} values differ");
                    previous_moments[k][j] = b.iter().map(|v| v.to_f32()).collect();
                }
            }
            for ((_, _, ours), theirs) in record.compact.iter_mut().zip(state) {
                *ours = theirs;
            }
        }
        opt.load_state_dict(&dict).unwrap();
    }
    assert_eq!(cursor.at, cursor.bytes.len(), "{name}: fixture bytes left");
    if int8 {
        println!("{name}: {nearest_checked} codes where the reference is nearest, {reference_off} where it is not");
        assert!(nearest_checked > 10 * reference_off, "{name}: the reference's codes are mostly the nearest");
    }
}

/// make_torch_fixtures.py's hash, for the initial parameters.
fn value(param: u32, index: u32) -> f32 {
    let mix = |mut x: u32| {
        x ^= x >> 16;
        x = x.wrapping_mul(0x7FEB_352D);
        x ^= x >> 15;
        x = x.wrapping_mul(0x846C_A68B);
        x ^ (x >> 16)
    };
    let mut h = mix(param.wrapping_mul(0x9E37_79B1).wrapping_add(0x632B_E5AB));
    h = mix(h);
    h = mix(h ^ index.wrapping_mul(0xC2B2_AE3D));
    ((h % 8192) as f32 - 4096.0) / 2048.0
}

fn case(name: &str) -> Value {
    let manifest = json("manifest.json");
    manifest["cases"].as_array().unwrap().iter().find(|c| c["case"] == name).unwrap().clone()
}

/// Against `bitsandbytes`' Adam8bit and AdamW8bit on the CPU: the same arithmetic in the same order, PyTorch's
/// square root against descent's correctly rounded one (an ulp of the step).
#[test]
fn adam_and_adamw_with_8_bit_state_match_bitsandbytes() {
    replay(&case("adam_int8"), 2.0, 4);
    replay(&case("adamw_int8"), 2.0, 4);
}

/// Against `bitsandbytes`' Lion8bit: no root, the same roundings, so the parameters to the bit.
#[test]
fn lion_with_8_bit_state_matches_bitsandbytes() {
    replay(&case("lion_int8"), 0.0, 0);
}

/// Against PyTorch's Adam, AdamW and lion-pytorch's Lion with their moments rounded to bfloat16 after each step.
#[test]
fn bf16_state_matches_the_reference_rounding() {
    replay(&case("adam_bf16"), 2.0, 4);
    replay(&case("adamw_bf16"), 2.0, 4);
    replay(&case("lion_bf16"), 0.0, 0);
}

#[test]
fn compact_state_is_asked_for_by_name_and_refused_where_it_cannot_be() {
    let state_of = |text: &str| -> Vec<String> {
        let spec: Spec = text.parse().unwrap();
        let mut opt = spec.build::<f32>(vec![Param::vector(600)]).unwrap();
        let mut w = vec![0.5_f32; 600];
        opt.step(&mut [&mut w], &[Some(&vec![0.25; 600])]).unwrap();
        let state = opt.state(0).unwrap();
        state.compact().iter().map(|c| format!("{} {} {}", c.name(), c.data().kind().name(), c.shape())).collect()
    };
    assert_eq!(
        state_of("adam(state=\"int8\")"),
        ["exp_avg u8 [600]", "exp_avg_absmax f32 [3]", "exp_avg_sq u8 [600]", "exp_avg_sq_absmax f32 [3]"]
    );
    assert_eq!(state_of("lion(state=\"bf16\")"), ["exp_avg bf16 [600]"]);
    assert!(state_of("adamw").is_empty());
    let error = "adam(state=\"int4\")".parse::<Spec>().unwrap_err().to_string();
    assert!(error.contains("int4") && error.contains("int8"), "{error}");
    let error = "sgd(state=\"int8\")".parse::<Spec>().unwrap_err().to_string();
    assert!(error.contains("state"), "{error}");
    let error = "adam(amsgrad=True, state=\"int8\")".parse::<Spec>().unwrap_err().to_string();
    assert!(error.contains("AMSGrad"), "{error}");
}

/// Stochastic rounding to bfloat16 is unbiased: a value between two bfloat16 neighbours, kept by an optimizer that
/// does not change it (zero gradient, no decay: Lion's moment decays by β₂ = 1), comes back on average as itself.
#[test]
fn stochastic_rounding_is_unbiased() {
    let n = 1 << 16;
    let target = 1.0 + 3.0 / 1024.0; // between 1 and 1 + 2⁻⁷, at 0.375 of the gap
    let spec: Spec = "lion(lr=0.0, betas=(0.0, 0.0), state=\"bf16_stochastic\")".parse().unwrap();
    let mut opt = spec.build::<f32>(vec![Param::vector(n)]).unwrap();
    let mut w = vec![0.0_f32; n];
    opt.step(&mut [&mut w], &[Some(&vec![target; n])]).unwrap();
    let CompactData::Bf16(values) = opt.state(0).unwrap().compact()[0].data().clone() else { unreachable!() };
    let ups = values.iter().filter(|v| v.to_f32() > 1.0).count();
    assert!(values.iter().all(|v| v.to_f32() == 1.0 || v.to_f32() == 1.0 + 1.0 / 128.0));
    let fraction = ups as f64 / n as f64;
    // 0.375 of the way up, within 4 standard deviations of a binomial of 2¹⁶ draws.
    assert!((fraction - 0.375).abs() < 4.0 * (0.375 * 0.625 / n as f64).sqrt(), "{fraction}");
    // Nearest rounding would always go down.
    let spec: Spec = "lion(lr=0.0, betas=(0.0, 0.0), state=\"bf16\")".parse().unwrap();
    let mut opt = spec.build::<f32>(vec![Param::vector(n)]).unwrap();
    opt.step(&mut [&mut w], &[Some(&vec![target; n])]).unwrap();
    let CompactData::Bf16(values) = opt.state(0).unwrap().compact()[0].data().clone() else { unreachable!() };
    assert!(values.iter().all(|v| v.to_f32() == 1.0));
}
