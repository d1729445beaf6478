//! The control bar: scenario, seed, play/pause, step, reset, speed, clock,
//! and the run's trace hash (`#trace-hash`: the first 12 hex digits, the
//! whole hash in its `title` and `data-hash`), so that two runs can be
//! compared at a glance.

use kvscope_core::scenarios::specs;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::format;
use crate::speed::{self, Speed};

/// Properties of [`ControlBar`].
#[derive(Properties, PartialEq)]
pub struct ControlBarProps {
    /// Current scenario id.
    pub scenario_id: &'static str,
    /// Current seed.
    pub seed: u64,
    /// Changes whenever a new run starts (the seed box then shows its seed again).
    pub run_version: u64,
    /// Why the last seed typed was refused, if it was.
    pub seed_error: Option<String>,
    /// Whether the clock runs.
    pub playing: bool,
    /// Current speed.
    pub speed: Speed,
    /// Virtual now, µs.
    pub now_us: u64,
    /// Events processed.
    pub events: u64,
    /// Stop time, virtual ms, if any.
    pub until_ms: Option<u64>,
    /// The trace hash so far (hex).
    pub trace_hash: AttrValue,
    /// A scenario was picked.
    pub on_scenario: Callback<String>,
    /// A seed was entered (text as typed).
    pub on_seed: Callback<String>,
    /// Play/pause pressed.
    pub on_toggle: Callback<()>,
    /// Step pressed.
    pub on_step: Callback<()>,
    /// Reset pressed.
    pub on_reset: Callback<()>,
    /// A speed was picked.
    pub on_speed: Callback<Speed>,
}

/// Keeps mouse clicks from focusing a button, so that the space bar keeps
/// meaning play/pause after a click.
fn no_focus() -> Callback<MouseEvent> {
    Callback::from(|e: MouseEvent| e.prevent_default())
}

/// The top bar of the page.
#[component]
pub fn ControlBar(props: &ControlBarProps) -> Html {
    let seed_text = use_state(|| props.seed.to_string());
    {
        // Show the applied seed whenever it changes (a refused one stays as typed).
        let seed_text = seed_text.clone();
        use_effect_with((props.seed, props.run_version), move |(s, _)| {
            seed_text.set(s.to_string())
        });
    }
    let on_seed_input = {
        let seed_text = seed_text.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(input) = e.target_dyn_into::<HtmlInputElement>() {
                seed_text.set(input.value());
            }
        })
    };
    let on_seed_change = {
        let cb = props.on_seed.clone();
        Callback::from(move |e: Event| {
            if let Some(input) = e.target_dyn_into::<HtmlInputElement>() {
                cb.emit(input.value());
            }
        })
    };
    let on_scenario = {
        let cb = props.on_scenario.clone();
        Callback::from(move |e: Event| {
            if let Some(sel) = e.target_dyn_into::<HtmlSelectElement>() {
                cb.emit(sel.value());
            }
        })
    };
    let on_speed = {
        let cb = props.on_speed.clone();
        Callback::from(move |e: Event| {
            if let Some(sel) = e.target_dyn_into::<HtmlSelectElement>() {
                if let Ok(s) = Speed::parse(&sel.value()) {
                    cb.emit(s);
                }
            }
        })
    };
    let toggle = props.on_toggle.reform(|_: MouseEvent| ());
    let step = props.on_step.reform(|_: MouseEvent| ());
    let reset = props.on_reset.reform(|_: MouseEvent| ());
    let title = specs()
        .find(|s| s.id == props.scenario_id)
        .map_or("", |s| s.source);
    html! {
        <header class="control-bar">
            <div class="brand">
                <span class="logo" aria-hidden="true">{"◆"}</span>
                <span class="name">{"kvscope"}</span>
            </div>
            <label class="field" title={title}>
                <span class="field-label">{"Scenario"}</span>
                <select id="scenario" onchange={on_scenario}>
                    { for specs().map(|s| html! {
                        <option value={s.id} selected={s.id == props.scenario_id} title={s.id}>{ s.title }</option>
                    }) }
                </select>
            </label>
            <label class="field seed-field">
                <span class="field-label">{"Seed"}</span>
                <input id="seed" type="text" inputmode="numeric" size="6"
                    class={classes!(props.seed_error.is_some().then_some("invalid"))}
                    value={(*seed_text).clone()} oninput={on_seed_input} onchange={on_seed_change}
                    title="Seed of the simulation's RNG: the same seed and parameters replay the same run (Enter to apply)" />
            </label>
            <div class="buttons">
                <button id="play" class={classes!("btn", "primary", props.playing.then_some("playing"))}
                    onclick={toggle} onmousedown={no_focus()} title="Play / pause (space)">
                    { if props.playing { "❚❚ Pause" } else { "▶ Play" } }
                </button>
                <button id="step" class="btn" onclick={step} onmousedown={no_focus()}
                    title="Process the next event and pause (→)">{"Step ▸|"}</button>
                <button id="reset" class="btn" onclick={reset} onmousedown={no_focus()}
                    title="Back to t = 0 with the same seed and parameters, without the inputs">{"↺ Reset"}</button>
            </div>
            <label class="field">
                <span class="field-label">{"Speed"}</span>
                <select id="speed" onchange={on_speed} title="Virtual time per wall-clock second">
                    { for speed::CHOICES.iter().map(|s| html! {
                        <option value={s.key()} selected={*s == props.speed}>{ s.to_string() }</option>
                    }) }
                </select>
            </label>
            <div class="clock-box" title="Virtual time (minutes:seconds.milliseconds)">
                <span id="clock" class="clock">{ format::clock(props.now_us) }</span>
                <span class="clock-sub" title="keys: space = play/pause, → = step">
                    <span id="events">{ props.events }</span>{" events"}
                    if let Some(u) = props.until_ms {
                        { format!(" · stops at {}", format::secs_ms(u)) }
                    }
                    {" · trace "}
                    <span id="trace-hash" class="trace-hash" data-hash={props.trace_hash.clone()}
                        title={format!("Trace hash (SHA-256 of every event and input so far): {}. The same scenario, seed, parameters and inputs give the same hash.", props.trace_hash)}>
                        { props.trace_hash.chars().take(12).collect::<String>() }
                    </span>
                </span>
            </div>
            if let Some(err) = &props.seed_error {
                <div class="inline-error seed-error" role="alert">{ err }</div>
            }
        </header>
    }
}
