//! The allocator installed as this test binary's global allocator, under the patterns the gitops
//! binaries put it through: blocks of every size kept and freed in mixed order, freed on other threads,
//! resized across the small/large border, and threads that come and go.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::mpsc;

use gitops_alloc::ThreadCache;

#[global_allocator]
static ALLOCATOR: ThreadCache = ThreadCache;

/// The tests that count chunks run alone: other tests' threads would take chunks meanwhile.
static ALONE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn alone() -> std::sync::RwLockWriteGuard<'static, ()> {
    ALONE.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn together() -> std::sync::RwLockReadGuard<'static, ()> {
    ALONE.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A small deterministic generator (xorshift), so failures repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A vector of `len` bytes filled from `seed`, to check nothing else wrote into it.
fn filled(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn intact(v: &[u8], seed: u8) -> bool {
    v.iter()
        .enumerate()
        .all(|(i, b)| *b == seed.wrapping_add(i as u8))
}

#[test]
fn blocks_of_every_size_keep_their_contents() {
    let _guard = together();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut live: Vec<(Vec<u8>, u8)> = Vec::new();
    for round in 0..40_000 {
        // Sizes across every class, the border at 1 KiB and beyond it.
        let len = match rng.below(10) {
            0 => 1 + rng.below(16),
            1..=6 => 1 + rng.below(1024),
            7 => 1000 + rng.below(48),
            _ => 1025 + rng.below(8192),
        };
        let seed = round as u8;
        live.push((filled(len, seed), seed));
        if rng.below(3) == 0 && !live.is_empty() {
            let at = rng.below(live.len());
            let (v, seed) = live.swap_remove(at);
            assert!(intact(&v, seed), "a block of {} bytes was overwritten", v.len());
        }
    }
    for (v, seed) in &live {
        assert!(intact(v, *seed), "a block of {} bytes was overwritten", v.len());
    }
}

#[test]
fn resizing_keeps_the_bytes_across_classes_and_the_border() {
    let _guard = together();
    let mut v: Vec<u8> = Vec::new();
    for i in 0..5000u32 {
        v.push(i as u8);
        if i % 7 == 0 {
            v.shrink_to_fit();
        }
    }
    assert!(v.iter().enumerate().all(|(i, b)| *b == i as u8));
    // Down again, through the border and the classes.
    for len in [4000, 1500, 1024, 1023, 600, 17, 16, 1] {
        v.truncate(len);
        v.shrink_to_fit();
        assert!(
            v.iter().enumerate().all(|(i, b)| *b == i as u8),
            "after shrinking to {len}"
        );
    }
}

#[test]
#[allow(unsafe_code)] // calls the allocator directly, as the standard collections do
fn alignment_is_kept_for_every_layout() {
    let _guard = together();
    for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
        for size in [1, 7, 16, 31, 64, 100, 512, 1024, 1025, 5000] {
            let layout = Layout::from_size_align(size, align).expect("layout");
            // SAFETY: the layout is not zero-sized; the block is freed with it.
            unsafe {
                let p = ALLOCATOR.alloc(layout);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "size {size} align {align}");
                p.write_bytes(0xa5, size);
                let q = ALLOCATOR.realloc(p, layout, size * 3);
                assert!(!q.is_null());
                assert_eq!(
                    q as usize % align,
                    0,
                    "size {} align {align} after realloc",
                    size * 3
                );
                assert!((0..size).all(|i| *q.add(i) == 0xa5));
                ALLOCATOR.dealloc(q, Layout::from_size_align(size * 3, align).expect("layout"));
            }
        }
    }
}

#[test]
#[allow(unsafe_code)] // asks the allocator for zeroed blocks directly
fn zeroed_blocks_are_zero_after_reuse() {
    let _guard = together();
    for size in [1, 16, 200, 1024, 5000] {
        let layout = Layout::from_size_align(size, 8).expect("layout");
        for _ in 0..100 {
            let dirty = vec![0xffu8; size];
            drop(dirty);
            // SAFETY: the layout is not zero-sized; the block is freed with it.
            unsafe {
                let p = ALLOCATOR.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert!(
                    (0..size).all(|i| *p.add(i) == 0),
                    "a zeroed block of {size} bytes is not"
                );
                ALLOCATOR.dealloc(p, layout);
            }
        }
    }
}

#[test]
fn blocks_freed_on_another_thread_are_reused() {
    let _guard = alone();
    // One thread allocates, another frees, many times over: without the pool the freeing thread's
    // lists would grow and the allocating thread would keep carving new chunks.
    let (tx, rx) = mpsc::sync_channel::<Vec<Box<[u8; 48]>>>(4);
    let consumer = std::thread::spawn(move || {
        let mut freed = 0usize;
        for batch in rx {
            assert!(batch.iter().all(|b| b.iter().all(|x| *x == 7)));
            freed += batch.len();
        }
        freed
    });
    let before = ThreadCache::stats().chunks;
    let producer = std::thread::spawn(move || {
        for _ in 0..400 {
            let batch: Vec<Box<[u8; 48]>> = (0..2000).map(|_| Box::new([7u8; 48])).collect();
            tx.send(batch).expect("consumer alive");
        }
    });
    producer.join().expect("producer");
    assert_eq!(consumer.join().expect("consumer"), 800_000);
    // 800,000 blocks of 48 bytes are 36 MiB, 146 chunks if none were reused; a few batches in
    // flight at once need a few MiB.
    let grown = ThreadCache::stats().chunks - before;
    assert!(
        grown < 60,
        "{grown} chunks taken for blocks freed on another thread"
    );
}

#[test]
fn ending_threads_leave_their_memory_to_the_next() {
    let _guard = alone();
    let before = ThreadCache::stats().chunks;
    for round in 0..200u8 {
        std::thread::spawn(move || {
            // About 1.5 MiB of small blocks, kept and freed, then the thread ends holding its lists.
            let keep: Vec<Vec<u8>> = (0..6000).map(|i| vec![round; 16 + i % 480]).collect();
            assert!(keep.iter().all(|v| v[0] == round && v[v.len() - 1] == round));
        })
        .join()
        .expect("thread");
    }
    // 200 threads of 1.5 MiB each would be ~1,200 chunks without reuse.
    let grown = ThreadCache::stats().chunks - before;
    assert!(
        grown < 100,
        "{grown} chunks taken by threads that ended one after another"
    );
    let stats = ThreadCache::stats();
    assert!(stats.pooled_lists > 0 || stats.pooled_rests > 0, "{stats:?}");
}

#[test]
fn many_threads_at_once_share_without_corruption() {
    let _guard = together();
    let handles: Vec<_> = (0..8u8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = Rng(u64::from(t) + 1);
                let mut live: Vec<(Vec<u8>, u8)> = Vec::new();
                for i in 0..20_000u32 {
                    let seed = (i as u8).wrapping_add(t);
                    live.push((filled(1 + rng.below(1100), seed), seed));
                    if live.len() > 500 {
                        let (v, seed) = live.swap_remove(rng.below(live.len()));
                        assert!(intact(&v, seed));
                    }
                }
                live
            })
        })
        .collect();
    // The blocks are checked and freed here, on the main thread.
    for h in handles {
        for (v, seed) in h.join().expect("thread") {
            assert!(intact(&v, seed));
        }
    }
}
