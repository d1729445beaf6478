//! The panic hook: a panic (in the simulator or the page) is shown in a fixed
//! `#error-panel` with everything needed to reproduce the run.
//!
//! The app updates [`RunInfo`] every frame ([`set_run_info`]); the hook reads
//! it, so the panel names the scenario, seed, non-default build parameters,
//! the user inputs applied so far and the virtual time at which the panic
//! happened. The hook also calls the hook that
//! was installed before it (for example the test harness's), so messages still
//! reach the console.

use std::cell::{Cell, RefCell};

use crate::format;

/// What is running now, for reproduction notes.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// Scenario id.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Non-default build parameters.
    pub non_defaults: Vec<(String, String)>,
    /// User inputs (live changes, faults) applied or scheduled, in order.
    pub inputs: Vec<kvscope_core::input::Input>,
    /// Virtual µs.
    pub now_us: u64,
    /// Events processed.
    pub events: u64,
}

thread_local! {
    static RUN_INFO: RefCell<RunInfo> = RefCell::new(RunInfo::default());
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
}

/// Records what is running (called by the app after every change and frame).
pub fn set_run_info(info: RunInfo) {
    // `try_with`: during thread teardown there is nothing left to record.
    let _ = RUN_INFO.try_with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            *r = info;
        }
    });
}

/// Updates only the clock and event count of the recorded run.
pub fn set_run_progress(now_us: u64, events: u64) {
    let _ = RUN_INFO.try_with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            r.now_us = now_us;
            r.events = events;
        }
    });
}

/// The recorded run.
pub fn run_info() -> RunInfo {
    RUN_INFO
        .try_with(|r| r.try_borrow().map(|r| r.clone()).unwrap_or_default())
        .unwrap_or_default()
}

/// Installs the panic hook (once; later calls do nothing, as do calls made
/// after a panic, when the hook can no longer be changed). Uses
/// [`yew::set_custom_panic_hook`] so that Yew does not replace it.
pub fn install() {
    if std::thread::panicking() || INSTALLED.with(|i| i.replace(true)) {
        return;
    }
    let previous = std::panic::take_hook();
    yew::set_custom_panic_hook(Box::new(move |info| {
        let message = info.to_string();
        show_error(&format!("The page panicked: {message}"));
        previous(info);
    }));
}

/// The reproduction note for the current run: scenario, seed, parameters,
/// inputs, virtual time, and the URL and command line that replay it.
pub fn repro_text(info: &RunInfo) -> String {
    let params = if info.non_defaults.is_empty() {
        "(all defaults)".to_string()
    } else {
        info.non_defaults
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let sets: String = info
        .non_defaults
        .iter()
        .map(|(k, v)| format!(" --set {k}={v}"))
        .collect();
    let inputs = if info.inputs.is_empty() {
        "(none)".to_string()
    } else {
        info.inputs
            .iter()
            .map(|i| i.to_text())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ats: String = info
        .inputs
        .iter()
        .map(|i| format!(" --at {}", i.to_text()))
        .collect();
    // Long enough for every input (the command line refuses one past --until).
    let last_input = info.inputs.iter().map(|i| i.at).max().unwrap_or(0);
    let until_s = info.now_us.max(last_input).div_ceil(1_000_000).max(1);
    format!(
        "scenario: {}\nseed: {}\nparameters: {params}\ninputs: {inputs}\n\
         virtual time: {} ({} µs), after {} events\n\
         replay in the page: {}&speed=max&play=1&until={until_s}\n\
         replay natively: kvscope run {} --seed {} --until {until_s}s{sets}{ats}",
        info.scenario,
        info.seed,
        format::clock(info.now_us),
        info.now_us,
        info.events,
        crate::url::to_query(&info.scenario, info.seed, &info.non_defaults, &info.inputs),
        info.scenario,
        info.seed,
    )
}

/// Shows `message` and the reproduction note in the fixed `#error-panel`
/// (created at the end of `<body>` if the page has none), and logs both to
/// the console. Never panics itself.
pub fn show_error(message: &str) {
    let text = format!("{message}\n\n{}", repro_text(&run_info()));
    web_sys::console::error_1(&text.clone().into());
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let panel = match document.get_element_by_id("error-panel") {
        Some(p) => p,
        None => {
            let Ok(p) = document.create_element("div") else {
                return;
            };
            p.set_id("error-panel");
            match document.body() {
                Some(body) => {
                    if body.append_child(&p).is_err() {
                        return;
                    }
                }
                None => return,
            }
            p
        }
    };
    panel.set_inner_html("");
    let _ = panel.remove_attribute("hidden");
    let _ = panel.set_attribute("role", "alert");
    let add = |tag: &str, class: &str, content: &str| {
        if let Ok(el) = document.create_element(tag) {
            el.set_class_name(class);
            el.set_text_content(Some(content));
            let _ = panel.append_child(&el);
        }
    };
    add(
        "h2",
        "error-title",
        "Something broke — the simulation stopped",
    );
    add("p", "error-message", message);
    add(
        "p",
        "error-hint",
        "To reproduce, or to report it, use the run below (reload the page to start again):",
    );
    add("pre", "error-repro", &repro_text(&run_info()));
}
