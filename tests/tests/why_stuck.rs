//! "Why is this stuck?": the chains the core computes, checked against what
//! the scenarios' faults make true (TiKV's write path: a proposal answers
//! once applied on the leader, which waits for the apply write on its disk;
//! a store that is down or cut off answers nothing).

use kvscope_core::views::why::{stuck_requests, why, Subject};
use kvscope_core::Simulation;

/// io-hang: store 3's disk hangs at 40 s under the hot region's leader,
/// which cannot move. Every write stuck for long ends at that disk.
#[test]
fn the_io_hang_writes_are_stuck_on_the_hung_disk() {
    let mut sim = Simulation::new("io-hang-transfer-leader", 1, &[]).unwrap();
    sim.run_until(30_000_000);
    assert!(
        stuck_requests(&sim, 100).is_empty(),
        "nothing is stuck before the hang"
    );
    sim.run_until(60_000_000);
    let stuck = stuck_requests(&sim, 100);
    assert!(stuck.len() >= 10, "the clients pile up: {}", stuck.len());
    let on_disk: Vec<_> = stuck
        .iter()
        .filter(|s| {
            s.chain.root().is_some_and(|r| {
                r.kind == "disk"
                    && r.store == Some(3)
                    && r.text.starts_with("disk of store 3 hung since 40 s")
            })
        })
        .collect();
    assert!(
        on_disk.len() * 2 >= stuck.len(),
        "most stuck writes end at store 3's hung disk: {:#?}",
        stuck[0].chain
    );
    for s in &on_disk {
        let kinds: Vec<&str> = s.chain.links.iter().map(|l| l.kind).collect();
        assert_eq!(kinds[0], "request");
        assert!(
            kinds.contains(&"leader"),
            "the chain names the leader: {kinds:?}"
        );
        let leader = s.chain.links.iter().find(|l| l.kind == "leader").unwrap();
        assert_eq!(leader.store, Some(3), "the leader that cannot move");
        assert!(s.waiting_ms >= 1_000);
    }
    // Grouped by what they wait on: every stuck request in one group, and
    // the largest group waits on the hung disk too.
    let groups = kvscope_core::views::why::stuck_groups(&sim, usize::MAX);
    assert_eq!(
        groups.iter().map(|g| g.requests).sum::<usize>(),
        stuck.len()
    );
    assert!(groups.len() < stuck.len(), "requests share chains");
    assert_eq!(groups[0].chain.root().unwrap().kind, "disk");
    // The same chain for the region alone, without a request.
    let region = on_disk[0].chain.links[0].region.unwrap();
    let chain = why(&sim, Subject::Region { id: region }).unwrap();
    assert_eq!(chain.root().unwrap().kind, "disk");
}

/// snapshot-and-memory: store 3 is cut off from 15 s to 55 s. Before the
/// election timeout moves its leaders, writes sent there wait on the
/// partition.
#[test]
fn a_write_to_a_cut_off_leader_is_stuck_on_the_partition() {
    let mut sim = Simulation::new("snapshot-and-memory", 1, &[]).unwrap();
    sim.run_until(18_000_000);
    let stuck = stuck_requests(&sim, 100);
    assert!(!stuck.is_empty());
    for s in &stuck {
        let root = s.chain.root().unwrap();
        assert_eq!(root.kind, "network", "{:#?}", s.chain);
        assert!(
            root.text
                .starts_with("store 3 is partitioned from the network since 15 s"),
            "{}",
            root.text
        );
    }
}
