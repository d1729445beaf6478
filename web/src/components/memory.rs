//! Memory per store: a stacked chart by top-level module of TiKV's memory
//! trace tree over virtual time (plotters on `#memory-chart-{store}`), with the
//! store's memory limit as a line and OOM kills and restarts as markers; and
//! the trace tree itself, expandable, for a chosen store and moment.

use std::rc::Rc;

use kvscope_core::memory::MemoryTrace;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::{HtmlCanvasElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::format::{self, bytes};
use crate::snapshot::{ChartData, Frame, StoreMemory, TreePick};

const GRID: RGBColor = RGBColor(232, 235, 240);
const AXIS_TEXT: RGBColor = RGBColor(71, 85, 105);
const LIMIT: RGBColor = RGBColor(220, 38, 38);
const RESTART: RGBColor = RGBColor(22, 163, 74);
const MIB: f64 = 1024.0 * 1024.0;

/// Colour of a top-level memory module in the charts and the tree.
pub fn module_color(name: &str) -> RGBColor {
    match name {
        "block_cache" => RGBColor(148, 163, 184),
        "other" => RGBColor(203, 213, 225),
        "raftstore" => RGBColor(96, 165, 250),
        "storage" => RGBColor(52, 211, 153),
        "lock_manager" => RGBColor(249, 115, 22),
        _ => RGBColor(167, 139, 250),
    }
}

fn css(c: RGBColor) -> String {
    format!("rgb({},{},{})", c.0, c.1, c.2)
}

/// The x range (virtual seconds) shown: the whole run, at least a minute.
fn x_max(now_ms: u64) -> f64 {
    (now_ms.max(60_000) as f64 / 1000.0).ceil()
}

/// `modules` stacked: for each module (bottom first), its upper edge
/// `(t_s, MiB)` at every sample time.
pub fn stack(modules: &[(String, Vec<(u64, f64)>)]) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut acc: Vec<(u64, f64)> = Vec::new();
    let mut out = Vec::new();
    for (name, points) in modules {
        if acc.is_empty() {
            acc = points.iter().map(|&(t, _)| (t, 0.0)).collect();
        }
        for (i, slot) in acc.iter_mut().enumerate() {
            // Series are sampled at the same instants; fall back to a search otherwise.
            let v = match points.get(i) {
                Some(&(t, v)) if t == slot.0 => v,
                _ => points.iter().find(|p| p.0 == slot.0).map_or(0.0, |p| p.1),
            };
            slot.1 += v;
        }
        out.push((
            name.clone(),
            acc.iter()
                .map(|&(t, v)| (t as f64 / 1000.0, v / MIB))
                .collect(),
        ));
    }
    out
}

fn draw_store(
    canvas: HtmlCanvasElement,
    mem: &StoreMemory,
    data: &ChartData,
    marker_ms: Option<u64>,
) -> Result<(), String> {
    let dpr = crate::components::charts::fit_canvas(&canvas);
    let backend = CanvasBackend::with_canvas_object(canvas)
        .ok_or_else(|| "this browser gave no 2D canvas context".to_string())?;
    let root: DrawingArea<CanvasBackend, Shift> = backend.into_drawing_area();
    let font = |px: f64| ("sans-serif", (px * dpr) as u32);
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let xm = x_max(data.now_ms);
    let stacked = stack(&mem.modules);
    let peak = stacked
        .last()
        .map(|(_, p)| p.iter().map(|p| p.1).fold(0.0, f64::max))
        .unwrap_or(0.0);
    let limit = mem.limit as f64 / MIB;
    let ym = (peak.max(limit) * 1.12).max(1.0);
    let mut chart = ChartBuilder::on(&root)
        .margin((5.0 * dpr) as u32)
        .margin_right((14.0 * dpr) as u32)
        .x_label_area_size((18.0 * dpr) as u32)
        .y_label_area_size((50.0 * dpr) as u32)
        .build_cartesian_2d(0f64..xm, 0f64..ym)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .light_line_style(GRID)
        .bold_line_style(GRID)
        .axis_style(AXIS_TEXT)
        .label_style(font(10.0).into_font().color(&AXIS_TEXT))
        .x_labels(6)
        .y_labels(4)
        .x_label_formatter(&|x| format!("{x:.0}s"))
        .y_label_formatter(&|y| {
            if *y >= 1024.0 {
                format!("{:.1}G", y / 1024.0)
            } else {
                format!("{y:.0}M")
            }
        })
        .draw()
        .map_err(|e| e.to_string())?;
    // Top band first, so lower bands paint over it.
    for (name, upper) in stacked.iter().rev() {
        let color = module_color(name);
        chart
            .draw_series(AreaSeries::new(upper.iter().copied(), 0.0, color.mix(0.9)))
            .map_err(|e| e.to_string())?;
    }
    if limit > 0.0 {
        chart
            .draw_series(LineSeries::new(
                [(0.0, limit), (xm, limit)],
                LIMIT.stroke_width((1.5 * dpr).max(1.0) as u32),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("limit {}", bytes(mem.limit)),
                (xm * 0.01, limit),
                font(10.0).into_font().color(&LIMIT),
            )))
            .map_err(|e| e.to_string())?;
    }
    for k in data.oom_kills.iter().filter(|k| k.store == mem.store) {
        let at = k.at_ms as f64 / 1000.0;
        let back = k.restart_ms as f64 / 1000.0;
        chart
            .draw_series(LineSeries::new(
                [(at, 0.0), (at, ym)],
                LIMIT.stroke_width((2.0 * dpr) as u32),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(std::iter::once(Text::new(
                "OOM".to_string(),
                (at, ym * 0.97),
                font(10.0).into_font().color(&LIMIT),
            )))
            .map_err(|e| e.to_string())?;
        if k.restart_ms <= data.now_ms {
            chart
                .draw_series(LineSeries::new(
                    [(back, 0.0), (back, ym)],
                    RESTART.stroke_width((1.5 * dpr).max(1.0) as u32),
                ))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(std::iter::once(Text::new(
                    "restart".to_string(),
                    (back, ym * 0.85),
                    font(10.0).into_font().color(&RESTART),
                )))
                .map_err(|e| e.to_string())?;
        }
    }
    if let Some(m) = marker_ms {
        let x = m as f64 / 1000.0;
        chart
            .draw_series(DashedLineSeries::new(
                [(x, 0.0), (x, ym)],
                (4.0 * dpr) as u32,
                (3.0 * dpr) as u32,
                MARKER.stroke_width((1.5 * dpr).max(1.0) as u32),
            ))
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Colour of the line marking the moment the memory tree shows.
const MARKER: RGBColor = RGBColor(37, 99, 235);

/// Properties of [`MemoryCharts`].
#[derive(Properties, PartialEq)]
pub struct MemoryChartsProps {
    /// The series.
    pub data: Rc<ChartData>,
    /// The moment the memory tree shows, marked on the charts (`None` = now).
    #[prop_or_default]
    pub marker_ms: Option<u64>,
}

/// One stacked memory chart per store.
#[component]
pub fn MemoryCharts(props: &MemoryChartsProps) -> Html {
    let container = use_node_ref();
    let error = use_state(|| None::<String>);
    {
        let (container, error) = (container.clone(), error.clone());
        use_effect_with(
            (props.data.clone(), props.marker_ms),
            move |(data, marker)| {
                let mut first_error = None;
                if let Some(root) = container.cast::<web_sys::Element>() {
                    for mem in &data.memory {
                        let canvas = root
                            .query_selector(&format!("#memory-chart-{}", mem.store))
                            .ok()
                            .flatten()
                            .and_then(|e| {
                                wasm_bindgen::JsCast::dyn_into::<HtmlCanvasElement>(e).ok()
                            });
                        if let Some(c) = canvas {
                            if let Err(e) = draw_store(c, mem, data, *marker) {
                                first_error.get_or_insert(e);
                            }
                        }
                    }
                }
                if *error != first_error {
                    error.set(first_error);
                }
            },
        );
    }
    let data = &props.data;
    if data.memory.is_empty() {
        return html! {};
    }
    let modules: Vec<String> = {
        let mut m: Vec<String> = Vec::new();
        for s in &data.memory {
            for (name, _) in &s.modules {
                if !m.contains(name) {
                    m.push(name.clone());
                }
            }
        }
        m
    };
    html! {
        <div class="panel memory-panel" ref={container}>
            <div class="chart-head">
                <h2>{"Memory per store"}</h2>
                <span class="chart-legend">
                    { for modules.iter().map(|m| html! {
                        <><span class="swatch" style={format!("background:{}", css(module_color(m)))}></span>{ m.clone() }</>
                    }) }
                    <span class="swatch line" style="background:#dc2626"></span>{"limit, OOM"}
                </span>
            </div>
            { for data.memory.iter().map(|m| {
                let kills = data.oom_kills.iter().filter(|k| k.store == m.store).count();
                let now = m.total.last().map_or(0.0, |p| p.1) as u64;
                html! {
                    <div class="mem-chart-box" data-store={m.store.to_string()}>
                        <div class="mem-chart-title">
                            <span class="store-name">{ format!("Store {}", m.store) }</span>
                            if m.detector_leader { <span class="badge role-leader">{"detector leader"}</span> }
                            <span class="muted small">{ format!("{} of {}", bytes(now), bytes(m.limit)) }</span>
                            if kills > 0 {
                                <span class="badge down" id={format!("oom-count-{}", m.store)}>{ format!("{kills} OOM kill{}", if kills == 1 { "" } else { "s" }) }</span>
                            }
                        </div>
                        <canvas id={format!("memory-chart-{}", m.store)} class="chart mem-chart"></canvas>
                    </div>
                }
            }) }
            if let Some(e) = &*error {
                <div class="inline-error">{ format!("Chart: {e}") }</div>
            }
        </div>
    }
}

fn tree_node(t: &MemoryTrace, total: u64, path: String, depth: usize) -> Html {
    let sum = t.sum();
    let pct = if total > 0 {
        sum as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    let top = path.split('/').next().unwrap_or_default().to_string();
    let color = css(module_color(&top));
    let bar = html! {
        <span class="mt-bar"><span class="mt-fill" style={format!("width:{:.1}%;background:{color}", pct.min(100.0))}></span></span>
    };
    let label = html! {
        <>
            <span class="mt-name">{ t.name }</span>
            <span class="mt-bytes">{ bytes(sum) }</span>
            <span class="mt-pct muted">{ format!("{pct:.1}%") }</span>
            { bar }
        </>
    };
    if t.children.is_empty() {
        html! { <div class="mt-leaf" data-path={path}>{ label }</div> }
    } else {
        let mut children: Vec<&MemoryTrace> = t.children.iter().collect();
        children.sort_by_key(|c| std::cmp::Reverse(c.sum()));
        html! {
            <details class="mt-node" data-path={path.clone()} open={depth == 0}>
                <summary>{ label }</summary>
                <div class="mt-children">
                    if t.own > 0 {
                        <div class="mt-leaf own"><span class="mt-name muted">{"(own)"}</span><span class="mt-bytes">{ bytes(t.own) }</span></div>
                    }
                    { for children.into_iter().map(|c| tree_node(c, total, format!("{path}/{}", c.name), depth + 1)) }
                </div>
            </details>
        }
    }
}

/// Properties of [`MemoryTree`].
#[derive(Properties, PartialEq)]
pub struct MemoryTreeProps {
    /// The snapshot (its memory side carries the tree).
    pub frame: Rc<Frame>,
    /// The user picked another store or moment.
    pub on_pick: Callback<TreePick>,
}

/// The memory trace tree of one store at one moment.
#[component]
pub fn MemoryTree(props: &MemoryTreeProps) -> Html {
    let Some(lf) = props.frame.memory.as_ref() else {
        return html! {};
    };
    let now_s = lf.now_ms / 1000;
    let at_ms = lf.tree_at_ms;
    let store = lf.tree_store;
    let on_store = {
        let on_pick = props.on_pick.clone();
        Callback::from(move |e: Event| {
            if let Some(sel) = e.target_dyn_into::<HtmlSelectElement>() {
                if let Ok(s) = sel.value().parse::<u64>() {
                    on_pick.emit(TreePick {
                        store: Some(s),
                        at_ms,
                    });
                }
            }
        })
    };
    let on_moment = {
        let on_pick = props.on_pick.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(input) = e.target_dyn_into::<HtmlInputElement>() {
                // A range input only gives numbers in its range; anything else is ignored.
                if let Ok(s) = input.value().parse::<u64>() {
                    let at = (s < now_s).then_some(s * 1000);
                    on_pick.emit(TreePick {
                        store: Some(store),
                        at_ms: at,
                    });
                }
            }
        })
    };
    let on_now = {
        let on_pick = props.on_pick.clone();
        Callback::from(move |_: MouseEvent| {
            on_pick.emit(TreePick {
                store: Some(store),
                at_ms: None,
            })
        })
    };
    let limit = lf
        .stores
        .iter()
        .find(|s| s.store == store)
        .map_or(0, |s| s.memory_limit);
    let slider_value = at_ms.map_or(now_s, |a| a / 1000);
    html! {
        <div class="panel memory-tree-panel" id="memory-tree">
            <div class="panel-head">
                <h2>{"Memory trace tree"}</h2>
                <select id="mt-store" onchange={on_store} title="Whose memory trace tree to show">
                    { for lf.stores.iter().map(|s| html! {
                        <option value={s.store.to_string()} selected={s.store == store}>{ format!("store {}", s.store) }</option>
                    }) }
                </select>
            </div>
            <div class="mt-moment">
                <input id="mt-moment" type="range" min="0" max={now_s.to_string()} step="1"
                    value={slider_value.to_string()} oninput={on_moment}
                    title="The moment to show (per-second samples); the right end follows the clock" />
                <span class="mt-when" id="mt-when">{ match at_ms {
                    Some(a) => format!("at {}", format::secs_ms_short(a)),
                    None => "now (follows the clock)".to_string(),
                } }</span>
                if at_ms.is_some() {
                    <button class="mt-now" id="mt-now" onclick={on_now}>{"now"}</button>
                }
            </div>
            { match &lf.tree {
                Some(t) => {
                    let total = t.sum();
                    html! {
                        <div class="mt-tree" data-total={total.to_string()}>
                            <div class="mt-total">
                                { format!("{}: {} of its {} limit", t.name, bytes(total), bytes(limit)) }
                            </div>
                            { for t.children.iter().map(|c| tree_node(c, total, c.name.to_string(), 0)) }
                        </div>
                    }
                }
                None => html! { <div class="muted small">{"No memory sample at that moment."}</div> },
            } }
        </div>
    }
}
