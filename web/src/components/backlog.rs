//! Message backlogs of the lock manager, per store: every queue
//! (`waiter_manager_tasks`, `detector_tasks`, `detector_stream`) with its
//! depth, bytes, items in and out over the last virtual second and its
//! capacity when bounded. The detector leader is marked; a queue that fills
//! faster than it drains is flagged, loudly for the detector stream (the
//! backlog behind TiKV issue 17394). Below the table, the detector stream's
//! depth per store over virtual time ([`BacklogChart`]).

use std::rc::Rc;

use kvscope_core::views::{DetectorRole, QueueView, StoreLockView};
use yew::prelude::*;

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use crate::format::{bytes, count};
use crate::snapshot::{ChartData, Frame};

/// How a queue is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueTrend {
    /// Empty or draining at least as fast as it fills.
    Steady,
    /// Filling faster than it drains.
    Growing,
    /// At its capacity (a bounded queue that now refuses or drops).
    Full,
}

/// The trend of `q`.
pub fn trend(q: &QueueView) -> QueueTrend {
    if q.capacity.is_some_and(|c| c > 0 && q.depth >= c) {
        QueueTrend::Full
    } else if q.in_per_sec > q.out_per_sec && q.depth > 0 {
        QueueTrend::Growing
    } else {
        QueueTrend::Steady
    }
}

/// What each queue is, for tooltips.
pub fn queue_meaning(name: &str) -> &'static str {
    match name {
        "waiter_manager_tasks" => {
            "Tasks from the txn scheduler to the WaiterManager (WaitFor, WakeUp, Dump)"
        }
        "detector_tasks" => "Tasks to the Detector worker (Detect, CleanUpWaitFor, CleanUp)",
        "detector_stream" => {
            "The follower's unbounded channel feeding the one gRPC stream to the detector leader \
             (DeadlockRequest: Detect, CleanUpWaitFor, CleanUp)"
        }
        _ => "",
    }
}

fn queue_row(store: &StoreLockView, q: &QueueView) -> Html {
    let t = trend(q);
    let net = q.in_per_sec as i64 - q.out_per_sec as i64;
    let stream = q.name == "detector_stream";
    let class = classes!(
        "queue-row",
        match t {
            QueueTrend::Steady => None,
            QueueTrend::Growing => Some(if stream { "alarm" } else { "warn" }),
            QueueTrend::Full => Some("alarm"),
        }
    );
    let fill = q
        .capacity
        .filter(|c| *c > 0)
        .map(|c| (q.depth * 100 / c).min(100));
    html! {
        <tr class={class} data-store={store.store.to_string()} data-queue={q.name} title={queue_meaning(q.name)}>
            <td class="queue-name">{ q.name }</td>
            <td class="num queue-depth">{ count(q.depth) }</td>
            <td class="num">{ bytes(q.bytes) }</td>
            <td class="num">{ format!("{}/s", count(q.in_per_sec)) }</td>
            <td class="num">{ format!("{}/s", count(q.out_per_sec)) }</td>
            <td class="num">{ match (q.capacity, fill) {
                (Some(c), Some(f)) => html! { <span title={format!("{f}% full")}>{ count(c) }</span> },
                (Some(c), None) => html! { count(c) },
                (None, _) => html! { <span class="muted" title="unbounded, as in TiKV">{"∞"}</span> },
            } }</td>
            <td class="trend">{ match t {
                QueueTrend::Steady => html! {},
                QueueTrend::Growing => html! { <span class="trend-up">{ format!("▲ +{}/s", count(net.unsigned_abs())) }</span> },
                QueueTrend::Full => html! { <span class="trend-up">{"■ full"}</span> },
            } }</td>
        </tr>
    }
}

/// Properties of [`BacklogPanel`].
#[derive(Properties, PartialEq)]
pub struct BacklogProps {
    /// The snapshot (its lock side is drawn).
    pub frame: Rc<Frame>,
}

/// The backlog panel: one table, a header row per store and a row per queue.
#[component]
pub fn BacklogPanel(props: &BacklogProps) -> Html {
    let Some(lf) = props.frame.locks.as_ref() else {
        return html! {};
    };
    let stores = lf.view.stores.iter().map(|s| {
        let leader = s.role == DetectorRole::Leader;
        let stream_growing = s
            .queues
            .iter()
            .any(|q| q.name == "detector_stream" && trend(q) != QueueTrend::Steady);
        let used = s.memory.sum();
        let pct = used
            .saturating_mul(100)
            .checked_div(s.memory_limit)
            .map_or(0, |p| p.min(999));
        let kill = lf.oom_kills.iter().rev().find(|k| k.store == s.store);
        html! {
            <tbody class={classes!("backlog-store", leader.then_some("detector-leader"), stream_growing.then_some("alarm"), (!s.up).then_some("down"))}
                data-store={s.store.to_string()}>
                <tr class="backlog-head"><td colspan="7">
                    <div class="backlog-head-row">
                        <span class="store-name">{ format!("Store {}", s.store) }</span>
                        if leader {
                            <span class="badge role-leader" title="Holds the leader of the first region (LEADER_KEY = \"\"), so it runs the DetectTable">{"detector leader"}</span>
                        } else {
                            <span class="badge role-follower" title="Sends its detect requests to the detector leader over one stream">{"detector follower"}</span>
                        }
                        if !s.up {
                            <span class="badge down">{ match kill {
                                Some(k) if k.restart_ms > lf.now_ms => format!("OOM-killed · restarts at {}", crate::format::secs_ms(k.restart_ms)),
                                _ => "down".to_string(),
                            } }</span>
                        }
                        <span class="backlog-waiters" title="Waiters in the waiter manager's WaitTable">{ format!("{} waiters", count(s.waiters)) }</span>
                        if stream_growing {
                            <span class="backlog-alarm" role="alert" title="Every queued DeadlockRequest holds memory until it is sent">{ "⚠ detector stream growing" }</span>
                        }
                        <span class={classes!("backlog-mem", (pct >= 80).then_some("bad"))} title="Memory trace total of the store against its limit">
                            { format!("mem {} / {} ({pct}%)", bytes(used), bytes(s.memory_limit)) }
                        </span>
                    </div>
                </td></tr>
                { for s.queues.iter().map(|q| queue_row(s, q)) }
            </tbody>
        }
    });
    html! {
        <div class="panel backlog-panel" id="backlog-panel">
            <div class="panel-head">
                <h2>{"Lock manager backlogs"}</h2>
                <span class="panel-sub">{"per store · in/out over the last virtual second · ∞ = unbounded, as in TiKV"}</span>
            </div>
            <table class="backlog-table">
                <thead><tr>
                    <th>{"queue"}</th><th class="num">{"depth"}</th><th class="num">{"bytes"}</th>
                    <th class="num">{"in"}</th><th class="num">{"out"}</th><th class="num">{"capacity"}</th><th></th>
                </tr></thead>
                { for stores }
            </table>
        </div>
    }
}

/// Line colour of store `store` in the backlog chart.
pub fn store_color(store: u64) -> RGBColor {
    const PALETTE: [RGBColor; 5] = [
        RGBColor(124, 58, 237),
        RGBColor(220, 38, 38),
        RGBColor(37, 99, 235),
        RGBColor(22, 163, 74),
        RGBColor(217, 119, 6),
    ];
    PALETTE[(store.saturating_sub(1) % PALETTE.len() as u64) as usize]
}

fn draw_backlog(canvas: HtmlCanvasElement, data: &ChartData) -> Result<(), String> {
    let dpr = crate::components::charts::fit_canvas(&canvas);
    let backend = CanvasBackend::with_canvas_object(canvas)
        .ok_or_else(|| "this browser gave no 2D canvas context".to_string())?;
    let root = backend.into_drawing_area();
    let font = |px: f64| ("sans-serif", (px * dpr) as u32);
    let axis = RGBColor(71, 85, 105);
    let grid = RGBColor(232, 235, 240);
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let xm = (data.now_ms.max(60_000) as f64 / 1000.0).ceil();
    let peak = data
        .backlog
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let ym = (peak * 1.15).max(10.0);
    let mut chart = ChartBuilder::on(&root)
        .margin((5.0 * dpr) as u32)
        .margin_right((14.0 * dpr) as u32)
        .x_label_area_size((18.0 * dpr) as u32)
        .y_label_area_size((50.0 * dpr) as u32)
        .build_cartesian_2d(0f64..xm, 0f64..ym)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .light_line_style(grid)
        .bold_line_style(grid)
        .axis_style(axis)
        .label_style(font(10.0).into_font().color(&axis))
        .x_labels(8)
        .y_labels(4)
        .x_label_formatter(&|x| format!("{x:.0}s"))
        .y_label_formatter(&|y| {
            if *y >= 1000.0 {
                format!("{:.0}k", y / 1000.0)
            } else {
                format!("{y:.0}")
            }
        })
        .draw()
        .map_err(|e| e.to_string())?;
    for (store, points) in &data.backlog {
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(t, v)| (t as f64 / 1000.0, v)),
                store_color(*store).stroke_width((2.0 * dpr) as u32),
            ))
            .map_err(|e| e.to_string())?;
    }
    for k in &data.oom_kills {
        let at = k.at_ms as f64 / 1000.0;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("OOM s{}", k.store),
                (at, ym * 0.95),
                font(10.0).into_font().color(&RGBColor(220, 38, 38)),
            )))
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Properties of [`BacklogChart`].
#[derive(Properties, PartialEq)]
pub struct BacklogChartProps {
    /// The series.
    pub data: Rc<ChartData>,
}

/// The detector stream's depth per store over virtual time (`#backlog-chart`).
#[component]
pub fn BacklogChart(props: &BacklogChartProps) -> Html {
    let node = use_node_ref();
    let error = use_state(|| None::<String>);
    {
        let (node, error) = (node.clone(), error.clone());
        use_effect_with(props.data.clone(), move |data| {
            let e = node
                .cast::<HtmlCanvasElement>()
                .and_then(|c| draw_backlog(c, data).err());
            if *error != e {
                error.set(e);
            }
        });
    }
    if props.data.backlog.is_empty() {
        return html! {};
    }
    html! {
        <div class="panel backlog-chart-panel">
            <div class="chart-head">
                <h2>{"Detector stream backlog"}</h2>
                <span class="chart-legend">
                    { for props.data.backlog.iter().map(|(s, _)| {
                        let c = store_color(*s);
                        html! { <><span class="swatch" style={format!("background:rgb({},{},{})", c.0, c.1, c.2)}></span>{ format!("store {s}") }</> }
                    }) }
                    <span>{" · DeadlockRequests queued on each store's stream to the detector leader"}</span>
                </span>
            </div>
            <canvas id="backlog-chart" class="chart backlog-chart" ref={node}></canvas>
            if let Some(e) = &*error {
                <div class="inline-error">{ format!("Chart: {e}") }</div>
            }
        </div>
    }
}
