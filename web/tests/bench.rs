//! Browser benchmark: every scenario with its defaults for 600 virtual
//! seconds, timed with `performance.now()`. Run by
//! `cargo xtask bench` (`--release --test bench -- --nocapture`).

#![cfg(target_arch = "wasm32")]

use kvscope_core::time::SEC;
use kvscope_core::Simulation;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Virtual seconds simulated.
const VIRTUAL_SECS: u64 = 600;

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .expect("the browser has window.performance")
}

/// `performance.memory.usedJSHeapSize` and `totalJSHeapSize` in bytes, where the browser has them (Chromium).
fn js_heap() -> Option<(f64, f64)> {
    let perf = web_sys::window()?.performance()?;
    let memory = js_sys::Reflect::get(&perf, &JsValue::from_str("memory")).ok()?;
    if memory.is_undefined() || memory.is_null() {
        return None;
    }
    let get = |k: &str| {
        js_sys::Reflect::get(&memory, &JsValue::from_str(k))
            .ok()?
            .as_f64()
    };
    Some((get("usedJSHeapSize")?, get("totalJSHeapSize")?))
}

/// Runs `scenario` with its defaults for [`VIRTUAL_SECS`] and prints events per
/// wall second, the virtual/wall ratio, the JS heap and the wasm linear memory
/// (the tab's memory) at the end.
fn bench(scenario: &str) {
    let mut sim = Simulation::new(scenario, 1, &[]).expect("the scenario's defaults are valid");
    let start = now_ms();
    sim.run_until(VIRTUAL_SECS * SEC);
    let wall_ms = (now_ms() - start).max(0.001);
    let events = sim.events_processed();
    let line = format!(
        "bench wasm {scenario}: events {events}, wall ms {wall_ms:.0}, events/s {:.0}, virtual/wall {:.1}",
        events as f64 / (wall_ms / 1000.0),
        (VIRTUAL_SECS as f64 * 1000.0) / wall_ms,
    );
    console_log!("{line}");
    let heap = match js_heap() {
        Some((used, total)) => format!(
            "bench wasm {scenario}: js heap used {:.1} MB, total {:.1} MB (performance.memory)",
            used / 1e6,
            total / 1e6
        ),
        None => {
            format!("bench wasm {scenario}: js heap size not available (no performance.memory)")
        }
    };
    console_log!("{heap}");
    let wasm_bytes = wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0, |b| b.byte_length());
    console_log!(
        "bench wasm {scenario}: wasm linear memory {:.1} MB after {VIRTUAL_SECS} virtual s",
        wasm_bytes as f64 / 1e6
    );
    assert!(events > 0, "the benchmark processed no events");
}

#[wasm_bindgen_test]
fn bench_io_hang_transfer_leader() {
    bench("io-hang-transfer-leader");
}

/// The deadlock-detector scenario at its default (heaviest) contention:
/// fix=none, 200 transactions on 4 hot keys, OOM kills included.
#[wasm_bindgen_test]
fn bench_deadlock_detector_oom() {
    bench("deadlock-detector-oom");
}

/// The snapshot scenario with its defaults: 40 regions of 16 MiB, one store
/// cut off from 15 s to 55 s, then its peers' snapshots.
#[wasm_bindgen_test]
fn bench_snapshot_and_memory() {
    bench("snapshot-and-memory");
}

/// The in-memory engine scenario with its defaults: 16 regions, the hot
/// table merged and split again and again, store 2's abort at about 288 s.
#[wasm_bindgen_test]
fn bench_ime_region_load_race() {
    bench("ime-region-load-race");
}
