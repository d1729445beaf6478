//! Fault injection: pick a fault kind (`kvscope_core::input::FaultKind::ALL`),
//! a store of the cluster, a duration and, for a slow disk, a factor, then
//! "Inject now". The fault goes to the running simulation as a user input
//! (`Simulation::apply_input`) at the current virtual time; a refused one
//! is reported inline with the core's message (`InputError`).
//!
//! Below the form, the input log: every input applied so far with its
//! virtual time (`Simulation::inputs`), newest first, and the inputs still
//! scheduled (a replayed URL's), so the user sees what they did and what the
//! URL replays.

use std::rc::Rc;

use kvscope_core::input::{FaultKind, Input};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::components::parameters::StoreSelect;
use crate::format;
use crate::snapshot::Frame;

/// What a fault kind does, in one line.
pub fn explain(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::IoHang => {
            "Every disk write of the store is held until the hang ends: nothing persists or applies."
        }
        FaultKind::SlowDisk => "Every write batch on the store's disk takes FACTOR times as long.",
        FaultKind::Crash => {
            "The TiKV process goes down, losing its volatile state, and restarts after the duration."
        }
        FaultKind::Partition => {
            "The store is cut off from every other node (PD, clients, peers) for the duration."
        }
    }
}

/// The default slow-disk factor offered.
pub const DEFAULT_FACTOR: &str = "10";
/// The default duration offered, seconds.
pub const DEFAULT_DURATION_S: &str = "30";

/// The input text (`NAME=VALUE`, see `kvscope_core::input`) for a fault of
/// `kind` on `store` lasting `duration` (as typed: seconds, or with a unit)
/// with `factor` (slow disk only). The core's parser checks it.
pub fn fault_text(kind: FaultKind, store: u64, duration: &str, factor: &str) -> String {
    let d = format::seconds_input_to_param(duration);
    let d = d.strip_suffix("ms").map_or(d.clone(), |ms| {
        // `30000ms` reads better as `30s` in the log and the URL; the core
        // prints its own canonical form anyway.
        ms.parse::<u64>()
            .ok()
            .filter(|ms| ms % 1000 == 0)
            .map_or(d.clone(), |ms| format!("{}s", ms / 1000))
    });
    if kind == FaultKind::SlowDisk {
        format!("{}={store}/{d}/{}", kind.name(), factor.trim())
    } else {
        format!("{}={store}/{d}", kind.name())
    }
}

/// Properties of [`FaultInjection`].
#[derive(Properties, PartialEq)]
pub struct FaultInjectionProps {
    /// The snapshot (stores, applied and scheduled inputs).
    pub frame: Rc<Frame>,
    /// Why the last fault was refused, if it was.
    pub error: Option<String>,
    /// "Inject now" was pressed: the input text `NAME=VALUE` to apply.
    pub on_inject: Callback<String>,
}

/// The fault injection panel and the input log.
#[component]
pub fn FaultInjection(props: &FaultInjectionProps) -> Html {
    let stores: Rc<Vec<u64>> = Rc::new(props.frame.view.stores.iter().map(|s| s.id).collect());
    let kind = use_state(|| FaultKind::ALL[0]);
    let store = use_state(|| None::<u64>);
    let duration = use_state(|| DEFAULT_DURATION_S.to_string());
    let factor = use_state(|| DEFAULT_FACTOR.to_string());
    let chosen_store = (*store)
        .filter(|s| stores.contains(s))
        .or_else(|| stores.first().copied());
    let on_kind = {
        let kind = kind.clone();
        Callback::from(move |e: Event| {
            if let Some(sel) = e.target_dyn_into::<HtmlSelectElement>() {
                if let Some(k) = FaultKind::from_name(&sel.value()) {
                    kind.set(k);
                }
            }
        })
    };
    let text_input = |state: &UseStateHandle<String>| {
        let state = state.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(input) = e.target_dyn_into::<HtmlInputElement>() {
                state.set(input.value());
            }
        })
    };
    let on_pick = {
        let store = store.clone();
        Callback::from(move |s: u64| store.set(Some(s)))
    };
    let inject = {
        let on_inject = props.on_inject.clone();
        let (kind, duration, factor) = (*kind, (*duration).clone(), (*factor).clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(s) = chosen_store {
                on_inject.emit(fault_text(kind, s, &duration, &factor));
            }
        })
    };
    let applied = &props.frame.inputs;
    let pending = &props.frame.pending_inputs;
    let row = |i: &Input, scheduled: bool| {
        let text = i.to_text();
        html! {
            <li class={classes!("input-row", scheduled.then_some("scheduled"))} data-input={text.clone()}
                title={format!("at={text}")}>
                <span class="in-time">{ format::clock(i.at) }</span>
                <span class="in-what">{ format!("{}={}", i.action.name(), i.action.value()) }</span>
                if scheduled { <span class="in-state">{"scheduled"}</span> }
            </li>
        }
    };
    html! {
        <div class="panel fault-panel" id="fault-panel">
            <div class="panel-head">
                <h2>{"Inject a fault"}</h2>
                <span class="panel-sub">{"at the current virtual time"}</span>
            </div>
            <div class="fault-form">
                <select id="fault-kind" class="param-input" onchange={on_kind} title="Fault kind">
                    { for FaultKind::ALL.iter().map(|k| html! {
                        <option value={k.name()} selected={*k == *kind} title={explain(*k)}>{ k.name() }</option>
                    }) }
                </select>
                <StoreSelect id="fault-store" stores={stores.clone()} current={chosen_store}
                    title="Store the fault hits" on_pick={on_pick} />
                <label class="fault-num" title="How long it lasts (for a crash: how long the process is down); seconds, or with a unit: 500ms, 2m">
                    <input id="fault-duration" type="text" class="param-input" value={(*duration).clone()} oninput={text_input(&duration)} />
                    <span class="fc-unit">{"s"}</span>
                </label>
                <div class="fault-row2">
                    if *kind == FaultKind::SlowDisk {
                        <label class="fault-num" title="How many times slower the disk is (2..=1000)">
                            <span class="fc-unit">{"×"}</span>
                            <input id="fault-factor" type="text" class="param-input" value={(*factor).clone()} oninput={text_input(&factor)} />
                        </label>
                    }
                    <span class="fault-explain muted" title={explain(*kind)}>{ explain(*kind) }</span>
                    <button id="fault-inject" class="btn-inline" onclick={inject} disabled={chosen_store.is_none()}>{"Inject now"}</button>
                </div>
            </div>
            if let Some(err) = &props.error {
                <div id="fault-error" class="inline-error" role="alert">{ format!("{err} — not injected.") }</div>
            }
            <div class="input-log-head" title="Every live change and injected fault with its virtual time, newest first; the URL replays them (at=TIME:NAME=VALUE)">
                <span>{ format!("Inputs ({})", applied.len() + pending.len()) }</span>
                if applied.is_empty() && pending.is_empty() {
                    <span class="muted small" id="input-log-empty">{" · none yet"}</span>
                } else {
                    <span class="muted small">{" · newest first · in the URL"}</span>
                }
            </div>
            if !applied.is_empty() || !pending.is_empty() {
                <ol class="input-log" id="input-log">
                    { for pending.iter().rev().map(|i| row(i, true)) }
                    { for applied.iter().rev().map(|i| row(i, false)) }
                </ol>
            }
        </div>
    }
}
