//! The event queue: a binary heap ordered by (virtual time, sequence number).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::time::Micros;

/// An event in the queue, ordered by (time, sequence number): earliest first,
/// and among events at the same virtual time, the one scheduled first.
#[derive(Debug)]
pub struct Queued<E> {
    /// When it is due, virtual µs.
    pub at: Micros,
    /// Sequence number: scheduling order.
    pub seq: u64,
    /// The event.
    pub event: E,
}

impl<E> PartialEq for Queued<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Queued<E> {}

impl<E> PartialOrd for Queued<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Queued<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (at, seq) pops first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The queue of pending events.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Queued<E>>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `at` (virtual µs); returns its sequence number.
    pub fn push(&mut self, at: Micros, event: E) -> u64 {
        self.seq += 1;
        self.heap.push(Queued {
            at,
            seq: self.seq,
            event,
        });
        self.seq
    }

    /// When the next event is due, if any.
    pub fn next_at(&self) -> Option<Micros> {
        self.heap.peek().map(|q| q.at)
    }

    /// Takes the next event.
    pub fn pop(&mut self) -> Option<Queued<E>> {
        self.heap.pop()
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
