//! Clocks: where the pool's idea of "now" comes from.
//!
//! The pool's rules never read a clock; drivers do. The threaded executor is generic over
//! [`Clock`] so it runs on the system clock in production and on a [`ManualClock`] in
//! tests and loom models, where real time must not leak in.

use std::time::{Duration, Instant};

use crate::Time;
use crate::sync::{Arc, AtomicU64, Condvar, MutexGuard, Ordering};

/// A source of time, and a way to sleep on it that a notification can cut short.
pub trait Clock: Send + Sync + 'static {
    /// Time since the clock's origin.
    fn now(&self) -> Time;

    /// Sleep until `deadline` (or forever, for `None`), waking early when `changed` is
    /// notified. The gate needs the early wake: a success that lowers `D` must let the
    /// head waiter pass sooner than the sleep it started.
    fn sleep_until<'a, T>(
        &self,
        deadline: Option<Time>,
        changed: &Condvar,
        guard: MutexGuard<'a, T>,
    ) -> MutexGuard<'a, T>;
}

/// A shared clock: tests keep a handle to the clock the executor runs on.
impl<C: Clock> Clock for Arc<C> {
    fn now(&self) -> Time {
        (**self).now()
    }

    fn sleep_until<'a, T>(
        &self,
        deadline: Option<Time>,
        changed: &Condvar,
        guard: MutexGuard<'a, T>,
    ) -> MutexGuard<'a, T> {
        (**self).sleep_until(deadline, changed, guard)
    }
}

/// The monotonic system clock.
#[derive(Debug, Clone)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Time {
        self.origin.elapsed()
    }

    fn sleep_until<'a, T>(
        &self,
        deadline: Option<Time>,
        changed: &Condvar,
        guard: MutexGuard<'a, T>,
    ) -> MutexGuard<'a, T> {
        let result = match deadline {
            None => changed.wait(guard).map_err(|e| e.into_inner()),
            Some(at) => {
                let timeout = at.saturating_sub(self.now());
                changed
                    .wait_timeout(guard, timeout)
                    .map(|(g, _)| g)
                    .map_err(|e| e.into_inner().0)
            }
        };
        // A poisoned lock still guards consistent state (see `sync::lock`).
        result.unwrap_or_else(|guard| guard)
    }
}

/// A clock that moves only when told to, or when someone sleeps on it: a sleep until `t`
/// jumps the clock to `t` at once. Single-threaded tests step it by hand; in threaded
/// tests and loom models it turns waiting into instant, reproducible time travel.
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        ManualClock::default()
    }

    /// Move the clock to `t` unless it is already later.
    pub fn advance_to(&self, t: Time) {
        let nanos = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_max(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }

    fn sleep_until<'a, T>(
        &self,
        deadline: Option<Time>,
        changed: &Condvar,
        guard: MutexGuard<'a, T>,
    ) -> MutexGuard<'a, T> {
        match deadline {
            Some(at) => {
                self.advance_to(at);
                guard
            }
            None => changed.wait(guard).unwrap_or_else(|e| e.into_inner()),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::Mutex;

    #[test]
    fn manual_clock_jumps_forward_never_back() {
        let clock = ManualClock::new();
        let (lock, cv) = (Mutex::new(()), Condvar::new());
        assert_eq!(clock.now(), Duration::ZERO);
        let guard = clock.sleep_until(
            Some(Duration::from_millis(5)),
            &cv,
            crate::sync::lock(&lock),
        );
        drop(guard);
        assert_eq!(clock.now(), Duration::from_millis(5));
        clock.advance_to(Duration::from_millis(2));
        assert_eq!(clock.now(), Duration::from_millis(5));
    }

    #[test]
    fn system_clock_sleep_ends_at_the_deadline() {
        let clock = SystemClock::new();
        let (lock, cv) = (Mutex::new(()), Condvar::new());
        let target = clock.now() + Duration::from_millis(20);
        let mut guard = crate::sync::lock(&lock);
        // A condvar may wake spuriously: sleep again until the deadline has passed.
        while clock.now() < target {
            guard = clock.sleep_until(Some(target), &cv, guard);
        }
        assert!(clock.now() >= target);
    }
}
