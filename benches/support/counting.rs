//! A global allocator that counts the bytes of every live allocation, for the memory benches
//! (`memory.rs`, `archiving.rs`): a figure measured, not read off the process's size. A bench
//! installs it with `#[global_allocator]` and reads [`live`] before and after what it
//! measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Live bytes: the sum of the sizes of the allocations not yet freed.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The counting allocator.
pub struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the counter only adds up
// the sizes it was given.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The bytes live now.
pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}
