//! Memory per store: a stacked chart by top-level module of TiKV's memory
//! trace tree over virtual time (plotters on `#memory-chart-{store}`), with the
//! store's memory limit as a line and OOM kills and restarts as markers; and
//! the trace tree itself, expandable, for a chosen store and moment.

use std::rc::Rc;

use kvscope_core::memory::alloc::{HeapProfileEntry, ThreadStats};
use kvscope_core::memory::MemoryTrace;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::{HtmlCanvasElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::format::{self, bytes};
use crate::snapshot::{ChartData, Frame, StoreMemory, TreePick};

use crate::components::charts::{AXIS_TEXT, GRID};
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

/// The memory charts' coordinates: virtual seconds by MiB.
type MibChart<'a> = ChartContext<'a, CanvasBackend, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A memory chart's axes on `root`: virtual seconds `0..xm` across, MiB
/// (`y`, may be negative) up, with `y_labels` labels, in the panel's style.
fn mib_chart<'a>(
    root: &'a DrawingArea<CanvasBackend, Shift>,
    dpr: f64,
    xm: f64,
    y: std::ops::Range<f64>,
    y_labels: usize,
) -> Result<MibChart<'a>, String> {
    let font = |px: f64| ("sans-serif", (px * dpr) as u32);
    let mut chart = ChartBuilder::on(root)
        .margin((5.0 * dpr) as u32)
        .margin_right((14.0 * dpr) as u32)
        .x_label_area_size((18.0 * dpr) as u32)
        .y_label_area_size((50.0 * dpr) as u32)
        .build_cartesian_2d(0f64..xm, y)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .light_line_style(GRID)
        .bold_line_style(GRID)
        .axis_style(AXIS_TEXT)
        .label_style(font(10.0).into_font().color(&AXIS_TEXT))
        .x_labels(6)
        .y_labels(y_labels)
        .x_label_formatter(&|x| format!("{x:.0}s"))
        .y_label_formatter(&|y| {
            if y.abs() >= 1024.0 {
                format!("{:.1}G", y / 1024.0)
            } else {
                format!("{y:.0}M")
            }
        })
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// The dashed line marking the moment the memory panel shows, at `at_ms`,
/// from `y0` to `y1` MiB.
fn draw_marker(
    chart: &mut MibChart<'_>,
    at_ms: u64,
    y0: f64,
    y1: f64,
    dpr: f64,
) -> Result<(), String> {
    let x = at_ms as f64 / 1000.0;
    chart
        .draw_series(DashedLineSeries::new(
            [(x, y0), (x, y1)],
            (4.0 * dpr) as u32,
            (3.0 * dpr) as u32,
            MARKER.stroke_width((1.5 * dpr).max(1.0) as u32),
        ))
        .map_err(|e| e.to_string())?;
    Ok(())
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
    let mut chart = mib_chart(&root, dpr, xm, 0f64..ym, 4)?;
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
        draw_marker(&mut chart, m, 0.0, ym, dpr)?;
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
    /// The snapshot (its memory side carries the tree, the heap profile and
    /// the per-thread counters).
    pub frame: Rc<Frame>,
    /// The series (per-thread memory over time).
    pub charts: Rc<ChartData>,
    /// The user picked another store or moment.
    pub on_pick: Callback<TreePick>,
}

/// The three memory views of the panel (TiKV's memory observability
/// article: by module, by thread, by allocation site).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MemoryTab {
    /// The memory trace tree per module.
    Tree,
    /// The heap profile by allocation site.
    Profile,
    /// Memory per thread.
    Threads,
}

impl MemoryTab {
    const ALL: [MemoryTab; 3] = [MemoryTab::Tree, MemoryTab::Profile, MemoryTab::Threads];

    fn id(self) -> &'static str {
        match self {
            MemoryTab::Tree => "tree",
            MemoryTab::Profile => "profile",
            MemoryTab::Threads => "threads",
        }
    }

    fn label(self) -> &'static str {
        match self {
            MemoryTab::Tree => "by module",
            MemoryTab::Profile => "by allocation site",
            MemoryTab::Threads => "by thread",
        }
    }

    fn tip(self) -> &'static str {
        match self {
            MemoryTab::Tree => "TiKV's memory trace tree: each module's bytes, a parent its own plus its children's",
            MemoryTab::Profile => "A heap profile as jemalloc samples it (one sample per 512 KiB): live bytes by call path",
            MemoryTab::Threads => "jemalloc's per-thread counters: bytes each thread allocated and freed since the process started",
        }
    }
}

/// Colour of a thread's line in the per-thread chart.
fn thread_color(name: &str) -> RGBColor {
    match name {
        "raftstore" => RGBColor(37, 99, 235),
        "grpc-server" => RGBColor(234, 88, 12),
        "main" => RGBColor(148, 163, 184),
        "apply" => RGBColor(22, 163, 74),
        "sched-worker" => RGBColor(5, 150, 105),
        "waiter-manager" => RGBColor(217, 119, 6),
        "deadlock-detector" => RGBColor(220, 38, 38),
        "snap-sender" => RGBColor(124, 58, 237),
        "snap-handler" => RGBColor(219, 39, 119),
        _ => RGBColor(100, 116, 139),
    }
}

/// Signed bytes as `-1.2 GiB`.
fn signed_bytes(b: i64) -> String {
    if b < 0 {
        format!("−{}", bytes(b.unsigned_abs()))
    } else {
        bytes(b as u64)
    }
}

/// Draws each thread's allocated minus deallocated bytes over time (MiB,
/// may be negative), without `main` (the block cache and other fixed
/// memory would flatten the rest), with the moment shown marked.
fn draw_threads(
    canvas: HtmlCanvasElement,
    threads: &[(String, Vec<(u64, f64)>)],
    now_ms: u64,
    marker_ms: Option<u64>,
) -> Result<(), String> {
    let dpr = crate::components::charts::fit_canvas(&canvas);
    let backend = CanvasBackend::with_canvas_object(canvas)
        .ok_or_else(|| "this browser gave no 2D canvas context".to_string())?;
    let root: DrawingArea<CanvasBackend, Shift> = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let xm = x_max(now_ms);
    let shown: Vec<&(String, Vec<(u64, f64)>)> = threads.iter().filter(|t| t.0 != "main").collect();
    let (lo, hi) = shown
        .iter()
        .flat_map(|t| t.1.iter().map(|p| p.1 / MIB))
        .fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = ((hi - lo) * 0.1).max(1.0);
    let mut chart = mib_chart(&root, dpr, xm, (lo - pad)..(hi + pad), 5)?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (xm, 0.0)], AXIS_TEXT.mix(0.5)))
        .map_err(|e| e.to_string())?;
    for (name, points) in &shown {
        let color = thread_color(name);
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(t, v)| (t as f64 / 1000.0, v / MIB)),
                color.stroke_width((1.5 * dpr).max(1.0) as u32),
            ))
            .map_err(|e| e.to_string())?;
    }
    if let Some(m) = marker_ms {
        draw_marker(&mut chart, m, lo - pad, hi + pad, dpr)?;
    }
    root.present().map_err(|e| e.to_string())
}

/// A frame's last two path segments (`EntryCache::append`), or the frame
/// itself when it is not a path.
fn short_frame(f: &str) -> String {
    if f.starts_with('(') {
        return f.to_string();
    }
    let (path, rest) = f.split_once(' ').map_or((f, ""), |(p, r)| (p, r));
    let parts: Vec<&str> = path.split("::").collect();
    let tail = parts[parts.len().saturating_sub(2)..].join("::");
    if rest.is_empty() {
        tail
    } else {
        format!("{tail} {rest}")
    }
}

/// The heap profile view: one row per allocation site, largest first.
fn profile_view(profile: &[HeapProfileEntry]) -> Html {
    let total: u64 = profile.iter().map(|e| e.bytes).sum();
    let samples: u64 = profile.iter().map(|e| e.samples).sum();
    html! {
        <div class="hp" id="heap-profile" data-total={total.to_string()}>
            <div class="mt-total">
                { format!("{} live in {} sites · {} samples of 512 KiB", bytes(total), profile.len(), samples) }
            </div>
            { for profile.iter().map(|e| {
                let pct = if total > 0 { e.bytes as f64 * 100.0 / total as f64 } else { 0.0 };
                let top = e.site.leaf.split('/').next().unwrap_or_default();
                let (last, callers) = e.site.frames.split_last().map_or(("", &[][..]), |(l, c)| (*l, c));
                html! {
                    <div class="hp-row" data-site={e.site.id} data-bytes={e.bytes.to_string()}
                        title={format!("counted under {} in the trace tree", e.site.leaf)}>
                        <div class="hp-head">
                            <span class="hp-fn" title={last}>{ short_frame(last) }</span>
                            <span class="mt-bytes">{ bytes(e.bytes) }</span>
                            <span class="mt-pct muted">{ format!("{pct:.1}%") }</span>
                            <span class="mt-bar"><span class="mt-fill" style={format!("width:{:.1}%;background:{}", pct.min(100.0), css(module_color(top)))}></span></span>
                        </div>
                        <div class="hp-stack muted small">
                            { callers.iter().rev().map(|f| format!("← {f}")).collect::<Vec<_>>().join(" ") }
                        </div>
                        <div class="hp-threads small">
                            { format!("{} samples · allocated on {} · freed on {}", e.samples, e.site.alloc_thread, e.site.free_thread) }
                        </div>
                    </div>
                }
            }) }
        </div>
    }
}

/// The per-thread view: jemalloc's counters at the moment, and each
/// thread's net over time.
fn threads_view(threads: &[(String, ThreadStats)]) -> Html {
    let total: i64 = threads.iter().map(|t| t.1.net()).sum();
    let mut rows: Vec<&(String, ThreadStats)> = threads.iter().collect();
    rows.sort_by_key(|t| std::cmp::Reverse(t.1.allocated.max(t.1.deallocated)));
    html! {
        <div class="tm" id="thread-memory" data-total={total.to_string()}>
            <canvas id="thread-chart" class="chart mem-chart"></canvas>
            <table class="tm-table">
                <tr><th>{"thread"}</th><th>{"allocated"}</th><th>{"freed"}</th><th>{"net"}</th></tr>
                { for rows.iter().map(|(name, st)| html! {
                    <tr class="tm-row" data-thread={name.clone()} data-net={st.net().to_string()}>
                        <td><span class="swatch" style={format!("background:{}", css(thread_color(name)))}></span>{ name.clone() }</td>
                        <td>{ bytes(st.allocated) }</td>
                        <td>{ bytes(st.deallocated) }</td>
                        <td class={classes!((st.net() < 0).then_some("neg"))}>{ signed_bytes(st.net()) }</td>
                    </tr>
                }) }
            </table>
            <div class="muted small tm-note">
                { format!("Net = allocated − freed since the process started; the threads' nets add up to the live total, {}. \
                  A thread that frees what another allocated goes negative: raftstore frees the entries gRPC threads decoded \
                  from MsgAppend, and gRPC threads free the Raft messages raftstore built.", signed_bytes(total)) }
            </div>
        </div>
    }
}

/// The memory trace tree of one store at one moment.
#[component]
pub fn MemoryTree(props: &MemoryTreeProps) -> Html {
    let tab = use_state(|| MemoryTab::Tree);
    let chart_error = use_state(|| None::<String>);
    {
        let chart_error = chart_error.clone();
        let store = props.frame.memory.as_ref().map(|m| m.tree_store);
        let marker = props.frame.memory.as_ref().and_then(|m| m.tree_at_ms);
        use_effect_with(
            (props.charts.clone(), *tab, store, marker),
            move |(charts, tab, store, marker)| {
                let mut err = None;
                if *tab == MemoryTab::Threads {
                    let canvas = web_sys::window()
                        .and_then(|w| w.document())
                        .and_then(|d| d.get_element_by_id("thread-chart"))
                        .and_then(|e| wasm_bindgen::JsCast::dyn_into::<HtmlCanvasElement>(e).ok());
                    let threads = charts
                        .threads
                        .iter()
                        .find(|t| Some(t.0) == *store)
                        .map(|t| t.1.as_slice())
                        .unwrap_or(&[]);
                    if let Some(c) = canvas {
                        if let Err(e) = draw_threads(c, threads, charts.now_ms, *marker) {
                            err = Some(e);
                        }
                    }
                }
                if *chart_error != err {
                    chart_error.set(err);
                }
            },
        );
    }
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
    let current = *tab;
    let body = match current {
        MemoryTab::Tree => match &lf.tree {
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
        },
        MemoryTab::Profile => match &lf.profile {
            Some(p) => profile_view(p),
            None => html! { <div class="muted small">{"No memory sample at that moment."}</div> },
        },
        MemoryTab::Threads => threads_view(&lf.threads),
    };
    html! {
        <div class="panel memory-tree-panel" id="memory-tree">
            <div class="panel-head">
                <h2>{"Memory"}</h2>
                <span class="mt-tabs" role="tablist">
                    { for MemoryTab::ALL.iter().map(|t| {
                        let t = *t;
                        let onclick = {
                            let tab = tab.clone();
                            Callback::from(move |_: MouseEvent| tab.set(t))
                        };
                        html! {
                            <button id={format!("mt-tab-{}", t.id())} role="tab" title={t.tip()}
                                class={classes!("mt-tab", (t == current).then_some("active"))}
                                aria-selected={(t == current).to_string()} {onclick}>{ t.label() }</button>
                        }
                    }) }
                </span>
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
            { body }
            if let Some(e) = &*chart_error {
                <div class="inline-error">{ format!("Chart: {e}") }</div>
            }
        </div>
    }
}
