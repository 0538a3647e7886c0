//! The step of a parameter whose moments are compact (8-bit or bfloat16): block by block, each block's moments
//! decoded to `f32`, updated by the rule's own arithmetic, and encoded again, in one pass over memory, with the
//! blocks split across threads.

use half::bf16;
use rayon::prelude::*;

use crate::quantize::{quantize_block, QuantizationMap, BLOCK};
use crate::{CompactData, CompactTensor, Float};

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
    Bf16 { stochastic: Option<u64> },
}

/// One moment's storage for a run of blocks.
enum Store<'a> {
    Int8 { map: &'static QuantizationMap, codes: &'a mut [u8], scales: &'a mut [f32] },
    Bf16 { stochastic: Option<u64>, values: &'a mut [bf16] },
}

impl Store<'_> {
    fn decode(&self, block: usize, out: &mut [f32]) {
        let range = block * BLOCK..(block * BLOCK + out.len());
        match self {
            Store::Int8 { map, codes, scales } => {
                let scale = scales[block];
                for (o, &c) in out.iter_mut().zip(&codes[range]) {
                    *o = map.value(c) * scale;
                }
            }
            Store::Bf16 { values, .. } => {
                for (o, v) in out.iter_mut().zip(&values[range]) {
                    *o = v.to_f32();
                }
            }
        }
    }

    /// Encodes block `block` (its elements start at global index `first`).
    fn encode(&mut self, block: usize, first: usize, values: &[f32]) {
        let range = block * BLOCK..(block * BLOCK + values.len());
        match self {
            Store::Int8 { map, codes, scales } => scales[block] = quantize_block(map, values, &mut codes[range]),
            Store::Bf16 { stochastic: None, values: out } => {
                for (o, &v) in out[range].iter_mut().zip(values) {
                    *o = bf16::from_f32(v);
                }
            }
            Store::Bf16 { stochastic: Some(seed), values: out } => {
                for (k, (o, &v)) in out[range].iter_mut().zip(values).enumerate() {
                    *o = stochastic_bf16(v, *seed, (first + k) as u64);
                }
            }
        }
    }
}

/// Rounds `v` to bfloat16 up or down at random, with the probability of each in proportion to its nearness: the
/// expected value is `v`. The random bits are a hash of the seed and the index, so a step is reproducible.
fn stochastic_bf16(v: f32, seed: u64, index: u64) -> bf16 {
    if !v.is_finite() {
        return bf16::from_f32(v);
    }
    let noise = (mix(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)) & 0xFFFF) as u32;
    bf16::from_bits(((v.to_bits().wrapping_add(noise)) >> 16) as u16)
}

/// SplitMix64's finalizer.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
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
    param: &'a mut [T],
    grad: &'a [T],
    stores: Vec<Store<'a>>,
}

/// Steps a parameter whose moments are `compact`, stored as `encodings` say: `update(param, grad, moments)`
/// updates one element, its moments decoded to `f32` (and encoded again after its block).
pub(crate) fn step<T: Float>(
    param: &mut [T],
    grad: &[T],
    compact: &mut [CompactTensor],
    encodings: &[Encoding],
    update: impl Fn(&mut T, T, &mut [f32; MAX_MOMENTS]) + Sync,
) {
    let mut tasks = Vec::with_capacity(param.len().div_ceil(TASK));
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
        tasks.push(Task { first, param: p, grad: g, stores: own });
        (param, grad, stores, first) = (p_rest, g_rest, rest, first + at);
    }
    tasks.par_iter_mut().for_each(|task| {
        let mut moments = [[0.0_f32; BLOCK]; MAX_MOMENTS];
        for (block, (p, g)) in task.param.chunks_mut(BLOCK).zip(task.grad.chunks(BLOCK)).enumerate() {
            let n = p.len();
            for (store, moment) in task.stores.iter().zip(&mut moments) {
                store.decode(block, &mut moment[..n]);
            }
            for (k, (p, &g)) in p.iter_mut().zip(g).enumerate() {
                let mut element = [moments[0][k], moments[1][k]];
                update(p, g, &mut element);
                moments[0][k] = element[0];
                moments[1][k] = element[1];
            }
            let start = task.first + block * BLOCK;
            for (store, moment) in task.stores.iter_mut().zip(&moments) {
                store.encode(block, start, &moment[..n]);
            }
        }
    });
}
