//! Block-wise dynamic 8-bit quantization (Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization"),
//! with the quantization maps, block size and rounding of `bitsandbytes`.
//!
//! A block of [`BLOCK`] values is stored as its largest magnitude (an `f32`) and one byte per value: the index of
//! the map entry nearest the value divided by that magnitude. The dynamic map spends its 256 entries like a float
//! with a decimal exponent: seven decades below 1, each with twice the linear steps of the one below, so that
//! small values keep their relative precision (the second moment spans many decades).

use std::sync::OnceLock;

use crate::kernel::Isa;

/// Values per block, as `bitsandbytes`' 8-bit block-wise optimizers use.
pub const BLOCK: usize = 256;

/// A sorted quantization map of 256 entries in [−1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizationMap {
    values: [f32; 256],
}

/// `torch.linspace(start, end, steps)` in `f32` as PyTorch's CPU kernel computes it (which is how `bitsandbytes`
/// builds its maps): the first half from the start, the second from the end, each value one fused multiply-add.
fn linspace(start: f32, end: f32, steps: usize) -> Vec<f32> {
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| if i < halfway { step.mul_add(i as f32, start) } else { (-step).mul_add((steps - i - 1) as f32, end) })
        .collect()
}

impl QuantizationMap {
    /// `bitsandbytes`' `create_dynamic_map(signed, max_exponent_bits=7, total_bits=8)`: for exponents
    /// 10⁻⁶ … 10⁰, the midpoints of a linear grid over [0.1, 1] with 2^e (signed) or 2^(e+1) (unsigned) steps,
    /// scaled by the exponent (and negated, when signed), with 0 and 1.
    fn dynamic(signed: bool) -> Self {
        let mut data: Vec<f32> = Vec::with_capacity(256);
        for i in 0..7 {
            let items = if signed { (1 << i) + 1 } else { (1 << (i + 1)) + 1 };
            let bounds = linspace(0.1, 1.0, items);
            let scale = 10f64.powf(f64::from(i - 6)) as f32;
            let means: Vec<f32> = bounds.windows(2).map(|pair| (pair[0] + pair[1]) / 2.0).collect();
            data.extend(means.iter().map(|m| scale * m));
            if signed {
                data.extend(means.iter().map(|m| -scale * m));
            }
        }
        data.push(0.0);
        data.push(1.0);
        data.sort_by(f32::total_cmp);
        Self { values: data.try_into().expect("the dynamic map has 256 entries") }
    }

    /// The signed dynamic map, for values of either sign (Adam's first moment).
    pub fn signed() -> &'static Self {
        static MAP: OnceLock<QuantizationMap> = OnceLock::new();
        MAP.get_or_init(|| Self::dynamic(true))
    }

    /// The unsigned dynamic map, for values ≥ 0 (Adam's second moment).
    pub fn unsigned() -> &'static Self {
        static MAP: OnceLock<QuantizationMap> = OnceLock::new();
        MAP.get_or_init(|| Self::dynamic(false))
    }

    /// The bucket table of this map for [`QuantizationMap::fast_code`], built once (for the two dynamic maps).
    pub fn shared_table(&'static self) -> &'static BucketTable {
        static SIGNED: OnceLock<BucketTable> = OnceLock::new();
        static UNSIGNED: OnceLock<BucketTable> = OnceLock::new();
        if std::ptr::eq(self, Self::signed()) {
            SIGNED.get_or_init(|| BucketTable::new(self))
        } else {
            UNSIGNED.get_or_init(|| BucketTable::new(self))
        }
    }

    /// The 256 entries, in increasing order.
    pub fn values(&self) -> &[f32; 256] {
        &self.values
    }

    /// The value of a code.
    #[inline(always)]
    pub fn value(&self, code: u8) -> f32 {
        self.values[usize::from(code)]
    }

    /// The code of the entry nearest `x` (already divided by its block's largest magnitude), as `bitsandbytes`
    /// rounds: the last entry not above `x` (the first, below the map), moved one up if the next entry is
    /// strictly nearer.
    #[inline(always)]
    pub fn code(&self, x: f32) -> u8 {
        let mut i = 0;
        for step in [128, 64, 32, 16, 8, 4, 2, 1] {
            if self.values[i + step] <= x {
                i += step;
            }
        }
        self.nearer(i, x)
    }

    /// `i`, or `i + 1` if that entry is strictly nearer `x`.
    #[inline(always)]
    fn nearer(&self, i: usize, x: f32) -> u8 {
        if i < 255 && (x - self.values[i + 1]).abs() < (x - self.values[i]).abs() {
            (i + 1) as u8
        } else {
            i as u8
        }
    }

    /// [`QuantizationMap::code`] by a table instead of a search, without branches (a value's code is as
    /// unpredictable as the value): see [`BucketTable`].
    #[inline(always)]
    pub fn fast_code(&self, x: f32, table: &BucketTable) -> u8 {
        let (index, position) = bucket(x);
        let entry = table.entries[index as usize];
        let code = (entry & 0xFF) + u32::from(position >= entry >> 8);
        if x.is_nan() {
            0
        } else {
            code as u8
        }
    }
}

/// The smallest magnitude a [`BucketTable`] tells apart: smaller ones share its bucket (no map of ours has a
/// rounding threshold below it, as the table checks when it is built).
pub(crate) const SMALLEST: f32 = 1.0 / (1 << 24) as f32;

/// Bits of the significand below a bucket: the top 8 of the 23 name the bucket.
pub(crate) const BELOW_BUCKET: u32 = 15;

/// Buckets of one sign: 256 for each binade from [`SMALLEST`] up to 1, and one for 1 itself.
pub(crate) const BUCKETS_PER_SIGN: u32 = (1.0f32.to_bits() >> BELOW_BUCKET) - (SMALLEST.to_bits() >> BELOW_BUCKET) + 1;

/// Where `x` falls: its bucket (sign, then magnitude clamped to [[`SMALLEST`], 1]), and its position inside the
/// bucket, counted in the direction of increasing `x` (so from the large magnitudes for negative `x`).
#[inline(always)]
fn bucket(x: f32) -> (u32, u32) {
    // A NaN falls in the first bucket (its code is made 0 afterwards).
    let magnitude = if x.is_nan() { SMALLEST } else { x.abs().clamp(SMALLEST, 1.0) }.to_bits();
    let negative = x.to_bits() >> 31;
    let index = (magnitude >> BELOW_BUCKET) - (SMALLEST.to_bits() >> BELOW_BUCKET) + negative * BUCKETS_PER_SIGN;
    let position = (magnitude & ((1 << BELOW_BUCKET) - 1)) ^ (negative.wrapping_neg() & ((1 << BELOW_BUCKET) - 1));
    (index, position)
}

/// The codes of a map as a table of buckets, for coding without a search.
///
/// A code is a step function of the value (the nearest entry's index), so it is the number of rounding thresholds
/// at or below the value. The buckets split the values by sign and by the top 8 bits of the significand, and are
/// fine enough (relative width 2⁻⁸) that a bucket holds at most one threshold (checked when the table is built).
/// Each bucket's entry holds the code at its low end (the low byte) and the position of its threshold inside it
/// (above: 2¹⁵ when there is none), so a value's code is one load and one comparison; on AVX2, eight at once with
/// a gather.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketTable {
    entries: Vec<u32>,
}

impl BucketTable {
    /// The table of `map`, from its exact codes ([`QuantizationMap::code`]).
    ///
    /// # Panics
    /// If a bucket held two thresholds, or values clamped into a bucket would code otherwise (not so for the
    /// dynamic maps).
    pub fn new(map: &QuantizationMap) -> Self {
        let span = 1u32 << BELOW_BUCKET;
        let entries = (0..2 * BUCKETS_PER_SIGN)
            .map(|index| {
                let (negative, offset) = (index >= BUCKETS_PER_SIGN, index % BUCKETS_PER_SIGN);
                let first = (SMALLEST.to_bits() >> BELOW_BUCKET << BELOW_BUCKET) + (offset << BELOW_BUCKET);
                // The value at a position, counted in the direction of increasing value.
                let value = |position: u32| {
                    let magnitude = f32::from_bits(first + if negative { span - 1 - position } else { position });
                    if negative {
                        -magnitude
                    } else {
                        magnitude
                    }
                };
                let positions = if first == 1.0f32.to_bits() { 0..1 } else { 0..span };
                let base = map.code(value(positions.start));
                let top = map.code(value(positions.end - 1));
                assert!(top <= base.saturating_add(1), "bucket {index} holds more than one threshold");
                let threshold = if top == base {
                    span
                } else {
                    positions.clone().collect::<Vec<_>>().partition_point(|&p| map.code(value(p)) == base) as u32
                };
                u32::from(base) | (threshold << 8)
            })
            .collect();
        let table = BucketTable { entries };
        for x in [0.0, -0.0, SMALLEST / 3.0, -SMALLEST / 3.0, 1.5, -1.5, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(map.fast_code(x, &table), map.code(x), "{x:e} codes otherwise than its clamped bucket");
        }
        table
    }

    /// The entries, for the vector coder.
    pub(crate) fn entries(&self) -> &[u32] {
        &self.entries
    }
}

/// The largest magnitude of a block, as `bitsandbytes` takes it (`fmax` from −FLT_MAX, so NaNs are passed over).
#[inline(always)]
pub fn absmax(block: &[f32]) -> f32 {
    block.iter().fold(-f32::MAX, |max, v| max.max(v.abs()))
}

/// Quantizes one block: its scale, and a code per value into `codes` (eight at a time on AVX2).
#[inline(always)]
pub fn quantize_block(map: &'static QuantizationMap, block: &[f32], codes: &mut [u8]) -> f32 {
    let table = map.shared_table();
    #[cfg(target_arch = "x86_64")]
    match Isa::best() {
        // SAFETY: the CPU has AVX-512; the table is the map's.
        Isa::Avx512 => return unsafe { crate::quantize_avx512::encode(map, table, block, codes) },
        // SAFETY: the CPU has AVX2 and FMA; the table is the map's.
        Isa::Avx2 => return unsafe { crate::quantize_avx2::encode(map, table, block, codes) },
        Isa::Baseline => {}
    }
    encode_scalar(map, table, block, codes)
}

/// [`quantize_block`] one value at a time.
#[inline(always)]
fn encode_scalar(map: &QuantizationMap, table: &BucketTable, block: &[f32], codes: &mut [u8]) -> f32 {
    let scale = absmax(block);
    for (code, &v) in codes.iter_mut().zip(block) {
        *code = map.fast_code(v / scale, table);
    }
    scale
}

/// Decodes one block: `out[i] = map.value(codes[i]) * scale` (eight at a time on AVX2).
#[inline(always)]
pub fn dequantize_block(map: &QuantizationMap, scale: f32, codes: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    match Isa::best() {
        // SAFETY: the CPU has AVX-512.
        Isa::Avx512 => return unsafe { crate::quantize_avx512::decode(map, scale, codes, out) },
        // SAFETY: the CPU has AVX2 and FMA.
        Isa::Avx2 => return unsafe { crate::quantize_avx2::decode(map, scale, codes, out) },
        Isa::Baseline => {}
    }
    decode_scalar(map, scale, codes, out);
}

/// [`dequantize_block`] one value at a time.
#[inline(always)]
fn decode_scalar(map: &QuantizationMap, scale: f32, codes: &[u8], out: &mut [f32]) {
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = map.value(c) * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Encoder = fn(&'static QuantizationMap, &[f32], &mut [u8]) -> f32;
    type Decoder = fn(&QuantizationMap, f32, &[u8], &mut [f32]);

    /// The block coder of every instruction set this CPU runs, the scalar one first.
    fn encoders() -> Vec<(&'static str, Encoder)> {
        let scalar: Encoder = |map, block, codes| encode_scalar(map, map.shared_table(), block, codes);
        let mut coders = vec![("scalar", scalar)];
        #[cfg(target_arch = "x86_64")]
        {
            if Isa::Avx2.supported() {
                // SAFETY: the CPU has AVX2 and FMA; the table is the map's.
                let avx2: Encoder =
                    |map, block, codes| unsafe { crate::quantize_avx2::encode(map, map.shared_table(), block, codes) };
                coders.push(("avx2", avx2));
            }
            if Isa::Avx512.supported() {
                // SAFETY: the CPU has AVX-512; the table is the map's.
                let avx512: Encoder = |map, block, codes| unsafe {
                    crate::quantize_avx512::encode(map, map.shared_table(), block, codes)
                };
                coders.push(("avx512", avx512));
            }
        }
        coders
    }

    /// The block decoder of every instruction set this CPU runs, the scalar one first.
    fn decoders() -> Vec<(&'static str, Decoder)> {
        let scalar: Decoder = decode_scalar;
        let mut coders = vec![("scalar", scalar)];
        #[cfg(target_arch = "x86_64")]
        {
            if Isa::Avx2.supported() {
                // SAFETY: the CPU has AVX2 and FMA.
                let avx2: Decoder =
                    |map, scale, codes, out| unsafe { crate::quantize_avx2::decode(map, scale, codes, out) };
                coders.push(("avx2", avx2));
            }
            if Isa::Avx512.supported() {
                // SAFETY: the CPU has AVX-512.
                let avx512: Decoder =
                    |map, scale, codes, out| unsafe { crate::quantize_avx512::decode(map, scale, codes, out) };
                coders.push(("avx512", avx512));
            }
        }
        coders
    }

    /// The table gives the search's code for every entry, the values an ulp either side of each entry and of each
    /// midpoint, and a spread of values over [−1.1, 1.1].
    #[test]
    fn the_table_finds_what_the_search_finds() {
        for map in [QuantizationMap::signed(), QuantizationMap::unsigned()] {
            let table = map.shared_table();
            let mut probes: Vec<f32> = (0..200_000).map(|i| -1.1 + 2.2 * i as f32 / 200_000.0).collect();
            for pair in map.values().windows(2) {
                for v in [pair[0], (pair[0] + pair[1]) / 2.0] {
                    probes.extend([v, f32::from_bits(v.to_bits() + 1), f32::from_bits(v.to_bits().max(1) - 1)]);
                }
            }
            probes.extend([0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, f32::MIN_POSITIVE]);
            for x in probes {
                assert_eq!(map.fast_code(x, table), map.code(x), "{x:e}");
            }
        }
    }

    /// Every value within 64 ulps of a rounding threshold (where the code changes), and of the ends of the
    /// buckets, codes as the search does: a code is wrong, if anywhere, next to where it changes.
    #[test]
    fn the_table_codes_every_value_near_a_threshold_as_the_search_does() {
        for map in [QuantizationMap::signed(), QuantizationMap::unsigned()] {
            let table = map.shared_table();
            let mut anchors = thresholds(map);
            anchors.extend((0..2 * BUCKETS_PER_SIGN).map(|i| {
                let magnitude = f32::from_bits(
                    (SMALLEST.to_bits() >> BELOW_BUCKET << BELOW_BUCKET) + ((i % BUCKETS_PER_SIGN) << BELOW_BUCKET),
                );
                if i >= BUCKETS_PER_SIGN {
                    -magnitude
                } else {
                    magnitude
                }
            }));
            anchors.extend([0.0, SMALLEST, -SMALLEST, 1.0, -1.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
            let mut probes = Vec::new();
            for anchor in anchors {
                // Within [−1, 1], so that a block's scale stays 1 (and the NaN).
                let near = (-64..=64).map(|k| unorder(order(anchor).saturating_add(k)));
                probes.extend(near.filter(|x| x.is_nan() || x.abs() <= 1.0));
            }
            for (isa, encode) in encoders() {
                let mut codes = vec![0; probes.len()];
                for (chunk, codes) in probes.chunks(BLOCK).zip(codes.chunks_mut(BLOCK)) {
                    // A block whose scale is 1, so that the block coder sees the probes themselves.
                    let mut block = chunk.to_vec();
                    block.push(1.0);
                    let mut block_codes = vec![0; block.len()];
                    assert_eq!(encode(map, &block, &mut block_codes), 1.0);
                    codes.copy_from_slice(&block_codes[..chunk.len()]);
                }
                for (&x, &code) in probes.iter().zip(&codes) {
                    let expected = map.code(x);
                    assert_eq!((map.fast_code(x, table), code), (expected, expected), "{isa}: {x:e}");
                }
            }
        }
    }

    /// The values either side of each rounding threshold (the last with the lower code, the first with the
    /// higher), found by bisection between consecutive entries' values (the code is monotone).
    fn thresholds(map: &QuantizationMap) -> Vec<f32> {
        let mut found = Vec::new();
        for pair in map.values().windows(2) {
            let (mut low, mut high) = (pair[0], pair[1]);
            while order(high) - order(low) > 1 {
                let middle = unorder((order(low) + order(high)) / 2);
                if map.code(middle) == map.code(pair[0]) {
                    low = middle;
                } else {
                    high = middle;
                }
            }
            found.extend([low, high]);
        }
        found
    }

    /// Values whose quotient by the block's scale lies within a few ulps of a rounding threshold, for scales of
    /// many significands and binades: every coder codes them as the division rounds the quotient (a quotient
    /// an ulp off would cross the threshold).
    #[test]
    fn every_coder_codes_quotients_next_to_a_threshold_as_dividing() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for map in [QuantizationMap::signed(), QuantizationMap::unsigned()] {
            let anchors = thresholds(map);
            for exponent in [-126, -100, -57, -56, -20, -1, 0, 1, 30, 100, 101, 126] {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let scale = 2f32.powi(exponent) * (1.0 + (state >> 41) as f32 / 2f32.powi(23));
                let mut block: Vec<f32> = anchors
                    .iter()
                    .flat_map(|&a| (-3..=3).map(move |k| unorder(order(a) + k)))
                    .map(|q| q * scale)
                    .filter(|v| v.abs() <= scale)
                    .collect();
                block.push(scale);
                let expected: Vec<u8> = block.iter().map(|&v| map.code(v / scale)).collect();
                for (isa, encode) in encoders() {
                    let mut codes = vec![0; block.len()];
                    for ((values, codes), chunk) in block.chunks(BLOCK).zip(codes.chunks_mut(BLOCK)).zip(0..) {
                        // Each block holds the scale itself, so that its largest magnitude is the scale.
                        let mut values = values.to_vec();
                        values.push(scale);
                        let mut block_codes = vec![0; values.len()];
                        assert_eq!(encode(map, &values, &mut block_codes), scale, "{isa}, chunk {chunk}");
                        codes.copy_from_slice(&block_codes[..values.len() - 1]);
                    }
                    for ((&v, &code), &want) in block.iter().zip(&codes).zip(&expected) {
                        assert_eq!(code, want, "{isa}: {v:e} / {scale:e} = {:e}", v / scale);
                    }
                }
            }
        }
    }

    /// An order-preserving integer for a float (−0 just below +0).
    fn order(x: f32) -> i64 {
        let bits = x.to_bits();
        if bits >> 31 == 1 {
            -i64::from(bits & 0x7FFF_FFFF) - 1
        } else {
            i64::from(bits)
        }
    }

    fn unorder(key: i64) -> f32 {
        if key < 0 {
            -f32::from_bits((-key - 1) as u32)
        } else {
            f32::from_bits(key as u32)
        }
    }

    /// Every decoder gives the map's values times the scale, for every code, in blocks of every length.
    #[test]
    fn decoding_gives_the_entries_times_the_scale() {
        let map = QuantizationMap::unsigned();
        let codes: Vec<u8> = (0..=255).chain(0..=255).rev().collect();
        for (isa, decode) in decoders() {
            for len in [0, 1, 7, 8, 9, 15, 16, 17, 255, 256, 300] {
                let mut out = vec![0.0; len.min(codes.len())];
                decode(map, 0.37, &codes[..out.len()], &mut out);
                for (&o, &c) in out.iter().zip(&codes) {
                    assert_eq!(o.to_bits(), (map.value(c) * 0.37).to_bits(), "{isa}, {len} values");
                }
            }
        }
    }

    /// Every coder gives each value the code of its quotient by the block's scale, as the division rounds it, for
    /// blocks of every length (the vector bodies and their scalar tails) and scales from the subnormal to the
    /// largest, with infinities and NaNs among the values. (Random values seldom fall next to a threshold, where
    /// multiplying by the reciprocal could code otherwise than dividing: the test of quotients next to a threshold
    /// puts them there.)
    #[test]
    fn every_coder_codes_the_quotients_as_dividing() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for map in [QuantizationMap::signed(), QuantizationMap::unsigned()] {
            for exponent in (-149..=127).step_by(3) {
                for len in [1, 15, 16, 17, 100, 256] {
                    let top = 2f64.powi(exponent) as f32;
                    let mut block: Vec<f32> = (0..len)
                        .map(|_| {
                            // Values spread over 40 binades below the top, of both signs for the signed map.
                            let bits = random();
                            let magnitude =
                                top * (2f32.powi(-((bits % 40) as i32))) * (1.0 + (bits >> 40) as f32 / 2f32.powi(24));
                            if std::ptr::eq(map, QuantizationMap::signed()) && bits & (1 << 20) != 0 {
                                -magnitude
                            } else {
                                magnitude
                            }
                        })
                        .collect();
                    if len == 100 {
                        block[7] = f32::NAN;
                        block[50] = if exponent > 0 { f32::INFINITY } else { 0.0 };
                    }
                    let scale = absmax(&block);
                    let expected: Vec<u8> = block.iter().map(|&v| map.code(v / scale)).collect();
                    for (isa, encode) in encoders() {
                        let mut codes = vec![0; len];
                        assert_eq!(encode(map, &block, &mut codes).to_bits(), scale.to_bits(), "{isa}");
                        for ((&v, &code), &want) in block.iter().zip(&codes).zip(&expected) {
                            let want = if v.is_nan() || (v / scale).is_nan() { 0 } else { want };
                            assert_eq!(code, want, "{isa}: {v:e} in a block of scale {scale:e}");
                        }
                    }
                }
            }
        }
    }
}
