//! The synchronisation primitives of the threaded code, switchable to loom's.
//!
//! Under `--cfg loom` every lock, condition variable, atomic and thread of the executor
//! comes from loom, so the verifier's models explore the real code's interleavings rather
//! than a copy of it.

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(loom)]
pub use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub use loom::thread;

#[cfg(not(loom))]
pub use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
pub use std::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use std::thread;

/// Start a thread, reporting failure (too many threads, say) instead of panicking.
#[cfg(not(loom))]
pub fn spawn<F>(name: String, f: F) -> std::io::Result<thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    thread::Builder::new().name(name).spawn(f)
}

/// Start a thread; loom's threads cannot fail to start.
#[cfg(loom)]
pub fn spawn<F>(_name: String, f: F) -> std::io::Result<thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    Ok(thread::spawn(f))
}

/// Lock a mutex. The executor never panics while holding its lock (user code runs
/// outside it), so a poisoned lock still guards consistent state and is used as is.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
