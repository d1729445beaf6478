//! Browser tests of the page, in headless Chromium (`cargo xtask test`).
//!
//! Each test mounts [`App`] into a fresh `<div>` with an explicit run
//! ([`Launch`]), drives it through the DOM (clicks, key presses, inputs), and
//! reads the DOM back. The determinism test compares the wasm trace hash with
//! the native one that `cargo xtask test` passes in at compile time.

#![cfg(target_arch = "wasm32")]

use std::future::Future;

use gloo_timers::future::TimeoutFuture;
use kvscope_core::time::MS;
use kvscope_core::Simulation;
use kvscope_web::{url, App, AppProps, Launch, Speed};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{
    CanvasRenderingContext2d, Document, Element, HtmlCanvasElement, HtmlElement, HtmlInputElement,
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
        let root = document().create_element("div").expect("create div");
        document()
            .body()
            .expect("body")
            .append_child(&root)
            .expect("append");
        let handle = kvscope_web::mount(
            root.clone(),
            AppProps {
                launch: Some(launch),
            },
        );
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

    /// Polls `cond` every 100 ms (letting animation frames run) until it
    /// holds, failing after `timeout_ms` with `what` and the clock.
    async fn wait_for(&self, what: &str, timeout_ms: u32, mut cond: impl FnMut(&Page) -> bool) {
        let mut waited = 0;
        loop {
            yew::scheduler::flush().await;
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
        page.number("#counter-rejected") > 0,
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

    // Flip the switch: the same seed replays from t = 0 with the fix.
    page.click("#fix-relaxed-check").await;
    assert_eq!(
        page.text("#clock"),
        "00:00.000",
        "changing the fix replays from t = 0"
    );
    let radio: HtmlInputElement = page.get("#fix-relaxed-check").unchecked_into();
    assert!(radio.checked());
    page.click("#play").await;
    page.wait_for("relaxed-check to reach 75 s", 55_000, |p| {
        p.clock_ms() >= until && p.text("#play").contains("Play")
    })
    .await;
    assert!(
        page.number("#counter-succeeded") > 0,
        "the leader transfer succeeds"
    );
    assert_eq!(
        page.number("#counter-rejected"),
        0,
        "no transfer is rejected"
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

    // An out-of-range start: an inline error, and the run goes on untouched.
    page.enter("#hang-start", "99999").await;
    let err = page.text("#param-error");
    assert!(
        err.contains("hang_start") && err.contains("0..=3600000"),
        "error: {err}"
    );
    assert_eq!(page.text("#clock"), clock);
    assert_eq!(page.text("#events"), events);
    let input: HtmlInputElement = page.get("#hang-start").unchecked_into();
    assert_eq!(
        input.value(),
        "99999",
        "the refused text stays for correction"
    );

    // Not a number at all.
    page.enter("#hang-duration", "soon").await;
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
    page.enter("#hang-start", "2.5").await;
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

    let q = url::to_query(
        "io-hang-transfer-leader",
        7,
        &[("fix".into(), "relaxed-check".into())],
    );
    assert_eq!(
        q,
        "?scenario=io-hang-transfer-leader&seed=7&fix=relaxed-check"
    );
    let (back, errors) = url::parse_query(&q);
    assert!(errors.is_empty());
    assert_eq!(back.seed, 7);
    assert_eq!(
        back.overrides,
        vec![("fix".to_string(), "relaxed-check".to_string())]
    );
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
    ] {
        assert!(text.contains(needle), "the panel lacks '{needle}': {text}");
    }
    panel.remove();
}
