//! Live controls: every live parameter of the scenario
//! ([`kvscope_core::ScenarioSpec::live`]), acting on the running simulation.
//!
//! Numbers are range sliders (id `live-{name}`, the value beside it in
//! `live-{name}-value`), choices are radio groups (ids `{name}-{choice}`).
//! A change is applied at the current virtual time as a user input
//! (`Simulation::apply_input`): the clock and history go on, the input is
//! recorded and hashed into the trace, and the URL replays it. A value the
//! core refuses is reported inline and changes nothing.

use std::rc::Rc;

use kvscope_core::scenario::{ParamSpec, Unit};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::components::parameters::{value_of, ChoiceRadios, ParamError, SpecParam, SpecRef};

/// A value as shown next to its slider: counts as they are, durations with their unit.
pub fn shown_value(p: &ParamSpec, raw: &str) -> String {
    match (p.unit, raw.parse::<u64>()) {
        (Unit::Millis, Ok(ms)) if ms >= 1000 => crate::format::secs_ms_short(ms),
        (Unit::Millis, Ok(ms)) => format!("{ms} ms"),
        (Unit::Micros, Ok(us)) => format!("{us} µs"),
        (Unit::StoreId, Ok(s)) => format!("store {s}"),
        _ => raw.to_string(),
    }
}

/// Properties of [`LiveSlider`].
#[derive(Properties, PartialEq)]
pub struct LiveSliderProps {
    /// The parameter.
    pub spec: SpecParam,
    /// DOM id of the range input.
    pub id: AttrValue,
    /// Label.
    pub label: AttrValue,
    /// The applied value, text in the parameter's unit.
    pub value: String,
    /// Whether the last value sent from here was refused.
    pub invalid: bool,
    /// A value was chosen (on release): `(name, value)` as text the core parses.
    pub on_set: Callback<(String, String)>,
}

/// A range input for one numeric live parameter: shows the value while
/// dragging and sends it on release.
#[component]
pub fn LiveSlider(props: &LiveSliderProps) -> Html {
    let dragging = use_state(|| None::<String>);
    {
        let dragging = dragging.clone();
        use_effect_with(props.value.clone(), move |_| dragging.set(None));
    }
    let p = props.spec.0;
    let (lo, hi) = p.range.unwrap_or((0, 1000));
    let oninput = {
        let dragging = dragging.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(input) = e.target_dyn_into::<HtmlInputElement>() {
                dragging.set(Some(input.value()));
            }
        })
    };
    let onchange = {
        let on_set = props.on_set.clone();
        let dragging = dragging.clone();
        let applied = props.value.clone();
        let name = p.name;
        Callback::from(move |e: Event| {
            if let Some(input) = e.target_dyn_into::<HtmlInputElement>() {
                let chosen = input.value();
                // Show the applied value again: an accepted value comes back
                // as a new `value` prop, a refused one leaves the old one.
                input.set_value(&applied);
                dragging.set(None);
                on_set.emit((name.to_string(), chosen));
            }
        })
    };
    let shown = dragging.as_ref().unwrap_or(&props.value);
    html! {
        <label class={classes!("live-slider", props.invalid.then_some("invalid"))}
            title={format!("{} ({}: {}; {}..={}; default {})", p.meaning, p.name, p.unit.label(), lo, hi, p.default)}>
            <span class="live-label">{ props.label.clone() }</span>
            <span class="live-value" id={format!("{}-value", props.id)}>{ shown_value(p, shown) }</span>
            <input type="range" id={props.id.clone()} min={lo.to_string()} max={hi.to_string()} step="1"
                value={props.value.clone()} {oninput} {onchange} aria-invalid={props.invalid.to_string()} />
            <span class="live-range muted">{ format!("{} … {}", shown_value(p, &lo.to_string()), shown_value(p, &hi.to_string())) }</span>
        </label>
    }
}

/// Properties of [`LiveControls`].
#[derive(Properties, PartialEq)]
pub struct LiveControlsProps {
    /// The scenario.
    pub spec: SpecRef,
    /// Every parameter's current value (live changes included), `(name, value)` as text in its unit.
    pub values: Rc<Vec<(String, String)>>,
    /// The last refused value, if the last change was refused.
    pub error: Option<ParamError>,
    /// A live parameter was changed: `(name, value)` as text the core parses.
    pub on_set: Callback<(String, String)>,
}

/// The live controls panel (nothing when the scenario has no live parameter).
#[component]
pub fn LiveControls(props: &LiveControlsProps) -> Html {
    let spec = props.spec.0;
    let values = props.values.as_slice();
    let invalid = |name: &str| props.error.as_ref().is_some_and(|e| e.name == name);
    let params: Vec<&'static ParamSpec> = spec
        .live
        .iter()
        .filter_map(|n| spec.params.iter().find(|p| p.name == *n))
        .collect();
    if params.is_empty() {
        return html! {};
    }
    let controls = params.iter().map(|&p| {
        let value = value_of(values, p.name).unwrap_or(p.default).to_string();
        if p.unit == Unit::Choice {
            html! {
                <ChoiceRadios spec={SpecParam(p)} current={value} group={format!("live-{}", p.name)}
                    invalid={invalid(p.name)} on_set={props.on_set.clone()} />
            }
        } else {
            html! {
                <LiveSlider spec={SpecParam(p)} id={format!("live-{}", p.name)} label={p.label} value={value}
                    invalid={invalid(p.name)} on_set={props.on_set.clone()} />
            }
        }
    });
    let error = props
        .error
        .as_ref()
        .filter(|e| spec.live.contains(&e.name.as_str()));
    html! {
        <div class="panel live-panel" id="live-panel">
            <div class="panel-head">
                <h2>{"Live controls"}</h2>
                <span class="panel-sub live">{"act on the running simulation"}</span>
            </div>
            if let Some(err) = error {
                <div id="live-error" class="inline-error" role="alert">
                    { format!("{} — not applied; the run goes on unchanged.", err.message) }
                </div>
            }
            <div class="live-controls">{ for controls }</div>
        </div>
    }
}
