//! Same scenario, seed and inputs give the same trace; another seed or an
//! input at another time gives another. An input applied by the page at the
//! moment its clock shows replays, from the recorded input log, to the same
//! trace.

use kvscope_core::input::{Input, InputAction};
use kvscope_core::time::{MS, SEC};
use kvscope_core::Simulation;
use kvscope_tests::run_io_hang;
use proptest::prelude::*;

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

fn replayed(scenario: &str, seed: u64, inputs: &[&str], until_s: u64) -> String {
    let mut sim = Simulation::new(scenario, seed, &[]).unwrap();
    for text in inputs {
        sim.schedule_input(Input::parse(text).unwrap()).unwrap();
    }
    sim.run_until(until_s * SEC);
    sim.trace_hash()
}

#[test]
fn same_inputs_same_trace_an_input_at_another_time_another_trace() {
    let id = "deadlock-detector-oom";
    let inputs = [
        "2s:txns=60",
        "3s:fix=skip-detect-on-owner-change",
        "4s:io-hang=2/1s",
    ];
    let a = replayed(id, 3, &inputs, 6);
    assert_eq!(a, replayed(id, 3, &inputs, 6));
    let later = [
        "2500ms:txns=60",
        "3s:fix=skip-detect-on-owner-change",
        "4s:io-hang=2/1s",
    ];
    assert_ne!(a, replayed(id, 3, &later, 6));
    let other_value = [
        "2s:txns=61",
        "3s:fix=skip-detect-on-owner-change",
        "4s:io-hang=2/1s",
    ];
    assert_ne!(a, replayed(id, 3, &other_value, 6));
    let io = ["5s:fix=relaxed-check", "7s:partition=1/2s"];
    let b = replayed("io-hang-transfer-leader", 3, &io, 10);
    assert_eq!(b, replayed("io-hang-transfer-leader", 3, &io, 10));
    assert_ne!(b, replayed("io-hang-transfer-leader", 3, &io[..1], 10));
}

/// What the page does: advance in frames of a few events or a few virtual
/// ms, and apply the user's action at whatever moment the clock shows.
fn played_like_the_page(seed: u64, frame_events: u64, act_after_ms: u64) -> (String, Vec<Input>) {
    let mut sim = Simulation::new("deadlock-detector-oom", seed, &[]).unwrap();
    let mut acted = 0;
    let actions = [
        InputAction::parse("txns=40").unwrap(),
        InputAction::parse("fix=non-fair-noop").unwrap(),
        InputAction::parse("crash=3/500ms").unwrap(),
    ];
    while sim.now() < 4 * SEC {
        let target = (sim.now() + 7 * MS).min(4 * SEC);
        sim.run_bounded(target, frame_events);
        if acted < actions.len() && sim.now() >= (acted as u64 + 1) * act_after_ms * MS {
            sim.apply_input(actions[acted].clone()).unwrap();
            acted += 1;
        }
    }
    sim.run_until(4 * SEC);
    (sim.trace_hash(), sim.inputs().to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn inputs_applied_mid_run_replay_to_the_same_trace(
        seed in 1u64..1000,
        frame_events in 1u64..400,
        act_after_ms in 300u64..1200,
    ) {
        let (hash, inputs) = played_like_the_page(seed, frame_events, act_after_ms);
        prop_assert_eq!(inputs.len(), 3);
        let texts: Vec<String> = inputs.iter().map(Input::to_text).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let replay = replayed("deadlock-detector-oom", seed, &refs, 4);
        prop_assert_eq!(hash, replay, "inputs {:?}", texts);
    }
}
