//! What several test files share.

/// A deterministic value in [-1, 1], different for every (step, tensor, index): gradients and starting points.
pub fn value(step: usize, tensor: usize, i: usize) -> f64 {
    let mut x = (step as u64 * 0x9E37_79B9 + tensor as u64 * 0x85EB_CA77 + i as u64 * 0xC2B2_AE3D) ^ 0x27D4_EB2F;
    x ^= x >> 15;
    x = x.wrapping_mul(0x2C1B_3C6D);
    x ^= x >> 12;
    (x % 2001) as f64 / 1000.0 - 1.0
}
