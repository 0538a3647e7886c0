//! Block-wise 8-bit coding on AVX2 vectors, eight values at a time: decoding gathers map entries by code, and
//! coding gathers [`BucketTable`] entries, so that a code costs a comparison rather than a search. The results are
//! those of the scalar coder in [`crate::quantize`], to the bit (tested on every rounding threshold).

use std::arch::x86_64::*;

use crate::quantize::{BucketTable, QuantizationMap, BELOW_BUCKET, BUCKETS_PER_SIGN, SMALLEST};

/// `out[i] = map.value(codes[i]) * scale`.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `codes` and `out` are as long.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn decode(map: &QuantizationMap, scale: f32, codes: &[u8], out: &mut [f32]) {
    let values = map.values().as_ptr();
    let scales = _mm256_set1_ps(scale);
    let whole = codes.len() / 8 * 8;
    for (o, c) in out[..whole].chunks_exact_mut(8).zip(codes[..whole].chunks_exact(8)) {
        // SAFETY: eight bytes of `c` are read, and the gathered indices are bytes, inside the 256 entries.
        unsafe {
            let index = _mm256_cvtepu8_epi32(_mm_loadl_epi64(c.as_ptr().cast()));
            let value = _mm256_i32gather_ps::<4>(values, index);
            _mm256_storeu_ps(o.as_mut_ptr(), _mm256_mul_ps(value, scales));
        }
    }
    for (o, &c) in out[whole..].iter_mut().zip(&codes[whole..]) {
        *o = map.value(c) * scale;
    }
}

/// Codes `block` with `map` into `codes` and returns its scale (its largest magnitude, NaNs passed over), as
/// [`crate::quantize::quantize_block`] does.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `table` is `map`'s; `block` and `codes` are as long.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn encode(map: &QuantizationMap, table: &BucketTable, block: &[f32], codes: &mut [u8]) -> f32 {
    let whole = block.len() / 8 * 8;
    let magnitude_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF));
    let mut largest = _mm256_set1_ps(-f32::MAX);
    for chunk in block[..whole].chunks_exact(8) {
        // SAFETY: eight values of `chunk` are read.
        let v = unsafe { _mm256_loadu_ps(chunk.as_ptr()) };
        // A NaN magnitude is passed over: `max` gives its second operand when the first is a NaN.
        largest = _mm256_max_ps(_mm256_and_ps(v, magnitude_mask), largest);
    }
    // No lane holds a NaN, so the lanes' maximum is a plain one: halves, quarters, then the last two.
    let half = _mm_max_ps(_mm256_castps256_ps128(largest), _mm256_extractf128_ps::<1>(largest));
    let quarter = _mm_max_ps(half, _mm_movehl_ps(half, half));
    let lanes = _mm_cvtss_f32(_mm_max_ss(quarter, _mm_shuffle_ps::<1>(quarter, quarter)));
    let scale = block[whole..].iter().fold(lanes, |max, v| max.max(v.abs()));

    let scales = _mm256_set1_ps(scale);
    let (smallest, one) = (_mm256_set1_ps(SMALLEST), _mm256_set1_ps(1.0));
    let first_bucket = _mm256_set1_epi32((SMALLEST.to_bits() >> BELOW_BUCKET) as i32);
    let per_sign = _mm256_set1_epi32(BUCKETS_PER_SIGN as i32);
    let position_mask = _mm256_set1_epi32((1 << BELOW_BUCKET) - 1);
    let (low_byte, one_int) = (_mm256_set1_epi32(0xFF), _mm256_set1_epi32(1));
    let entries = table.entries().as_ptr().cast::<i32>();
    for (c, chunk) in codes[..whole].chunks_exact_mut(8).zip(block[..whole].chunks_exact(8)) {
        // SAFETY: eight values are read and eight bytes written; the gathered index is a bucket of the table (the
        // magnitude is clamped to [SMALLEST, 1]).
        unsafe {
            let x = _mm256_div_ps(_mm256_loadu_ps(chunk.as_ptr()), scales);
            let magnitude =
                _mm256_castps_si256(_mm256_min_ps(_mm256_max_ps(_mm256_and_ps(x, magnitude_mask), smallest), one));
            let negative = _mm256_srai_epi32::<31>(_mm256_castps_si256(x));
            let index = _mm256_add_epi32(
                _mm256_sub_epi32(_mm256_srli_epi32::<BELOW_BUCKET_I32>(magnitude), first_bucket),
                _mm256_and_si256(negative, per_sign),
            );
            let position =
                _mm256_xor_si256(_mm256_and_si256(magnitude, position_mask), _mm256_and_si256(negative, position_mask));
            let entry = _mm256_i32gather_epi32::<4>(entries, index);
            let threshold = _mm256_srli_epi32::<8>(entry);
            // base + 1 − (threshold > position): the base, plus one at or past the threshold.
            let code = _mm256_add_epi32(
                _mm256_add_epi32(_mm256_and_si256(entry, low_byte), one_int),
                _mm256_cmpgt_epi32(threshold, position),
            );
            let not_nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_ORD_Q>(x, x));
            let code = _mm256_and_si256(code, not_nan);
            let words = _mm_packus_epi32(_mm256_castsi256_si128(code), _mm256_extracti128_si256::<1>(code));
            _mm_storel_epi64(c.as_mut_ptr().cast(), _mm_packus_epi16(words, words));
        }
    }
    for (c, &v) in codes[whole..].iter_mut().zip(&block[whole..]) {
        *c = map.fast_code(v / scale, table);
    }
    scale
}

/// [`BELOW_BUCKET`] as a shift count.
const BELOW_BUCKET_I32: i32 = BELOW_BUCKET as i32;
