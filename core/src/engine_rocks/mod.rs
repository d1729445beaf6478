//! The KV engine's RocksDB, as far as kvscope models it beyond the data
//! itself (which the peers' storages hold): its memtables and their
//! flushes ([`memtable`]).

pub mod memtable;
