//! The lock manager's channels: FIFOs with per-second in and out counts
//! (TiKV's `FutureScheduler`s and the follower's `mpsc::unbounded` feeding
//! its stream are unbounded; `fix=backpressure` bounds the stream).

use std::collections::VecDeque;

/// An unbounded (or, for backpressure, bounded) FIFO with per-second in/out counts.
#[derive(Clone, Debug)]
pub struct Channel<T> {
    items: VecDeque<T>,
    pushed: u64,
    popped: u64,
    last_in: u64,
    last_out: u64,
    /// Capacity, if bounded.
    pub capacity: Option<usize>,
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Channel {
            items: VecDeque::new(),
            pushed: 0,
            popped: 0,
            last_in: 0,
            last_out: 0,
            capacity: None,
        }
    }
}

impl<T> Channel<T> {
    /// `unbounded_send`; with a capacity, refuses (returns the item) when full.
    pub fn push(&mut self, t: T) -> Result<(), T> {
        if self.capacity.is_some_and(|c| self.items.len() >= c) {
            return Err(t);
        }
        self.items.push_back(t);
        self.pushed += 1;
        Ok(())
    }

    /// Takes the oldest item.
    pub fn pop(&mut self) -> Option<T> {
        let t = self.items.pop_front()?;
        self.popped += 1;
        Some(t)
    }

    /// The oldest item, left queued.
    pub fn front(&self) -> Option<&T> {
        self.items.front()
    }

    /// Items queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Drops every item; returns how many.
    pub fn clear(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        n
    }

    /// Ends a second: the counts become the last second's rates.
    pub fn roll_second(&mut self) {
        self.last_in = self.pushed;
        self.last_out = self.popped;
        self.pushed = 0;
        self.popped = 0;
    }

    /// Items pushed during the last virtual second.
    pub fn in_per_sec(&self) -> u64 {
        self.last_in
    }

    /// Items drained during the last virtual second.
    pub fn out_per_sec(&self) -> u64 {
        self.last_out
    }

    /// The queued items, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}
