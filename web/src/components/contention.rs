//! Contention controls: sliders for the number of concurrent transactions,
//! hot keys and the lock hold time, the fair-locking switch and the `fix`
//! switch. Each of these is a live parameter of the scenario
//! (`ScenarioSpec::live`): a change goes to the running simulation, which
//! keeps its clock and history, instead of replaying from t = 0.
//!
//! A value the core refuses is reported inline and changes nothing.

use std::rc::Rc;

use kvscope_core::scenario::{ParamSpec, Unit};
use kvscope_core::scenarios::specs;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::components::fault_controls::{fix_label, ParamError};

/// The sliders of the panel, in display order: `(parameter, DOM id, label)`.
pub const SLIDERS: &[(&str, &str, &str)] = &[
    ("txns", "live-txns", "Concurrent transactions"),
    ("hot_keys", "live-hot_keys", "Hot keys"),
    ("lock_hold_time", "live-lock_hold_time", "Lock hold time"),
];

/// Properties of [`ContentionControls`].
#[derive(Properties, PartialEq)]
pub struct ContentionProps {
    /// Scenario id.
    pub scenario_id: &'static str,
    /// Every parameter's current value, `(name, value)` as text in its unit.
    pub values: Rc<Vec<(String, String)>>,
    /// The last refused value, if the last change was refused.
    pub error: Option<ParamError>,
    /// A live parameter was changed: `(name, value)` as text the core parses.
    pub on_set: Callback<(String, String)>,
}

fn value_of<'a>(values: &'a [(String, String)], name: &str) -> Option<&'a str> {
    values
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A value as shown next to its slider: counts as they are, durations with their unit.
pub fn shown_value(p: &ParamSpec, raw: &str) -> String {
    match (p.unit, raw.parse::<u64>()) {
        (Unit::Millis, Ok(ms)) if ms >= 1000 => crate::format::secs_ms_short(ms),
        (Unit::Millis, Ok(ms)) => format!("{ms} ms"),
        (Unit::Micros, Ok(us)) => format!("{us} µs"),
        _ => raw.to_string(),
    }
}

/// Properties of [`LiveSlider`].
#[derive(Properties)]
pub struct LiveSliderProps {
    /// The parameter.
    pub spec: &'static ParamSpec,
    /// DOM id of the range input.
    pub id: AttrValue,
    /// Label.
    pub label: AttrValue,
    /// The applied value, text in the parameter's unit.
    pub value: String,
    /// Whether the last value sent from here was refused.
    pub invalid: bool,
    /// A value was chosen (on release).
    pub on_set: Callback<(String, String)>,
}

impl PartialEq for LiveSliderProps {
    fn eq(&self, other: &Self) -> bool {
        // Specs are static: the same parameter is the same spec.
        std::ptr::eq(self.spec, other.spec)
            && self.id == other.id
            && self.label == other.label
            && self.value == other.value
            && self.invalid == other.invalid
            && self.on_set == other.on_set
    }
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
    let p = props.spec;
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
            title={format!("{} ({}; {}..={}; default {})", p.meaning, p.unit.label(), lo, hi, p.default)}>
            <span class="live-label">{ props.label.clone() }</span>
            <span class="live-value" id={format!("{}-value", props.id)}>{ shown_value(p, shown) }</span>
            <input type="range" id={props.id.clone()} min={lo.to_string()} max={hi.to_string()} step="1"
                value={props.value.clone()} {oninput} {onchange} aria-invalid={props.invalid.to_string()} />
            <span class="live-range muted">{ format!("{} … {}", shown_value(p, &lo.to_string()), shown_value(p, &hi.to_string())) }</span>
        </label>
    }
}

/// The contention panel (only for scenarios with these live parameters).
#[component]
pub fn ContentionControls(props: &ContentionProps) -> Html {
    let Some(spec) = specs().find(|s| s.id == props.scenario_id) else {
        return html! {};
    };
    let values = props.values.as_slice();
    let live = |name: &str| spec.live.contains(&name);
    let param = |name: &str| spec.params.iter().find(|p| p.name == name);
    let invalid = |name: &str| props.error.as_ref().is_some_and(|e| e.name == name);
    let sliders = SLIDERS.iter().filter(|(n, _, _)| live(n)).filter_map(|(name, id, label)| {
        let p = param(name)?;
        let value = value_of(values, name).unwrap_or(p.default).to_string();
        Some(html! {
            <LiveSlider spec={p} id={*id} label={*label} value={value} invalid={invalid(name)} on_set={props.on_set.clone()} />
        })
    });
    let choice_switch = |name: &'static str,
                         legend: &'static str,
                         id_prefix: &'static str,
                         fix: bool|
     -> Html {
        let Some(p) = param(name).filter(|p| p.unit == Unit::Choice && live(name)) else {
            return html! {};
        };
        let current = value_of(values, name).unwrap_or(p.default);
        html! {
            <fieldset class={classes!(if fix { "fix-switch" } else { "live-switch" }, invalid(name).then_some("invalid"))} title={p.meaning}>
                <legend>{ legend }</legend>
                { for p.choices.iter().map(|c| {
                    let (choice, meaning) = (&c.name, &c.meaning);
                    let on_set = props.on_set.clone();
                    let value = choice.to_string();
                    let onchange = Callback::from(move |_: Event| on_set.emit((name.to_string(), value.clone())));
                    let checked = current == *choice;
                    let text = if fix { fix_label(spec.id, choice) } else { choice.to_string() };
                    html! {
                        <label class={classes!(if fix { "fix-option" } else { "live-option" }, checked.then_some("checked"), (fix && *choice != "none").then_some("fixed"))} title={*meaning}>
                            <input type="radio" name={format!("live-{name}")} id={format!("{id_prefix}-{choice}")} value={*choice} {checked} {onchange} />
                            <span class="fix-text">
                                <span class="fix-name">{ text }</span>
                                if fix { <span class="fix-meaning">{ *meaning }</span> }
                            </span>
                        </label>
                    }
                }) }
            </fieldset>
        }
    };
    let error = props
        .error
        .as_ref()
        .filter(|e| spec.live.contains(&e.name.as_str()));
    html! {
        <div class="panel contention-panel" id="contention-panel">
            <div class="panel-head"><h2>{"Lock contention and fix"}</h2></div>
            <div class="replay-note live">{"Live: these change the running simulation; the clock and history go on."}</div>
            if let Some(err) = error {
                <div id="live-error" class="inline-error" role="alert">
                    { format!("{} — not applied; the run goes on unchanged.", err.message) }
                </div>
            }
            <div class="live-sliders">{ for sliders }</div>
            { choice_switch("fair_locking", "Fair locking (allow_lock_with_conflict)", "fair_locking", false) }
            { choice_switch("fix", "Fix", "fix", true) }
        </div>
    }
}
