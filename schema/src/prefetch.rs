//! [`prefetch`]: a hint that memory is about to be read, for lookups in tables too large for
//! the caches whose callers know their next keys (the dedupe memory, a tenant's ticket index):
//! the cache misses of the next lookups then overlap with the work on this one.

/// Bytes of a cache line.
const LINE: usize = 64;

/// Asks the CPU to start loading the cache lines that hold `value`. Reads nothing the program
/// can see; a no-op where the architecture has no such hint.
#[inline]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = std::ptr::from_ref(value).cast::<i8>();
        let first = start as usize / LINE;
        let last = (start as usize + std::mem::size_of::<T>().max(1) - 1) / LINE;
        for line in 0..=last - first {
            // SAFETY: a prefetch is a hint to the cache: it reads nothing the program can see
            // and cannot fault; the addresses are those of the lines a live value spans.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(line * LINE)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
