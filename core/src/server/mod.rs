//! The server layer of a TiKV process (TiKV `src/server/`): what sits
//! between raftstore and the network. Here, the snap worker that sends and
//! receives snapshot files over their own streams ([`snap`]).

pub mod snap;
