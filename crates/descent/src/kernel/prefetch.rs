//! Asking the CPU for data before a loop reaches them.
//!
//! A step streams its tensors from memory once. The hardware's prefetchers follow each stream, but on the machines
//! measured they keep too few lines in flight for a loop with as many streams as Adam's (seven) or with as many
//! instructions per byte as a compact step's, which then waits on memory (BENCHMARKS.md, "Asking for data ahead").
//! So the loops ask for the lines they will need a fixed distance ahead. Passes whose data fit in cache skip the
//! requests, which there would only take the load ports' time.

/// Whether a pass over `elements` elements of each of `arrays` arrays of `E` comes from memory rather than cache:
/// more than 16 MiB. On the machine measured, passes of 5 to 16 MB (from its last-level cache) ran up to 7% slower
/// with the requests, passes of 32 MB as fast, and passes of 64 to 160 MB up to 31% faster (bf16 Adam's 41%).
pub(crate) fn from_memory<E>(elements: usize, arrays: usize) -> bool {
    elements.saturating_mul(arrays).saturating_mul(std::mem::size_of::<E>()) > 16 << 20
}

/// Asks the CPU to start loading the cache lines of `slice[at..at + len]`, if that is within the slice (a hint,
/// on x86-64; nothing elsewhere).
#[inline(always)]
pub(crate) fn prefetch<E>(slice: &[E], at: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if at.saturating_add(len) <= slice.len() {
        let first = slice.as_ptr().wrapping_add(at).cast::<i8>();
        for line in 0..(len * std::mem::size_of::<E>()).div_ceil(64) {
            // SAFETY: a prefetch changes nothing the program sees; the address is within the slice.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(first.wrapping_add(line * 64));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slice, at, len);
}
