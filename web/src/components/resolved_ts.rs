//! The resolved-ts panel (`#resolved-ts`): a header with the resolver logic
//! the stores run and the large transaction's phase; a timeline
//! (`#rts-timeline`) of the TSO and every region's resolved-ts over virtual
//! time with the large transaction's markers (start, flushes, heartbeats,
//! commit, death); the lag of every region's resolved-ts and of its CDC feed
//! (`#rts-lag`); a button per region (`#rts-region-{id}`) with its lag and
//! whether a lock pins it; and the selected region's resolver
//! (`#rts-resolver`): its status, the lock that pins it (`#rts-pinning`),
//! its `lock_ts_heap` (`#rts-normal-locks`), its `large_txns` with what the
//! store's `TxnStatusCache` says of them (`#rts-large-txns`) and the
//! followers' safe-ts.
//!
//! Regions the large transaction writes into are drawn in warm colours, the
//! others in cool ones. Data: `kvscope_core::views::resolved_ts`, captured
//! per frame as [`crate::snapshot::RtsFrame`].

use std::rc::Rc;

use kvscope_core::resolved_ts::endpoint::tso_ms;
use kvscope_core::views::resolved_ts::{
    LargeTxnStatus, LargeTxnView, NormalTxnView, PinningLock, RegionLine, ResolverView,
};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;
use yew::prelude::*;

use crate::components::charts::fit_canvas;
use crate::format;
use crate::snapshot::{Frame, RtsFrame};

/// Properties of [`ResolvedTs`].
#[derive(Properties, PartialEq)]
pub struct ResolvedTsProps {
    /// The snapshot of the simulation.
    pub frame: Rc<Frame>,
    /// The user picked a region (its resolver is shown).
    pub on_pick: Callback<u64>,
}

/// Lines of the regions the large transaction writes into (warm).
const WARM: [RGBColor; 5] = [
    RGBColor(220, 38, 38),
    RGBColor(234, 88, 12),
    RGBColor(219, 39, 119),
    RGBColor(202, 138, 4),
    RGBColor(159, 18, 57),
];
/// Lines of the other regions (cool).
const COOL: [RGBColor; 5] = [
    RGBColor(37, 99, 235),
    RGBColor(8, 145, 178),
    RGBColor(13, 148, 136),
    RGBColor(79, 70, 229),
    RGBColor(2, 132, 199),
];
/// The TSO line.
const TSO_COLOR: RGBColor = RGBColor(51, 65, 85);
/// The large transaction's start and heartbeat markers.
const START_COLOR: RGBColor = RGBColor(124, 58, 237);
/// Flush markers.
const FLUSH_COLOR: RGBColor = RGBColor(148, 163, 184);
/// The commit marker.
const COMMIT_COLOR: RGBColor = RGBColor(22, 163, 74);
/// The marker of the client's death.
const DIED_COLOR: RGBColor = RGBColor(15, 23, 42);
use crate::components::charts::{AXIS_TEXT, GRID};

/// The tooltip of the normal-lock table.
const HEAP_NOTE: &str = "the resolver's lock_ts_heap: transactions by start_ts, each with its lock count; its oldest start_ts caps resolved-ts";

type Area = DrawingArea<CanvasBackend, Shift>;

/// CSS colour of `c`.
fn css(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Each region's line colour, in the view's order: warm for the regions the
/// large transaction writes, cool for the others, each group in id order.
fn region_colors(regions: &[RegionLine]) -> Vec<RGBColor> {
    let (mut warm, mut cool) = (0, 0);
    regions
        .iter()
        .map(|r| {
            if r.large_txn_writes_here {
                warm += 1;
                WARM[(warm - 1) % WARM.len()]
            } else {
                cool += 1;
                COOL[(cool - 1) % COOL.len()]
            }
        })
        .collect()
}

/// A TSO timestamp with the virtual time it stands for: `3932422144 (15.0 s)`.
fn ts_text(ts: u64) -> String {
    if ts == 0 {
        "0".to_string()
    } else {
        format!("{ts} ({})", format::secs_ms(tso_ms(ts)))
    }
}

/// A key, or a dash.
fn key_text(key: Option<u64>) -> String {
    key.map_or("—".to_string(), |k| k.to_string())
}

/// The x range shown, virtual seconds: the whole run, at least a minute.
fn x_max(v: &RtsFrame) -> f64 {
    (v.t_ms.max(60_000) as f64 / 1000.0).ceil()
}

/// `(t_ms, v)` samples as chart points `(s, v)`.
fn points(series: &[(u64, f64)]) -> Vec<(f64, f64)> {
    series
        .iter()
        .map(|&(t, v)| (t as f64 / 1000.0, v))
        .collect()
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The large transaction's markers drawn as vertical lines (start, flush,
/// commit, died) and heartbeats as ticks at the bottom, from `y0` to `y1`.
fn draw_markers<CT>(
    chart: &mut ChartContext<'_, CanvasBackend, CT>,
    large: Option<&LargeTxnStatus>,
    (xm, y0, y1): (f64, f64, f64),
    labels: bool,
    dpr: f64,
) -> Result<(), String>
where
    CT: CoordTranslate<From = (f64, f64)>,
{
    let Some(l) = large else { return Ok(()) };
    let w = |px: f64| ((px * dpr).round() as u32).max(1);
    let font = ("sans-serif", (10.0 * dpr) as u32)
        .into_font()
        .color(&AXIS_TEXT);
    // A label near the right edge ends at its line instead of starting there.
    let anchored = |x: f64| {
        if x > xm * 0.92 {
            font.clone().pos(Pos::new(HPos::Right, VPos::Top))
        } else {
            font.clone()
        }
    };
    for &(t_ms, kind, detail) in &l.markers {
        let x = t_ms as f64 / 1000.0;
        if x > xm {
            continue;
        }
        match kind {
            "heartbeat" => {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, y0), (x, y0 + (y1 - y0) * 0.06)],
                        START_COLOR.stroke_width(w(2.0)),
                    )))
                    .map_err(err)?;
            }
            "flush" => {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x, y0), (x, y1)],
                        w(3.0),
                        w(3.0),
                        FLUSH_COLOR.stroke_width(w(1.0)),
                    ))
                    .map_err(err)?;
                if labels {
                    chart
                        .draw_series(std::iter::once(Text::new(
                            format!("g{detail}"),
                            (x, y1 - (y1 - y0) * 0.08),
                            anchored(x),
                        )))
                        .map_err(err)?;
                }
            }
            _ => {
                let color = match kind {
                    "start" => START_COLOR,
                    "commit" => COMMIT_COLOR,
                    _ => DIED_COLOR,
                };
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, y0), (x, y1)],
                        color.stroke_width(w(1.5)),
                    )))
                    .map_err(err)?;
                if labels {
                    chart
                        .draw_series(std::iter::once(Text::new(
                            kind.to_string(),
                            (x, y1),
                            anchored(x).color(&color),
                        )))
                        .map_err(err)?;
                }
            }
        }
    }
    Ok(())
}

/// The regions' indices in drawing order: the selected region last, on top.
fn draw_order(v: &RtsFrame, selected: Option<u64>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..v.regions.len()).collect();
    order.sort_by_key(|&i| Some(v.regions[i].region_id) == selected);
    order
}

/// A chart of virtual seconds (x, `0..xm`) against ms (y, `0..ym`) on
/// `root`, with the panel's grid and labels; `top` is the top margin in CSS
/// px, `y_labels` how many y labels.
fn ms_chart<'a>(
    root: &'a Area,
    (xm, ym): (f64, f64),
    top: f64,
    y_labels: usize,
    dpr: f64,
) -> Result<
    ChartContext<
        'a,
        CanvasBackend,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    String,
> {
    let font = |px: f64| ("sans-serif", (px * dpr) as u32);
    let mut chart = ChartBuilder::on(root)
        .margin((6.0 * dpr) as u32)
        .margin_top((top * dpr) as u32)
        .margin_right((18.0 * dpr) as u32)
        .x_label_area_size((20.0 * dpr) as u32)
        .y_label_area_size((48.0 * dpr) as u32)
        .build_cartesian_2d(0f64..xm, 0f64..ym)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(GRID)
        .bold_line_style(GRID)
        .axis_style(AXIS_TEXT)
        .label_style(font(11.0).into_font().color(&AXIS_TEXT))
        .x_labels(8)
        .y_labels(y_labels)
        .x_label_formatter(&|x| format!("{x:.0}s"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// The timeline: the TSO and each region's resolved-ts, ms over seconds.
fn draw_timeline(root: &Area, v: &RtsFrame, selected: Option<u64>, dpr: f64) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let xm = x_max(v);
    let peak = v
        .tso
        .iter()
        .chain(v.regions.iter().flat_map(|r| r.resolved_ts.iter()))
        .map(|p| p.1)
        .fold(0.0, f64::max);
    let ym = (peak * 1.06).max(1000.0);
    let mut chart = ms_chart(root, (xm, ym), 12.0, 5, dpr)?;
    draw_markers(&mut chart, v.large_txn.as_ref(), (xm, 0.0, ym), true, dpr)?;
    chart
        .draw_series(LineSeries::new(
            points(&v.tso),
            TSO_COLOR.stroke_width((1.5 * dpr) as u32),
        ))
        .map_err(err)?;
    let colors = region_colors(&v.regions);
    for i in draw_order(v, selected) {
        let r = &v.regions[i];
        let width = if Some(r.region_id) == selected {
            3.0
        } else {
            2.0
        };
        chart
            .draw_series(LineSeries::new(
                points(&r.resolved_ts),
                colors[i].stroke_width((width * dpr) as u32),
            ))
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// The lag chart: each region's resolved-ts lag (solid) and CDC lag (dashed).
fn draw_lag(root: &Area, v: &RtsFrame, selected: Option<u64>, dpr: f64) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let xm = x_max(v);
    let peak = v
        .regions
        .iter()
        .flat_map(|r| r.lag.iter().chain(r.cdc_lag.iter()))
        .map(|p| p.1)
        .fold(0.0, f64::max);
    let ym = (peak * 1.15).max(5000.0);
    let mut chart = ms_chart(root, (xm, ym), 6.0, 4, dpr)?;
    draw_markers(&mut chart, v.large_txn.as_ref(), (xm, 0.0, ym), false, dpr)?;
    let colors = region_colors(&v.regions);
    let dash = ((5.0 * dpr) as u32).max(1);
    for i in draw_order(v, selected) {
        let r = &v.regions[i];
        let width = if Some(r.region_id) == selected {
            2.5
        } else {
            1.5
        };
        chart
            .draw_series(DashedLineSeries::new(
                points(&r.cdc_lag),
                dash,
                dash,
                colors[i].mix(0.8).stroke_width((1.5 * dpr) as u32),
            ))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                points(&r.lag),
                colors[i].stroke_width((width * dpr) as u32),
            ))
            .map_err(err)?;
    }
    root.present().map_err(err)
}

type DrawFn = fn(&Area, &RtsFrame, Option<u64>, f64) -> Result<(), String>;

fn draw(node: &NodeRef, v: &RtsFrame, selected: Option<u64>, f: DrawFn) -> Option<String> {
    let canvas = node.cast::<HtmlCanvasElement>()?;
    let dpr = fit_canvas(&canvas);
    let Some(backend) = CanvasBackend::with_canvas_object(canvas) else {
        return Some("this browser gave no 2D canvas context".into());
    };
    f(&backend.into_drawing_area(), v, selected, dpr).err()
}

/// What the charts depend on: they are redrawn when it changes (a new
/// per-second sample, a marker, another region selected), not every frame.
#[derive(Clone)]
struct ChartInput {
    frame: Rc<Frame>,
    key: (u64, usize, Option<u64>, usize, &'static str),
}

impl PartialEq for ChartInput {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

/// The header: the resolver logic and the large transaction.
fn header(v: &RtsFrame) -> Html {
    let fix = html! {
        <span class="chip rts-fix" id="rts-fix"
            title="The resolver logic every store runs: none = every lock counts by its start_ts (TiKV ≤ v8.3); txn-status-cache = large transactions map through the TxnStatusCache to their min_commit_ts (PR 17540); min-commit-ts-minus-1 = the same with min_commit_ts − 1 (PR 17730)">
            { format!("fix: {}", v.fix) }
        </span>
    };
    let large = match &v.large_txn {
        None => html! {
            <span class="muted" id="rts-large" title="No pipelined transaction runs in this run">{ "no large transaction" }</span>
        },
        Some(l) => html! {
            <span class="rts-large" id="rts-large" data-phase={l.phase}
                title="The pipelined (large) DML transaction: TiDB flushes its mutations as locks in generations while it runs; its TTL manager heartbeats the primary and broadcasts min_commit_ts to every store (BroadcastTxnStatus)">
                <span class="rts-kv">
                    <span class="rts-k">{ "large txn" }</span>
                    <b id="rts-phase" class={classes!("rts-phase", format!("ph-{}", l.phase.to_ascii_lowercase()))}
                        title="Idle (not started or between two), Writing (flushing generations), CommittingPrimary, CommittingSecondaries (ResolveLock region by region), Dead (its client died)">{ l.phase }</b>
                </span>
                <span class="rts-kv">
                    <span class="rts-k">{ "start_ts" }</span>
                    <span class="mono" id="rts-start-ts" data-start-ts={l.start_ts.to_string()}
                        title="The transaction's start_ts from PD's TSO (virtual time in brackets): every lock it writes carries it">{ ts_text(l.start_ts) }</span>
                </span>
                <span class="rts-kv">
                    <span class="rts-k">{ "gen" }</span>
                    <span class="mono" id="rts-generation" title="Flush generations written so far (each Flush carries its generation; a lock with generation > 0 belongs to a pipelined transaction)">{ l.generation }</span>
                </span>
                <span class="rts-kv" title="Keys flushed as locks so far / keys it plans to write">
                    <span class="rts-k">{ "written" }</span>
                    <span class="mono">
                        <span id="rts-written">{ format::count(l.written) }</span>{ " / " }
                        <span id="rts-size" data-size={l.size.to_string()}>{ format::count(l.size) }</span>
                    </span>
                </span>
                <span class="rts-kv">
                    <span class="rts-k">{ "min_commit_ts" }</span>
                    <span class="mono" id="rts-min-commit-ts" title="The newest min_commit_ts its TxnHeartBeat pushed (and BroadcastTxnStatus put in every store's TxnStatusCache)">{ ts_text(l.min_commit_ts) }</span>
                </span>
                if l.commit_ts > 0 {
                    <span class="rts-kv">
                        <span class="rts-k">{ "commit_ts" }</span>
                        <span class="mono" id="rts-commit-ts" title="Its commit_ts, once committing">{ ts_text(l.commit_ts) }</span>
                    </span>
                }
            </span>
        },
    };
    html! {
        <div class="panel-head rts-head" id="rts-header">
            <h2 title="resolved-ts: per region, the timestamp below which every transaction is known (committed or rolled back); TiCDC emits rows up to it and followers serve stale reads up to their safe-ts">{ "Resolved-ts" }</h2>
            { fix }
            { large }
        </div>
    }
}

/// The legend of the timeline.
fn timeline_legend(v: &RtsFrame) -> Html {
    let colors = region_colors(&v.regions);
    let regions: Html = if v.regions.len() <= 8 {
        v.regions
            .iter()
            .zip(&colors)
            .map(|(r, c)| {
                html! {
                    <span class="rts-leg" title={format!("region {}'s resolved-ts{}", r.region_id,
                        if r.large_txn_writes_here { " (the large txn writes here: warm)" } else { " (cool: the large txn does not write here)" })}>
                        <span class="swatch" style={format!("background:{}", css(*c))}></span>{ format!("r{}", r.region_id) }
                    </span>
                }
            })
            .collect()
    } else {
        html! {
            <span class="rts-leg" title="One line per region's resolved-ts">
                <span class="swatch" style={format!("background:{}", css(WARM[0]))}></span>{ "large txn's regions" }
                <span class="swatch" style={format!("background:{}", css(COOL[0]))}></span>{ "others" }
            </span>
        }
    };
    html! {
        <span class="chart-legend rts-legend" id="rts-timeline-legend">
            <span class="rts-leg" title="PD's TSO (physical ms): the upper bound of every resolved-ts">
                <span class="swatch" style={format!("background:{}", css(TSO_COLOR))}></span>{ "TSO" }
            </span>
            { regions }
            <span class="rts-leg" title="The large transaction got its start_ts">
                <span class="vmark" style={format!("border-color:{}", css(START_COLOR))}></span>{ "start" }
            </span>
            <span class="rts-leg" title="A Flush of the next generation of locks (gN)">
                <span class="vmark dashed" style={format!("border-color:{}", css(FLUSH_COLOR))}></span>{ "flush" }
            </span>
            <span class="rts-leg" title="TxnHeartBeat + BroadcastTxnStatus: min_commit_ts pushed into every store's TxnStatusCache">
                <span class="tick" style={format!("background:{}", css(START_COLOR))}></span>{ "heartbeat" }
            </span>
            <span class="rts-leg" title="The primary committed">
                <span class="vmark" style={format!("border-color:{}", css(COMMIT_COLOR))}></span>{ "commit" }
            </span>
            <span class="rts-leg" title="The client died: heartbeats stop, the locks wait for their TTL and a lock resolver">
                <span class="vmark" style={format!("border-color:{}", css(DIED_COLOR))}></span>{ "died" }
            </span>
        </span>
    }
}

/// The row of region buttons.
fn region_row(v: &RtsFrame, selected: Option<u64>, on_pick: &Callback<u64>) -> Html {
    let colors = region_colors(&v.regions);
    let buttons = v.regions.iter().zip(&colors).map(|(r, c)| {
        let id = r.region_id;
        let on_pick = on_pick.clone();
        let active = Some(id) == selected;
        let pinned = r.pinned_by.as_ref();
        let title = format!(
            "region {id}: resolver {} on store {}; resolved-ts {} (lag {}), CDC lag {}, {} rows emitted, {} buffered in the sorter{}",
            r.status,
            r.leader_store,
            format::secs_ms(r.resolved_ts_ms),
            format::secs_ms(r.lag_ms),
            format::secs_ms(r.cdc_lag_ms),
            r.cdc_emitted,
            r.cdc_buffered,
            match pinned {
                Some(p) => format!("; pinned by the {} lock of start_ts {}{}", p.kind, p.start_ts,
                    if p.is_large_txn { " (the large transaction)" } else { "" }),
                None => String::new(),
            }
        );
        html! {
            <button id={format!("rts-region-{id}")} title={title}
                class={classes!("rts-region-btn", active.then_some("active"),
                    r.large_txn_writes_here.then_some("warm"), pinned.is_some().then_some("is-pinned"))}
                data-lag-ms={r.lag_ms.to_string()} data-cdc-lag-ms={r.cdc_lag_ms.to_string()}
                data-pinned={pinned.is_some().to_string()} aria-pressed={active.to_string()}
                onclick={Callback::from(move |_: MouseEvent| on_pick.emit(id))}>
                <span class="swatch" style={format!("background:{}", css(*c))}></span>
                <span class="rts-rname">{ format!("region {id}") }</span>
                <span class={classes!("rts-rlag", (r.lag_ms >= 10_000).then_some("bad"))}>{ format::secs_ms(r.lag_ms) }</span>
                if pinned.is_some() {
                    <span class="rts-pinned-badge" title="A lock below the TSO holds this region's resolved-ts back (the last resolve stopped at a lock)">{ "pinned" }</span>
                }
            </button>
        }
    });
    html! {
        <div class="rts-regions" id="rts-regions" role="group" aria-label="Region"
            title="Regions: the lag of each one's resolved-ts behind the TSO now; pick one to see its resolver">
            { for buttons }
        </div>
    }
}

/// The sentence naming the lock that pins the resolver.
fn pinning(r: &ResolverView) -> Html {
    let Some(p) = &r.pinned_by else {
        let how = match r.last_attempt {
            Some((_, _, source)) => format!(" (last resolve: from {source})"),
            None => String::new(),
        };
        return html! {
            <div class="rts-pinning none" id="rts-pinning" data-kind="none"
                title="The lock whose candidate is the resolver's minimum, if it is below the TSO">
                { format!("Nothing pins it: resolved-ts follows the TSO{how}.") }
            </div>
        };
    };
    let PinningLock {
        kind,
        start_ts,
        key,
        lock_count,
        candidate_ts,
        candidate_ms,
        is_large_txn,
    } = p;
    let what = if *kind == "large" {
        html! {
            <>
                { "Pinned by a " }<b>{ "large txn through the TxnStatusCache" }</b>
                { format!(": start_ts {}, representative key {}, {} locks tracked; the cache's min_commit_ts gives the candidate {} ({}), so resolved-ts moves on with every heartbeat.",
                    ts_text(*start_ts), key_text(*key), format::count(*lock_count as u64), candidate_ts, format::secs_ms(*candidate_ms)) }
            </>
        }
    } else {
        html! {
            <>
                { "Pinned by a " }<b>{ "normal lock by start_ts" }</b>
                { format!(": start_ts {}, key {}, {} locks in lock_ts_heap; candidate {} ({}): resolved-ts cannot pass it while the lock lives.",
                    ts_text(*start_ts), key_text(*key), format::count(*lock_count as u64), candidate_ts, format::secs_ms(*candidate_ms)) }
            </>
        }
    };
    html! {
        <div class={classes!("rts-pinning", *kind, is_large_txn.then_some("large-txn"))} id="rts-pinning"
            data-kind={*kind} data-start-ts={start_ts.to_string()} data-large-txn={is_large_txn.to_string()}
            title="The lock whose candidate is the resolver's minimum (Resolver::oldest_transaction), below the TSO: it holds the region's resolved-ts back">
            { what }
            if *is_large_txn {
                <b class="rts-is-large">{ " This is the large transaction." }</b>
            }
        </div>
    }
}

/// The resolver's normal transactions (`lock_ts_heap`).
fn normal_table(r: &ResolverView) -> Html {
    let row = |n: &NormalTxnView| {
        html! {
            <tr class={classes!("rts-normal", n.is_large_txn.then_some("large-txn"))}
                data-start-ts={n.start_ts.to_string()} data-large-txn={n.is_large_txn.to_string()}
                title={if n.is_large_txn { "The large transaction, tracked lock by lock under its start_ts (as before PR 17540)" } else { "A transaction tracked by its start_ts" }}>
                <td class="mono">{ n.start_ts }</td>
                <td class="num">{ format::secs_ms(tso_ms(n.start_ts)) }</td>
                <td class="num">{ format::count(n.lock_count as u64) }</td>
                <td class="mono">{ key_text(n.sample_key) }</td>
                <td>if n.is_large_txn { <span class="rts-flag">{ "large txn" }</span> }</td>
            </tr>
        }
    };
    let more = r.normal_total.saturating_sub(r.normal.len());
    html! {
        <div class="rts-box" title={HEAP_NOTE}>
            <div class="rts-box-title">{ format!("lock_ts_heap: normal locks ({})", r.normal_total) }</div>
            <div class="rts-table-wrap">
                <table class="rts-table" id="rts-normal-locks">
                    <thead><tr>
                        <th title="The transaction's start_ts: its candidate">{ "start_ts" }</th>
                        <th class="num" title="The virtual time start_ts stands for">{ "at" }</th>
                        <th class="num" title="Locks it holds in the region">{ "locks" }</th>
                        <th title="One key it locks">{ "key" }</th>
                        <th></th>
                    </tr></thead>
                    <tbody>
                        if r.normal.is_empty() {
                            <tr class="rts-none"><td colspan="5">{ "No lock tracked by start_ts." }</td></tr>
                        }
                        { for r.normal.iter().map(row) }
                        if more > 0 {
                            <tr class="rts-more"><td colspan="5">{ format!("and {more} newer") }</td></tr>
                        }
                    </tbody>
                </table>
            </div>
        </div>
    }
}

/// The resolver's large transactions (`large_txns`) with the cache's state.
fn large_table(r: &ResolverView) -> Html {
    let row = |l: &LargeTxnView| {
        // The cache entry that lets the resolver pass the transaction's start_ts.
        let passes = matches!(l.cache_state, "Ongoing" | "Committed");
        let cache_ts = match l.cache_state {
            "Ongoing" => html! {
                <span title={format!("min_commit_ts {} from the cache", ts_text(l.cache_ts))}>{ format::secs_ms(tso_ms(l.cache_ts)) }</span>
            },
            "Committed" => html! {
                <span title={format!("commit_ts {} from the cache", ts_text(l.cache_ts))}>{ format::secs_ms(tso_ms(l.cache_ts)) }</span>
            },
            _ => html! { { "—" } },
        };
        let candidate = match l.candidate_ts {
            Some(ts) => {
                html! { <span title={format!("candidate {}", ts_text(ts))}>{ format::secs_ms(tso_ms(ts)) }</span> }
            }
            None => {
                html! { <span class="muted" title="Committed or rolled back: the resolver ignores its locks">{ "ignored" }</span> }
            }
        };
        let title = match l.cache_state {
            "Ongoing" => "TxnStatusCache: Ongoing — the resolver uses its min_commit_ts instead of start_ts: this entry lets resolved-ts pass the start_ts",
            "Committed" => "TxnStatusCache: Committed — the resolver ignores its locks: this entry lets resolved-ts pass",
            "RolledBack" => "TxnStatusCache: RolledBack — the resolver ignores its locks",
            _ => "TxnStatusCache miss: the resolver falls back to start_ts (\"Large txn not found in cache\")",
        };
        let state = l.cache_state.to_ascii_lowercase();
        html! {
            <tr class={classes!("rts-large", passes.then_some("passes"), format!("cs-{state}"))}
                data-start-ts={l.start_ts.to_string()} data-cache-state={l.cache_state}
                data-candidate-ts={l.candidate_ts.map_or(String::new(), |c| c.to_string())} title={title}>
                <td class="mono" title={format!("start_ts {}; representative key {}", ts_text(l.start_ts), key_text(l.key))}>{ l.start_ts }</td>
                <td class="num">{ format::count(l.lock_count as u64) }</td>
                <td>
                    <span class={classes!("rts-cache", format!("cs-{state}"))}>{ l.cache_state }</span>
                    if passes {
                        <span class="rts-pass" title="This TxnStatusCache entry lets resolved-ts pass the transaction's start_ts">{ " ✓ lets it pass" }</span>
                    }
                </td>
                <td class="num">{ cache_ts }</td>
                <td class="num">{ candidate }</td>
            </tr>
        }
    };
    html! {
        <div class="rts-box" title="The resolver's large_txns: pipelined transactions tracked by one representative key, mapped through the store's TxnStatusCache (filled by BroadcastTxnStatus)">
            <div class="rts-box-title">{ format!("large_txns ({})", r.large.len()) }</div>
            <div class="rts-table-wrap">
                <table class="rts-table" id="rts-large-txns">
                    <thead><tr>
                        <th title="The transaction's start_ts (tracked by one representative key)">{ "start_ts" }</th>
                        <th class="num" title="Locks tracked">{ "locks" }</th>
                        <th title="What the store's TxnStatusCache says: Ongoing, Committed, RolledBack or miss">{ "cache" }</th>
                        <th class="num" title="min_commit_ts (Ongoing) or commit_ts (Committed) from the cache, as virtual time">{ "cache ts" }</th>
                        <th class="num" title="The candidate resolved-ts it allows, as virtual time (ignored: committed or rolled back)">{ "candidate" }</th>
                    </tr></thead>
                    <tbody>
                        if r.large.is_empty() {
                            <tr class="rts-none"><td colspan="5">{ "No large transaction tracked (before PR 17540 its locks count as normal locks)." }</td></tr>
                        }
                        { for r.large.iter().map(row) }
                    </tbody>
                </table>
            </div>
        </div>
    }
}

/// The selected region's resolver.
fn resolver(v: &RtsFrame, selected: Option<u64>) -> Html {
    let Some(r) = &v.selected else {
        return html! {
            <div class="rts-resolver" id="rts-resolver" title="The region's resolver in the resolved-ts endpoint of its leader's store">
                <div class="rts-note">{ match selected {
                    Some(id) => format!("Region {id} has no resolver on a leader now (no leader, or its endpoint has not registered it yet)."),
                    None => "No region.".to_string(),
                } }</div>
            </div>
        };
    };
    let last = r.last_attempt.map(|(ok, ts, source)| {
        let text = if ok {
            format!("advanced to {} from {source}", format::secs_ms(tso_ms(ts)))
        } else {
            format!("held at {} by a {source}", format::secs_ms(tso_ms(ts)))
        };
        html! {
            <span class="rts-last" id="rts-last" title="The last resolve: whether it raised resolved-ts, its candidate and where the candidate came from (a lock, or PD's TSO)">
                { "last resolve: " }{ text }
            </span>
        }
    });
    let safe: Html = if r.follower_safe_ts_ms.is_empty() {
        html! { <span class="muted">{ "no follower" }</span> }
    } else {
        r.follower_safe_ts_ms
            .iter()
            .map(|(store, ms)| {
                html! {
                    <span class="rts-safe" data-store={store.to_string()} data-safe-ts-ms={ms.to_string()}
                        title={format!("store {store}'s safe-ts for region {}: it serves stale reads at or below it (from check_leader)", r.region_id)}>
                        { format!("store {store} ") }<b>{ format::secs_ms(*ms) }</b>
                    </span>
                }
            })
            .collect()
    };
    html! {
        <div class="rts-resolver" id="rts-resolver" data-region={r.region_id.to_string()} data-status={r.status}
            title="The region's resolver in the resolved-ts endpoint of its leader's store: it tracks locks from the apply path and advances resolved-ts every advance-ts-interval">
            <div class="rts-res-head">
                <span class="rts-res-title">{ format!("Resolver · region {} on store {}", r.region_id, r.store_id) }</span>
                <span id="rts-status" class={classes!("chip", "rts-status", format!("rs-{}", r.status.to_ascii_lowercase()))}
                    title="Pending: the initial scan of the region's locks is running; Ready: it resolves">{ r.status }</span>
                if r.stopped {
                    <span class="chip chip-bad" title="Stopped by a split or merge, waiting for re-registration">{ "stopped" }</span>
                }
                <span class="rts-rts" id="rts-resolved-ts" title="The resolver's resolved-ts (TSO) and the virtual time it stands for">
                    { "resolved-ts " }<b>{ format::secs_ms(r.resolved_ts_ms) }</b>
                    <span class="mono muted">{ format!(" {}", r.resolved_ts) }</span>
                </span>
                { for last }
            </div>
            { pinning(r) }
            <div class="rts-tables">
                { normal_table(r) }
                { large_table(r) }
            </div>
            <div class="rts-safe-ts" id="rts-safe-ts" title="Followers' safe-ts: what each follower's read progress allows stale reads up to (the leader's resolved-ts, delivered with check_leader)">
                <span class="rts-k">{ "followers' safe-ts" }</span>
                { safe }
            </div>
        </div>
    }
}

/// The resolved-ts panel.
#[component]
pub fn ResolvedTs(props: &ResolvedTsProps) -> Html {
    let timeline_ref = use_node_ref();
    let lag_ref = use_node_ref();
    let error = use_state(|| None::<String>);
    let selected = props.frame.rts.as_ref().and_then(|v| {
        v.selected
            .as_ref()
            .map(|s| s.region_id)
            .or(props.frame.rts_region)
    });
    let input = props.frame.rts.as_ref().map(|v| ChartInput {
        frame: props.frame.clone(),
        key: (
            v.t_ms / 1000,
            v.large_txn.as_ref().map_or(0, |l| l.markers.len()),
            selected,
            v.regions.len(),
            v.fix,
        ),
    });
    {
        let (timeline_ref, lag_ref, error) = (timeline_ref.clone(), lag_ref.clone(), error.clone());
        use_effect_with(input, move |input| {
            if let Some(v) = input.as_ref().and_then(|i| i.frame.rts.as_ref()) {
                let e1 = draw(&timeline_ref, v, selected, draw_timeline);
                let e2 = draw(&lag_ref, v, selected, draw_lag);
                let e = e1.or(e2);
                if *error != e {
                    error.set(e);
                }
            }
        });
    }
    let Some(v) = props.frame.rts.as_ref() else {
        return html! {};
    };
    html! {
        <div class="panel rts-panel" id="resolved-ts" data-fix={v.fix}>
            { header(v) }
            <div class="chart-box rts-chart-box">
                <div class="chart-head">
                    <h3 title="PD's TSO and each region's resolved-ts over virtual time; a flat line is a region whose resolved-ts is pinned">{ "Timeline · ms" }</h3>
                    { timeline_legend(v) }
                </div>
                <canvas id="rts-timeline" class="chart rts-timeline" ref={timeline_ref}
                    title="x: virtual time (s); y: ms. The TSO line, each region's resolved-ts (warm: the large txn writes there), the large transaction's start, flushes (gN), heartbeats (ticks) and commit"></canvas>
            </div>
            <div class="chart-box rts-chart-box">
                <div class="chart-head">
                    <h3 title="How far each region's resolved-ts and its CDC feed are behind the clock">{ "Lag · ms" }</h3>
                    <span class="chart-legend rts-legend">
                        <span class="rts-leg" title="now − resolved-ts, per region (resolved_ts_lag)"><span class="line-sample"></span>{ "resolved-ts lag" }</span>
                        <span class="rts-leg" title="now − the resolved-ts TiCDC received, per region: its rows are emitted up to it"><span class="line-sample dashed"></span>{ "CDC lag" }</span>
                    </span>
                </div>
                <canvas id="rts-lag" class="chart rts-lag" ref={lag_ref}
                    title="x: virtual time (s); y: ms. Solid: each region's resolved-ts lag; dashed: its CDC feed's lag"></canvas>
            </div>
            { region_row(v, selected, &props.on_pick) }
            { resolver(v, selected) }
            if let Some(e) = &*error {
                <div class="inline-error">{ format!("Chart: {e}") }</div>
            }
        </div>
    }
}
