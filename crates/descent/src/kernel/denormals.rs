//! Subnormal numbers treated as zero while a kernel runs, and only then.
//!
//! A moment whose gradient stays zero (the weight of an always-blank pixel) decays geometrically until it
//! underflows. On x86 every operation that reads or produces a subnormal number takes a microcode assist, dozens
//! to hundreds of cycles, so an optimizer step slows down by half or more in the epochs where the moments of many
//! such weights pass through the subnormal range (measured in BENCHMARKS.md). While a kernel (the fused pass, a
//! loop run through `with_best_isa`, the serial loops of a rule's per-tensor stage) runs, descent sets the
//! SSE control register's flush-to-zero (FTZ: a result below the smallest normal number is stored as zero of its
//! sign) and denormals-are-zero (DAZ: such an input is read as zero) bits, and restores the register when the
//! kernel returns, so no other code of the program sees the change. A guard is never held across a rayon join: a
//! thread waiting there may run other work of its pool.
//!
//! Normal numbers compute exactly as before, bit for bit: only a value that would have been subnormal differs, by
//! less than 2⁻¹²⁶ in `f32` (2⁻¹⁰²² in `f64`). PyTorch keeps subnormal values; a state or an update that underflows
//! differs from its by at most that, and a parameter such a value moves by that amount times the step's scale,
//! except where a rule divides by the root of such a value with no ε added (`eps=0`): there the step divides by
//! zero where PyTorch's divides by a tiny number. Other architectures keep IEEE subnormals during the arithmetic;
//! the fused pass still stores state below the smallest normal number as zero there.

/// While alive, the calling thread computes with FTZ and DAZ set; dropping it restores the previous setting.
///
/// Writing the register costs more than reading it, so a guard inside another (a tensor's loop inside a whole
/// step) only reads it and finds the bits set: the guards nest at the cost of one read each.
pub(crate) struct FlushDenormals {
    /// The register as it was, if this guard changed it.
    #[cfg(target_arch = "x86_64")]
    saved: Option<u32>,
}

/// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6).
#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

impl FlushDenormals {
    /// Sets FTZ and DAZ on this thread until the guard drops.
    #[inline]
    pub(crate) fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let current = read_mxcsr();
            if current & FTZ_DAZ == FTZ_DAZ {
                return FlushDenormals { saved: None };
            }
            write_mxcsr(current | FTZ_DAZ);
            FlushDenormals { saved: Some(current) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushDenormals {}
    }
}

impl Drop for FlushDenormals {
    #[inline]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if let Some(saved) = self.saved {
            write_mxcsr(saved);
        }
    }
}

/// Runs `work` with IEEE subnormal numbers on this thread, inside a guard or not, and restores the setting after: for
/// work inside a kernel that joins other threads of a rayon pool (a parallel matrix product), which must not run
/// the pool's other work with subnormals flushed.
pub(crate) fn without_flush<R>(work: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        let current = read_mxcsr();
        if current & FTZ_DAZ != 0 {
            write_mxcsr(current & !FTZ_DAZ);
            let result = work();
            write_mxcsr(current);
            return result;
        }
    }
    work()
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn read_mxcsr() -> u32 {
    let mut value = 0u32;
    // SAFETY: stmxcsr stores the 32-bit control register into the given, writable u32; SSE is part of x86_64.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut value as *mut u32, options(nostack, preserves_flags)) };
    value
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn write_mxcsr(value: u32) {
    // SAFETY: ldmxcsr loads the register from a valid u32. The values written are the register's own, with only
    // the FTZ and DAZ bits changed: no reserved bit is set, so no fault; rounding and exception masks stay as
    // they were.
    unsafe {
        std::arch::asm!("ldmxcsr [{}]", in(reg) &value as *const u32, options(nostack, readonly, preserves_flags))
    };
}

#[cfg(test)]
mod tests {
    use super::{without_flush, FlushDenormals};
    use std::hint::black_box;

    #[test]
    fn subnormals_flush_inside_the_guard_and_return_after_it() {
        let half_of_smallest = || black_box(f32::MIN_POSITIVE) * black_box(0.5f32);
        assert!(half_of_smallest().is_subnormal(), "IEEE behaviour before");
        {
            let _guard = FlushDenormals::new();
            // A guard inside it leaves the setting on when it drops.
            drop(FlushDenormals::new());
            if cfg!(target_arch = "x86_64") {
                assert_eq!(half_of_smallest(), 0.0, "flushed to zero");
                // DAZ: a subnormal input reads as zero.
                let subnormal = f32::from_bits(black_box(1));
                assert_eq!(subnormal * black_box(2.0f32), 0.0);
                // Normal numbers are untouched.
                assert_eq!(black_box(1.5f32) * black_box(f32::MIN_POSITIVE), 1.5 * f32::MIN_POSITIVE);
            }
        }
        assert!(half_of_smallest().is_subnormal(), "IEEE behaviour restored");
    }

    #[test]
    fn work_without_flush_sees_subnormals_inside_a_guard() {
        let half_of_smallest = || black_box(f32::MIN_POSITIVE) * black_box(0.5f32);
        let _guard = FlushDenormals::new();
        assert!(without_flush(half_of_smallest).is_subnormal(), "IEEE behaviour inside");
        assert_eq!(half_of_smallest(), 0.0, "flushed again after it");
    }
}
