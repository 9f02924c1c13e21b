//! What every batch of a pool shares: the throttle, the gate, the permits, the
//! statistics of the running batch, and the outbox of events.

use std::collections::VecDeque;

use crate::Time;
use crate::config::PoolConfig;
use crate::event::{BatchId, BatchStats, Event, EventKind};
use crate::gate::Gate;
use crate::throttle::Throttle;

/// What every batch shares: the throttle, the gate, the permits, and the event outbox.
#[derive(Debug)]
pub(crate) struct Pace {
    pub(crate) config: PoolConfig,
    pub(crate) throttle: Throttle,
    pub(crate) gate: Gate,
    pub(crate) free_permits: usize,
    pub(crate) stats: BatchStats,
    pub(crate) shut_down: bool,
    pub(crate) events: VecDeque<Event>,
    /// Rows that went to the gate during the current step (kept to reuse its memory).
    pub(crate) joined: Vec<usize>,
}

impl Pace {
    pub(crate) fn push(
        &mut self,
        at: Time,
        batch: BatchId,
        row: Option<usize>,
        attempt: Option<u32>,
        kind: EventKind,
    ) {
        self.events.push_back(Event {
            at,
            batch,
            row,
            attempt,
            delay_ms: self.throttle.delay_ms(),
            kind,
        });
    }

    pub(crate) fn held_permits(&self) -> usize {
        self.config.pool_size() - self.free_permits
    }
}
