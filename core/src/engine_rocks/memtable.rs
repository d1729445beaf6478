//! The KV RocksDB's memtables, as TiKV configures them for its two engine
//! layouts (`src/config/mod.rs`, `DbConfig::optimize_for`).
//!
//! Every write a peer applies goes into the active memtable of its column
//! family (`CF_DEFAULT`, `CF_LOCK`, `CF_WRITE`). A memtable that reaches the
//! CF's `write-buffer-size` becomes immutable and a flush writes it to an SST
//! file; its memory is freed when the flush is durable.
//!
//! - `raft-kv`: one RocksDB for every region of the store, so one set of
//!   memtables: defaultcf and writecf 128 MiB each, lockcf 32 MiB. No write
//!   buffer manager; a store's memtables stay within a few hundred MiB
//!   whatever the number of regions.
//! - `partitioned-raft-kv` (raft-kv2): one RocksDB tablet per region, each
//!   with its own memtables of the same sizes, so memtable memory grows with
//!   the number of regions written. A `WriteBufferManager` bounds the total:
//!   `write-buffer-limit = min(20% of the memory, 8 GiB)` over defaultcf and
//!   writecf of all tablets, `lockcf.write-buffer-limit` 128 MiB for
//!   lockcf; past 7/8 of a limit the oldest memtable is flushed
//!   (`write-buffer-flush-oldest-first`, TiKV's RocksDB). A tablet is also
//!   flushed when it is checkpointed (a snapshot, a split) and when it is
//!   destroyed.
//!
//! Not modelled: write stalls at `max-write-buffer-number` (raft-kv2 sets
//! `disable_write_stall`), WAL replay into memtables after a restart (the
//! memtables start empty), and compaction.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::kernel::time::Micros;

/// A column family of the KV engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Cf {
    /// `CF_DEFAULT`: raw values, and long transactional values.
    Default,
    /// `CF_LOCK`: transaction locks.
    Lock,
    /// `CF_WRITE`: commit and rollback records (short values inlined).
    Write,
}

/// The column families, in TiKV's `DATA_CFS` order.
pub const CFS: [Cf; 3] = [Cf::Default, Cf::Lock, Cf::Write];

impl Cf {
    /// TiKV's CF name.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Default => "default",
            Cf::Lock => "lock",
            Cf::Write => "write",
        }
    }

    /// The CF's place in [`CFS`] (and in per-CF arrays).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// `defaultcf.write-buffer-size` and `writecf.write-buffer-size` (TiKV
/// default 128 MiB).
pub const WRITE_BUFFER_SIZE: u64 = 128 << 20;
/// `lockcf.write-buffer-size` (32 MiB, set by `optimize_for` for both
/// layouts).
pub const LOCK_WRITE_BUFFER_SIZE: u64 = 32 << 20;
/// raft-kv2's `write-buffer-limit`: this share of the memory, percent
/// (`WRITE_BUFFER_MEMORY_LIMIT_RATE` 0.2) …
pub const WRITE_BUFFER_MEMORY_LIMIT_PERCENT: u64 = 20;
/// … and at most this, bytes (`WRITE_BUFFER_MEMORY_LIMIT_MAX`, 8 GiB).
pub const WRITE_BUFFER_MEMORY_LIMIT_MAX: u64 = 8 << 30;
/// raft-kv2's `lockcf.write-buffer-limit` (`DEFAULT_LOCK_BUFFER_MEMORY_LIMIT`,
/// 128 MiB).
pub const LOCK_BUFFER_MEMORY_LIMIT: u64 = 128 << 20;
/// What a memtable entry costs beyond its key and value, bytes: the 8-byte
/// sequence number and type, the varint lengths and the skiplist node's
/// next pointers (RocksDB's `InlineSkipList`, 1.33 pointers on average). An
/// estimate from the layout, not a TiKV figure.
pub const MEMTABLE_ENTRY_OVERHEAD_BYTES: u64 = 24;

/// The memtable options of one layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MemtableOptions {
    /// One RocksDB per region (raft-kv2) instead of one for the store.
    pub per_region: bool,
    /// The write buffer manager over defaultcf and writecf of every
    /// tablet, bytes; `None` without one (raft-kv).
    pub write_buffer_limit: Option<u64>,
    /// The lockcf write buffer manager, bytes; `None` without one.
    pub lock_buffer_limit: Option<u64>,
}

impl MemtableOptions {
    /// raft-kv: one shared RocksDB, no write buffer manager.
    pub fn raft_kv() -> MemtableOptions {
        MemtableOptions {
            per_region: false,
            write_buffer_limit: None,
            lock_buffer_limit: None,
        }
    }

    /// raft-kv2 on a process with `memory` bytes (`SysQuota::memory_limit_in_bytes`).
    pub fn partitioned_raft_kv(memory: u64) -> MemtableOptions {
        MemtableOptions {
            per_region: true,
            write_buffer_limit: Some(
                (memory / 100 * WRITE_BUFFER_MEMORY_LIMIT_PERCENT)
                    .min(WRITE_BUFFER_MEMORY_LIMIT_MAX),
            ),
            lock_buffer_limit: Some(LOCK_BUFFER_MEMORY_LIMIT),
        }
    }

    /// The CF's `write-buffer-size`, bytes.
    pub fn write_buffer_size(cf: Cf) -> u64 {
        match cf {
            Cf::Lock => LOCK_WRITE_BUFFER_SIZE,
            Cf::Default | Cf::Write => WRITE_BUFFER_SIZE,
        }
    }
}

/// Why a memtable is flushed (RocksDB's `FlushReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FlushReason {
    /// The memtable reached `write-buffer-size`.
    WriteBufferFull,
    /// The write buffer manager is past 7/8 of its limit.
    WriteBufferManager,
    /// The tablet is checkpointed or destroyed (raft-kv2).
    ManualFlush,
}

/// A flush to run: write `bytes` to an SST file, then [`Memtables::on_flushed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flush {
    /// Id to hand back.
    pub id: u64,
    /// The RocksDB: 0 for raft-kv's shared one, else the tablet's region.
    pub db: u64,
    /// Column family.
    pub cf: Cf,
    /// Bytes of the memtable.
    pub bytes: u64,
    /// Why.
    pub reason: FlushReason,
}

/// One column family's memtables in one RocksDB.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct CfMemtables {
    /// The active memtable, bytes.
    active: u64,
    /// When the active memtable got its first write, virtual µs.
    first_write: Micros,
    /// Immutable memtables being flushed: flush id → bytes.
    flushing: BTreeMap<u64, u64>,
}

/// The memtables of one store's KV engine. See the module docs.
#[derive(Clone, Debug)]
pub struct Memtables {
    /// The layout's options.
    pub options: MemtableOptions,
    /// Per RocksDB (0 for the shared one, else the tablet's region id), per
    /// CF in [`CFS`] order.
    dbs: BTreeMap<u64, [CfMemtables; 3]>,
    /// Flush id → (db, cf).
    flushes: BTreeMap<u64, (u64, Cf)>,
    next_flush: u64,
    /// Bytes flushed to SST files since the start, per CF.
    pub flushed_bytes: [u64; 3],
}

impl Memtables {
    /// No memtables yet.
    pub fn new(options: MemtableOptions) -> Memtables {
        Memtables {
            options,
            dbs: BTreeMap::new(),
            flushes: BTreeMap::new(),
            next_flush: 0,
            flushed_bytes: [0; 3],
        }
    }

    fn db_of(&self, region_id: u64) -> u64 {
        if self.options.per_region {
            region_id
        } else {
            0
        }
    }

    /// Region `region_id` applied `bytes` (memtable entries, overhead
    /// included) to `cf` at `now`. Returns the flushes to start: the
    /// memtable if it is full, and what the write buffer manager asks for.
    pub fn write(&mut self, now: Micros, region_id: u64, cf: Cf, bytes: u64) -> Vec<Flush> {
        if bytes == 0 {
            return Vec::new();
        }
        let db = self.db_of(region_id);
        let m = &mut self.dbs.entry(db).or_default()[cf.index()];
        if m.active == 0 {
            m.first_write = now;
        }
        m.active += bytes;
        let mut out = Vec::new();
        if m.active >= MemtableOptions::write_buffer_size(cf) {
            out.extend(self.switch(db, cf, FlushReason::WriteBufferFull));
        }
        self.enforce_write_buffer_managers(&mut out);
        out
    }

    /// RocksDB's `WriteBufferManager::ShouldFlush`: over 7/8 of a limit in
    /// mutable memtables, flush the oldest active memtable of its CFs,
    /// until under.
    fn enforce_write_buffer_managers(&mut self, out: &mut Vec<Flush>) {
        let managers = [
            (
                self.options.write_buffer_limit,
                &[Cf::Default, Cf::Write][..],
            ),
            (self.options.lock_buffer_limit, &[Cf::Lock][..]),
        ];
        for (limit, cfs) in managers {
            let Some(limit) = limit else {
                continue;
            };
            loop {
                let mutable: u64 = self
                    .dbs
                    .values()
                    .flat_map(|d| cfs.iter().map(move |cf| d[cf.index()].active))
                    .sum();
                if mutable <= limit / 8 * 7 {
                    break;
                }
                let oldest = self
                    .dbs
                    .iter()
                    .flat_map(|(&db, d)| cfs.iter().map(move |&cf| (db, cf, &d[cf.index()])))
                    .filter(|(_, _, m)| m.active > 0)
                    .min_by_key(|(db, cf, m)| (m.first_write, *db, *cf))
                    .map(|(db, cf, _)| (db, cf));
                let Some((db, cf)) = oldest else {
                    break;
                };
                out.extend(self.switch(db, cf, FlushReason::WriteBufferManager));
            }
        }
    }

    /// Makes the active memtable of `cf` in `db` immutable and flushes it.
    fn switch(&mut self, db: u64, cf: Cf, reason: FlushReason) -> Option<Flush> {
        let m = &mut self.dbs.get_mut(&db)?[cf.index()];
        if m.active == 0 {
            return None;
        }
        self.next_flush += 1;
        let id = self.next_flush;
        let bytes = std::mem::take(&mut m.active);
        m.flushing.insert(id, bytes);
        self.flushes.insert(id, (db, cf));
        Some(Flush {
            id,
            db,
            cf,
            bytes,
            reason,
        })
    }

    /// Flushes every CF of region `region_id`'s tablet (raft-kv2's
    /// checkpoint before a snapshot or a split, and before a tablet is
    /// destroyed). Nothing for raft-kv, whose shared memtables flush by size.
    pub fn flush_tablet(&mut self, region_id: u64) -> Vec<Flush> {
        if !self.options.per_region {
            return Vec::new();
        }
        CFS.iter()
            .filter_map(|&cf| self.switch(region_id, cf, FlushReason::ManualFlush))
            .collect()
    }

    /// Region `region_id`'s tablet is closed (its peer destroyed): its
    /// memtables are freed with it (raft-kv2 only).
    pub fn drop_tablet(&mut self, region_id: u64) {
        if !self.options.per_region {
            return;
        }
        if self.dbs.remove(&region_id).is_some() {
            self.flushes.retain(|_, (db, _)| *db != region_id);
        }
    }

    /// Flush `id` is durable: its memtable's memory is freed. A destroyed
    /// tablet's entry goes once nothing of it is left.
    pub fn on_flushed(&mut self, id: u64) {
        let Some((db, cf)) = self.flushes.remove(&id) else {
            return;
        };
        let Some(d) = self.dbs.get_mut(&db) else {
            return;
        };
        if let Some(bytes) = d[cf.index()].flushing.remove(&id) {
            self.flushed_bytes[cf.index()] += bytes;
        }
        if d.iter().all(|m| m.active == 0 && m.flushing.is_empty()) {
            self.dbs.remove(&db);
        }
    }

    /// Bytes in memtables (active and being flushed) of `cf`, over every
    /// RocksDB of the store.
    pub fn bytes(&self, cf: Cf) -> u64 {
        self.dbs
            .values()
            .map(|d| {
                let m = &d[cf.index()];
                m.active + m.flushing.values().sum::<u64>()
            })
            .sum()
    }

    /// Bytes in every memtable of the store.
    pub fn total_bytes(&self) -> u64 {
        CFS.iter().map(|&cf| self.bytes(cf)).sum()
    }

    /// RocksDB instances holding memtable data.
    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// The process died: memtables are gone (their writes come back from
    /// the log, not modelled) and flushes in flight are forgotten.
    pub fn clear(&mut self) {
        self.dbs.clear();
        self.flushes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn raft_kv_flushes_its_one_memtable_per_cf_at_write_buffer_size() {
        let mut m = Memtables::new(MemtableOptions::raft_kv());
        // 40 regions each writing 4 MiB to defaultcf: one shared memtable.
        let mut flushes = Vec::new();
        for r in 1..=40 {
            flushes.extend(m.write(r, r, Cf::Default, 4 * MIB));
        }
        assert_eq!(m.db_count(), 1);
        // 160 MiB written: one 128 MiB memtable flushing, 32 MiB active.
        assert_eq!(flushes.len(), 1);
        assert_eq!(flushes[0].bytes, 128 * MIB);
        assert_eq!(flushes[0].reason, FlushReason::WriteBufferFull);
        assert_eq!(m.bytes(Cf::Default), 160 * MIB);
        m.on_flushed(flushes[0].id);
        assert_eq!(m.bytes(Cf::Default), 32 * MIB);
        assert_eq!(m.flushed_bytes[Cf::Default.index()], 128 * MIB);
        // lockcf's buffer is 32 MiB.
        let f = m.write(50, 1, Cf::Lock, 32 * MIB);
        assert_eq!(f.len(), 1);
        assert_eq!(m.flush_tablet(1), vec![], "no tablets in raft-kv");
    }

    #[test]
    fn partitioned_raft_kv_holds_a_memtable_per_tablet_up_to_the_write_buffer_limit() {
        // 1 GiB of memory: write-buffer-limit 20%, flushes past 7/8 of it.
        let opts = MemtableOptions::partitioned_raft_kv(1 << 30);
        let limit = opts.write_buffer_limit.unwrap();
        assert_eq!(limit, (1u64 << 30) / 100 * 20);
        assert_eq!(
            MemtableOptions::partitioned_raft_kv(64 << 30).write_buffer_limit,
            Some(8 << 30),
            "at most 8 GiB"
        );
        let mut m = Memtables::new(opts);
        let mut flushes = Vec::new();
        // 40 tablets written 4 MiB each in turn: 160 MiB, under 7/8 of 204 MiB.
        for r in 1..=40 {
            flushes.extend(m.write(r, r, Cf::Write, 4 * MIB));
        }
        assert!(flushes.is_empty(), "no tablet is full: {flushes:?}");
        assert_eq!(m.db_count(), 40);
        assert_eq!(m.bytes(Cf::Write), 160 * MIB);
        // More: the manager flushes the oldest tablets first.
        for r in 1..=10 {
            flushes.extend(m.write(100 + r, r + 40, Cf::Write, 4 * MIB));
        }
        assert!(!flushes.is_empty());
        assert!(flushes
            .iter()
            .all(|f| f.reason == FlushReason::WriteBufferManager));
        let first: Vec<u64> = flushes.iter().map(|f| f.db).collect();
        assert_eq!(first[0], 1, "tablet 1 got the oldest write");
        assert!(first.windows(2).all(|w| w[0] < w[1]), "{first:?}");
        let active: u64 = m.bytes(Cf::Write) - flushes.iter().map(|f| f.bytes).sum::<u64>();
        assert!(active <= limit / 8 * 7);
        // A tablet's checkpoint flushes its CFs; once durable it is gone.
        let f = m.flush_tablet(45);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].reason, FlushReason::ManualFlush);
        m.on_flushed(f[0].id);
        assert_eq!(m.db_count(), 49, "tablet 45 left nothing");
    }
}
