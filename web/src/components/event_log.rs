//! The event log: TiKV's and raft-rs's own log lines, newest first,
//! filterable by store, region and level. Only the newest matching lines are
//! rendered ([`LogSlice::MAX_LINES`]).

use std::rc::Rc;

use kvscope_core::kernel::log::Level;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::format;
use crate::snapshot::{LogFilter, LogSlice, StoreFilter};

/// Properties of [`EventLog`].
#[derive(Properties, PartialEq)]
pub struct EventLogProps {
    /// The lines to show.
    pub slice: Rc<LogSlice>,
    /// The filter they were chosen with.
    pub filter: LogFilter,
    /// Store ids for the store filter.
    pub stores: Vec<u64>,
    /// Region ids for the region filter.
    pub regions: Vec<u64>,
    /// The filter changed.
    pub on_filter: Callback<LogFilter>,
    /// A line's region was clicked.
    pub on_select_region: Callback<u64>,
}

fn select_value(e: &Event) -> Option<String> {
    e.target_dyn_into::<HtmlSelectElement>().map(|s| s.value())
}

/// The event log panel.
#[component]
pub fn EventLog(props: &EventLogProps) -> Html {
    let f = props.filter;
    let on_store = {
        let cb = props.on_filter.clone();
        Callback::from(move |e: Event| {
            if let Some(v) = select_value(&e) {
                let store = match v.as_str() {
                    "all" => StoreFilter::All,
                    "none" => StoreFilter::NoStore,
                    s => s.parse().map_or(StoreFilter::All, StoreFilter::Store),
                };
                cb.emit(LogFilter { store, ..f });
            }
        })
    };
    let on_region = {
        let cb = props.on_filter.clone();
        Callback::from(move |e: Event| {
            if let Some(v) = select_value(&e) {
                cb.emit(LogFilter {
                    region: v.parse().ok(),
                    ..f
                });
            }
        })
    };
    let on_level = {
        let cb = props.on_filter.clone();
        Callback::from(move |e: Event| {
            if let Some(v) = select_value(&e) {
                cb.emit(LogFilter {
                    min_level: Level::parse(&v).unwrap_or(Level::Info),
                    ..f
                });
            }
        })
    };
    let store_key = match f.store {
        StoreFilter::All => "all".to_string(),
        StoreFilter::NoStore => "none".to_string(),
        StoreFilter::Store(s) => s.to_string(),
    };
    let region_key = f.region.map_or("all".to_string(), |r| r.to_string());
    let levels = [Level::Debug, Level::Info, Level::Warn, Level::Error];
    html! {
        <section class="panel log-panel">
            <div class="panel-head">
                <h2>{"Event log"}</h2>
                <span class="panel-sub">
                    { format!("newest first · {} shown of {} lines", props.slice.lines.len(), props.slice.total) }
                </span>
                <label class="log-filter">{"store "}
                    <select id="log-store" onchange={on_store}>
                        <option value="all" selected={store_key == "all"}>{"all"}</option>
                        { for props.stores.iter().map(|s| html! {
                            <option value={s.to_string()} selected={store_key == s.to_string()}>{ format!("store {s}") }</option>
                        }) }
                        <option value="none" selected={store_key == "none"}>{"PD / clients"}</option>
                    </select>
                </label>
                <label class="log-filter">{"region "}
                    <select id="log-region" onchange={on_region}>
                        <option value="all" selected={region_key == "all"}>{"all"}</option>
                        { for props.regions.iter().map(|r| html! {
                            <option value={r.to_string()} selected={region_key == r.to_string()}>{ format!("region {r}") }</option>
                        }) }
                    </select>
                </label>
                <label class="log-filter">{"level ≥ "}
                    <select id="log-level" onchange={on_level}>
                        { for levels.iter().map(|l| html! {
                            <option value={l.as_str()} selected={*l == f.min_level}>{ l.as_str() }</option>
                        }) }
                    </select>
                </label>
            </div>
            <div id="event-log" class="event-log" role="log">
                <div class="log-row log-header">
                    <span>{"t (s)"}</span><span>{"store"}</span><span>{"region"}</span><span>{"level"}</span><span>{"component"}</span><span>{"message"}</span>
                </div>
                if props.slice.lines.is_empty() {
                    <div class="muted log-empty">{"No line matches the filter yet."}</div>
                }
                { for props.slice.lines.iter().map(|l| {
                    let region_click = l.region.map(|r| props.on_select_region.reform(move |_: MouseEvent| r));
                    html! {
                        <div class={classes!("log-row", format!("lvl-{}", l.level.as_str()))}>
                            <span class="lt">{ format::log_time(l.t_ms) }</span>
                            <span class="ls">{ l.store.map(|s| s.to_string()).unwrap_or_else(|| "–".into()) }</span>
                            <span class={classes!("lr", region_click.is_some().then_some("clickable"))} onclick={region_click}
                                title="show this region's Raft group">
                                { l.region.map(|r| r.to_string()).unwrap_or_else(|| "–".into()) }
                            </span>
                            <span class="ll">{ l.level.as_str() }</span>
                            <span class="lc">{ l.component }</span>
                            <span class="lm">{ &l.msg }</span>
                        </div>
                    }
                }) }
            </div>
        </section>
    }
}
