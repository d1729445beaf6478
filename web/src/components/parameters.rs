//! The parameters panel: the scenario's parameters that need a new run.
//!
//! The scenario's featured parameters ([`ScenarioSpec::featured`], its
//! fault say) come first, each with a widget chosen by its unit: a store id
//! is a select of the cluster's stores, a duration in ms a seconds input, a
//! choice radio buttons with each choice's label and meaning, any other
//! number a text input in its unit. Every other parameter that is not live
//! follows under "All parameters". Live parameters ([`ScenarioSpec::live`])
//! are left to the live controls ([`crate::components::live_controls`]).
//!
//! Any change here replays the same seed from t = 0 with the new build
//! parameters and no inputs. A value the scenario refuses is reported inline
//! (the message comes from the core's parameter parser) and leaves the
//! current run alone.

use std::rc::Rc;

use kvscope_core::scenario::{ParamSpec, ScenarioSpec, Unit};
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

/// The scenario's spec as a prop: specs are static, so two props are equal
/// when they point at the same spec.
#[derive(Clone, Copy, Debug)]
pub struct SpecRef(pub &'static ScenarioSpec);

impl PartialEq for SpecRef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

/// The value of parameter `name` in `values` (`(name, value)` text pairs).
pub fn value_of<'a>(values: &'a [(String, String)], name: &str) -> Option<&'a str> {
    values
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The tooltip of a parameter: its meaning, unit, allowed values and default.
pub fn describe(p: &ParamSpec) -> String {
    format!(
        "{} ({}: {}; allowed {}; default {})",
        p.meaning,
        p.name,
        p.unit.label(),
        p.allowed(),
        p.default
    )
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
    /// A value was entered: `(name, value)` as text the core parses.
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

/// Properties of [`StoreSelect`].
#[derive(Properties, PartialEq)]
pub struct StoreSelectProps {
    /// DOM id of the select.
    pub id: AttrValue,
    /// The cluster's store ids.
    pub stores: Rc<Vec<u64>>,
    /// The store selected now (shown even if the cluster lacks it).
    pub current: Option<u64>,
    /// Whether the last value chosen here was refused.
    #[prop_or_default]
    pub invalid: bool,
    /// Tooltip.
    #[prop_or_default]
    pub title: AttrValue,
    /// A store was chosen.
    pub on_pick: Callback<u64>,
}

/// A select of the cluster's stores (`store 1`, `store 2`, ...).
#[component]
pub fn StoreSelect(props: &StoreSelectProps) -> Html {
    let mut stores: Vec<u64> = props.stores.as_ref().clone();
    if let Some(c) = props.current {
        if !stores.contains(&c) {
            stores.push(c);
            stores.sort_unstable();
        }
    }
    let onchange = {
        let on_pick = props.on_pick.clone();
        Callback::from(move |e: Event| {
            if let Some(sel) = e.target_dyn_into::<HtmlSelectElement>() {
                if let Ok(s) = sel.value().parse::<u64>() {
                    on_pick.emit(s);
                }
            }
        })
    };
    html! {
        <select id={props.id.clone()} class={classes!("param-input", props.invalid.then_some("invalid"))}
            {onchange} title={props.title.clone()}>
            { for stores.iter().map(|s| html! {
                <option value={s.to_string()} selected={Some(*s) == props.current}>{ format!("store {s}") }</option>
            }) }
        </select>
    }
}

/// Properties of [`ChoiceRadios`].
#[derive(Properties, PartialEq)]
pub struct ChoiceRadiosProps {
    /// The parameter (a choice).
    pub spec: SpecParam,
    /// The choice selected now.
    pub current: String,
    /// The radios' `name` attribute (one group per page).
    pub group: AttrValue,
    /// Whether the last value chosen here was refused.
    #[prop_or_default]
    pub invalid: bool,
    /// A choice was picked: `(parameter, choice)`.
    pub on_set: Callback<(String, String)>,
}

/// A parameter's static spec as a prop (compared by address).
#[derive(Clone, Copy, Debug)]
pub struct SpecParam(pub &'static ParamSpec);

impl PartialEq for SpecParam {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

/// Whether a choice parameter fits on one line as small pills (two or three
/// choices with short labels); otherwise each choice is a row with its meaning.
pub fn compact_choices(p: &ParamSpec) -> bool {
    p.choices.len() <= 3 && p.choices.iter().all(|c| c.label.chars().count() <= 12)
}

/// Radio buttons for one choice parameter, ids `{name}-{choice}`: each
/// choice shows its label and, unless the choices are compact
/// ([`compact_choices`]), its meaning (always in the tooltip).
#[component]
pub fn ChoiceRadios(props: &ChoiceRadiosProps) -> Html {
    let p = props.spec.0;
    let compact = compact_choices(p);
    html! {
        <fieldset class={classes!("choice-group", compact.then_some("compact"), props.invalid.then_some("invalid"))}
            title={describe(p)} id={format!("choices-{}", p.name)}>
            <legend>{ p.label }</legend>
            { for p.choices.iter().map(|c| {
                let on_set = props.on_set.clone();
                let (name, value) = (p.name, c.name);
                let onchange = Callback::from(move |_: Event| on_set.emit((name.to_string(), value.to_string())));
                let checked = props.current == c.name;
                html! {
                    <label class={classes!("choice-option", checked.then_some("checked"))} title={c.meaning}>
                        <input type="radio" name={props.group.clone()} id={format!("{}-{}", p.name, c.name)}
                            value={c.name} {checked} {onchange} />
                        <span class="choice-text">
                            <span class="choice-label">{ c.label }</span>
                            if !compact { <span class="choice-meaning">{ c.meaning }</span> }
                        </span>
                    </label>
                }
            }) }
        </fieldset>
    }
}

/// Properties of [`Parameters`].
#[derive(Properties, PartialEq)]
pub struct ParametersProps {
    /// The scenario.
    pub spec: SpecRef,
    /// The build value of every parameter, `(name, value)` as text in its unit.
    pub values: Rc<Vec<(String, String)>>,
    /// The cluster's store ids (for store-id parameters).
    pub stores: Rc<Vec<u64>>,
    /// Changes whenever a new run starts (inputs then show the applied values again).
    pub run_version: u64,
    /// The last refused value, if the last change was refused.
    pub error: Option<ParamError>,
    /// A parameter was changed: `(name, value)` as text the core parses.
    pub on_set: Callback<(String, String)>,
}

/// The parameters panel (see the module docs).
#[component]
pub fn Parameters(props: &ParametersProps) -> Html {
    let spec = props.spec.0;
    let values = props.values.as_slice();
    let live = |name: &str| spec.live.contains(&name);
    let invalid = |name: &str| props.error.as_ref().is_some_and(|e| e.name == name);
    let current = |p: &ParamSpec| value_of(values, p.name).unwrap_or(p.default).to_string();
    let id = |p: &ParamSpec| format!("param-{}", p.name);
    let store_select = |p: &'static ParamSpec| {
        let on_set = props.on_set.clone();
        let name = p.name;
        html! {
            <StoreSelect id={id(p)} stores={props.stores.clone()} current={current(p).parse::<u64>().ok()}
                invalid={invalid(p.name)} title={describe(p)}
                on_pick={Callback::from(move |s: u64| on_set.emit((name.to_string(), s.to_string())))} />
        }
    };
    let featured: Vec<&'static ParamSpec> = spec
        .featured
        .iter()
        .filter(|n| !live(n))
        .filter_map(|n| spec.params.iter().find(|p| p.name == *n))
        .collect();
    let featured_html = featured.iter().map(|&p| match p.unit {
        Unit::Choice => html! {
            <ChoiceRadios spec={SpecParam(p)} current={current(p)} group={format!("param-{}", p.name)}
                invalid={invalid(p.name)} on_set={props.on_set.clone()} />
        },
        Unit::StoreId => html! {
            <label class="fc-field" title={describe(p)}>
                <span class="fc-label">{ p.label }</span>
                { store_select(p) }
                <span class="fc-unit"></span>
            </label>
        },
        Unit::Millis => {
            let shown = current(p)
                .parse::<u64>()
                .map(format::ms_as_seconds_input)
                .unwrap_or_default();
            html! {
                <label class="fc-field" title={describe(p)}>
                    <span class="fc-label">{ p.label }</span>
                    <ParamInput id={id(p)} name={p.name} shown={shown} run_version={props.run_version} seconds={true}
                        invalid={invalid(p.name)} title={describe(p)} on_set={props.on_set.clone()} />
                    <span class="fc-unit">{"s"}</span>
                </label>
            }
        }
        _ => html! {
            <label class="fc-field" title={describe(p)}>
                <span class="fc-label">{ p.label }</span>
                <ParamInput id={id(p)} name={p.name} shown={current(p)} run_version={props.run_version}
                    invalid={invalid(p.name)} title={describe(p)} on_set={props.on_set.clone()} />
                <span class="fc-unit">{ p.unit.label() }</span>
            </label>
        },
    });
    let others: Vec<&'static ParamSpec> = spec
        .params
        .iter()
        .filter(|p| !live(p.name) && !featured.iter().any(|f| std::ptr::eq(*f, *p)))
        .collect();
    let other_html = others.iter().map(|&p| {
        let widget = match p.unit {
            Unit::Choice => {
                let on_set = props.on_set.clone();
                let name = p.name;
                let onchange = Callback::from(move |e: Event| {
                    if let Some(sel) = e.target_dyn_into::<HtmlSelectElement>() {
                        on_set.emit((name.to_string(), sel.value()));
                    }
                });
                let now = current(p);
                html! {
                    <select id={id(p)} class={classes!("param-input", invalid(p.name).then_some("invalid"))} {onchange}>
                        { for p.choices.iter().map(|c| html! {
                            <option value={c.name} selected={now == c.name} title={c.meaning}>{ c.label }</option>
                        }) }
                    </select>
                }
            }
            Unit::StoreId => store_select(p),
            _ => html! {
                <ParamInput id={id(p)} name={p.name} shown={current(p)} run_version={props.run_version}
                    invalid={invalid(p.name)} title={describe(p)} on_set={props.on_set.clone()} />
            },
        };
        let unit = match p.unit {
            Unit::Choice | Unit::StoreId => "",
            u => u.label(),
        };
        html! {
            <label class="param-row" title={describe(p)}>
                <span class="param-name">{ p.label }</span>
                { widget }
                <span class="param-unit">{ unit }</span>
            </label>
        }
    });
    let error = props.error.as_ref().filter(|e| !live(&e.name));
    html! {
        <div class="panel param-panel" id="parameters-panel">
            <div class="panel-head">
                <h2>{"Parameters"}</h2>
                <span class="panel-sub">{"a change replays from t = 0"}</span>
            </div>
            if let Some(err) = error {
                <div id="param-error" class="inline-error" role="alert">
                    { format!("{} — not applied; the current run goes on unchanged.", err.message) }
                </div>
            }
            <div class="fc-grid">{ for featured_html }</div>
            if !others.is_empty() {
                <details class="all-params">
                    <summary>{ format!("All parameters ({})", others.len()) }</summary>
                    <div class="param-grid">{ for other_html }</div>
                    <div class="muted small">{"Durations accept a unit: 250us, 40ms, 3s, 2m. Changing one starts the same seed again from t = 0, without the inputs."}</div>
                </details>
            }
        </div>
    }
}
