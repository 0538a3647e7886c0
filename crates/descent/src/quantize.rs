//! Block-wise dynamic 8-bit quantization (Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization"),
//! with the quantization maps, block size and rounding of `bitsandbytes`.
//!
//! A block of [`BLOCK`] values is stored as its largest magnitude (an `f32`) and one byte per value: the index of
//! the map entry nearest the value divided by that magnitude. The dynamic map spends its 256 entries like a float
//! with a decimal exponent: seven decades below 1, each with twice the linear steps of the one below, so that
//! small values keep their relative precision (the second moment spans many decades).

use std::sync::OnceLock;

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

    /// The table of this map for [`QuantizationMap::fast_code`], built once (for the two dynamic maps).
    pub fn shared_table(&'static self) -> &'static CodeTable {
        static SIGNED: OnceLock<CodeTable> = OnceLock::new();
        static UNSIGNED: OnceLock<CodeTable> = OnceLock::new();
        if std::ptr::eq(self, Self::signed()) {
            SIGNED.get_or_init(|| self.table())
        } else {
            UNSIGNED.get_or_init(|| self.table())
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

    /// [`QuantizationMap::code`] by a table instead of a search: the top 16 bits of `x` (sign, exponent, 7 bits of
    /// significand) name a bucket that holds at most one entry of the map (checked when the table is built), and
    /// the table gives the last entry not above the bucket's lowest value. The same code, in a few loads.
    ///
    /// Without branches (a value's code is as unpredictable as the value), so selects rather than jumps.
    #[inline(always)]
    pub fn fast_code(&self, x: f32, table: &CodeTable) -> u8 {
        let below = usize::from(table.0[(x.to_bits() >> 16) as usize]);
        let above = (below + 1).min(255);
        let i = below + usize::from((below < 255) & (self.values[above] <= x));
        let next = (i + 1).min(255);
        let nearer = (i < 255) & ((x - self.values[next]).abs() < (x - self.values[i]).abs());
        (i + usize::from(nearer)) as u8
    }

    /// The table of [`QuantizationMap::fast_code`].
    ///
    /// # Panics
    /// If a bucket held two entries of the map (not so for the dynamic maps).
    pub fn table(&self) -> CodeTable {
        let mut table: Box<[u8; 1 << 16]> = vec![0; 1 << 16].into_boxed_slice().try_into().expect("2¹⁶ entries");
        for (key, slot) in table.iter_mut().enumerate() {
            let key = key as u32;
            // The bucket's lowest value: the smallest bits for positives, the largest for negatives.
            let low = f32::from_bits(if key & 0x8000 == 0 { key << 16 } else { (key << 16) | 0xFFFF });
            let high = f32::from_bits(if key & 0x8000 == 0 { (key << 16) | 0xFFFF } else { key << 16 });
            let below = self.values.iter().rposition(|&v| v <= low).unwrap_or(0);
            let inside = self.values.iter().filter(|&&v| v > low && v <= high).count();
            assert!(low.is_nan() || high.is_nan() || inside <= 1, "bucket {key:#x} holds {inside} entries");
            *slot = below as u8;
        }
        CodeTable(table)
    }
}

/// For each bucket of 16 top bits of an `f32`, the last entry of a map not above the bucket's lowest value.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeTable(Box<[u8; 1 << 16]>);

/// The largest magnitude of a block, as `bitsandbytes` takes it (`fmax` from −FLT_MAX, so NaNs are passed over).
#[inline(always)]
pub fn absmax(block: &[f32]) -> f32 {
    block.iter().fold(-f32::MAX, |max, v| max.max(v.abs()))
}

/// Quantizes one block: its scale, and a code per value into `codes`.
#[inline(always)]
pub fn quantize_block(map: &'static QuantizationMap, block: &[f32], codes: &mut [u8]) -> f32 {
    let scale = absmax(block);
    let table = map.shared_table();
    for (code, &v) in codes.iter_mut().zip(block) {
        *code = map.fast_code(v / scale, table);
    }
    scale
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
