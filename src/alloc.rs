//! [`HugePageAlloc`]: a global allocator that puts large buffers on 2 MiB pages (Linux).
//!
//! A training step streams through every buffer of the network: ResNet-20 at batch 128 keeps
//! ~300 MB of activations, and each layer reads and writes a few of them, then the backward pass
//! reads them again. On 4 KiB pages every 4 KiB of such a pass is a TLB miss, and the hardware
//! prefetchers stop at every page boundary. Linux's transparent huge pages remove both, for
//! memory that the program marks with `madvise(MADV_HUGEPAGE)` (when
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise`, the usual default, or `always`).
//! `BENCHMARKS.md` ("Huge pages") has the measurements: ResNet-20 trains 5-10 % faster at batch
//! 64 and 128, the SmallCnn ~5 % at batch 64, and inference gains 5-15 %.
//!
//! The library cannot choose the allocator of the program that uses it, so this is opt-in: a
//! program makes it its global allocator, as `constnet`'s own programs (`examples/`) do:
//!
//! ```
//! #[global_allocator]
//! static ALLOC: constnet::alloc::HugePageAlloc = constnet::alloc::HugePageAlloc;
//!
//! fn main() {
//!     let activations = vec![0.0f32; 1 << 20]; // 4 MiB: 2 MiB aligned, on 2 MiB pages
//!     if cfg!(target_os = "linux") {
//!         assert_eq!(activations.as_ptr() as usize % constnet::alloc::HUGE_PAGE, 0);
//!     }
//! }
//! ```
//!
//! Allocations of at least [`HUGE_PAGE`] bytes are aligned to [`HUGE_PAGE`] and marked; smaller
//! ones go to the system allocator unchanged, as does everything on other systems. The cost: up
//! to 2 MiB of address space per large allocation (the alignment's padding, never touched, so
//! never resident). A buffer's last, partial 2 MiB stays on 4 KiB pages, so the resident memory
//! does not grow. PyTorch has the same switch, off by default (`THP_MEM_ALLOC_ENABLE=1`).

use std::alloc::{GlobalAlloc, Layout, System};

/// The size of a huge page on x86-64 and AArch64 Linux (2 MiB), and the size from which
/// [`HugePageAlloc`] uses them.
pub const HUGE_PAGE: usize = 2 << 20;

/// The system allocator, with allocations of [`HUGE_PAGE`] bytes or more aligned to 2 MiB and
/// marked for transparent huge pages on Linux (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default)]
pub struct HugePageAlloc;

/// The layout that a large allocation gets from the system allocator (2 MiB aligned), or `None`
/// for the allocations that go to it unchanged (small ones; every one on other systems).
fn huge_layout(layout: Layout) -> Option<Layout> {
    if !cfg!(target_os = "linux") || layout.size() < HUGE_PAGE {
        return None;
    }
    // Fails only for sizes within 2 MiB of `isize::MAX`; those go unchanged, consistently in
    // `alloc` and `dealloc`, which both decide here.
    Layout::from_size_align(layout.size(), layout.align().max(HUGE_PAGE)).ok()
}

/// Marks `len` bytes from `ptr` (2 MiB aligned) for huge pages.
#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *mut u8, len: usize) {
    // SAFETY: `madvise` reads no memory; `ptr` is page aligned (2 MiB) and `ptr..ptr + len` is
    // one allocation of ours. MADV_HUGEPAGE changes neither the contents nor the access rights
    // of those pages, only the page size the kernel backs them with when they are first
    // touched. If it fails (a kernel without transparent huge pages), the pages stay 4 KiB:
    // nothing to undo.
    unsafe {
        libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_ptr: *mut u8, _len: usize) {}

// SAFETY: every block comes from `System` and goes back to it with the layout it was
// allocated with: `huge_layout` maps a caller's layout to the same layout in `alloc` and
// `dealloc`. Huge layouts only raise the alignment, so each block still has the caller's size
// and alignment. `realloc` either hands over to `System.realloc` (neither size large, so both
// layouts unchanged) or allocates, copies the smaller size and frees through these methods.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match huge_layout(layout) {
            Some(huge) => {
                // SAFETY: `huge` has a non-zero size (at least 2 MiB).
                let ptr = unsafe { System.alloc(huge) };
                if !ptr.is_null() {
                    // Before anything touches the pages: the kernel picks their size then.
                    advise_huge_pages(ptr, huge.size());
                }
                ptr
            }
            // SAFETY: the caller's layout, with the caller's guarantees.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if huge_layout(layout).is_none() {
            // SAFETY: the caller's layout, with the caller's guarantees.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // Marked first, then zeroed: zeroing is the first touch.
        // SAFETY: the caller's layout, with the caller's guarantees.
        let ptr = unsafe { self.alloc(layout) };
        if !ptr.is_null() {
            // SAFETY: `ptr` is a fresh block of `layout.size()` bytes.
            unsafe { std::ptr::write_bytes(ptr, 0, layout.size()) };
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with `layout`, so from `System` with this layout.
        unsafe { System.dealloc(ptr, huge_layout(layout).unwrap_or(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `GlobalAlloc::realloc`'s contract: `new_size` is non-zero and, rounded up to
        // `layout.align()`, does not overflow `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if huge_layout(layout).is_none() && huge_layout(new_layout).is_none() {
            // SAFETY: both layouts are the system allocator's own; the caller's guarantees.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: a valid non-zero layout (see above).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least the smaller size and are distinct allocations;
            // the old one is freed once, with the layout it was allocated with.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allocates through `HugePageAlloc` (not this test binary's global allocator).
    fn with_block(layout: Layout, zeroed: bool, f: impl FnOnce(*mut u8)) {
        // SAFETY: non-zero sizes; freed with the same layout.
        unsafe {
            let ptr = if zeroed {
                HugePageAlloc.alloc_zeroed(layout)
            } else {
                HugePageAlloc.alloc(layout)
            };
            assert!(!ptr.is_null());
            f(ptr);
            HugePageAlloc.dealloc(ptr, layout);
        }
    }

    #[test]
    fn large_blocks_are_2_mib_aligned_on_linux_and_small_ones_keep_their_alignment() {
        let large = Layout::from_size_align(HUGE_PAGE + 12, 4).unwrap();
        with_block(large, false, |ptr| {
            assert_eq!((ptr as usize).is_multiple_of(HUGE_PAGE), cfg!(target_os = "linux"));
            // The whole block is usable.
            // SAFETY: inside the block.
            unsafe { ptr.add(HUGE_PAGE + 11).write(7) };
        });
        let small = Layout::from_size_align(HUGE_PAGE - 1, 64).unwrap();
        with_block(small, false, |ptr| assert_eq!(ptr as usize % 64, 0));
        assert_eq!(huge_layout(small), None);
        assert_eq!(
            huge_layout(large).map(|l| (l.size(), l.align())),
            cfg!(target_os = "linux").then_some((HUGE_PAGE + 12, HUGE_PAGE))
        );
    }

    #[test]
    fn zeroed_large_blocks_are_zero() {
        let layout = Layout::from_size_align(3 * HUGE_PAGE + 5, 8).unwrap();
        with_block(layout, true, |ptr| {
            // SAFETY: the block's `layout.size()` bytes, initialised by `alloc_zeroed`.
            let bytes = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            assert!(bytes.iter().all(|&b| b == 0));
        });
    }

    #[test]
    fn realloc_keeps_the_contents_across_the_threshold_both_ways() {
        let sizes = [100, HUGE_PAGE + 100, 3 * HUGE_PAGE, 1000, 50];
        let mut layout = Layout::from_size_align(sizes[0], 4).unwrap();
        // SAFETY: a non-zero layout; every realloc gets the current block and layout, and the
        // last block is freed with its layout.
        unsafe {
            let mut ptr = HugePageAlloc.alloc(layout);
            for i in 0..sizes[0] {
                ptr.add(i).write((i % 251) as u8);
            }
            for &size in &sizes[1..] {
                let kept = layout.size().min(size);
                ptr = HugePageAlloc.realloc(ptr, layout, size);
                assert!(!ptr.is_null());
                layout = Layout::from_size_align(size, 4).unwrap();
                let bytes = std::slice::from_raw_parts(ptr, kept.min(sizes[0]));
                for (i, &b) in bytes.iter().enumerate() {
                    assert_eq!(b, (i % 251) as u8, "size {size}, byte {i}");
                }
                if huge_layout(layout).is_some() {
                    assert_eq!(ptr as usize % HUGE_PAGE, 0);
                }
            }
            HugePageAlloc.dealloc(ptr, layout);
        }
    }

    /// On Linux, a large block's mapping carries the huge-page advice (`hg` in its `VmFlags` in
    /// `/proc/self/smaps`), whether or not the kernel then finds free 2 MiB pages for it.
    #[cfg(target_os = "linux")]
    #[test]
    fn large_blocks_are_marked_for_huge_pages() {
        let layout = Layout::from_size_align(8 * HUGE_PAGE, 4).unwrap();
        with_block(layout, false, |ptr| {
            // SAFETY: the block's bytes.
            unsafe { std::ptr::write_bytes(ptr, 1, layout.size()) };
            let flags = vm_flags_at(ptr as usize).expect("the block's mapping in smaps");
            assert!(
                flags.split_whitespace().any(|f| f == "hg"),
                "VmFlags: {flags}"
            );
        });
    }

    /// The `VmFlags` of the mapping that contains `addr`, from `/proc/self/smaps`.
    #[cfg(target_os = "linux")]
    fn vm_flags_at(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((start, end)) = range.split_once('-')
                && let (Ok(start), Ok(end)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                )
            {
                inside = (start..end).contains(&addr);
                continue;
            }
            if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return Some(flags.trim().to_string());
            }
        }
        None
    }
}
