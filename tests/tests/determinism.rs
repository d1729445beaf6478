//! Same scenario, seed and inputs give the same trace; another seed gives another.

use kvscope_tests::run_io_hang;

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    let a = run_io_hang(11, &["hang_start=5s", "peer_move_at=6s"], 30);
    let b = run_io_hang(11, &["hang_start=5s", "peer_move_at=6s"], 30);
    let c = run_io_hang(12, &["hang_start=5s", "peer_move_at=6s"], 30);
    assert_eq!(a.trace_hash(), b.trace_hash());
    assert_eq!(a.events_processed(), b.events_processed());
    assert_eq!(a.log().len(), b.log().len());
    assert_ne!(a.trace_hash(), c.trace_hash());
    assert!(
        a.events_processed() > 10_000,
        "the run did work: {}",
        a.events_processed()
    );
}

#[test]
fn changing_an_input_changes_the_trace() {
    let a = run_io_hang(11, &["hang_start=5s"], 20);
    let b = run_io_hang(11, &["hang_start=6s"], 20);
    assert_ne!(a.trace_hash(), b.trace_hash());
}
