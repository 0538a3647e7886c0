//! Block-wise 8-bit coding on AVX-512 vectors, sixteen values at a time, as [`crate::quantize_avx2`] codes eight:
//! decoding gathers map entries by code, and coding gathers [`BucketTable`] entries. The division of each value by
//! its block's scale is a multiplication by the scale's reciprocal corrected by two fused multiply-adds, which
//! rounds as the division does (Markstein's theorem, as [`crate::torch_ops`]'s `Divisor`) while the scale lies in
//! [2⁻⁵⁶, 2¹⁰⁰]: then the reciprocal, every quotient that can change a code (at least [`SMALLEST`] in magnitude)
//! and its remainder (zero, or a multiple of 2⁻⁴⁶ times the quotient's and the scale's binades) are normal numbers,
//! so the remainder is exact, also with subnormals flushed. Blocks with a scale outside divide. The results are
//! those of the scalar coder in [`crate::quantize`], to the bit (tested next to every rounding threshold, at
//! scales across the range).

use std::arch::x86_64::*;

use crate::quantize::{BucketTable, QuantizationMap, BELOW_BUCKET, BUCKETS_PER_SIGN, SMALLEST};

/// `out[i] = map.value(codes[i]) * scale`.
///
/// # Safety
/// The CPU must have AVX-512 (F, BW, VL, DQ); `codes` and `out` are as long.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
pub(crate) unsafe fn decode(map: &QuantizationMap, scale: f32, codes: &[u8], out: &mut [f32]) {
    let values = map.values().as_ptr();
    let scales = _mm512_set1_ps(scale);
    let whole = codes.len() / 16 * 16;
    for (o, c) in out[..whole].chunks_exact_mut(16).zip(codes[..whole].chunks_exact(16)) {
        // SAFETY: sixteen bytes of `c` are read and sixteen values of `o` written; the gathered indices are bytes,
        // inside the 256 entries.
        unsafe {
            let index = _mm512_cvtepu8_epi32(_mm_loadu_si128(c.as_ptr().cast()));
            let value = _mm512_i32gather_ps::<4>(index, values);
            _mm512_storeu_ps(o.as_mut_ptr(), _mm512_mul_ps(value, scales));
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
/// The CPU must have AVX-512 (F, BW, VL, DQ); `table` is `map`'s; `block` and `codes` are as long.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
pub(crate) unsafe fn encode(map: &QuantizationMap, table: &BucketTable, block: &[f32], codes: &mut [u8]) -> f32 {
    let whole = block.len() / 16 * 16;
    let mut largest = _mm512_set1_ps(-f32::MAX);
    for chunk in block[..whole].chunks_exact(16) {
        // SAFETY: sixteen values of `chunk` are read.
        let v = unsafe { _mm512_loadu_ps(chunk.as_ptr()) };
        // A NaN magnitude is passed over: `max` gives its second operand when the first is a NaN.
        largest = _mm512_max_ps(_mm512_abs_ps(v), largest);
    }
    // No lane holds a NaN, so the lanes' maximum is a plain one.
    let scale = block[whole..].iter().fold(_mm512_reduce_max_ps(largest), |max, v| max.max(v.abs()));

    let reciprocal = 1.0 / scale;
    let exact = (2f32.powi(-56)..=2f32.powi(100)).contains(&scale);
    let (scales, reciprocals) = (_mm512_set1_ps(scale), _mm512_set1_ps(reciprocal));
    let (smallest, one) = (_mm512_set1_ps(SMALLEST), _mm512_set1_ps(1.0));
    let first_bucket = _mm512_set1_epi32((SMALLEST.to_bits() >> BELOW_BUCKET) as i32);
    let per_sign = _mm512_set1_epi32(BUCKETS_PER_SIGN as i32);
    let position_mask = _mm512_set1_epi32((1 << BELOW_BUCKET) - 1);
    let low_byte = _mm512_set1_epi32(0xFF);
    let entries = table.entries().as_ptr().cast::<i32>();
    for (c, chunk) in codes[..whole].chunks_exact_mut(16).zip(block[..whole].chunks_exact(16)) {
        // SAFETY: sixteen values are read and sixteen bytes written; the gathered index is a bucket of the table
        // (the magnitude is clamped to [SMALLEST, 1]).
        unsafe {
            let v = _mm512_loadu_ps(chunk.as_ptr());
            let x = if exact {
                let quotient = _mm512_mul_ps(v, reciprocals);
                let remainder = _mm512_fnmadd_ps(quotient, scales, v);
                _mm512_fmadd_ps(remainder, reciprocals, quotient)
            } else {
                _mm512_div_ps(v, scales)
            };
            let magnitude = _mm512_castps_si512(_mm512_min_ps(_mm512_max_ps(_mm512_abs_ps(x), smallest), one));
            let negative = _mm512_srai_epi32::<31>(_mm512_castps_si512(x));
            let index = _mm512_add_epi32(
                _mm512_sub_epi32(_mm512_srli_epi32::<BELOW_BUCKET>(magnitude), first_bucket),
                _mm512_and_si512(negative, per_sign),
            );
            let position =
                _mm512_xor_si512(_mm512_and_si512(magnitude, position_mask), _mm512_and_si512(negative, position_mask));
            let entry = _mm512_i32gather_epi32::<4>(index, entries);
            // The base, plus one at or past the threshold.
            let past = _mm512_cmple_epu32_mask(_mm512_srli_epi32::<8>(entry), position);
            let base = _mm512_and_si512(entry, low_byte);
            let code = _mm512_mask_add_epi32(base, past, base, _mm512_set1_epi32(1));
            // A NaN codes as 0.
            let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(x, x);
            _mm_storeu_si128(c.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(_mm512_maskz_mov_epi32(ordered, code)));
        }
    }
    for (c, &v) in codes[whole..].iter_mut().zip(&block[whole..]) {
        *c = map.fast_code(v / scale, table);
    }
    scale
}
