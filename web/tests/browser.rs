//! Browser tests of the page, in headless Chromium (`cargo xtask test`).
//!
//! Each test mounts [`App`] into a fresh `<div>` with an explicit run
//! ([`Launch`]), drives it through the DOM (clicks, key presses, inputs), and
//! reads the DOM back. The determinism test compares the wasm trace hash with
//! the native one that `cargo xtask test` passes in at compile time.

#![cfg(target_arch = "wasm32")]

use std::future::Future;

use gloo_timers::future::TimeoutFuture;
use kvscope_core::input::Input;
use kvscope_core::time::MS;
use kvscope_core::Simulation;
use kvscope_web::{url, App, AppProps, Launch, Speed};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{
    CanvasRenderingContext2d, Document, Element, HtmlCanvasElement, HtmlElement, HtmlInputElement,
    HtmlSelectElement,
};
use yew::AppHandle;

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("a document")
}

/// A mounted page, unmounted (and its element removed) on drop.
struct Page {
    handle: Option<AppHandle<App>>,
    root: Element,
}

impl Drop for Page {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.destroy();
        }
        self.root.remove();
    }
}

impl Page {
    async fn mount(launch: Launch) -> Page {
        Page::mount_with(AppProps {
            launch: Some(launch),
        })
        .await
    }

    /// Mounts the app as the page does: reading its run from the query
    /// string (set it first with [`set_query`]) and writing the run back.
    async fn mount_from_url() -> Page {
        Page::mount_with(AppProps { launch: None }).await
    }

    async fn mount_with(props: AppProps) -> Page {
        // A test that failed before may have left the error panel open; only
        // a panel this page opens counts (see `wait_for`).
        if let Some(panel) = document().get_element_by_id("error-panel") {
            panel
                .set_attribute("hidden", "")
                .expect("hide the error panel");
        }
        let root = document().create_element("div").expect("create div");
        document()
            .body()
            .expect("body")
            .append_child(&root)
            .expect("append");
        let handle = kvscope_web::mount(root.clone(), props);
        yew::scheduler::flush().await;
        Page {
            handle: Some(handle),
            root,
        }
    }

    fn find(&self, selector: &str) -> Option<Element> {
        self.root.query_selector(selector).expect("valid selector")
    }

    fn get(&self, selector: &str) -> Element {
        self.find(selector)
            .unwrap_or_else(|| panic!("no element matches {selector}"))
    }

    fn count(&self, selector: &str) -> u32 {
        self.root
            .query_selector_all(selector)
            .expect("valid selector")
            .length()
    }

    fn text(&self, selector: &str) -> String {
        self.get(selector).text_content().unwrap_or_default()
    }

    fn number(&self, selector: &str) -> i64 {
        let t = self.text(selector);
        t.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{selector} shows '{t}', not a number"))
    }

    /// The clock, in virtual ms.
    fn clock_ms(&self) -> u64 {
        parse_clock(&self.text("#clock"))
    }

    async fn click(&self, selector: &str) {
        self.get(selector).unchecked_into::<HtmlElement>().click();
        yew::scheduler::flush().await;
    }

    /// Types `value` into an input and commits it (`input`, then `change`).
    async fn enter(&self, selector: &str, value: &str) {
        let input: HtmlInputElement = self.get(selector).unchecked_into();
        input.set_value(value);
        for kind in ["input", "change"] {
            let init = web_sys::EventInit::new();
            init.set_bubbles(true);
            let ev = web_sys::Event::new_with_event_init_dict(kind, &init).expect("event");
            input.dispatch_event(&ev).expect("dispatch");
        }
        yew::scheduler::flush().await;
    }

    /// Picks `value` in a select and commits it (`change`).
    async fn choose(&self, selector: &str, value: &str) {
        let select: HtmlSelectElement = self.get(selector).unchecked_into();
        select.set_value(value);
        let init = web_sys::EventInit::new();
        init.set_bubbles(true);
        let ev = web_sys::Event::new_with_event_init_dict("change", &init).expect("event");
        select.dispatch_event(&ev).expect("dispatch");
        yew::scheduler::flush().await;
    }

    /// The full trace hash the page shows (`#trace-hash`'s `data-hash`).
    fn trace_hash(&self) -> String {
        self.get("#trace-hash")
            .get_attribute("data-hash")
            .unwrap_or_default()
    }

    /// The input log, newest first: each row's `TIME:NAME=VALUE`.
    fn input_log(&self) -> Vec<String> {
        let list = self
            .root
            .query_selector_all("#input-log .input-row")
            .expect("selector");
        (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|n| n.unchecked_into::<Element>().get_attribute("data-input"))
            .collect()
    }

    /// Clicks while the page may be playing (see [`Page::wait_for`] on flush).
    async fn click_playing(&self, selector: &str) {
        self.get(selector).unchecked_into::<HtmlElement>().click();
        sleep(50).await;
    }

    /// Polls `cond` every 100 ms (letting animation frames run) until it
    /// holds, failing after `timeout_ms` with `what` and the clock.
    async fn wait_for(&self, what: &str, timeout_ms: u32, mut cond: impl FnMut(&Page) -> bool) {
        let mut waited = 0;
        loop {
            // Not `yew::scheduler::flush()`: while the page plays, renders keep
            // coming and flush can wait for a quiet moment that never comes.
            // Yielding to the event loop lets Yew render on its own.
            sleep(0).await;
            if let Some(panel) = document().get_element_by_id("error-panel") {
                if panel.get_attribute("hidden").is_none() {
                    panic!(
                        "the page shows its error panel while waiting for {what}: {}",
                        panel.text_content().unwrap_or_default()
                    );
                }
            }
            if cond(self) {
                return;
            }
            if waited >= timeout_ms {
                panic!(
                    "timed out after {timeout_ms} ms waiting for {what}; clock {}",
                    self.text("#clock")
                );
            }
            sleep(100).await;
            waited += 100;
        }
    }
}

/// Replaces the page's query string (as a user opening a URL would have it).
fn set_query(query: &str) {
    let history = web_sys::window()
        .expect("window")
        .history()
        .expect("history");
    history
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(query))
        .expect("replaceState");
}

/// Puts the query string back as it was when dropped.
struct QueryGuard(String);

impl QueryGuard {
    fn new() -> QueryGuard {
        QueryGuard(url::current_query())
    }
}

impl Drop for QueryGuard {
    fn drop(&mut self) {
        let q = if self.0.is_empty() { "?" } else { &self.0 };
        set_query(q);
    }
}

fn sleep(ms: u32) -> impl Future<Output = ()> {
    TimeoutFuture::new(ms)
}

fn parse_clock(text: &str) -> u64 {
    let (m, rest) = text
        .split_once(':')
        .unwrap_or_else(|| panic!("clock '{text}'"));
    let (s, ms) = rest
        .split_once('.')
        .unwrap_or_else(|| panic!("clock '{text}'"));
    let n = |x: &str| {
        x.parse::<u64>()
            .unwrap_or_else(|_| panic!("clock '{text}'"))
    };
    n(m) * 60_000 + n(s) * 1000 + n(ms)
}

/// Pixels of `canvas` within 40 (per channel) of `rgb`.
fn pixels_near(canvas_id: &str, rgb: (u8, u8, u8)) -> usize {
    let canvas: HtmlCanvasElement = document()
        .get_element_by_id(canvas_id)
        .unwrap_or_else(|| panic!("no #{canvas_id}"))
        .unchecked_into();
    let ctx: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .expect("get_context")
        .expect("a 2d context")
        .unchecked_into();
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    assert!(w > 0.0 && h > 0.0, "#{canvas_id} has no size");
    let data = ctx
        .get_image_data(0.0, 0.0, w, h)
        .expect("getImageData")
        .data();
    let near = |a: u8, b: u8| a.abs_diff(b) <= 40;
    data.chunks_exact(4)
        .filter(|p| p[3] > 0 && near(p[0], rgb.0) && near(p[1], rgb.1) && near(p[2], rgb.2))
        .count()
}

/// Pixels of `canvas` that are not (near) white.
fn non_white_pixels(canvas_id: &str) -> usize {
    let canvas: HtmlCanvasElement = document()
        .get_element_by_id(canvas_id)
        .expect("canvas")
        .unchecked_into();
    let ctx: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .expect("ctx")
        .expect("2d")
        .unchecked_into();
    let data = ctx
        .get_image_data(0.0, 0.0, canvas.width() as f64, canvas.height() as f64)
        .expect("getImageData")
        .data();
    data.chunks_exact(4)
        .filter(|p| p[3] > 0 && (p[0] < 235 || p[1] < 235 || p[2] < 235))
        .count()
}

fn launch(
    overrides: &[(&str, &str)],
    speed: Speed,
    autoplay: bool,
    until_ms: Option<u64>,
) -> Launch {
    Launch {
        scenario: "io-hang-transfer-leader".to_string(),
        seed: 1,
        overrides: overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        inputs: Vec::new(),
        speed,
        autoplay,
        until_ms,
    }
}

#[wasm_bindgen_test]
async fn the_page_steps_plays_and_draws() {
    let page = Page::mount(launch(&[], Speed::PerMille(100_000), false, Some(12_000))).await;
    assert_eq!(page.text("#clock"), "00:00.000");
    assert!(page.text("#play").contains("Play"));
    let hash = page.trace_hash();
    assert_eq!(hash.len(), 64, "the full hash is in data-hash: {hash}");
    assert_eq!(page.text("#trace-hash"), hash[..12], "12 hex digits shown");
    assert_eq!(page.count(".store"), 4, "one column per store");
    assert_eq!(page.count(".region-label"), 8, "one row per region");

    // Single steps process one event each.
    let events_before = page.text("#events");
    for _ in 0..20 {
        page.click("#step").await;
    }
    assert_ne!(
        page.text("#events"),
        events_before,
        "stepping processes events"
    );
    assert_ne!(page.trace_hash(), hash, "the trace hash follows the run");
    assert!(
        page.text("#play").contains("Play"),
        "stepping leaves the run paused"
    );

    // The space bar plays (keys are read on the window).
    let init = web_sys::KeyboardEventInit::new();
    init.set_code("Space");
    init.set_key(" ");
    init.set_bubbles(true);
    let key = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init)
        .expect("key event");
    web_sys::window()
        .expect("window")
        .dispatch_event(&key)
        .expect("dispatch");
    yew::scheduler::flush().await;
    assert!(page.text("#play").contains("Pause"), "space starts playing");

    // 100x: 12 virtual seconds take about 0.12 s of wall time plus the work.
    page.wait_for("the clock to reach 12 s and stop", 50_000, |p| {
        p.clock_ms() >= 12_000 && p.text("#play").contains("Play")
    })
    .await;
    assert_eq!(page.clock_ms(), 12_000, "the run stops exactly at `until`");
    assert!(
        page.count(".peer.leader") >= 8,
        "every region shows a leader"
    );
    assert_eq!(page.count(".disk-hung"), 0, "no hang before 40 s");
    assert!(page.number("#qps-now") > 0, "the cluster serves writes");
    assert!(
        page.count("#event-log .log-row") > 10,
        "the event log shows lines"
    );

    // Charts: axes and, above all, the data lines in their colours.
    page.wait_for("the charts to draw their lines", 5_000, |_| {
        pixels_near("qps-chart", (37, 99, 235)) > 50
            && pixels_near("latency-chart", (220, 38, 38)) > 20
    })
    .await;
    assert!(non_white_pixels("qps-chart") > 500);
    assert!(non_white_pixels("latency-chart") > 500);

    // Selecting a region shows its Raft group.
    page.click(".region-label[data-region=\"2\"]").await;
    assert_eq!(
        page.get(".raft-panel")
            .get_attribute("data-region")
            .as_deref(),
        Some("2")
    );

    // Reset goes back to t = 0.
    page.click("#reset").await;
    assert_eq!(page.text("#clock"), "00:00.000");
}

#[wasm_bindgen_test]
async fn the_fix_switch_changes_the_outcome() {
    // The hang at 31 s and the peer move at 32 s (the hot region is hot after
    // three 10 s heartbeats) make the story quick.
    let until = 75_000;
    let quick = [
        ("hang_start", "31s"),
        ("peer_move_at", "32s"),
        ("fix", "none"),
    ];
    let page = Page::mount(launch(&quick, Speed::Max, true, Some(until))).await;
    page.wait_for("fix=none to reach 75 s", 55_000, |p| {
        p.clock_ms() >= until && p.text("#play").contains("Play")
    })
    .await;
    assert!(
        page.find(".store[data-store=\"3\"] .disk-hung").is_some(),
        "store 3's disk is shown hung"
    );
    assert!(
        page.number("#counter-transfer_leader_rejected_pending_conf") > 0,
        "transfers are rejected for the pending conf change"
    );
    assert_eq!(page.number("#qps-now"), 0, "the cluster stalls");
    assert!(
        page.find(".store[data-store=\"3\"] .region[data-region=\"4\"] .peer.leader")
            .is_some(),
        "the hot region's leader stays on the hung store"
    );
    assert!(
        page.find("#pending-conf.chip-bad").is_some(),
        "the leader's pending conf change is flagged"
    );

    let rejected = page.number("#counter-transfer_leader_rejected_pending_conf");

    // Flip the switch: fix is live, so the running simulation takes it at
    // 75 s, keeps its clock and history, and records the input.
    let events = page.text("#events");
    page.click("#fix-relaxed-check").await;
    assert!(page.find("#live-error").is_none(), "accepted");
    assert_eq!(page.clock_ms(), until, "no replay from t = 0");
    assert_eq!(page.text("#events"), events, "the history is kept");
    let radio: HtmlInputElement = page.get("#fix-relaxed-check").unchecked_into();
    assert!(radio.checked());
    assert_eq!(page.input_log(), vec!["75s:fix=relaxed-check".to_string()]);
    page.play_until(100_000).await;
    assert!(
        page.number("#counter-transfer_leader_succeeded") > 0,
        "the leader transfer succeeds"
    );
    assert_eq!(
        page.number("#counter-transfer_leader_rejected_pending_conf"),
        rejected,
        "no transfer is rejected after the fix"
    );
    assert!(
        page.number("#qps-now") > 0,
        "QPS recovers while the disk is still hung"
    );
    assert!(
        page.find(".store[data-store=\"3\"] .disk-hung").is_some(),
        "the disk is still hung"
    );
    let leader_store = page
        .get(".region-label[data-region=\"4\"]")
        .get_attribute("data-leader-store");
    assert!(
        leader_store
            .as_deref()
            .is_some_and(|s| !s.is_empty() && s != "3"),
        "the hot region's leader left store 3 (now {leader_store:?})"
    );
    assert!(page
        .find(".store[data-store=\"3\"] .region[data-region=\"4\"] .peer.leader")
        .is_none());
    assert_eq!(page.number("#violations"), 0);
}

#[wasm_bindgen_test]
async fn bad_input_is_reported_and_changes_nothing() {
    // A combination the scenario refuses falls back to the defaults, with a banner.
    let page = Page::mount(launch(
        &[("hang_store", "5")],
        Speed::default(),
        false,
        None,
    ))
    .await;
    let banner = page.text("#error-banner");
    assert!(banner.contains("hang_store"), "banner: {banner}");

    for _ in 0..50 {
        page.click("#step").await;
    }
    let clock = page.text("#clock");
    let events = page.text("#events");

    // The featured store is a select of the cluster's stores.
    assert_eq!(page.count("#param-hang_store option"), 4);

    // An out-of-range start: an inline error, and the run goes on untouched.
    page.enter("#param-hang_start", "99999").await;
    let err = page.text("#param-error");
    assert!(
        err.contains("hang_start") && err.contains("0..=3600000"),
        "error: {err}"
    );
    assert_eq!(page.text("#clock"), clock);
    assert_eq!(page.text("#events"), events);
    let input: HtmlInputElement = page.get("#param-hang_start").unchecked_into();
    assert_eq!(
        input.value(),
        "99999",
        "the refused text stays for correction"
    );

    // Not a number at all.
    page.enter("#param-hang_duration", "soon").await;
    assert!(page.text("#param-error").contains("hang_duration"));

    // A valid change elsewhere replays, and every box shows the applied values again.
    page.enter("#param-disk_latency", "2ms").await;
    assert!(page.find("#param-error").is_none());
    assert_eq!(page.text("#clock"), "00:00.000");
    assert_eq!(
        input.value(),
        "40",
        "the refused start is replaced by the applied one"
    );
    let latency: HtmlInputElement = page.get("#param-disk_latency").unchecked_into();
    assert_eq!(
        latency.value(),
        "2000",
        "shown in the parameter's unit (µs)"
    );

    // A valid value replays from t = 0.
    page.enter("#param-hang_start", "2.5").await;
    assert!(page.find("#param-error").is_none());
    assert_eq!(page.text("#clock"), "00:00.000");
    assert_eq!(input.value(), "2.5");

    // A bad seed is refused inline too.
    page.enter("#seed", "-3").await;
    assert!(page.find(".seed-error").is_some());
}

#[wasm_bindgen_test]
fn malformed_urls_fall_back_to_defaults_with_messages() {
    let (l, errors) = url::parse_query(
        "?scenario=nope&seed=x&fix=maybe&bogus=1&speed=max&until=90&hang_start=5s",
    );
    assert_eq!(l.scenario, "io-hang-transfer-leader");
    assert_eq!(l.seed, url::DEFAULT_SEED);
    assert_eq!(l.speed, Speed::Max);
    assert_eq!(l.until_ms, Some(90_000));
    assert_eq!(
        l.overrides,
        vec![("hang_start".to_string(), "5s".to_string())]
    );
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("nope")));
    assert!(errors.iter().any(|e| e.contains("seed")));
    assert!(errors.iter().any(|e| e.contains("relaxed-check")));
    assert!(errors.iter().any(|e| e.contains("bogus")));

    let inputs = vec![
        Input::parse("30s:fix=relaxed-check").expect("an input"),
        Input::parse("41250ms:io-hang=3/60s").expect("an input"),
    ];
    let q = url::to_query(
        "io-hang-transfer-leader",
        7,
        &[("hang_start".into(), "30000".into())],
        &inputs,
    );
    assert_eq!(
        q,
        "?scenario=io-hang-transfer-leader&seed=7&hang_start=30000\
         &at=30s:fix=relaxed-check&at=41250ms:io-hang=3/60s"
    );
    let (back, errors) = url::parse_query(&q);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(back.seed, 7);
    assert_eq!(
        back.overrides,
        vec![("hang_start".to_string(), "30000".to_string())]
    );
    assert_eq!(back.inputs, inputs);
    // Encoded forms read back too.
    let (back, errors) =
        url::parse_query("?scenario=io-hang-transfer-leader&at=30s%3Afix%3Drelaxed-check");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(back.inputs, inputs[..1]);

    // A malformed input is skipped and named.
    let (back, errors) = url::parse_query("?at=soon:fix=none&at=3s:io-hang=x/5s&at=2s:fix=none");
    assert_eq!(back.inputs.len(), 1);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("soon:fix=none"), "{errors:?}");
    assert!(errors[1].contains("3s:io-hang=x/5s"), "{errors:?}");
}

#[wasm_bindgen_test]
fn wasm_trace_hash_matches_native() {
    let (Some(expected), Some(seed), Some(until_ms)) = (
        option_env!("KVSCOPE_NATIVE_TRACE_HASH"),
        option_env!("KVSCOPE_NATIVE_TRACE_SEED"),
        option_env!("KVSCOPE_NATIVE_TRACE_UNTIL_MS"),
    ) else {
        panic!(
            "KVSCOPE_NATIVE_TRACE_HASH / _SEED / _UNTIL_MS were not set when this test was compiled: \
             run the browser tests through `cargo xtask test`, which computes the native trace hash first"
        );
    };
    let seed: u64 = seed.parse().expect("KVSCOPE_NATIVE_TRACE_SEED is a number");
    let until_ms: u64 = until_ms
        .parse()
        .expect("KVSCOPE_NATIVE_TRACE_UNTIL_MS is a number");
    let mut sim =
        Simulation::new("io-hang-transfer-leader", seed, &[]).expect("defaults are valid");
    sim.run_until(until_ms * MS);
    assert_eq!(
        sim.trace_hash(),
        expected,
        "wasm and native runs of io-hang-transfer-leader (seed {seed}, {until_ms} ms) diverged"
    );
}

#[wasm_bindgen_test]
fn the_error_panel_names_the_run_to_reproduce() {
    use kvscope_web::panic::{self, RunInfo};
    panic::set_run_info(RunInfo {
        scenario: "io-hang-transfer-leader".into(),
        seed: 42,
        non_defaults: vec![("fix".into(), "relaxed-check".into())],
        inputs: vec![Input::parse("30s:io-hang=3/60s").expect("an input")],
        now_us: 61_250_000,
        events: 1234,
    });
    panic::show_error("The page panicked: boom");
    let panel = document()
        .get_element_by_id("error-panel")
        .expect("#error-panel is created");
    let text = panel.text_content().unwrap_or_default();
    assert!(
        panel.get_attribute("hidden").is_none(),
        "the panel is visible"
    );
    for needle in [
        "boom",
        "io-hang-transfer-leader",
        "seed: 42",
        "fix=relaxed-check",
        "01:01.250",
        "--seed 42",
        "--at 30s:io-hang=3/60s",
        "&at=30s:io-hang=3/60s",
    ] {
        assert!(text.contains(needle), "the panel lacks '{needle}': {text}");
    }
    panel.remove();
}

// ---------- lock-manager panels (deadlock-detector-oom) ----------

mod lock_fixture {
    //! Hand-built lock views: what the core's `Simulation::lock_view` hands
    //! out, shaped like the deadlock-detector-oom scenario.

    use kvscope_core::env::metrics::MEMORY;
    use kvscope_core::memory::MemoryTrace;
    use kvscope_core::views::memory::StoreMemoryView;
    use kvscope_core::views::{
        ClusterView, DeadlockView, DetectEdgeView, DetectorRole, LockView, OomKill, QueueView,
        StoreLockView, TxnInFlight, TxnPhase, WaitEdgeView,
    };
    use kvscope_web::snapshot::{ChartData, Frame, LockFrame, MemoryFrame, StoreMemory};

    pub const MIB: u64 = 1024 * 1024;

    fn memory(lock_mib: u64) -> MemoryTrace {
        MemoryTrace::node(
            "tikv",
            vec![
                MemoryTrace::leaf("block_cache", 256 * MIB),
                MemoryTrace::node(
                    "raftstore",
                    vec![
                        MemoryTrace::leaf("peers", 2 * MIB),
                        MemoryTrace::leaf("entry_cache", 12 * MIB),
                    ],
                ),
                MemoryTrace::node(
                    "lock_manager",
                    vec![
                        MemoryTrace::leaf("detector_stream", lock_mib * MIB),
                        MemoryTrace::leaf("waiters", MIB / 2),
                    ],
                ),
                MemoryTrace::leaf("other", 64 * MIB),
            ],
        )
    }

    fn queues(stream_in: u64, stream_out: u64, depth: u64) -> Vec<QueueView> {
        vec![
            QueueView {
                name: "waiter_manager_tasks",
                depth: 3,
                bytes: 960,
                in_per_sec: 400,
                out_per_sec: 400,
                capacity: None,
            },
            QueueView {
                name: "detector_tasks",
                depth: 0,
                bytes: 0,
                in_per_sec: 800,
                out_per_sec: 800,
                capacity: None,
            },
            QueueView {
                name: "detector_stream",
                depth,
                bytes: depth * 200,
                in_per_sec: stream_in,
                out_per_sec: stream_out,
                capacity: None,
            },
        ]
    }

    /// `waiters` pessimistic transactions waiting on 4 hot keys of store 2
    /// (each key owned by one transaction), a 3-transaction deadlock just
    /// found, store 1 the detector leader.
    pub fn lock_view(waiters: u64, now_ms: u64) -> LockView {
        let hot_keys = vec![1, 2, 3, 4];
        let mut txns = Vec::new();
        let mut waits = Vec::new();
        let mut detect_table = Vec::new();
        for (i, k) in hot_keys.iter().enumerate() {
            txns.push(TxnInFlight {
                start_ts: 1000 + i as u64,
                client: i as u32,
                phase: TxnPhase::Holding,
                pessimistic: true,
                locked_keys: vec![*k],
            });
        }
        for w in 0..waiters {
            let ts = 2000 + w;
            let key = hot_keys[(w % 4) as usize];
            txns.push(TxnInFlight {
                start_ts: ts,
                client: (10 + w) as u32,
                phase: TxnPhase::Waiting,
                pessimistic: true,
                locked_keys: vec![],
            });
            waits.push(WaitEdgeView {
                store: 2,
                waiter_ts: ts,
                lock_ts: 1000 + (key - 1),
                key,
                fair: false,
                since_ms: now_ms.saturating_sub(500),
            });
            detect_table.push(DetectEdgeView {
                txn_ts: ts,
                wait_for_ts: 1000 + (key - 1),
                keys: vec![key],
                last_detect_ms: now_ms.saturating_sub(300),
            });
        }
        // A deadlock: 3001 -> 3002 -> 3003 -> 3001.
        for (a, b, k) in [(3001, 3002, 11), (3002, 3003, 12), (3003, 3001, 13)] {
            txns.push(TxnInFlight {
                start_ts: a,
                client: 900,
                phase: TxnPhase::Waiting,
                pessimistic: true,
                locked_keys: vec![k - 1],
            });
            detect_table.push(DetectEdgeView {
                txn_ts: a,
                wait_for_ts: b,
                keys: vec![k],
                last_detect_ms: now_ms.saturating_sub(100),
            });
        }
        LockView {
            detector_leader: Some(1),
            stores: vec![
                StoreLockView {
                    store: 1,
                    up: true,
                    role: DetectorRole::Leader,
                    queues: queues(0, 0, 0),
                    waiters: 0,
                    memory: memory(1),
                    memory_limit: 1024 * MIB,
                },
                StoreLockView {
                    store: 2,
                    up: true,
                    role: DetectorRole::Follower,
                    queues: queues(9000, 2500, 480_000),
                    waiters,
                    memory: memory(92),
                    memory_limit: 1024 * MIB,
                },
                StoreLockView {
                    store: 3,
                    up: false,
                    role: DetectorRole::Follower,
                    queues: queues(0, 0, 0),
                    waiters: 0,
                    memory: memory(0),
                    memory_limit: 1024 * MIB,
                },
            ],
            txns,
            waits,
            detect_table,
            deadlocks: vec![DeadlockView {
                at_ms: now_ms.saturating_sub(1000),
                victim_ts: 3003,
                wait_chain: vec![(3003, 3001, 13), (3001, 3002, 11), (3002, 3003, 12)],
            }],
            hot_keys,
        }
    }

    pub fn oom() -> Vec<OomKill> {
        vec![OomKill {
            store: 3,
            at_ms: 50_000,
            memory: 1100 * MIB,
            limit: 1024 * MIB,
            restart_ms: 70_000,
        }]
    }

    pub fn frame(seq: u64, waiters: u64, now_ms: u64) -> Frame {
        let view = lock_view(waiters, now_ms);
        Frame {
            seq,
            view: ClusterView {
                now_us: now_ms * 1000,
                stores: vec![],
                regions: vec![],
                operators: vec![],
                qps: 0.0,
                faults: vec![],
                violations: 0,
            },
            group: None,
            selected_region: 1,
            hot_region: 1,
            counters: Vec::new(),
            events: 0,
            pipeline: None,
            ime: None,
            rts: None,
            rts_region: None,
            why: None,
            trace_hash: String::new(),
            inputs: Vec::new(),
            pending_inputs: Vec::new(),
            memory: Some(MemoryFrame {
                now_ms,
                stores: view
                    .stores
                    .iter()
                    .map(|s| StoreMemoryView {
                        store: s.store,
                        up: s.up,
                        memory_limit: s.memory_limit,
                        memory: s.memory.clone(),
                    })
                    .collect(),
                tree: Some(view.stores[1].memory.clone()),
                tree_store: 2,
                tree_at_ms: None,
                profile: None,
                threads: Vec::new(),
            }),
            locks: Some(LockFrame {
                now_ms,
                view,
                oom_kills: oom(),
                deadlocks_detected: 7,
            }),
        }
    }

    pub fn charts(now_ms: u64) -> ChartData {
        let mut series = kvscope_core::kernel::metrics::SeriesMap::new();
        for store in 1..=3u64 {
            let mut total = Vec::new();
            for (module, base) in [
                ("block_cache", 256.0),
                ("raftstore", 14.0),
                ("lock_manager", 1.0),
                ("other", 64.0),
            ] {
                let pts: Vec<(u64, f64)> = (0..=now_ms / 1000)
                    .map(|s| {
                        let grow = if module == "lock_manager" && store == 3 {
                            (s as f64 * 14.0) % 760.0
                        } else {
                            0.0
                        };
                        (s * 1000, (base + grow) * MIB as f64)
                    })
                    .collect();
                if total.is_empty() {
                    total = pts.clone();
                } else {
                    for (t, p) in total.iter_mut().zip(&pts) {
                        t.1 += p.1;
                    }
                }
                series.insert(MEMORY.at(store, module), pts);
            }
            series.insert(
                MEMORY.at(store, "lock_manager/detector_stream"),
                vec![(0, 1.0)],
            );
            series.insert(MEMORY.of(store), total);
        }
        ChartData {
            seq: 1,
            now_ms,
            memory: (1..=3)
                .map(|s| StoreMemory::from_series(&series, s, 1024 * MIB, s == 1))
                .collect(),
            oom_kills: oom(),
            ..ChartData::default()
        }
    }
}

/// Mounts component `C` with `props` into a fresh `<div>`; returns the div.
async fn mount_component<C>(props: C::Properties) -> (Element, yew::AppHandle<C>)
where
    C: yew::BaseComponent,
{
    let root = document().create_element("div").expect("div");
    document()
        .body()
        .expect("body")
        .append_child(&root)
        .expect("append");
    let handle = yew::Renderer::<C>::with_root_and_props(root.clone(), props).render();
    yew::scheduler::flush().await;
    (root, handle)
}

#[wasm_bindgen_test]
fn the_wait_for_layout_folds_crowds_and_keeps_cycles() {
    use kvscope_web::components::wait_for::{build, recent_cycles, Wait, INDIVIDUAL_MAX};
    use std::collections::BTreeSet;

    // 200 waiters on 4 hot keys: one group per (key, owner).
    let lv = lock_fixture::lock_view(196, 60_000);
    let waits = kvscope_web::components::wait_for::store_waits(&lv, 2);
    let g = build(&waits, &BTreeSet::new(), &BTreeSet::new());
    assert_eq!(g.total_txns, 200);
    assert_eq!(g.groups, 4, "one group per hot key and owner");
    assert_eq!(g.shown_txns, 4, "the four owners are drawn");
    let note = g.folding_note().expect("a folding note");
    assert_eq!(
        note,
        "showing 4 of 200 transactions; 196 folded into 4 per-key groups"
    );
    assert!(g.nodes.len() <= 30, "readable: {} nodes", g.nodes.len());

    // A small cycle: every transaction drawn, the cycle and victim marked.
    let (cycle_edges, victims) = recent_cycles(&lv.deadlocks, 60_000);
    let ring: Vec<Wait> = lv.deadlocks[0]
        .wait_chain
        .iter()
        .map(|(a, b, k)| Wait {
            waiter: *a,
            owner: *b,
            keys: vec![*k],
        })
        .collect();
    let g = build(&ring, &cycle_edges, &victims);
    assert!(g.total_txns <= INDIVIDUAL_MAX);
    assert_eq!(g.nodes.len(), 3);
    assert!(g.folding_note().is_none());
    assert!(g.edges.iter().all(|e| e.in_cycle));
    assert_eq!(g.nodes.iter().filter(|n| n.victim).count(), 1);

    // Many small wait chains (the cycle workload with many sessions): drawn
    // one by one up to a budget, the rest counted; a recent cycle goes first.
    let mut chains: Vec<Wait> = (0..60u64)
        .map(|i| Wait {
            waiter: 10_000 + 2 * i,
            owner: 10_001 + 2 * i,
            keys: vec![i],
        })
        .collect();
    chains.extend(ring.iter().cloned());
    let g = build(&chains, &cycle_edges, &victims);
    assert_eq!(g.total_txns, 123);
    assert!(g.shown_txns <= kvscope_web::components::wait_for::CHAINS_BUDGET);
    assert!(g.hidden_chains > 0);
    assert_eq!(g.shown_txns + g.hidden_txns, g.total_txns);
    assert_eq!(
        g.nodes.iter().filter(|n| n.victim).count(),
        1,
        "the cycle is drawn"
    );
    let note = g.folding_note().expect("a note");
    assert!(note.contains("small wait chain"), "{note}");

    // Old deadlocks are not highlighted.
    let (old_edges, old_victims) = recent_cycles(&lv.deadlocks, 600_000);
    assert!(old_edges.is_empty() && old_victims.is_empty());
}

#[wasm_bindgen_test]
async fn the_lock_panels_draw_a_lock_view() {
    use kvscope_web::components::backlog::{BacklogPanel, BacklogProps};
    use kvscope_web::components::memory::{
        MemoryCharts, MemoryChartsProps, MemoryTree, MemoryTreeProps,
    };
    use kvscope_web::components::wait_for::{WaitForPanel, WaitForProps};
    use std::rc::Rc;

    // KVSCOPE_KEEP_DOM=1 at compile time leaves the panels on the page, styled,
    // to look at through the interactive runner (NO_HEADLESS=1).
    let keep = option_env!("KVSCOPE_KEEP_DOM").is_some();
    if keep {
        let style = document().create_element("style").expect("style");
        style.set_text_content(Some(concat!(
            include_str!("../../static/style.css"),
            include_str!("../src/lock_panels.css"),
            "body{height:auto;display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start;padding:8px}",
            "body>div{width:700px}body>div:nth-of-type(n+3){width:430px}"
        )));
        document()
            .head()
            .expect("head")
            .append_child(&style)
            .expect("append");
    }
    let frame = Rc::new(lock_fixture::frame(1, 196, 60_000));
    let (wf, wf_handle) = mount_component::<WaitForPanel>(WaitForProps {
        frame: frame.clone(),
    })
    .await;
    let q = |root: &Element, sel: &str| root.query_selector_all(sel).expect("selector").length();
    // The local waiters of store 2 (the default: the detector follower with the most waiters).
    assert_eq!(q(&wf, "#wf-local-svg .wf-node.group"), 4);
    assert_eq!(q(&wf, "#wf-local-svg .wf-node.owner"), 4);
    let note = wf
        .query_selector("#wf-local .wf-note")
        .expect("selector")
        .expect("a note")
        .text_content()
        .unwrap_or_default();
    assert!(note.contains("196 folded into 4 per-key groups"), "{note}");
    let group = wf
        .query_selector("#wf-local-svg .wf-node.group")
        .expect("selector")
        .expect("a group");
    assert_eq!(group.get_attribute("data-count").as_deref(), Some("49"));
    assert!(group
        .text_content()
        .unwrap_or_default()
        .contains("49 waiters"));
    // The detect table: the same crowd plus the deadlock's cycle, drawn red.
    assert!(q(&wf, "#wf-detect-svg .wf-edge.cycle") >= 3);
    assert_eq!(q(&wf, "#wf-detect-svg .wf-node.victim"), 1);
    // The last deadlock as a ring with its victim.
    assert_eq!(q(&wf, "#wf-ring-svg .wf-node"), 3);
    assert_eq!(q(&wf, "#wf-ring-svg .wf-node.victim"), 1);
    let text = wf.text_content().unwrap_or_default();
    assert!(text.contains("victim: txn 3003"), "{text}");

    let (bl, bl_handle) = mount_component::<BacklogPanel>(BacklogProps {
        frame: frame.clone(),
    })
    .await;
    assert_eq!(q(&bl, ".backlog-store"), 3);
    assert_eq!(q(&bl, ".backlog-store.detector-leader"), 1);
    assert!(bl
        .query_selector(".backlog-store[data-store=\"1\"].detector-leader")
        .expect("selector")
        .is_some());
    assert!(
        bl.query_selector(
            ".backlog-store[data-store=\"2\"] .queue-row.alarm[data-queue=\"detector_stream\"]"
        )
        .expect("selector")
        .is_some(),
        "a stream filling faster than it drains is flagged"
    );
    let store2 = bl
        .query_selector(".backlog-store[data-store=\"2\"]")
        .expect("selector")
        .expect("store 2")
        .text_content()
        .unwrap_or_default();
    assert!(store2.contains("▲ +6\u{2009}500/s"), "{store2}");
    assert!(store2.contains("480\u{2009}000"), "{store2}");
    assert!(store2.contains("91.6 MiB"), "the stream's bytes: {store2}");
    assert_eq!(q(&bl, ".backlog-store.down"), 1);

    let (mt, mt_handle) = mount_component::<MemoryTree>(MemoryTreeProps {
        frame: frame.clone(),
        charts: Default::default(),
        on_pick: yew::Callback::noop(),
    })
    .await;
    assert!(mt
        .query_selector("details[data-path=\"lock_manager\"]")
        .expect("selector")
        .is_some());
    assert!(mt
        .query_selector("[data-path=\"lock_manager/detector_stream\"]")
        .expect("selector")
        .is_some());
    let text = mt.text_content().unwrap_or_default();
    assert!(text.contains("92.0 MiB"), "{text}");
    assert!(text.contains("now (follows the clock)"), "{text}");

    let (mc, mc_handle) = mount_component::<MemoryCharts>(MemoryChartsProps {
        data: Rc::new(lock_fixture::charts(90_000)),
        marker_ms: Some(30_000),
    })
    .await;
    assert_eq!(q(&mc, "canvas.mem-chart"), 3);
    // Effects draw after the render.
    sleep(50).await;
    yew::scheduler::flush().await;
    assert!(non_white_pixels("memory-chart-3") > 2000);
    assert!(
        pixels_near("memory-chart-3", (249, 115, 22)) > 200,
        "the lock_manager band is drawn"
    );
    assert!(
        pixels_near("memory-chart-3", (220, 38, 38)) > 50,
        "the limit line and the OOM marker are drawn"
    );
    assert!(mc.text_content().unwrap_or_default().contains("1 OOM kill"));

    if keep {
        // Left on the page to look at (interactive runner).
        std::mem::forget((wf_handle, bl_handle, mt_handle, mc_handle));
    } else {
        wf_handle.destroy();
        bl_handle.destroy();
        mt_handle.destroy();
        mc_handle.destroy();
        for root in [wf, bl, mt, mc] {
            root.remove();
        }
    }
}

fn deadlock_launch(overrides: &[(&str, &str)], autoplay: bool, until_ms: Option<u64>) -> Launch {
    Launch {
        scenario: "deadlock-detector-oom".to_string(),
        ..launch(overrides, Speed::Max, autoplay, until_ms)
    }
}

impl Page {
    /// A number shown with thousands separators (`12 345`).
    fn big_number(&self, selector: &str) -> u64 {
        let t = self.text(selector);
        let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("{selector} shows '{t}', not a number"))
    }

    /// What the wait-for graphs draw: every node's identity and every edge.
    fn wait_for_signature(&self) -> String {
        let list = self
            .root
            .query_selector_all("#wf-local-svg .wf-node, #wf-local-svg .wf-edge, #wf-detect-svg .wf-node, #wf-detect-svg .wf-edge")
            .expect("selector");
        (0..list.length())
            .filter_map(|i| list.item(i))
            .map(|n| {
                let el: Element = n.unchecked_into();
                [
                    "data-ts",
                    "data-count",
                    "data-key",
                    "data-waiter",
                    "data-owner",
                ]
                .iter()
                .filter_map(|a| el.get_attribute(a))
                .collect::<Vec<_>>()
                .join(":")
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// "N transactions in flight" of the wait-for panel.
    fn txns_in_flight(&self) -> u64 {
        let t = self.text("#txn-summary");
        t.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("#txn-summary shows '{t}'"))
    }
}

#[wasm_bindgen_test]
async fn the_wait_for_graph_draws_and_moves_for_deadlock_detector_oom() {
    let page = Page::mount(deadlock_launch(&[], true, Some(12_000))).await;
    assert!(page.find("#wait-for-panel").is_some());
    assert!(page.find("#backlog-panel").is_some());
    assert!(page.find("#live-panel").is_some());
    assert!(page.find("#fault-panel").is_some());
    assert!(page.find("#parameters-panel").is_some());
    page.wait_for("waiters to show up in the detect table", 55_000, |p| {
        p.count("#wf-detect-svg .wf-node") > 0 && p.count("#wf-detect-svg .wf-edge") > 0
    })
    .await;
    let first = page.wait_for_signature();
    let first_clock = page.clock_ms();
    // 200 transactions on 4 hot keys: folded into per-key groups, and said so.
    page.wait_for("per-key groups", 55_000, |p| {
        p.count("#wf-detect-svg .wf-node.group") > 0
    })
    .await;
    assert!(
        page.text("#wf-detect .wf-note").contains("folded into"),
        "note: {}",
        page.text("#wf-detect .wf-note")
    );
    assert!(page.count("#wf-detect-svg .wf-node") <= 50, "readable");
    page.wait_for("the graph to change as the clock runs", 55_000, |p| {
        p.clock_ms() > first_clock && p.wait_for_signature() != first
    })
    .await;
    // The backlog marks the detector leader, and the memory panel draws.
    assert_eq!(page.count(".backlog-store.detector-leader"), 1);
    assert!(page.count(".queue-row[data-queue=\"detector_stream\"]") >= 2);
    assert!(page.count("canvas.mem-chart") >= 2);
    page.wait_for("the backlog chart", 10_000, |p| {
        p.find("#backlog-chart").is_some()
    })
    .await;
    assert!(page
        .find("#memory-tree details[data-path=\"lock_manager\"]")
        .is_some());
    // The io-hang panels that do not apply are gone.
    assert!(page
        .find("#counter-transfer_leader_rejected_pending_conf")
        .is_none());
}

impl Page {
    /// Plays until the clock passes `ms`, then pauses; returns the clock.
    async fn play_until(&self, ms: u64) -> u64 {
        assert!(self.text("#play").contains("Play"), "starts paused");
        self.click_playing("#play").await;
        self.wait_for(&format!("the clock to pass {ms} ms"), 55_000, |p| {
            p.clock_ms() >= ms
        })
        .await;
        self.click_playing("#play").await;
        self.wait_for("the run to pause", 5_000, |p| {
            p.text("#play").contains("Play")
        })
        .await;
        self.clock_ms()
    }
}

#[wasm_bindgen_test]
async fn live_controls_change_the_running_simulation() {
    let page = Page::mount(deadlock_launch(&[], true, Some(4_000))).await;
    page.wait_for("4 s", 55_000, |p| {
        p.clock_ms() >= 4_000 && p.text("#play").contains("Play")
    })
    .await;
    assert!(page.txns_in_flight() > 150, "about 200 sessions run");

    // The fix switch: with fair locking off, non-fair-noop stops the
    // CleanUpWaitFor + Detect pair every waiter sends on each lock handoff;
    // only the one CleanUpWaitFor of a leaving waiter remains.
    let c0 = page.big_number("#counter-clean_up_wait_for_sent");
    let t0 = page.clock_ms();
    let t1 = page.play_until(t0 + 2_000).await;
    let c1 = page.big_number("#counter-clean_up_wait_for_sent");
    let events = page.big_number("#events");
    page.click("#fix-non-fair-noop").await;
    assert!(page.find("#live-error").is_none(), "accepted");
    assert_eq!(page.clock_ms(), t1, "no replay from t = 0");
    // Applying an input first runs the events still due at this virtual
    // instant (so a replay applies it at the same point), so the count may
    // grow by those few; a replay from t = 0 would start it over.
    let kept = page.big_number("#events");
    assert!(
        (events..events + 50).contains(&kept),
        "the history is kept: {events} events before, {kept} after"
    );
    let radio: HtmlInputElement = page.get("#fix-non-fair-noop").unchecked_into();
    assert!(radio.checked());
    let t2 = page.play_until(t1 + 2_000).await;
    let c2 = page.big_number("#counter-clean_up_wait_for_sent");
    let before = (c1 - c0) * 1000 / (t1 - t0);
    let after = (c2 - c1) * 1000 / (t2 - t1);
    assert!(
        after * 3 < before,
        "CleanUpWaitFor per virtual second: {before} with fix=none, {after} with non-fair-noop"
    );

    // The transactions slider: the same run goes on with fewer sessions.
    let events = page.big_number("#events");
    page.enter("#live-txns", "20").await;
    assert!(page.find("#live-error").is_none(), "accepted");
    assert_eq!(page.clock_ms(), t2, "no replay from t = 0");
    // Applying an input first runs the events still due at this virtual
    // instant (so a replay applies it at the same point), so the count may
    // grow by those few; a replay from t = 0 would start it over.
    let kept = page.big_number("#events");
    assert!(
        (events..events + 50).contains(&kept),
        "the history is kept: {events} events before, {kept} after"
    );
    assert_eq!(page.text("#live-txns-value"), "20");
    assert!(radio.checked(), "the fix stays");
    page.click_playing("#play").await;
    page.wait_for("the sessions to wind down to 20", 55_000, |p| {
        p.txns_in_flight() <= 20 && p.clock_ms() > t2
    })
    .await;
    page.click_playing("#play").await;
    page.wait_for("the run to pause", 5_000, |p| {
        p.text("#play").contains("Play")
    })
    .await;

    // A refused value (the slider's own bounds are widened first, as a
    // tampered page would): named, and the run is untouched.
    let clock = page.clock_ms();
    page.get("#live-hot_keys")
        .set_attribute("min", "0")
        .expect("set min");
    page.enter("#live-hot_keys", "0").await;
    let err = page.text("#live-error");
    assert!(
        err.contains("hot_keys") && err.contains("1..=64"),
        "error: {err}"
    );
    assert_eq!(page.clock_ms(), clock);
    assert_eq!(page.text("#live-hot_keys-value"), "4");
    // The input log: the two accepted changes, newest first, with their times.
    let log = page.input_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].ends_with(":txns=20"), "{log:?}");
    assert!(log[1].ends_with(":fix=non-fair-noop"), "{log:?}");
}

#[wasm_bindgen_test]
async fn a_run_with_live_changes_and_faults_replays_from_its_url() {
    let _restore = QueryGuard::new();
    // The page as opened from a link: it reads the query string and keeps
    // it in step with the run. 2x real time, so the pause lands mid-run.
    set_query("?scenario=deadlock-detector-oom&seed=3&speed=2&until=5s");
    let page = Page::mount_from_url().await;
    let t1 = page.play_until(1_500).await;
    assert!(t1 < 5_000, "paused mid-run at {t1} ms");

    // A slider moved mid-run and a fault injected from the panel.
    page.enter("#live-txns", "60").await;
    assert!(page.find("#live-error").is_none(), "accepted");
    page.choose("#fault-kind", "slow-disk").await;
    assert!(
        page.find("#fault-factor").is_some(),
        "slow-disk takes a factor"
    );
    page.choose("#fault-store", "2").await;
    page.enter("#fault-duration", "1.5").await;
    page.enter("#fault-factor", "20").await;
    page.click("#fault-inject").await;
    assert!(
        page.find("#fault-error").is_none(),
        "injected: {}",
        page.find("#fault-error")
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    );
    // A refused fault is reported inline and recorded nowhere.
    page.enter("#fault-duration", "0").await;
    page.click("#fault-inject").await;
    assert!(page.text("#fault-error").contains("above 0"));
    let log = page.input_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].ends_with(":slow-disk=2/1500ms/20"), "{log:?}");
    assert!(log[1].ends_with(":txns=60"), "{log:?}");

    // The URL holds the build parameters (none changed: the slider is an
    // input, not a value from t = 0) and both inputs, in order.
    let query = url::current_query();
    let (launch, errors) = url::parse_query(&query);
    assert!(errors.is_empty(), "{query}: {errors:?}");
    assert!(launch.overrides.is_empty(), "{query}");
    let texts: Vec<String> = launch.inputs.iter().map(|i| i.to_text()).collect();
    assert_eq!(texts, [log[1].clone(), log[0].clone()], "{query}");

    // Play on to the stop time; the URL does not change.
    page.click_playing("#play").await;
    page.wait_for("the first run to stop at 5 s", 55_000, |p| {
        p.clock_ms() == 5_000 && p.text("#play").contains("Play")
    })
    .await;
    let hash = page.trace_hash();
    assert_eq!(url::current_query(), query);
    drop(page);

    // A fresh page from that URL, stopped at the same virtual time.
    set_query(&format!("{query}&speed=max&play=1&until=5s"));
    let replay = Page::mount_from_url().await;
    assert!(replay.find("#error-banner").is_none(), "the URL is valid");
    replay
        .wait_for("the replay to stop at 5 s", 55_000, |p| {
            p.clock_ms() == 5_000 && p.text("#play").contains("Play")
        })
        .await;
    assert_eq!(replay.input_log(), log, "the same inputs at the same times");
    assert_eq!(replay.trace_hash(), hash, "the replay is the same run");
    // The core replays it too (as `kvscope run --at` does), and the inputs matter.
    let mut sim = Simulation::new(&launch.scenario, launch.seed, &[]).expect("defaults");
    for input in &launch.inputs {
        sim.schedule_input(input.clone())
            .expect("a replayable input");
    }
    sim.run_until(5_000 * MS);
    assert_eq!(sim.trace_hash(), hash, "the core's replay of the URL");
    let mut plain = Simulation::new(&launch.scenario, launch.seed, &[]).expect("defaults");
    plain.run_until(5_000 * MS);
    assert_ne!(plain.trace_hash(), hash, "the inputs change the run");

    // Reset: the same build parameters, no inputs, and the URL says so.
    replay.click("#reset").await;
    assert_eq!(replay.clock_ms(), 0);
    assert!(replay.find("#input-log-empty").is_some());
    assert!(
        !url::current_query().contains("at="),
        "{}",
        url::current_query()
    );
}

#[wasm_bindgen_test]
async fn malformed_or_refused_inputs_in_the_url_are_named_and_skipped() {
    let _restore = QueryGuard::new();
    set_query(
        "?scenario=io-hang-transfer-leader&seed=2&at=nonsense&at=1s:hang_store=2\
         &at=1s:io-hang=9/10s&at=1s:io-hang=3/18446744073709s&at=2s:fix=relaxed-check\
         &speed=max&play=1&until=4s",
    );
    let page = Page::mount_from_url().await;
    let banner = page.text("#error-banner");
    for needle in [
        "at=nonsense",
        "1s:hang_store=2",
        "1s:io-hang=9/10s",
        "1s:io-hang=3/18446744073709s",
    ] {
        assert!(
            banner.contains(needle),
            "the banner names {needle}: {banner}"
        );
    }
    assert!(!banner.contains("2s:fix"), "{banner}");
    page.wait_for("the run to stop at 4 s", 55_000, |p| {
        p.clock_ms() == 4_000 && p.text("#play").contains("Play")
    })
    .await;
    assert_eq!(page.input_log(), vec!["2s:fix=relaxed-check".to_string()]);
    let radio: HtmlInputElement = page.get("#fix-relaxed-check").unchecked_into();
    assert!(radio.checked(), "the valid input applied");
    // The corrected URL keeps only what replays.
    let query = url::current_query();
    assert!(query.contains("at=2s:fix=relaxed-check"), "{query}");
    assert!(
        !query.contains("nonsense") && !query.contains("io-hang=9"),
        "{query}"
    );

    // Changing a build parameter starts again from t = 0, without inputs.
    page.enter("#param-hang_start", "20").await;
    assert_eq!(page.clock_ms(), 0);
    assert!(page.find("#input-log-empty").is_some());
    let query = url::current_query();
    assert!(
        query.contains("hang_start=20000") && !query.contains("at="),
        "{query}"
    );
}

/// The pipeline's stages in order, by the names the rows carry in `data-stage`.
const PIPELINE_ORDER: &[&str] = &[
    "Requested",
    "Generating",
    "Generated",
    "Sending",
    "Receiving",
    "Received",
    "Applying",
    "Sent",
    "Applied",
];

fn pipeline_rows(page: &Page) -> Vec<(String, String)> {
    let rows = page
        .root
        .query_selector_all("#snapshot-pipeline .snap-row")
        .expect("selector");
    (0..rows.length())
        .filter_map(|i| rows.item(i))
        .filter_map(|n| n.dyn_into::<Element>().ok())
        .map(|e| {
            let who = format!(
                "{}/{}",
                e.get_attribute("data-region").unwrap_or_default(),
                e.get_attribute("data-peer").unwrap_or_default()
            );
            (who, e.get_attribute("data-stage").unwrap_or_default())
        })
        .collect()
}

#[wasm_bindgen_test]
async fn the_pipeline_panel_follows_a_snapshot_stage_by_stage() {
    let snapshot_launch = |until| Launch {
        scenario: "snapshot-and-memory".to_string(),
        ..launch(&[], Speed::Max, true, Some(until))
    };
    let mut followed: Option<String> = None;
    let mut last_rank = 0;
    // The cut-off store comes back at 55 s: the first snapshots are being
    // generated 80 ms later (a 16 MiB scan takes about 150 ms), their chunks
    // stream 200 ms in, and they are applied within 3 s.
    for until in [55_080u64, 55_200, 58_000] {
        let page = Page::mount(snapshot_launch(until)).await;
        page.wait_for(&format!("the run to stop at {until} ms"), 55_000, |p| {
            p.clock_ms() >= until && p.text("#play").contains("Play")
        })
        .await;
        let rows = pipeline_rows(&page);
        assert!(!rows.is_empty(), "journeys at {until} ms");
        let who = followed
            .get_or_insert_with(|| {
                rows.iter()
                    .find(|(_, s)| s == "Generating")
                    .expect("a snapshot on a snap-generator thread 80 ms in")
                    .0
                    .clone()
            })
            .clone();
        let stage = rows
            .iter()
            .find(|(w, _)| *w == who)
            .unwrap_or_else(|| panic!("row {who} at {until} ms: {rows:?}"))
            .1
            .clone();
        let rank = PIPELINE_ORDER
            .iter()
            .position(|s| *s == stage)
            .unwrap_or_else(|| panic!("unknown stage {stage}"));
        assert!(
            rank > last_rank || until == 55_080,
            "{who}: {stage} at {until} ms"
        );
        last_rank = rank;
        if until == 55_200 {
            assert!(
                page.count("#snapshot-pipeline .seg-send") > 0,
                "chunks on the wire are drawn"
            );
            // The receiving store's memory trace tree holds a chunk buffer
            // per open stream, under the snap worker's node.
            page.choose("#mt-store", "3").await;
            let recv = page
                .text("#memory-tree .mt-leaf[data-path=\"server/snap_recv_buffers\"] .mt-bytes");
            assert!(
                recv.contains("MiB"),
                "chunk buffers of the open streams: {recv}"
            );
            let send = page
                .text("#memory-tree .mt-leaf[data-path=\"server/snap_send_buffers\"] .mt-bytes");
            assert!(!send.contains("MiB"), "store 3 sends nothing: {send}");
        }
        if until == 58_000 {
            assert_eq!(stage, "Applied");
            assert!(page.text("#snapshot-pipeline").contains("Replicate"));
        }
    }
}

/// `data-total` of the element `selector` (a memory view's total, bytes).
fn data_total(page: &Page, selector: &str) -> i64 {
    let t = page
        .get(selector)
        .get_attribute("data-total")
        .unwrap_or_default();
    t.parse()
        .unwrap_or_else(|_| panic!("{selector} has data-total '{t}'"))
}

#[wasm_bindgen_test]
async fn the_three_memory_views_draw_for_a_chosen_store_and_moment() {
    let until = 60_000;
    let page = Page::mount(Launch {
        scenario: "snapshot-and-memory".to_string(),
        ..launch(&[], Speed::Max, true, Some(until))
    })
    .await;
    page.wait_for("the run to stop at 60 s", 55_000, |p| {
        p.clock_ms() >= until && p.text("#play").contains("Play")
    })
    .await;
    page.choose("#mt-store", "3").await;
    for moment in [None, Some("30")] {
        if let Some(s) = moment {
            page.enter("#mt-moment", s).await;
            assert!(
                page.text("#mt-when").contains("30"),
                "{}",
                page.text("#mt-when")
            );
        }
        page.click("#mt-tab-tree").await;
        let tree = data_total(&page, "#memory-tree .mt-tree");
        assert!(tree > 0);
        page.click("#mt-tab-profile").await;
        assert_eq!(
            data_total(&page, "#heap-profile"),
            tree,
            "profile vs tree at {moment:?}"
        );
        assert!(page.count("#heap-profile .hp-row") >= 4);
        assert!(page.text("#heap-profile").contains("EntryCache::append"));
        page.click("#mt-tab-threads").await;
        assert_eq!(
            data_total(&page, "#thread-memory"),
            tree,
            "threads vs tree at {moment:?}"
        );
        sleep(50).await;
        assert!(
            non_white_pixels("thread-chart") > 500,
            "the per-thread chart is drawn"
        );
        // Store 3 came back as a follower of every region: raftstore frees
        // entries that gRPC threads decoded, so its net is negative.
        let net: i64 = page
            .get("#thread-memory .tm-row[data-thread=\"raftstore\"]")
            .get_attribute("data-net")
            .unwrap_or_default()
            .parse()
            .expect("a number");
        if moment.is_none() {
            assert!(net < 0, "raftstore net on store 3: {net}");
        }
    }
}

impl Page {
    /// The live count the in-memory engine's state machine shows for `state`.
    fn ime_count(&self, state: &str) -> i64 {
        self.number(&format!("#ime-state-{state} .ime-count"))
    }

    /// The store whose in-memory engine the panel shows.
    fn ime_store(&self) -> String {
        self.get("#in-memory-engine")
            .get_attribute("data-store")
            .unwrap_or_default()
    }
}

/// TiKV's `RegionState`s, as the state machine names its nodes.
const IME_STATES: [&str; 6] = [
    "Pending",
    "Loading",
    "Active",
    "LoadingCanceled",
    "PendingEvict",
    "Evicting",
];

#[wasm_bindgen_test]
async fn the_in_memory_engine_panel_shows_the_race_then_the_abort() {
    let _restore = QueryGuard::new();
    // Seed 1: region 1273 is scheduled to load a second time at 288.004 s
    // while its first load runs; that load finishes at 288.154 s and the
    // second LoadRegion aborts the store. Pause between the two.
    set_query("?scenario=ime-region-load-race&until=288.1s&speed=max&play=1");
    let page = Page::mount_from_url().await;
    page.wait_for("the run to stop at 288.1 s", 120_000, |p| {
        p.clock_ms() >= 288_100 && p.text("#play").contains("Play")
    })
    .await;
    // Before the abort: store 2's engine (the one holding metas) loads the
    // hot table's regions; one of them is scheduled to load twice.
    assert!(page.find("#ime-abort-banner").is_none(), "no abort yet");
    assert_eq!(page.ime_store(), "2", "the store whose engine holds metas");
    assert!(page.get("#ime-store-2").class_list().contains("active"));
    assert_eq!(page.count("#ime-state-machine .ime-node"), 6);
    assert!(
        page.count("#ime-state-machine path.ime-edge") >= 8,
        "validate_update_region_state's eight legal changes"
    );
    let counted: i64 = IME_STATES.iter().map(|s| page.ime_count(s)).sum();
    let rows = page.count("#ime-metas tr.ime-meta");
    assert!(rows > 0, "the table has metas");
    assert_eq!(counted, i64::from(rows), "the counts add up to the table");
    assert!(page.ime_count("Loading") > 0, "loads are queued");
    assert!(page.count("#ime-transitions .ime-tr") > 0);
    let twice = page.text("#ime-pre-twice .ime-pre-value");
    let id: u64 = twice
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("one region loaded twice: '{twice}'"));
    let doubled = page
        .get(&format!("#ime-metas tr.ime-meta[data-id=\"{id}\"]"))
        .text_content()
        .unwrap_or_default();
    assert!(doubled.contains("loading twice"), "{doubled}");
    let queued = page.count("#ime-tasks tr.ime-task.twice[data-name=\"LoadRegion\"]");
    assert_eq!(queued, 2, "two LoadRegion tasks of region {id}");
    assert!(page.count("#ime-tasks tr[data-pool=\"ime-load\"]") >= 2);
    assert!(
        page.count("#ime-loads .ime-replaced-warning") > 0,
        "a load replaced a meta held under its id"
    );
    assert!(page.number("#ime-pre-replaced .ime-pre-value") > 0);

    // The second LoadRegion finds the region Active: store 2 aborts.
    let now = page.play_until(292_000).await;
    assert!(now >= 292_000);
    let banner = page.text("#ime-abort-banner");
    for want in [
        "store 2 panicked",
        "left: Active",
        "right: LoadingCanceled",
        "background.rs:887",
        &format!("region {id}"),
        "with an empty engine",
    ] {
        assert!(banner.contains(want), "banner lacks '{want}': {banner}");
    }
    assert!(page.count("#ime-abort-banner .ime-abort-load") >= 2);
    assert!(
        page.find("#in-memory-engine > .ime-head + #ime-abort-banner")
            .is_some(),
        "the banner is at the top of the panel"
    );
    assert_eq!(page.ime_store(), "2", "the panel follows the aborted store");
    assert!(page.get("#ime-store-2").class_list().contains("aborted"));
    // The store lost its engine with the crash and starts empty; the
    // machine still counts, and agrees with the table.
    let counted: i64 = IME_STATES.iter().map(|s| page.ime_count(s)).sum();
    assert_eq!(counted, i64::from(page.count("#ime-metas tr.ime-meta")));
    assert!(
        counted < i64::from(rows),
        "the crash dropped the metas: {counted}"
    );
    assert!(page.number("#counter-ime_panics") >= 1);

    // Another store's engine, then back through the banner.
    page.click("#ime-store-1").await;
    assert_eq!(page.ime_store(), "1");
    assert!(
        page.find("#ime-abort-banner").is_some(),
        "every abort shows"
    );
    page.click("#ime-abort-show-2").await;
    assert_eq!(page.ime_store(), "2");
    page.click("#ime-store-auto").await;
    assert_eq!(page.ime_store(), "2");
}

#[wasm_bindgen_test]
async fn the_in_memory_engine_id_check_fix_stops_the_abort() {
    let _restore = QueryGuard::new();
    set_query("?scenario=ime-region-load-race&fix=id-check&until=310s&speed=max&play=1");
    let page = Page::mount_from_url().await;
    page.wait_for("the run to stop at 310 s", 120_000, |p| {
        p.clock_ms() >= 310_000 && p.text("#play").contains("Play")
    })
    .await;
    assert!(page.find("#ime-abort-banner").is_none(), "no store aborts");
    assert_eq!(page.number("#counter-ime_panics"), 0);
    assert_eq!(page.number("#counter-ime_metas_replaced"), 0);
    assert!(page
        .text("#in-memory-engine .ime-fix")
        .contains("id check on"));
    assert_eq!(page.count("#ime-state-machine .ime-node"), 6);
    let counted: i64 = IME_STATES.iter().map(|s| page.ime_count(s)).sum();
    assert_eq!(counted, i64::from(page.count("#ime-metas tr.ime-meta")));
    // PR 17550 refuses a load while a meta holds its id: refusals, never a
    // replaced meta.
    assert!(page.count("#ime-loads tr.ime-load.refused") > 0);
    assert_eq!(page.count("#ime-loads .ime-replaced-warning"), 0);
    assert!(page.text("#ime-pre-twice").contains("none"));
}

impl Page {
    /// The lag region `region`'s button shows, virtual ms (`data-lag-ms`).
    fn rts_lag_ms(&self, region: u64) -> u64 {
        let sel = format!("#rts-region-{region}");
        let lag = self.get(&sel).get_attribute("data-lag-ms");
        lag.as_deref()
            .and_then(|l| l.parse().ok())
            .unwrap_or_else(|| panic!("{sel} has data-lag-ms '{lag:?}'"))
    }

    /// An attribute of the element `selector` matches, or "".
    fn attr(&self, selector: &str, name: &str) -> String {
        self.get(selector).get_attribute(name).unwrap_or_default()
    }
}

/// Region 1's line colour in the resolved-ts charts (the first warm one:
/// the large transaction writes region 1; the selected line is drawn last).
const RTS_WARM: (u8, u8, u8) = (220, 38, 38);
/// Region 4's line colour (the second cool one; it is drawn over region 3's,
/// which follows the same values).
const RTS_COOL: (u8, u8, u8) = (8, 145, 178);

#[wasm_bindgen_test]
async fn the_resolved_ts_timeline_draws_and_pins_on_the_large_txn() {
    let _restore = QueryGuard::new();
    set_query("?scenario=resolved-ts-large-txn&until=50s&speed=max&play=1");
    let page = Page::mount_from_url().await;
    assert!(
        page.find("#resolved-ts").is_some(),
        "the layout shows the panel"
    );
    page.wait_for("the run to stop at 50 s", 120_000, |p| {
        p.clock_ms() >= 50_000 && p.text("#play").contains("Play")
    })
    .await;

    // The header: the resolver logic and the large transaction.
    assert!(
        page.text("#rts-fix").contains("none"),
        "{}",
        page.text("#rts-fix")
    );
    assert_eq!(page.text("#rts-phase"), "Writing");
    let start_ts = page.attr("#rts-start-ts", "data-start-ts");
    assert!(
        start_ts.parse::<u64>().is_ok_and(|t| t > 0),
        "a start_ts: '{start_ts}'"
    );
    assert!(page.text("#rts-start-ts").contains(&start_ts));
    assert!(page.number("#rts-generation") >= 1, "generations flushed");

    // Both charts draw: axes, the warm line of region 1 (which the large
    // transaction writes) and the cool one of region 3 or 4.
    let lines = || {
        [
            pixels_near("rts-timeline", RTS_WARM),
            pixels_near("rts-timeline", RTS_COOL),
            pixels_near("rts-lag", RTS_WARM),
            pixels_near("rts-lag", RTS_COOL),
        ]
    };
    for _ in 0..50 {
        if lines().iter().all(|&n| n > 50) {
            break;
        }
        sleep(100).await;
    }
    let counts = lines();
    assert!(
        counts.iter().all(|&n| n > 50),
        "warm and cool pixels in #rts-timeline and #rts-lag: {counts:?}"
    );
    assert!(non_white_pixels("rts-timeline") > 500);
    assert!(non_white_pixels("rts-lag") > 500);

    // Region 1 is pinned since the large transaction's first flush (15 s);
    // region 4, which it does not write, follows the TSO.
    assert_eq!(page.count(".rts-region-btn"), 4, "one button per region");
    assert!(
        page.get("#rts-region-1").class_list().contains("active"),
        "the first region by default"
    );
    let lag1 = page.rts_lag_ms(1);
    assert!(lag1 > 20_000, "region 1's lag: {lag1} ms");
    assert!(
        page.text("#rts-region-1").contains("pinned"),
        "{}",
        page.text("#rts-region-1")
    );
    assert!(page.find("#rts-region-1 .rts-pinned-badge").is_some());
    let lag4 = page.rts_lag_ms(4);
    assert!(lag4 < 10_000, "region 4's lag: {lag4} ms");
    assert!(page.find("#rts-region-4 .rts-pinned-badge").is_none());

    // The resolver of region 1: the large transaction's locks in
    // lock_ts_heap, counted by its start_ts, pin it.
    assert_eq!(page.attr("#rts-resolver", "data-region"), "1");
    assert_eq!(page.text("#rts-status"), "Ready");
    let pin = page.text("#rts-pinning");
    assert!(pin.contains("large transaction"), "{pin}");
    assert!(pin.contains("normal lock by start_ts"), "{pin}");
    assert!(pin.contains(&start_ts), "{pin} names start_ts {start_ts}");
    assert_eq!(page.attr("#rts-pinning", "data-start-ts"), start_ts);
    assert_eq!(page.attr("#rts-pinning", "data-large-txn"), "true");
    assert!(
        page.find(&format!(
            "#rts-normal-locks tr.rts-normal[data-start-ts=\"{start_ts}\"]"
        ))
        .is_some(),
        "lock_ts_heap holds the large transaction"
    );
    assert_eq!(
        page.count("#rts-large-txns tr.rts-large"),
        0,
        "no large_txns without the fix"
    );
    assert!(
        page.count("#rts-safe-ts .rts-safe") >= 2,
        "two followers' safe-ts"
    );

    // Another region: its resolver, with nothing pinning it.
    page.click("#rts-region-4").await;
    assert!(page.get("#rts-region-4").class_list().contains("active"));
    assert!(!page.get("#rts-region-1").class_list().contains("active"));
    assert_eq!(page.attr("#rts-resolver", "data-region"), "4");
    assert_eq!(page.attr("#rts-pinning", "data-kind"), "none");
}

#[wasm_bindgen_test]
async fn the_fix_switch_and_the_size_slider_act_on_the_running_resolved_ts() {
    let _restore = QueryGuard::new();
    set_query("?scenario=resolved-ts-large-txn&until=40s&speed=max&play=1");
    let page = Page::mount_from_url().await;
    page.wait_for("the run to stop at 40 s", 120_000, |p| {
        p.clock_ms() >= 40_000 && p.text("#play").contains("Play")
    })
    .await;
    let lag = page.rts_lag_ms(1);
    assert!(lag > 20_000, "fix none: region 1 pinned, lag {lag} ms");
    assert_eq!(page.count("#rts-large-txns tr.rts-large"), 0);

    // The fix, switched on the running stores through the live controls.
    let t0 = page.clock_ms();
    page.click("#fix-txn-status-cache").await;
    assert!(page.find("#live-error").is_none(), "accepted");
    assert_eq!(page.clock_ms(), t0, "no replay from t = 0");
    assert!(
        page.text("#rts-fix").contains("txn-status-cache"),
        "{}",
        page.text("#rts-fix")
    );
    let t1 = page.play_until(t0 + 15_000).await;
    assert!(t1 >= t0 + 15_000);
    let lag = page.rts_lag_ms(1);
    assert!(
        lag < 10_000,
        "with the TxnStatusCache region 1's lag is {lag} ms"
    );
    let ongoing = "#rts-large-txns tr.rts-large[data-cache-state=\"Ongoing\"]";
    assert!(
        page.find(ongoing).is_some(),
        "a large txn the cache knows as Ongoing"
    );
    assert!(
        page.get(ongoing).class_list().contains("passes"),
        "the cache entry that lets it pass is marked"
    );
    let start_ts = page.attr("#rts-start-ts", "data-start-ts");
    assert_eq!(page.attr(ongoing, "data-start-ts"), start_ts);
    let pin = page.text("#rts-pinning");
    assert!(pin.contains("TxnStatusCache"), "{pin}");
    assert_eq!(page.attr("#rts-pinning", "data-kind"), "large");

    // The size slider acts on the running transaction: the header's
    // planned size follows.
    let size = page.attr("#rts-size", "data-size");
    assert_eq!(size, "20000", "the default size");
    page.enter("#live-large_txn_size", "50000").await;
    assert!(page.find("#live-error").is_none(), "accepted");
    assert_eq!(page.attr("#rts-size", "data-size"), "50000");
    assert!(
        page.text("#rts-size").contains("50"),
        "{}",
        page.text("#rts-size")
    );
    let log = page.input_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].ends_with(":large_txn_size=50000"), "{log:?}");
    assert!(log[1].ends_with(":fix=txn-status-cache"), "{log:?}");
}

// ---------- why is it stuck? (io-hang) ----------

/// io-hang at 60 s: the writes to the hot region pile up behind store 3's
/// hung disk; the panel lists them, each chain ending at that disk, and a
/// link naming the region selects it in the Raft group panel.
#[wasm_bindgen_test]
async fn the_why_panel_follows_a_stuck_write_down_to_the_hung_disk() {
    let _restore = QueryGuard::new();
    set_query("?scenario=io-hang-transfer-leader&until=60s&speed=max&play=1");
    let page = Page::mount_from_url().await;
    page.wait_for("the run to stop at 60 s", 60_000, |p| {
        p.clock_ms() >= 60_000 && p.text("#play").contains("Play")
    })
    .await;
    assert!(page.find("#why-none").is_none(), "writes are stuck");
    let items = page.count("#why-stuck .why-item");
    assert!(items >= 1, "{items} stuck requests listed");
    let roots = page.count("#why-stuck .why-root");
    assert_eq!(roots, items, "every chain ends at a root");
    let root = page.text("#why-stuck .why-item .why-root");
    assert!(
        root.contains("disk of store 3 hung since 40 s"),
        "root: {root}"
    );
    let leader = page.text("#why-stuck .why-item .why-leader");
    assert!(leader.contains("on store 3"), "{leader}");
    let region: String = leader
        .split("region ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap_or_default()
        .to_string();
    // Select another region first, then follow the chain back.
    let other = if region == "1" { "2" } else { "1" };
    page.click(&format!(".region-label[data-region=\"{other}\"]"))
        .await;
    assert_eq!(
        page.get(".raft-panel")
            .get_attribute("data-region")
            .unwrap_or_default(),
        other
    );
    page.click("#why-stuck .why-item .why-leader").await;
    let shown = page
        .get(".raft-panel")
        .get_attribute("data-region")
        .unwrap_or_default();
    assert_eq!(shown, region, "the Raft group panel shows the stuck region");
}
