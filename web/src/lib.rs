//! # kvscope-web
//!
//! The browser frontend of kvscope: a Yew app that drives a
//! [`kvscope_core::Simulation`] under a virtual clock and draws what it sees —
//! the cluster map, the Raft group of the selected region, PD's operators,
//! QPS and latency charts, the event log and the scenario's story.
//!
//! The crate holds no simulation logic. It only builds simulations (a new
//! scenario, seed or build parameter starts again from t = 0), advances them
//! a bounded number of events per animation frame, sends them the user's
//! inputs (live parameters, injected faults: `Simulation::apply_input`,
//! recorded and replayed from the URL), and renders the read-only views
//! ([`kvscope_core::views`]) the core hands out. Which panels a page shows,
//! and where, comes from the scenario's spec (`ScenarioSpec::layout`); no
//! scenario or parameter is named here.
//!
//! Entry points: [`start`] mounts the page (used by `main.rs`), [`mount`]
//! mounts [`App`] into any element with explicit [`AppProps`] (used by the
//! browser tests).

#![warn(missing_docs)]

pub mod app;
pub mod components;
pub mod format;
pub mod panic;
pub mod snapshot;
pub mod speed;
pub mod url;

pub use app::{App, AppProps};
pub use speed::Speed;
pub use url::Launch;

use wasm_bindgen::JsCast;

/// Mounts the page: installs the panic hook and renders [`App`] (reading its
/// run from the query string) into `#app`, or into `<body>` when the page has
/// no such element.
pub fn start() {
    panic::install();
    let document = gloo::utils::document();
    let root = document
        .get_element_by_id("app")
        .or_else(|| document.body().map(|b| b.unchecked_into()));
    match root {
        Some(root) => {
            yew::Renderer::<App>::with_root(root).render();
        }
        None => panic::show_error("the page has neither an #app element nor a <body> to draw into"),
    }
}

/// Mounts [`App`] with `props` into `root` and returns its handle (call
/// `destroy()` on it to unmount). Installs the panic hook first.
pub fn mount(root: web_sys::Element, props: AppProps) -> yew::AppHandle<App> {
    panic::install();
    yew::Renderer::<App>::with_root_and_props(root, props).render()
}
