//! The global allocator of the gitops binaries.
//!
//! Rendering a large Helm chart makes tens of thousands of small allocations, most of them kept to the
//! end, on two or three threads at once. glibc's malloc serves every thread but the main one from an
//! arena that grows a page at a time (an `mprotect` call each) and carves each new block through its
//! general bin search under the arena's lock: 150-200 instructions a block, and a quarter or more of
//! the render's time. [`ThreadCache`] keeps, for each thread, a free list of blocks for each size in
//! steps of 16 bytes up to 1 KiB, and carves new blocks from 256 KiB chunks by moving a pointer; a
//! block costs a handful of instructions and touches no lock. Larger or more strictly aligned requests
//! go to the system allocator unchanged.
//!
//! Memory: small blocks are never given back to the system, they are reused. A thread keeps at most
//! 64 KiB of free blocks of each size; past that its list goes to a pool shared by all threads, from
//! which a thread that runs out takes a list back before it carves new blocks. A thread that ends hands
//! its lists and the rest of its chunk to the pool. So what a process holds in small blocks is the
//! most it ever had in use at once, plus at most a chunk and a list of each size per thread.
//!
//! The libraries of the workspace never install an allocator: a binary chooses, as the gitops binaries
//! do with
//!
//! ```
//! #[global_allocator]
//! static ALLOCATOR: gitops_alloc::ThreadCache = gitops_alloc::ThreadCache;
//! # fn main() {}
//! ```
//!
//! This crate is the workspace's only unsafe code; every `unsafe` block in it says why it is sound.

mod cache;

pub use cache::{Stats, ThreadCache};
