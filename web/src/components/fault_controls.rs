//! Fault controls: the IO hang (store, start, duration), the scenario's `fix`
//! switch, and every other parameter under "All parameters".
//!
//! Any change replays the same seed from t = 0 with the new parameters.
//! Live parameters (`ScenarioSpec::live`) are left to the contention panel
//! ([`crate::components::contention`]), which changes the running simulation. A value
//! the scenario refuses is reported inline (the message comes from the core's
//! parameter parser) and leaves the current run alone.

use std::rc::Rc;

use kvscope_core::scenario::{ParamSpec, Unit};
use kvscope_core::scenarios::specs;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::format;

/// A refused parameter value.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamError {
    /// The parameter whose value was refused.
    pub name: String,
    /// Why (the core's message).
    pub message: String,
}

/// Properties of [`FaultControls`].
#[derive(Properties, PartialEq)]
pub struct FaultControlsProps {
    /// Scenario id.
    pub scenario_id: &'static str,
    /// Every parameter's current value, `(name, value)` as text in its unit.
    pub values: Rc<Vec<(String, String)>>,
    /// Changes whenever a new run starts (inputs then show the applied values again).
    pub run_version: u64,
    /// The last refused value, if the last change was refused.
    pub error: Option<ParamError>,
    /// A parameter was changed: `(name, value)` as text the core parses.
    pub on_set: Callback<(String, String)>,
}

/// Label of a `fix` choice on the switch.
pub fn fix_label(scenario: &str, choice: &str) -> String {
    match (scenario, choice) {
        ("io-hang-transfer-leader", "none") => "fix: none (before PR 17643)".to_string(),
        ("io-hang-transfer-leader", "relaxed-check") => "relaxed-check (PR 17643)".to_string(),
        (_, "none") => "fix: none (as reported)".to_string(),
        (_, c) => c.to_string(),
    }
}

/// Properties of [`ParamInput`].
#[derive(Properties, PartialEq)]
pub struct ParamInputProps {
    /// DOM id of the input.
    pub id: AttrValue,
    /// Parameter name.
    pub name: &'static str,
    /// The applied value as shown (seconds for `seconds` inputs).
    pub shown: String,
    /// Changes whenever a new run starts (the input then shows `shown` again).
    pub run_version: u64,
    /// Whether the text is seconds (converted to the ms the parameter takes).
    #[prop_or_default]
    pub seconds: bool,
    /// Whether the last value typed here was refused.
    #[prop_or_default]
    pub invalid: bool,
    /// Tooltip.
    #[prop_or_default]
    pub title: AttrValue,
    /// A value was entered.
    pub on_set: Callback<(String, String)>,
}

/// A text input that keeps what the user typed (even if refused) until the
/// applied value changes, and reports its value on Enter or blur.
#[component]
pub fn ParamInput(props: &ParamInputProps) -> Html {
    let text = use_state(|| props.shown.clone());
    {
        let text = text.clone();
        use_effect_with((props.shown.clone(), props.run_version), move |(s, _)| {
            text.set(s.clone())
        });
    }
    let oninput = {
        let text = text.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(input) = e.target_dyn_into::<HtmlInputElement>() {
                text.set(input.value());
            }
        })
    };
    let onchange = {
        let on_set = props.on_set.clone();
        let name = props.name;
        let seconds = props.seconds;
        Callback::from(move |e: Event| {
            if let Some(input) = e.target_dyn_into::<HtmlInputElement>() {
                let v = input.value();
                let v = if seconds {
                    format::seconds_input_to_param(&v)
                } else {
                    v.trim().to_string()
                };
                on_set.emit((name.to_string(), v));
            }
        })
    };
    html! {
        <input id={props.id.clone()} type="text" class={classes!("param-input", props.invalid.then_some("invalid"))}
            value={(*text).clone()} {oninput} {onchange} title={props.title.clone()}
            aria-invalid={props.invalid.to_string()} />
    }
}

fn value_of<'a>(values: &'a [(String, String)], name: &str) -> Option<&'a str> {
    values
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn describe(p: &ParamSpec) -> String {
    format!(
        "{} ({}; allowed {}; default {})",
        p.meaning,
        p.unit.label(),
        p.allowed(),
        p.default
    )
}

/// The fault controls panel.
#[component]
pub fn FaultControls(props: &FaultControlsProps) -> Html {
    let Some(spec) = specs().find(|s| s.id == props.scenario_id) else {
        return html! {};
    };
    let values = props.values.as_slice();
    let param = |name: &str| spec.params.iter().find(|p| p.name == name);
    let invalid = |name: &str| props.error.as_ref().is_some_and(|e| e.name == name);
    let ms_field = |name: &'static str, id: &'static str, label: &'static str| -> Html {
        let Some(p) = param(name) else {
            return html! {};
        };
        let shown = value_of(values, name)
            .and_then(|v| v.parse::<u64>().ok())
            .map(format::ms_as_seconds_input)
            .unwrap_or_default();
        html! {
            <label class="fc-field">
                <span class="fc-label">{ label }</span>
                <ParamInput id={id} name={p.name} shown={shown} run_version={props.run_version} seconds={true} invalid={invalid(name)}
                    title={describe(p)} on_set={props.on_set.clone()} />
                <span class="fc-unit">{"s"}</span>
            </label>
        }
    };
    let store_field = match param("hang_store") {
        Some(p) => {
            let stores = value_of(values, "stores")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            let current = value_of(values, "hang_store")
                .unwrap_or_default()
                .to_string();
            let on_set = props.on_set.clone();
            let onchange = Callback::from(move |e: Event| {
                if let Some(sel) = e.target_dyn_into::<HtmlSelectElement>() {
                    on_set.emit(("hang_store".to_string(), sel.value()));
                }
            });
            html! {
                <label class="fc-field">
                    <span class="fc-label">{"IO hang store"}</span>
                    <select id="hang-store" {onchange} title={describe(p)}>
                        { for (1..=stores).map(|s| html! {
                            <option value={s.to_string()} selected={s.to_string() == current}>{ format!("store {s}") }</option>
                        }) }
                    </select>
                </label>
            }
        }
        None => html! {},
    };
    let live = |name: &str| spec.live.contains(&name);
    let fix = match param("fix") {
        Some(p) if p.unit == Unit::Choice && !live("fix") => {
            let current = value_of(values, "fix").unwrap_or(p.default);
            html! {
                <fieldset class="fix-switch" title={p.meaning}>
                    <legend>{"Fix"}</legend>
                    { for p.choices.iter().map(|c| {
                        let (choice, meaning) = (&c.name, &c.meaning);
                        let on_set = props.on_set.clone();
                        let value = choice.to_string();
                        let onchange = Callback::from(move |_: Event| on_set.emit(("fix".to_string(), value.clone())));
                        let checked = current == *choice;
                        html! {
                            <label class={classes!("fix-option", checked.then_some("checked"), (*choice != "none").then_some("fixed"))} title={*meaning}>
                                <input type="radio" name="fix" id={format!("fix-{choice}")} value={*choice} {checked} {onchange} />
                                <span class="fix-text">
                                    <span class="fix-name">{ fix_label(spec.id, choice) }</span>
                                    <span class="fix-meaning">{ *meaning }</span>
                                </span>
                            </label>
                        }
                    }) }
                </fieldset>
            }
        }
        _ => html! {},
    };
    let all_params = html! {
        <details class="all-params">
            <summary>{ format!("All parameters ({})", spec.params.iter().filter(|p| !live(p.name) && (p.unit != Unit::Choice || p.name != "fix" || !live("fix"))).count()) }</summary>
            <div class="param-grid">
                { for spec.params.iter().filter(|p| p.unit == Unit::Choice && p.name != "fix" && !live(p.name)).map(|p| {
                    let current = value_of(values, p.name).unwrap_or(p.default).to_string();
                    let on_set = props.on_set.clone();
                    let name = p.name;
                    let onchange = Callback::from(move |e: Event| {
                        if let Some(sel) = e.target_dyn_into::<HtmlSelectElement>() {
                            on_set.emit((name.to_string(), sel.value()));
                        }
                    });
                    html! {
                        <label class="param-row" title={describe(p)}>
                            <span class="param-name">{ p.name }</span>
                            <select id={format!("param-{}", p.name)} class={classes!("param-input", invalid(p.name).then_some("invalid"))} {onchange}>
                                { for p.choices.iter().map(|c| html! {
                                    <option value={c.name} selected={current == c.name} title={c.meaning}>{ c.label }</option>
                                }) }
                            </select>
                            <span class="param-unit"></span>
                        </label>
                    }
                }) }
                { for spec.params.iter().filter(|p| p.unit != Unit::Choice && !live(p.name)).map(|p| {
                    let shown = value_of(values, p.name).unwrap_or_default().to_string();
                    html! {
                        <label class="param-row" title={describe(p)}>
                            <span class="param-name">{ p.name }</span>
                            <ParamInput id={format!("param-{}", p.name)} name={p.name} shown={shown} run_version={props.run_version}
                                invalid={invalid(p.name)} title={describe(p)} on_set={props.on_set.clone()} />
                            <span class="param-unit">{ p.unit.label() }</span>
                        </label>
                    }
                }) }
            </div>
            <div class="muted small">{"Durations accept a unit: 250us, 40ms, 3s, 2m."}</div>
        </details>
    };
    html! {
        <div class="panel fault-panel">
            <div class="panel-head"><h2>{ if param("fix").is_some() && !live("fix") { "Faults and fix" } else { "Cluster and workload" } }</h2></div>
            <div class="replay-note">{"Changing any of these replays the same seed from t = 0 with the new parameters."}</div>
            if let Some(err) = &props.error {
                <div id="param-error" class="inline-error" role="alert">
                    { format!("{} — not applied; the current run goes on unchanged.", err.message) }
                </div>
            }
            <div class="fc-grid">
                { store_field }
                { ms_field("hang_start", "hang-start", "IO hang start") }
                { ms_field("hang_duration", "hang-duration", "IO hang duration") }
            </div>
            { fix }
            { all_params }
        </div>
    }
}
