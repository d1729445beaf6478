//! The invariant checkers catch what they are for: a replica's state is
//! corrupted behind the simulation's back (as a bug in apply or in Raft would)
//! and the checker names the property, the region and the store.

use kvscope_core::time::{MS, SEC};
use kvscope_tests::run_io_hang;
use raft::eraftpb::EntryType;
use std::rc::Rc;

/// A follower whose state machine loses every raw key: every write
/// acknowledged in its region and applied by it is now missing there.
#[test]
fn acked_write_lost_is_found_on_the_replica_that_lost_it() {
    let mut sim = run_io_hang(1, &[], 10);
    assert!(sim.check_acknowledged_writes().is_empty());
    let region = 1;
    let (victim, keys) = {
        let w = sim.world();
        let leader = w
            .stores
            .values()
            .find(|st| {
                st.raftstore
                    .peers
                    .get(&region)
                    .is_some_and(|p| p.is_leader())
            })
            .expect("region 1 has a leader")
            .id;
        let victim = w
            .stores
            .values()
            .find(|st| st.id != leader && st.raftstore.peers.contains_key(&region))
            .expect("region 1 has a follower")
            .id;
        let keys = w.stores[&victim].raftstore.peers[&region]
            .raft
            .store()
            .kv
            .len();
        (victim, keys)
    };
    assert!(
        keys > 0,
        "the follower applied writes before the corruption"
    );
    let store = sim
        .world_mut_for_tests()
        .stores
        .get_mut(&victim)
        .expect("victim store");
    let ps = store
        .raftstore
        .peers
        .get_mut(&region)
        .expect("peer")
        .raft
        .mut_store();
    ps.kv = Rc::new(Default::default());

    let found = sim.check_acknowledged_writes();
    assert!(!found.is_empty(), "lost writes are reported");
    for v in &found {
        assert_eq!(v.invariant, "acked-write-lost");
        assert_eq!(v.region, region);
        assert!(
            v.details.contains(&format!("store {victim} ")),
            "{}",
            v.details
        );
    }
    assert!(found.len() <= keys, "at most one report per lost key");
    // Reported once: asking again finds nothing new.
    assert!(sim.check_acknowledged_writes().is_empty());
}

/// A follower's log holds a different entry than the leader's at an index it
/// has not applied yet: when it applies it, the state machines diverge.
#[test]
fn a_diverging_entry_is_found_when_the_replica_applies_it() {
    let mut sim = run_io_hang(2, &[], 5);
    assert!(sim.violations().is_empty());
    let until = sim.now() + 5 * SEC;
    // Step until some follower holds a normal entry it has not applied.
    let target = loop {
        assert!(sim.now() < until, "a follower lags its log within 5 s");
        sim.run_bounded(sim.now() + MS, u64::MAX);
        let found = sim.world().stores.values().find_map(|st| {
            st.raftstore.peers.iter().find_map(|(&rid, p)| {
                let ps = p.raft.store();
                let next = ps.applied_index + 1;
                // Committed but not applied yet: the peer is about to apply it.
                (!p.is_leader() && p.raft.raft.raft_log.committed >= next)
                    .then(|| ps.entry(next))
                    .flatten()
                    .filter(|e| {
                        e.get_entry_type() == EntryType::EntryNormal && !e.get_data().is_empty()
                    })
                    .map(|e| (st.id, rid, e.clone()))
            })
        });
        if let Some(t) = found {
            break t;
        }
    };
    let (store, region, mut entry) = target;
    let mut data = entry.get_data().to_vec();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    entry.set_data(data.into());
    let index = entry.get_index();
    let ps = sim
        .world_mut_for_tests()
        .stores
        .get_mut(&store)
        .expect("store")
        .raftstore
        .peers
        .get_mut(&region)
        .expect("peer")
        .raft
        .mut_store();
    // Rewrite the entry in place: the entries after it stay as they are, so
    // only the state machine diverges, not the log's length or durability.
    let mut rewritten = vec![entry];
    rewritten.extend((index + 1..).map_while(|i| ps.entry(i).cloned()));
    let durable = ps.durable_last_index();
    ps.append(&rewritten);
    ps.log_durable(Some(durable), None);

    sim.run_until(sim.now() + 3 * SEC);
    let v: Vec<_> = sim
        .violations()
        .into_iter()
        .filter(|v| v.invariant == "state-machine-safety")
        .collect();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].region, region);
    assert!(
        v[0].details.contains(&format!("at index {index}")),
        "{}",
        v[0].details
    );
}
