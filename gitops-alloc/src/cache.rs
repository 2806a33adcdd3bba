//! Per-thread free lists, chunks and the pool threads share (see the crate's documentation).
//!
//! A free block's first word links it to the next block of its list. A list in the pool is found by
//! its first block, whose second word links it to the next list of the same size (every block has two
//! words: the smallest is 16 bytes). Chunk remainders in the pool start with two words too: the next
//! remainder and where this one ends.

#![allow(unsafe_code)] // an allocator hands out raw memory: every unsafe block says why it is sound

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// Block sizes are multiples of this, and every block is aligned to it (as glibc's are).
const GRAIN: usize = 16;
/// The largest block kept on the lists: larger requests go to the system allocator.
const MAX_SMALL: usize = 1024;
/// Block sizes: `GRAIN`, `2 * GRAIN`, ... `MAX_SMALL`.
const CLASSES: usize = MAX_SMALL / GRAIN;
/// Bytes taken from the system at a time to carve blocks from. Pages the carving has not reached are
/// never touched, so they cost address space only.
const CHUNK: usize = 256 << 10;
/// Bytes of free blocks of one size a thread keeps for itself before it hands the list to the pool.
const LIST_BYTES: usize = 64 << 10;
/// The smallest remainder of a chunk that an ending thread leaves in the pool as a chunk; a smaller
/// one is cut into blocks.
const MIN_REST: usize = 4 << 10;

/// The size class of a request kept on the lists, `None` for one the system allocator serves.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    (layout.size() <= MAX_SMALL && layout.align() <= GRAIN).then(|| layout.size().saturating_sub(1) / GRAIN)
}

#[inline]
fn block_size(class: usize) -> usize {
    (class + 1) * GRAIN
}

/// How many free blocks of a class a thread keeps before its list goes to the pool.
#[inline]
fn list_limit(class: usize) -> u32 {
    (LIST_BYTES / block_size(class)) as u32
}

/// The block after `block` on its list.
///
/// # Safety
/// `block` is a free block of this allocator (16-aligned, at least 16 bytes, used by no one).
#[inline]
unsafe fn next(block: *mut u8) -> *mut u8 {
    // SAFETY: the caller's block is aligned and large enough for two words, and free.
    unsafe { block.cast::<*mut u8>().read() }
}

/// Links `block` to `next` (see [`next`] for what `block` must be).
#[inline]
unsafe fn set_next(block: *mut u8, next: *mut u8) {
    // SAFETY: as in `next`.
    unsafe { block.cast::<*mut u8>().write(next) }
}

/// The second word of a free block or of a chunk remainder (see [`next`]).
#[inline]
unsafe fn second(block: *mut u8) -> *mut u8 {
    // SAFETY: as in `next`; a remainder in the pool is at least `MIN_REST` bytes.
    unsafe { block.cast::<*mut u8>().add(1).read() }
}

#[inline]
unsafe fn set_second(block: *mut u8, value: *mut u8) {
    // SAFETY: as in `second`.
    unsafe { block.cast::<*mut u8>().add(1).write(value) }
}

/// Free blocks and chunk remainders that no thread holds.
struct Pool {
    /// For each class, the first block of the first list (lists linked through their second words).
    lists: [*mut u8; CLASSES],
    /// The first remainder of a chunk (remainders linked through their first words).
    rests: *mut u8,
}

// SAFETY: the pool's pointers are to free memory that only the holder of the pool's lock touches.
unsafe impl Send for Pool {}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    lists: [null_mut(); CLASSES],
    rests: null_mut(),
});
/// Lists in the pool by class, read without the lock to skip taking it when there is none.
static POOLED: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];
static POOLED_RESTS: AtomicUsize = AtomicUsize::new(0);
/// Chunks taken from the system allocator.
static CHUNKS: AtomicUsize = AtomicUsize::new(0);

fn pool() -> MutexGuard<'static, Pool> {
    // Nothing panics while holding the lock; a poisoned one is still consistent.
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    /// # Safety
    /// `head` starts a list of free blocks of `class` that the caller gives up.
    unsafe fn push_list(&mut self, class: usize, head: *mut u8) {
        // SAFETY: `head` is a free block given to the pool.
        unsafe { set_second(head, self.lists[class]) };
        self.lists[class] = head;
        POOLED[class].fetch_add(1, Relaxed);
    }

    /// The first list of `class`, or null.
    fn pop_list(&mut self, class: usize) -> *mut u8 {
        let head = self.lists[class];
        if !head.is_null() {
            // SAFETY: the pool's lists start with free blocks.
            self.lists[class] = unsafe { second(head) };
            POOLED[class].fetch_sub(1, Relaxed);
        }
        head
    }

    /// # Safety
    /// `start..end` is unused memory of a chunk, 16-aligned, at least `MIN_REST` bytes.
    unsafe fn push_rest(&mut self, start: *mut u8, end: *mut u8) {
        // SAFETY: the remainder is unused and large enough for its two words.
        unsafe {
            set_next(start, self.rests);
            set_second(start, end);
        }
        self.rests = start;
        POOLED_RESTS.fetch_add(1, Relaxed);
    }

    fn pop_rest(&mut self) -> Option<(*mut u8, *mut u8)> {
        let start = self.rests;
        if start.is_null() {
            return None;
        }
        // SAFETY: remainders in the pool start with their two words.
        let end = unsafe {
            self.rests = next(start);
            second(start)
        };
        POOLED_RESTS.fetch_sub(1, Relaxed);
        Some((start, end))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The thread has not met a slow path yet: nothing to hand over when it ends.
    New,
    /// The thread hands its lists and chunk to the pool when it ends.
    Live,
    /// It did: the thread is ending, and what it still allocates or frees goes through the pool.
    Gone,
}

/// One thread's free lists and the chunk it carves from.
struct Cache {
    lists: [*mut u8; CLASSES],
    /// The length of each list, or more (a list taken from the pool is counted as full).
    lens: [u32; CLASSES],
    bump: *mut u8,
    end: *mut u8,
    phase: Phase,
}

thread_local! {
    // No destructor (the pool takes what a thread leaves, see `register_exit`), so access never fails,
    // and nothing the allocator calls while it holds this allocates through it: no reentry.
    static CACHE: UnsafeCell<Cache> = const {
        UnsafeCell::new(Cache {
            lists: [null_mut(); CLASSES],
            lens: [0; CLASSES],
            bump: null_mut(),
            end: null_mut(),
            phase: Phase::New,
        })
    };
}

/// Runs `f` on this thread's cache.
#[inline]
fn with_cache<R>(f: impl FnOnce(&mut Cache) -> R) -> R {
    // SAFETY: the cache is this thread's own and `f` never reenters the allocator (see `CACHE`), so
    // this is the only reference to it.
    CACHE.with(|cell| f(unsafe { &mut *cell.get() }))
}

impl Cache {
    /// A block of `class`, or null when the system has no memory left.
    #[inline]
    fn take(&mut self, class: usize) -> *mut u8 {
        let block = self.lists[class];
        if block.is_null() {
            return self.refill(class);
        }
        // SAFETY: blocks on the lists are free blocks of this allocator.
        self.lists[class] = unsafe { next(block) };
        self.lens[class] = self.lens[class].saturating_sub(1);
        block
    }

    /// Takes back `block` of `class`.
    ///
    /// # Safety
    /// `block` was returned by [`Cache::take`] (of any thread) for `class` and is no longer used.
    #[inline]
    unsafe fn give(&mut self, block: *mut u8, class: usize) {
        if self.lens[class] >= list_limit(class) || self.phase != Phase::Live {
            // SAFETY: as for this function.
            return unsafe { self.give_slow(block, class) };
        }
        // SAFETY: the block is free now and ours.
        unsafe { set_next(block, self.lists[class]) };
        self.lists[class] = block;
        self.lens[class] += 1;
    }

    #[cold]
    #[inline(never)]
    unsafe fn give_slow(&mut self, block: *mut u8, class: usize) {
        match self.phase {
            Phase::Gone => {
                // The thread's lists went to the pool already: the block goes on its own.
                // SAFETY: the block is free.
                unsafe {
                    set_next(block, null_mut());
                    pool().push_list(class, block);
                }
                return;
            }
            Phase::New => self.start(),
            Phase::Live => {}
        }
        if self.lens[class] >= list_limit(class) && !self.lists[class].is_null() {
            // SAFETY: the list is free blocks of `class`, given up here.
            unsafe { pool().push_list(class, self.lists[class]) };
            self.lists[class] = null_mut();
            self.lens[class] = 0;
        }
        // SAFETY: as in `give`.
        unsafe { set_next(block, self.lists[class]) };
        self.lists[class] = block;
        self.lens[class] += 1;
    }

    /// A block of `class` when the thread's list is empty: a list from the pool, else a block carved
    /// from the chunk.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, class: usize) -> *mut u8 {
        match self.phase {
            Phase::Gone => return take_ending(class),
            Phase::New => self.start(),
            Phase::Live => {}
        }
        if POOLED[class].load(Relaxed) > 0 {
            let head = pool().pop_list(class);
            if !head.is_null() {
                // SAFETY: lists from the pool are free blocks of `class`.
                self.lists[class] = unsafe { next(head) };
                self.lens[class] = list_limit(class);
                return head;
            }
        }
        self.lens[class] = 0;
        let size = block_size(class);
        if (self.end as usize) - (self.bump as usize) < size && !self.next_chunk() {
            return null_mut();
        }
        let block = self.bump;
        // SAFETY: `size` bytes from `bump` are inside the chunk (checked above).
        self.bump = unsafe { block.add(size) };
        block
    }

    /// Moves on to a remainder from the pool or a new chunk; false when the system has no memory.
    fn next_chunk(&mut self) -> bool {
        // What is left of this chunk is smaller than a block: it becomes a block of its own size.
        let left = (self.end as usize) - (self.bump as usize);
        if left >= GRAIN {
            // SAFETY: the remainder is unused memory of the chunk, a multiple of 16 bytes (chunks and
            // blocks are) and less than the largest block.
            unsafe { self.give(self.bump, left / GRAIN - 1) };
        }
        if POOLED_RESTS.load(Relaxed) > 0
            && let Some((start, end)) = pool().pop_rest()
        {
            (self.bump, self.end) = (start, end);
            return true;
        }
        // SAFETY: the layout's size is not zero.
        let chunk = unsafe { System.alloc(Layout::from_size_align(CHUNK, GRAIN).expect("chunk layout")) };
        if chunk.is_null() {
            (self.bump, self.end) = (null_mut(), null_mut());
            return false;
        }
        CHUNKS.fetch_add(1, Relaxed);
        // SAFETY: the chunk is `CHUNK` bytes.
        (self.bump, self.end) = (chunk, unsafe { chunk.add(CHUNK) });
        true
    }

    fn start(&mut self) {
        self.phase = Phase::Live;
        register_exit();
    }

    /// Hands the thread's lists and the rest of its chunk to the pool (the thread is ending).
    fn hand_over(&mut self) {
        self.phase = Phase::Gone;
        let mut pool = pool();
        for class in 0..CLASSES {
            let head = std::mem::replace(&mut self.lists[class], null_mut());
            self.lens[class] = 0;
            if !head.is_null() {
                // SAFETY: the thread's lists are free blocks, given up.
                unsafe { pool.push_list(class, head) };
            }
        }
        let (mut at, end) = (self.bump, self.end);
        (self.bump, self.end) = (null_mut(), null_mut());
        if (end as usize) - (at as usize) >= MIN_REST {
            // SAFETY: the rest of the chunk is unused, 16-aligned and large enough.
            unsafe { pool.push_rest(at, end) };
            return;
        }
        while (end as usize) - (at as usize) >= GRAIN {
            let size = ((end as usize) - (at as usize)).min(MAX_SMALL);
            // SAFETY: `at..at + size` is unused memory of the chunk, a multiple of 16 bytes.
            unsafe {
                set_next(at, null_mut());
                pool.push_list(size / GRAIN - 1, at);
                at = at.add(size);
            }
        }
    }
}

/// A block for a thread that has handed its cache over: from the pool, else the system allocator's
/// (which, a block of the full class size, can join the lists when it is freed).
fn take_ending(class: usize) -> *mut u8 {
    {
        let mut pool = pool();
        let head = pool.lists[class];
        if !head.is_null() {
            // SAFETY: the pool's lists are free blocks of `class`.
            unsafe {
                let second_block = next(head);
                if !second_block.is_null() {
                    set_next(head, next(second_block));
                    return second_block;
                }
            }
            return pool.pop_list(class);
        }
    }
    // SAFETY: the layout's size is not zero.
    unsafe { System.alloc(Layout::from_size_align(block_size(class), GRAIN).expect("block layout")) }
}

/// Makes sure this thread hands its cache to the pool when it ends. A pthread key's destructor does
/// it: it runs after the thread's Rust thread-local destructors, which may still free memory, and
/// registering it allocates nothing through this allocator. Should no key be available, ending
/// threads keep what they hold.
fn register_exit() {
    static KEY: OnceLock<Option<libc::pthread_key_t>> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is a valid place for the key; the destructor is a plain function.
        (unsafe { libc::pthread_key_create(&mut key, Some(thread_ends)) } == 0).then_some(key)
    });
    if let Some(key) = *key {
        // SAFETY: the key exists; the value only needs to be non-null for the destructor to run.
        unsafe { libc::pthread_setspecific(key, std::ptr::NonNull::<u8>::dangling().as_ptr().cast()) };
    }
}

extern "C" fn thread_ends(_: *mut libc::c_void) {
    with_cache(Cache::hand_over);
}

/// A global allocator with per-thread free lists of small blocks (see the crate's documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadCache;

/// What the allocator holds, for tests and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Chunks taken from the system allocator to carve small blocks from (256 KiB each).
    pub chunks: usize,
    /// Lists of free blocks in the pool, waiting for a thread to take them.
    pub pooled_lists: usize,
    /// Chunk remainders in the pool, left by threads that ended.
    pub pooled_rests: usize,
}

impl ThreadCache {
    /// What the allocator holds now (counts read without a lock: a snapshot while other threads run).
    pub fn stats() -> Stats {
        Stats {
            chunks: CHUNKS.load(Relaxed),
            pooled_lists: POOLED.iter().map(|n| n.load(Relaxed)).sum(),
            pooled_rests: POOLED_RESTS.load(Relaxed),
        }
    }
}

// SAFETY: small blocks are 16-aligned pieces of chunks (or of the system allocator's blocks of the
// full class size), each handed to one owner until it is freed; which path serves a request depends
// on its layout only, so a block always goes back to the allocator it came from.
//
// The methods are not inlined: a whole-program build would copy them into every place that allocates,
// and the binary's code would grow by a fifth (more pages to load) for a call saved.
unsafe impl GlobalAlloc for ThreadCache {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class_of(layout) {
            Some(class) => with_cache(|cache| cache.take(class)),
            // SAFETY: the caller's layout is valid and not zero-sized.
            None => unsafe { System.alloc(layout) },
        }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match class_of(layout) {
            Some(class) => {
                let block = with_cache(|cache| cache.take(class));
                if !block.is_null() {
                    // SAFETY: the block has at least `layout.size()` bytes.
                    unsafe { block.write_bytes(0, layout.size()) };
                }
                block
            }
            // SAFETY: as in `alloc`.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class_of(layout) {
            // SAFETY: the caller frees a block this allocator gave for this layout, so for this class.
            Some(class) => with_cache(|cache| unsafe { cache.give(ptr, class) }),
            // SAFETY: the block came from the system allocator with this layout.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees the new size, rounded up to the alignment, does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new_layout)) {
            // SAFETY: a block of the system allocator, resized by it.
            (None, None) => unsafe { System.realloc(ptr, layout, new_size) },
            (Some(old), Some(new)) if old == new => ptr,
            _ => {
                // SAFETY: the new layout is valid and not zero-sized; both blocks have at least the
                // bytes copied, and the old one is freed with the layout it was allocated with.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    moved
                }
            }
        }
    }
}
