//! The process's allocator: the system's, with its large blocks backed by
//! huge pages where the kernel offers them.
//!
//! A national run holds gigabytes in a few large lists (events, findings),
//! filled once and then read in every phase. In 4 KiB pages that is over a
//! million first-touch page faults and a TLB miss on most random reads;
//! asking for transparent huge pages (`MADV_HUGEPAGE`, for kernels whose
//! setting is `madvise`) cut the system time of a million-case run from 16
//! to 13 seconds and its wall time by 7% (paired runs, BENCHMARKS.md), with
//! the same peak memory.
//! Small blocks are left alone: a huge page for a small list would waste
//! most of it.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks this large or larger are advised.
const LARGE: usize = 8 << 20;
/// The huge page size on x86-64 and most ARM64 kernels.
const HUGE_PAGE: usize = 2 << 20;

/// The system allocator, advising huge pages for blocks of [`LARGE`] bytes
/// or more. Install it with `#[global_allocator]`.
pub struct HugePagesForLargeBlocks;

unsafe impl GlobalAlloc for HugePagesForLargeBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let block = unsafe { System.alloc(layout) };
        advise(block, layout.size());
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let block = unsafe { System.alloc_zeroed(layout) };
        advise(block, layout.size());
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: `block` came from `System` with this layout (see `alloc`).
        unsafe { System.dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; the caller's contract is passed on.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        advise(moved, new_size);
        moved
    }
}

/// Asks for huge pages over the whole 2 MiB pages inside a large block.
/// Advice only: where the kernel has huge pages off, or refuses, nothing
/// changes but speed.
fn advise(block: *mut u8, size: usize) {
    if block.is_null() || size < LARGE {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let start = (block as usize).next_multiple_of(HUGE_PAGE);
        let end = (block as usize + size) / HUGE_PAGE * HUGE_PAGE;
        if end > start {
            // SAFETY: the range lies inside a block this process owns;
            // MADV_HUGEPAGE changes no contents and no permissions.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_and_small_blocks_keep_their_contents_through_growth() {
        let allocator = HugePagesForLargeBlocks;
        for size in [64, LARGE - 1, LARGE, 3 * LARGE + 12345] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            unsafe {
                let block = allocator.alloc_zeroed(layout);
                assert!(!block.is_null());
                assert!(std::slice::from_raw_parts(block, size).iter().all(|&b| b == 0));
                std::ptr::write_bytes(block, 0xa5, size);
                let grown = allocator.realloc(block, layout, 2 * size + HUGE_PAGE);
                assert!(!grown.is_null());
                assert!(std::slice::from_raw_parts(grown, size).iter().all(|&b| b == 0xa5));
                allocator.dealloc(grown, Layout::from_size_align(2 * size + HUGE_PAGE, 8).unwrap());
            }
        }
    }
}
