//! The step of a parameter whose moments are compact (8-bit or bfloat16): block by block, each block's moments
//! decoded to `f32`, updated by the rule's own arithmetic, and encoded again, in one pass over memory, with the
//! blocks split across threads.

use half::bf16;
use rayon::prelude::*;

use crate::kernel::prefetch::{from_memory, prefetch};
use crate::kernel::Inline;
use crate::quantize::{dequantize_block, quantize_block, QuantizationMap, BLOCK};
use crate::{with_best_isa, CompactData, CompactTensor, Float};

/// Elements per parallel task: whole blocks, large enough to pay for the task.
const TASK: usize = 64 * BLOCK;

/// The most moments a compact rule keeps (Adam's two).
pub(crate) const MAX_MOMENTS: usize = 2;

/// How one moment is stored.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Encoding {
    /// 8-bit codes of this map, with a scale per block (two compact tensors: codes, then scales).
    Int8(&'static QuantizationMap),
    /// bfloat16 (one compact tensor), rounded to nearest, or stochastically with a seed for this step.
    Bf16 { stochastic: Option<u32> },
}

/// One moment's storage for a run of blocks.
enum Store<'a> {
    Int8 { map: &'static QuantizationMap, codes: &'a mut [u8], scales: &'a mut [f32] },
    Bf16 { stochastic: Option<u32>, values: &'a mut [bf16] },
}

impl Store<'_> {
    #[inline(always)]
    fn decode(&self, block: usize, out: &mut [f32]) {
        let range = block * BLOCK..(block * BLOCK + out.len());
        match self {
            Store::Int8 { map, codes, scales } => {
                dequantize_block(map, scales[block], &codes[range], out);
            }
            Store::Bf16 { values, .. } => {
                for (o, v) in out.iter_mut().zip(&values[range]) {
                    *o = v.to_f32();
                }
            }
        }
    }

    /// Encodes block `block` (its elements start at global index `first`).
    #[inline(always)]
    fn encode(&mut self, block: usize, first: usize, values: &[f32]) {
        let range = block * BLOCK..(block * BLOCK + values.len());
        match self {
            Store::Int8 { map, codes, scales } => scales[block] = quantize_block(map, values, &mut codes[range]),
            Store::Bf16 { stochastic: None, values: out } => {
                for (o, &v) in out[range].iter_mut().zip(values) {
                    *o = nearest_bf16(v);
                }
            }
            Store::Bf16 { stochastic: Some(seed), values: out } => {
                for (k, (o, &v)) in out[range].iter_mut().zip(values).enumerate() {
                    *o = stochastic_bf16(v, *seed, (first + k) as u32);
                }
            }
        }
    }
}

/// Rounds `v` to the nearest bfloat16, ties to even, as `half` does, without branches (so that the loop
/// vectorizes): NaNs stay NaNs (quiet).
#[inline(always)]
fn nearest_bf16(v: f32) -> bf16 {
    let bits = v.to_bits();
    let rounded = (bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) >> 16) as u16;
    let nan = ((bits >> 16) as u16) | 0x0040;
    bf16::from_bits(if v.is_nan() { nan } else { rounded })
}

/// Rounds `v` to bfloat16 up or down at random, with the probability of each in proportion to its nearness: the
/// expected value is `v`. The random bits are a hash of the seed and the index (32-bit, so that the loop runs on
/// vectors), so a step is reproducible. Infinities and NaNs round to nearest; both roundings are computed and one
/// selected, without branches, so that the loop vectorizes.
#[inline(always)]
fn stochastic_bf16(v: f32, seed: u32, index: u32) -> bf16 {
    let noise = mix(seed ^ index.wrapping_mul(0x9E37_79B9)) & 0xFFFF;
    let stochastic = (v.to_bits().wrapping_add(noise) >> 16) as u16;
    let nearest = nearest_bf16(v).to_bits();
    bf16::from_bits(if v.is_finite() { stochastic } else { nearest })
}

/// A 32-bit integer hash (lowbias32).
#[inline(always)]
fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// Splits the compact tensors into one store per moment, in the order of `encodings`.
fn stores<'a>(compact: &'a mut [CompactTensor], encodings: &[Encoding]) -> Vec<Store<'a>> {
    let mut tensors = compact.iter_mut();
    encodings
        .iter()
        .map(|encoding| match *encoding {
            Encoding::Int8(map) => {
                let (Some(codes), Some(scales)) = (tensors.next(), tensors.next()) else {
                    unreachable!("an 8-bit moment is two compact tensors")
                };
                let (CompactData::U8(codes), CompactData::F32(scales)) = (&mut codes.data, &mut scales.data) else {
                    unreachable!("codes are u8 and scales f32")
                };
                Store::Int8 { map, codes, scales }
            }
            Encoding::Bf16 { stochastic } => {
                let Some(CompactTensor { data: CompactData::Bf16(values), .. }) = tensors.next() else {
                    unreachable!("a bfloat16 moment is one bf16 tensor")
                };
                Store::Bf16 { stochastic, values }
            }
        })
        .collect()
}

/// Splits a store at element `at` (a multiple of the block).
fn split_store(store: Store<'_>, at: usize) -> (Store<'_>, Store<'_>) {
    match store {
        Store::Int8 { map, codes, scales } => {
            let (codes_a, codes_b) = codes.split_at_mut(at.min(codes.len()));
            let (scales_a, scales_b) = scales.split_at_mut(at.div_ceil(BLOCK).min(scales.len()));
            (
                Store::Int8 { map, codes: codes_a, scales: scales_a },
                Store::Int8 { map, codes: codes_b, scales: scales_b },
            )
        }
        Store::Bf16 { stochastic, values } => {
            let (a, b) = values.split_at_mut(at.min(values.len()));
            (Store::Bf16 { stochastic, values: a }, Store::Bf16 { stochastic, values: b })
        }
    }
}

/// One task's share: its first element, its parameters and gradients, and its stores.
struct Task<'a, T> {
    first: usize,
    /// Whether the parameter comes from memory, so that the loop asks for its data ahead.
    ahead: bool,
    param: &'a mut [T],
    grad: &'a [T],
    stores: Vec<Store<'a>>,
}

/// Steps a parameter whose moments are `compact`, stored as `encodings` say: `update(param, grad, m, v)` updates
/// one element, its moments decoded to `f32` (and encoded again after its block; a rule with one moment ignores
/// the second).
pub(crate) fn step<T: Float>(
    param: &mut [T],
    grad: &[T],
    compact: &mut [CompactTensor],
    encodings: &[Encoding],
    update: impl Fn(&mut T, T, &mut f32, &mut f32) + Sync,
) {
    let mut tasks = Vec::with_capacity(param.len().div_ceil(TASK));
    // The parameter, its gradient, and its moments in fewer bytes.
    let ahead = from_memory::<T>(param.len(), 3);
    let (mut param, mut grad, mut stores, mut first) = (param, grad, stores(compact, encodings), 0);
    while !param.is_empty() {
        let at = TASK.min(param.len());
        let (p, p_rest) = param.split_at_mut(at);
        let (g, g_rest) = grad.split_at(at);
        let (mut own, mut rest) = (Vec::with_capacity(stores.len()), Vec::with_capacity(stores.len()));
        for store in stores {
            let (a, b) = split_store(store, at);
            own.push(a);
            rest.push(b);
        }
        tasks.push(Task { first, ahead, param: p, grad: g, stores: own });
        (param, grad, stores, first) = (p_rest, g_rest, rest, first + at);
    }
    // Each task's blocks compiled for the best instruction set (the rules' fused multiply-adds in hardware).
    tasks.par_iter_mut().for_each(|task| {
        with_best_isa(Inline(
            #[inline(always)]
            || blocks(task, &update),
        ))
    });
}

/// One task's blocks.
#[inline(always)]
fn blocks<T: Float>(task: &mut Task<'_, T>, update: &impl Fn(&mut T, T, &mut f32, &mut f32)) {
    if let [Store::Bf16 { stochastic, values: m }, Store::Bf16 { stochastic: same, values: v }] =
        task.stores.as_mut_slice()
    {
        if stochastic == same {
            let first = task.first;
            match *stochastic {
                None => elementwise(task.ahead, task.param, task.grad, m, v, update, |x, _| nearest_bf16(x)),
                Some(seed) => elementwise(task.ahead, task.param, task.grad, m, v, update, |x, k| {
                    stochastic_bf16(x, seed, (first + k) as u32)
                }),
            }
            return;
        }
    }
    let mut moments = [[0.0_f32; BLOCK]; MAX_MOMENTS];
    for block in 0..task.param.len().div_ceil(BLOCK) {
        if task.ahead {
            let at = block * BLOCK + AHEAD;
            prefetch(task.param, at, BLOCK);
            prefetch(task.grad, at, BLOCK);
            for store in &task.stores {
                if let Store::Int8 { codes, .. } = store {
                    prefetch(codes, at, BLOCK);
                }
            }
        }
        let range = block * BLOCK..((block + 1) * BLOCK).min(task.param.len());
        let (p, g) = (&mut task.param[range.clone()], &task.grad[range]);
        let n = p.len();
        for (store, moment) in task.stores.iter().zip(&mut moments) {
            store.decode(block, &mut moment[..n]);
        }
        let [first, second] = &mut moments;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(&mut first[..n]).zip(&mut second[..n]) {
            update(p, g, m, v);
        }
        let start = task.first + block * BLOCK;
        for (store, moment) in task.stores.iter_mut().zip(&moments) {
            store.encode(block, start, &moment[..n]);
        }
    }
}

/// Two bfloat16 moments stepped in one pass, element by element (bfloat16 needs no block's scale, so nothing is
/// kept between decoding, updating and rounding): `round(value, k)` rounds the value of the task's `k`th element.
#[inline(always)]
fn elementwise<T: Float>(
    ahead: bool,
    param: &mut [T],
    grad: &[T],
    m: &mut [bf16],
    v: &mut [bf16],
    update: &impl Fn(&mut T, T, &mut f32, &mut f32),
    round: impl Fn(f32, usize) -> bf16,
) {
    // A cache line of each moment at a time, in arrays of known length (so that each line's loop needs no set-up),
    // asking for the lines AHEAD values on if `ahead` (requests for longer runs at once, in bursts, were slower);
    // then the values that fill no line.
    const LINE: usize = 32;
    let whole = param.len() / LINE * LINE;
    for start in (0..whole).step_by(LINE) {
        if ahead {
            prefetch(param, start + AHEAD, LINE);
            prefetch(grad, start + AHEAD, LINE);
            prefetch(m, start + AHEAD, LINE);
            prefetch(v, start + AHEAD, LINE);
        }
        let line = start..start + LINE;
        let p: &mut [T; LINE] = (&mut param[line.clone()]).try_into().expect("a whole line");
        let g: &[T; LINE] = grad[line.clone()].try_into().expect("a whole line");
        let m: &mut [bf16; LINE] = (&mut m[line.clone()]).try_into().expect("a whole line");
        let v: &mut [bf16; LINE] = (&mut v[line]).try_into().expect("a whole line");
        for k in 0..LINE {
            let (mut m_value, mut v_value) = (m[k].to_f32(), v[k].to_f32());
            update(&mut p[k], g[k], &mut m_value, &mut v_value);
            (m[k], v[k]) = (round(m_value, start + k), round(v_value, start + k));
        }
    }
    let rest = param[whole..].iter_mut().zip(&grad[whole..]).zip(&mut m[whole..]).zip(&mut v[whole..]);
    for (k, (((p, &g), m), v)) in rest.enumerate() {
        let (mut m_value, mut v_value) = (m.to_f32(), v.to_f32());
        update(p, g, &mut m_value, &mut v_value);
        (*m, *v) = (round(m_value, whole + k), round(v_value, whole + k));
    }
}

/// How far ahead of the element it steps a compact step asks for data, in elements (2 KiB of an `f32` array):
/// its loads take more instructions per byte than the fused pass's, so fewer of them are in flight at once.
const AHEAD: usize = 512;
