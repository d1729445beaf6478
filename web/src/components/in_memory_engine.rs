//! The in-memory engine panel: one store's region metas as TiKV's
//! `RegionState` machine (the six states with their live counts, the legal
//! changes between them, the newest changes drawn thick), the table of
//! metas, the background task queue per thread, the recent `load_region`
//! calls with how each ended, the duplicate-load race's preconditions, and,
//! at the top, a red banner for every store abort (the assertion, where it
//! fired, the region, and the "ime region to load" events that led to it).
//! Data: `kvscope_core::views::ime`, captured per frame as
//! [`crate::snapshot::ImeFrame`].

use std::collections::BTreeMap;
use std::rc::Rc;

use kvscope_core::views::ime::{
    AbortView, ImeView, LoadRequestView, MetaView, StateCount, TaskView, TransitionView,
};
use yew::prelude::*;

use crate::format::{self, bytes};
use crate::snapshot::{Frame, ImeFrame};

/// Properties of [`InMemoryEngine`].
#[derive(Properties, PartialEq)]
pub struct InMemoryEngineProps {
    /// The snapshot of the simulation.
    pub frame: Rc<Frame>,
    /// The user picked a store (`None`: let the panel pick).
    pub on_pick: Callback<Option<u64>>,
}

/// How many of the newest transitions the state machine draws thick.
pub const HIGHLIGHTED: usize = 4;
/// How many of the newest transitions the list under the machine names.
pub const LISTED: usize = 6;
/// How many aborts the banner spells out (newest first); older ones are counted.
pub const ABORTS_SHOWN: usize = 2;

/// Width of the state machine's drawing (SVG user units, about pixels).
const VIEW_W: f64 = 456.0;
/// Height of the state machine's drawing.
const VIEW_H: f64 = 168.0;
/// Half width and half height of a state's box.
const NODE: (f64, f64) = (46.0, 17.0);
/// Half width and half height of a pseudo state's pill (`new`, `removed`, `replaced`).
const PILL: (f64, f64) = (27.0, 8.0);
/// How far a bowed edge's control point sits from the straight line.
const BOW: f64 = 90.0;

/// A box of the drawing: centre and half sizes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rect {
    cx: f64,
    cy: f64,
    hw: f64,
    hh: f64,
}

impl Rect {
    fn node((cx, cy): (f64, f64)) -> Rect {
        Rect {
            cx,
            cy,
            hw: NODE.0,
            hh: NODE.1,
        }
    }

    fn pill((cx, cy): (f64, f64)) -> Rect {
        Rect {
            cx,
            cy,
            hw: PILL.0,
            hh: PILL.1,
        }
    }

    /// Where the ray from the centre towards `(x, y)` leaves the box.
    fn boundary(&self, (x, y): (f64, f64)) -> (f64, f64) {
        let (dx, dy) = (x - self.cx, y - self.cy);
        if dx == 0.0 && dy == 0.0 {
            return (self.cx, self.cy);
        }
        let tx = if dx == 0.0 {
            f64::INFINITY
        } else {
            self.hw / dx.abs()
        };
        let ty = if dy == 0.0 {
            f64::INFINITY
        } else {
            self.hh / dy.abs()
        };
        let t = tx.min(ty);
        (self.cx + dx * t, self.cy + dy * t)
    }

    /// Whether `(x, y)` is inside the box grown by `margin`.
    fn contains(&self, (x, y): (f64, f64), margin: f64) -> bool {
        (x - self.cx).abs() <= self.hw + margin && (y - self.cy).abs() <= self.hh + margin
    }
}

/// Where each of TiKV's states sits: the load path on top (Pending →
/// Loading → Active), the eviction path below, Evicting at the right.
fn state_pos(name: &str, index: usize) -> (f64, f64) {
    match name {
        "Pending" => (50.0, 40.0),
        "Loading" => (168.0, 40.0),
        "Active" => (286.0, 40.0),
        "LoadingCanceled" => (168.0, 128.0),
        "PendingEvict" => (286.0, 128.0),
        "Evicting" => (404.0, 84.0),
        // A state this drawing does not know: on the middle row.
        _ => (50.0 + 118.0 * (index % 4) as f64, 84.0),
    }
}

/// The pseudo states of a transition: a meta inserted, removed from the map,
/// or replaced by another meta under its id.
fn pseudo_pos(name: &str) -> Option<(f64, f64)> {
    match name {
        "new" => Some((50.0, 128.0)),
        "removed" => Some((404.0, 150.0)),
        "replaced" => Some((404.0, 22.0)),
        _ => None,
    }
}

/// The SVG path of an edge from `a` to `b`: straight, or bowed away from the
/// drawing's centre when the straight line would cross another box.
fn edge_path(a: Rect, b: Rect, others: &[Rect]) -> String {
    let (p0, p1) = (a.boundary((b.cx, b.cy)), b.boundary((a.cx, a.cy)));
    let crosses = others.iter().filter(|r| **r != a && **r != b).any(|r| {
        (1..20).any(|i| {
            let t = f64::from(i) / 20.0;
            r.contains((p0.0 + (p1.0 - p0.0) * t, p0.1 + (p1.1 - p0.1) * t), 3.0)
        })
    });
    if !crosses {
        return format!("M{:.1},{:.1} L{:.1},{:.1}", p0.0, p0.1, p1.0, p1.1);
    }
    let (dx, dy) = (b.cx - a.cx, b.cy - a.cy);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (mut nx, mut ny) = (-dy / len, dx / len);
    let mid = ((a.cx + b.cx) / 2.0, (a.cy + b.cy) / 2.0);
    let away = (mid.0 - VIEW_W / 2.0) * nx + (mid.1 - VIEW_H / 2.0) * ny;
    if away < 0.0 || (away == 0.0 && ny > 0.0) {
        nx = -nx;
        ny = -ny;
    }
    let c = (mid.0 + nx * BOW, mid.1 + ny * BOW);
    let (q0, q1) = (a.boundary(c), b.boundary(c));
    format!(
        "M{:.1},{:.1} Q{:.1},{:.1} {:.1},{:.1}",
        q0.0, q0.1, c.0, c.1, q1.0, q1.1
    )
}

/// A state's CSS class (`st-active`, ...).
fn state_class(name: &str) -> String {
    format!("st-{}", name.to_ascii_lowercase())
}

/// A region id with its epoch, as TiKV's logs write a `CacheRegion`.
fn id_epoch(id: u64, epoch: u64) -> String {
    format!("{id}@{epoch}")
}

/// The region id of a `id@epoch [start, end)` label.
fn label_id(label: &str) -> Option<u64> {
    label.split('@').next().and_then(|s| s.trim().parse().ok())
}

/// A transition's text: `1277@43 Pending → Loading`.
fn transition_text(t: &TransitionView) -> String {
    format!("{} {} → {}", id_epoch(t.region_id, t.epoch), t.from, t.to)
}

/// The state machine: states with counts, legal edges, the newest changes.
fn state_machine(v: &ImeView) -> Html {
    let rects: Vec<(&str, Rect)> = v
        .states
        .iter()
        .enumerate()
        .map(|(i, s)| (s.state, Rect::node(state_pos(s.state, i))))
        .chain(
            ["new", "removed", "replaced"]
                .iter()
                .filter_map(|p| pseudo_pos(p).map(|pos| (*p, Rect::pill(pos)))),
        )
        .collect();
    let boxes: Vec<Rect> = rects.iter().map(|(_, r)| *r).collect();
    let rect_of = |name: &str| rects.iter().find(|(n, _)| *n == name).map(|(_, r)| *r);
    // The newest transitions by edge: age 0 is the newest.
    let mut recent: BTreeMap<(&str, &str), (usize, &TransitionView)> = BTreeMap::new();
    for (age, t) in v.transitions.iter().rev().take(HIGHLIGHTED).enumerate() {
        recent.entry((t.from, t.to)).or_insert((age, t));
    }
    let legal: Vec<(&str, &str)> = v
        .states
        .iter()
        .flat_map(|s| s.next.iter().map(move |n| (s.state, *n)))
        .collect();
    let edge = |from: &str, to: &str, is_legal: bool| -> Html {
        let (Some(a), Some(b)) = (rect_of(from), rect_of(to)) else {
            return html! {};
        };
        let hot = recent.get(&(from, to));
        let bad =
            to == "replaced" || !is_legal && pseudo_pos(from).is_none() && pseudo_pos(to).is_none();
        let class = classes!(
            "ime-edge",
            (!is_legal).then_some("pseudo"),
            hot.map(|(age, _)| format!("recent age-{age}")),
            bad.then_some("bad"),
        );
        let marker = if bad {
            "url(#ime-arrow-bad)"
        } else if hot.is_some() {
            "url(#ime-arrow-hot)"
        } else {
            "url(#ime-arrow)"
        };
        let title = match hot {
            Some((_, t)) => format!(
                "{from} → {to}\nlast: {} s, region {}",
                format::log_time(t.at_ms),
                id_epoch(t.region_id, t.epoch)
            ),
            None => format!("{from} → {to} (validate_update_region_state allows it)"),
        };
        html! {
            <path class={class} d={edge_path(a, b, &boxes)} marker-end={marker}
                data-from={from.to_string()} data-to={to.to_string()}>
                <title>{ title }</title>
            </path>
        }
    };
    let legal_edges = legal.iter().map(|(f, t)| edge(f, t, true));
    // Changes drawn only while they are among the newest: a meta inserted,
    // removed or replaced, and anything the legal edges do not cover.
    let other_edges = recent
        .keys()
        .filter(|k| !legal.contains(k))
        .map(|(f, t)| edge(f, t, false));
    let newest_to = v.transitions.last().map(|t| t.to);
    let node = |s: &StateCount| {
        let Some(r) = rect_of(s.state) else {
            return html! {};
        };
        let next = if s.next.is_empty() {
            "removed when its DeleteRegions finishes".to_string()
        } else {
            format!("may become {}", s.next.join(", "))
        };
        html! {
            <g id={format!("ime-state-{}", s.state)} data-count={s.count.to_string()}
                class={classes!("ime-node", state_class(s.state), (s.count > 0).then_some("filled"),
                    (newest_to == Some(s.state)).then_some("newest"))}>
                <title>{ format!("{}: {} metas now; {next}", s.state, s.count) }</title>
                <rect x={format!("{:.1}", r.cx - r.hw)} y={format!("{:.1}", r.cy - r.hh)}
                    width={format!("{:.1}", 2.0 * r.hw)} height={format!("{:.1}", 2.0 * r.hh)} rx="6" />
                <text class="ime-name" x={format!("{:.1}", r.cx)} y={format!("{:.1}", r.cy - 3.0)}>{ s.state }</text>
                <text class="ime-count" x={format!("{:.1}", r.cx)} y={format!("{:.1}", r.cy + 12.0)}>{ s.count }</text>
            </g>
        }
    };
    let pill = |name: &'static str| {
        let Some(r) = rect_of(name) else {
            return html! {};
        };
        let used = recent.keys().any(|(f, t)| *f == name || *t == name);
        let tip = match name {
            "new" => "a meta inserted (ime load new region)",
            "removed" => "a meta removed from the map",
            _ => "a meta replaced by another meta under the same region id (regions.insert before PR 17550)",
        };
        html! {
            <g class={classes!("ime-pseudo", format!("ps-{name}"), used.then_some("used"))} id={format!("ime-pseudo-{name}")}>
                <title>{ tip }</title>
                <rect x={format!("{:.1}", r.cx - r.hw)} y={format!("{:.1}", r.cy - r.hh)}
                    width={format!("{:.1}", 2.0 * r.hw)} height={format!("{:.1}", 2.0 * r.hh)} rx="8" />
                <text x={format!("{:.1}", r.cx)} y={format!("{:.1}", r.cy + 3.5)}>{ name }</text>
            </g>
        }
    };
    let arrow = |id: &'static str| {
        html! {
            <marker id={id} viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7"
                orient="auto-start-reverse" markerUnits="userSpaceOnUse">
                <path d="M0,0 L8,4 L0,8 z" />
            </marker>
        }
    };
    html! {
        <svg id="ime-state-machine" class="ime-svg" viewBox={format!("0 0 {VIEW_W} {VIEW_H}")}
            role="img" aria-label="The region state machine with the number of metas in each state">
            <defs>{ arrow("ime-arrow") }{ arrow("ime-arrow-hot") }{ arrow("ime-arrow-bad") }</defs>
            <g class="ime-edges">{ for legal_edges }{ for other_edges }</g>
            { for ["new", "removed", "replaced"].into_iter().map(pill) }
            { for v.states.iter().map(node) }
        </svg>
    }
}

/// The newest transitions, newest first.
fn transition_list(v: &ImeView) -> Html {
    if v.transitions.is_empty() {
        return html! { <div class="ime-empty" id="ime-transitions">{ "No state change yet." }</div> };
    }
    html! {
        <ol class="ime-transitions" id="ime-transitions" title="The newest state changes, newest first">
            { for v.transitions.iter().rev().take(LISTED).enumerate().map(|(age, t)| html! {
                <li class={classes!("ime-tr", (age < HIGHLIGHTED).then_some("recent"),
                        (t.to == "replaced").then_some("bad"))}
                    data-from={t.from} data-to={t.to}>
                    <span class="ime-time">{ format::secs_ms(t.at_ms) }</span>
                    { transition_text(t) }
                </li>
            }) }
        </ol>
    }
}

/// The race's preconditions, one row each.
fn preconditions(v: &ImeView) -> Html {
    let p = &v.preconditions;
    let row = |id: &'static str,
               label: &'static str,
               tip: &'static str,
               items: Vec<String>,
               level: Option<&'static str>| {
        html! {
            <li class={classes!("ime-pre", level)} id={id} title={tip}>
                <span class="ime-pre-label">{ label }</span>
                <span class="ime-pre-value">
                    { for items.into_iter().map(|i| html! { <span class="ime-pre-item">{ i }</span> }) }
                </span>
            </li>
        }
    };
    let list = |items: Vec<String>| {
        if items.is_empty() {
            vec!["none".to_string()]
        } else {
            items
        }
    };
    let warn_if = |n: usize, level: &'static str| (n > 0).then_some(level);
    let stale = list(
        p.stale_range_keys
            .iter()
            .map(|(end, id)| format!("{end} → {id}"))
            .collect(),
    );
    let twice = list(p.loaded_twice.iter().map(u64::to_string).collect());
    html! {
        <div class="ime-box ime-preconditions" id="ime-preconditions">
            <div class="ime-box-title" title="What builds up before the race: each is necessary, none is enough">
                { "Preconditions of the race" }
            </div>
            <ul>
                { row("ime-pre-held", "evicting metas held by snapshots",
                    "LoadingCanceled, PendingEvict or Evicting metas a read still holds: eviction waits for them",
                    vec![p.evicting_held.to_string()], warn_if(p.evicting_held, "warn")) }
                { row("ime-pre-outdated", "outdated metas",
                    "Metas about a region id this store now has with another range or epoch (an id back through merge and split)",
                    vec![p.outdated_metas.to_string()], warn_if(p.outdated_metas, "warn")) }
                { row("ime-pre-replaced", "metas replaced",
                    "Loads so far (all stores) that replaced a meta held under the same region id",
                    vec![p.metas_replaced.to_string()], (p.metas_replaced > 0).then_some("bad")) }
                { row("ime-pre-stale", "stale range keys (end → id)",
                    "End keys of regions_by_range that point at an id whose meta ends elsewhere or is gone",
                    stale, warn_if(p.stale_range_keys.len(), "bad")) }
                { row("ime-pre-twice", "regions loaded twice",
                    "Region ids with two LoadRegion tasks queued or running at once",
                    twice, warn_if(p.loaded_twice.len(), "bad")) }
            </ul>
        </div>
    }
}

/// The table of metas.
fn metas_table(v: &ImeView) -> Html {
    let p = &v.preconditions;
    let row = |m: &MetaView| {
        let end = m.end.map_or("+inf".to_string(), |e| e.to_string());
        let stale: Vec<String> = p
            .stale_range_keys
            .iter()
            .filter(|(_, id)| *id == m.id)
            .map(|(e, _)| e.to_string())
            .collect();
        let twice = p.loaded_twice.contains(&m.id);
        let mut notes = Vec::new();
        if m.outdated {
            notes.push(html! { <span class="ime-flag bad" title="The store's raftstore has this region id with another range and epoch: the meta is about a region that is no more">{ "outdated" }</span> });
        }
        if twice {
            notes.push(html! { <span class="ime-flag bad" title="Two LoadRegion tasks of this region are queued or running">{ "loading twice" }</span> });
        }
        if !stale.is_empty() {
            notes.push(html! { <span class="ime-flag warn" title="regions_by_range keeps these end keys pointing at this id, though the meta ends elsewhere">{ format!("stale end key {}", stale.join(", ")) }</span> });
        }
        html! {
            <tr class={classes!("ime-meta", m.outdated.then_some("outdated"), twice.then_some("twice"))}
                data-id={m.id.to_string()} data-state={m.state} data-outdated={m.outdated.to_string()}>
                <td class="num">{ m.id }</td>
                <td>{ format!("[{}, {end})", m.start) }</td>
                <td class="num">{ m.epoch }</td>
                <td><span class={classes!("ime-state-tag", state_class(m.state))}>{ m.state }</span></td>
                <td class="num">{ m.snapshots }</td>
                <td>{ if m.in_gc { "yes" } else { "" } }</td>
                <td class="num">{ format::secs_ms(m.since_ms) }</td>
                <td class="ime-notes">{ for notes }</td>
            </tr>
        }
    };
    html! {
        <div class="ime-table-wrap ime-metas-wrap">
            <table class="ime-table" id="ime-metas">
                <thead>
                    <tr>
                        <th class="num">{ "id" }</th>
                        <th>{ "range" }</th>
                        <th class="num" title="Epoch version">{ "epoch" }</th>
                        <th>{ "state" }</th>
                        <th class="num" title="Snapshots reads hold on it">{ "snaps" }</th>
                        <th title="A GC round runs on it">{ "in_gc" }</th>
                        <th class="num" title="Virtual time it was inserted">{ "since" }</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>
                    if v.metas.is_empty() {
                        <tr class="ime-none"><td colspan="8">{ "No region metas: nothing is cached or waiting to load." }</td></tr>
                    }
                    { for v.metas.iter().map(row) }
                </tbody>
            </table>
        </div>
    }
}

/// The background tasks, oldest first.
fn task_list(v: &ImeView) -> Html {
    let twice = &v.preconditions.loaded_twice;
    let row = |t: &TaskView| {
        let doubled = t.name == "LoadRegion"
            && t.regions
                .iter()
                .any(|r| label_id(r).is_some_and(|id| twice.contains(&id)));
        html! {
            <tr class={classes!("ime-task", format!("stage-{}", t.stage), doubled.then_some("twice"))}
                data-name={t.name} data-pool={t.pool} data-stage={t.stage}
                title={format!("task {} scheduled at {}", t.id, format::log_time(t.scheduled_ms))}>
                <td>{ t.name }</td>
                <td class="mono">{ t.pool }</td>
                <td class="ime-stage">{ t.stage }</td>
                <td class="mono ime-regions" title={t.regions.join(", ")}>{ if t.regions.is_empty() { "—".to_string() } else { t.regions.join(", ") } }</td>
            </tr>
        }
    };
    html! {
        <div class="ime-box ime-tasks-box">
            <div class="ime-box-title">{ format!("Background tasks ({})", v.tasks.len()) }</div>
            <div class="ime-table-wrap">
                <table class="ime-table" id="ime-tasks">
                    <thead><tr><th>{ "task" }</th><th>{ "pool" }</th><th>{ "stage" }</th><th>{ "regions" }</th></tr></thead>
                    <tbody>
                        if v.tasks.is_empty() {
                            <tr class="ime-none"><td colspan="4">{ "No task queued or running." }</td></tr>
                        }
                        { for v.tasks.iter().map(row) }
                    </tbody>
                </table>
            </div>
        </div>
    }
}

/// The recent `load_region` calls, newest first.
fn load_list(v: &ImeView) -> Html {
    let refused = v
        .load_requests
        .iter()
        .filter(|r| r.outcome != "accepted")
        .count();
    let replaced = v
        .load_requests
        .iter()
        .filter(|r| r.replaced.is_some())
        .count();
    let row = |r: &LoadRequestView| {
        let accepted = r.outcome == "accepted";
        html! {
            <>
                <tr class={classes!("ime-load", if accepted { "accepted" } else { "refused" },
                        r.replaced.is_some().then_some("replaced"))}
                    data-region={r.region_id.to_string()} data-outcome={r.outcome}>
                    <td class="num">{ format::secs_ms(r.at_ms) }</td>
                    <td class="mono">{ &r.region }</td>
                    <td class="ime-outcome" title={if accepted { "load_region accepted: a Pending meta" } else { "load_region refused (LoadFailedReason)" }}>
                        { r.outcome }
                    </td>
                </tr>
                if let Some(st) = r.replaced {
                    <tr class="ime-replaced-warning">
                        <td colspan="3">
                            { format!("⚠ replaced the {st} meta held under id {}: regions.insert overwrote it", r.region_id) }
                        </td>
                    </tr>
                }
            </>
        }
    };
    html! {
        <div class="ime-box ime-loads-box">
            <div class="ime-box-title">
                { format!("Load requests ({} refused", refused) }
                if replaced > 0 {
                    <span class="bad">{ format!(", {replaced} replaced") }</span>
                }
                { ")" }
            </div>
            <div class="ime-table-wrap">
                <table class="ime-table" id="ime-loads">
                    <tbody>
                        if v.load_requests.is_empty() {
                            <tr class="ime-none"><td colspan="3">{ "No load requested yet." }</td></tr>
                        }
                        { for v.load_requests.iter().rev().map(row) }
                    </tbody>
                </table>
            </div>
        </div>
    }
}

/// The red banner: every store abort, newest first.
fn abort_banner(f: &ImeFrame, on_pick: &Callback<Option<u64>>) -> Html {
    let aborts = &f.view.aborts;
    if aborts.is_empty() {
        return html! {};
    }
    let one = |a: &AbortView| {
        let message = a
            .message
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("  ");
        let restart = if f.now_ms >= a.restart_ms {
            format!(
                "restarted at {} s with an empty engine",
                format::log_time(a.restart_ms)
            )
        } else {
            format!(
                "restarts at {} s with an empty engine",
                format::log_time(a.restart_ms)
            )
        };
        let region_id = a.region.as_deref().and_then(label_id);
        let show = (a.store != f.view.store).then(|| {
            let on_pick = on_pick.clone();
            let store = a.store;
            html! {
                <button class="ime-abort-show" id={format!("ime-abort-show-{store}")}
                    onclick={Callback::from(move |_: MouseEvent| on_pick.emit(Some(store)))}>
                    { format!("show store {store}") }
                </button>
            }
        });
        html! {
            <div class="ime-abort" data-store={a.store.to_string()} data-at={a.at_ms.to_string()}>
                <div class="ime-abort-title">
                    <span class="ime-abort-badge">{ "PANIC" }</span>
                    <span class="ime-abort-head">{ format!("store {} panicked at {} s", a.store, format::log_time(a.at_ms)) }</span>
                    <span class="ime-abort-restart">{ restart }</span>
                    { for show }
                </div>
                <div class="ime-abort-msg">{ message }</div>
                <div class="ime-abort-where">
                    <span class="mono">{ a.location }</span>
                    if let Some(r) = &a.region {
                        <span>{ " · region " }<b class="mono">{ r }</b></span>
                    }
                </div>
                if !a.loads.is_empty() {
                    <div class="ime-abort-loads">
                        <span>{ match region_id {
                            Some(id) => format!("\"ime region to load\" of region {id}:"),
                            None => "\"ime region to load\":".to_string(),
                        } }</span>
                        { for a.loads.iter().map(|(at, r)| html! {
                            <span class="ime-abort-load mono">{ format!("{} s {r}", format::log_time(*at)) }</span>
                        }) }
                        if a.loads.len() > 1 {
                            <b>{ format!("scheduled {} times", a.loads.len()) }</b>
                        }
                    </div>
                }
            </div>
        }
    };
    let older = aborts.len().saturating_sub(ABORTS_SHOWN);
    html! {
        <div class="ime-abort-banner" id="ime-abort-banner" role="alert">
            { for aborts.iter().rev().take(ABORTS_SHOWN).map(one) }
            if older > 0 {
                <div class="ime-abort-older">{ format!("and {older} earlier aborts (see the event log, level fatal)") }</div>
            }
        </div>
    }
}

/// The store picker, the fix in use and the engine's memory.
fn header(f: &ImeFrame, on_pick: &Callback<Option<u64>>) -> Html {
    let v = &f.view;
    let pick = |store: Option<u64>| {
        let on_pick = on_pick.clone();
        Callback::from(move |_: MouseEvent| on_pick.emit(store))
    };
    let buttons = f.stores.iter().map(|s| {
        let title = format!(
            "store {}: {}{} metas{}",
            s.store,
            if s.up { "" } else { "down; " },
            s.metas,
            if s.aborted { "; aborted" } else { "" }
        );
        html! {
            <button id={format!("ime-store-{}", s.store)} title={title}
                class={classes!("ime-store-btn", (s.store == v.store).then_some("active"),
                    s.aborted.then_some("aborted"), (!s.up).then_some("down"), (!s.enabled).then_some("off"))}
                aria-pressed={(s.store == v.store).to_string()} onclick={pick(Some(s.store))}>
                { format!("store {}", s.store) }
                <span class="ime-store-metas">{ s.metas }</span>
            </button>
        }
    });
    let (capacity, evict, stop_load) = v.limits;
    let pct = |b: u64| (b as f64 * 100.0 / capacity.max(1) as f64).min(100.0);
    html! {
        <div class="panel-head ime-head">
            <h2>{ "In-memory engine" }</h2>
            <span class="ime-picker" role="group" aria-label="Store">
                { for buttons }
                <button id="ime-store-auto" class={classes!("ime-store-btn", "auto", f.picked.is_none().then_some("active"))}
                    title="Follow the store of the first abort, else the store whose engine holds the most metas"
                    aria-pressed={f.picked.is_none().to_string()} onclick={pick(None)}>{ "auto" }</button>
            </span>
            if !v.enabled {
                <span class="chip">{ "engine off" }</span>
            } else if v.id_check {
                <span class="chip ime-fix good" title="fix=id-check, TiKV PR 17550: a load is refused while a meta with the same region id exists">{ "id check on" }</span>
            } else {
                <span class="chip ime-fix" title="fix=none, TiKV before PR 17550: load_region checks ranges only">{ "no id check" }</span>
            }
            if !v.up {
                <span class="chip chip-bad">{ "DOWN" }</span>
            }
            if v.enabled && capacity > 0 {
                <span class="ime-mem" title={format!("{} held; stop-load-threshold {}, evict-threshold {}, capacity {}",
                    bytes(v.memory), bytes(stop_load), bytes(evict), bytes(capacity))}>
                    <span class="ime-mem-bar">
                        <span class="ime-mem-fill" style={format!("width:{:.1}%", pct(v.memory))}></span>
                        <span class="ime-mem-tick" style={format!("left:{:.1}%", pct(stop_load))}></span>
                        <span class="ime-mem-tick evict" style={format!("left:{:.1}%", pct(evict))}></span>
                    </span>
                    { bytes(v.memory) }
                </span>
            }
        </div>
    }
}

/// The in-memory engine panel.
#[component]
pub fn InMemoryEngine(props: &InMemoryEngineProps) -> Html {
    let Some(f) = props.frame.ime.as_ref() else {
        return html! {};
    };
    let v = &f.view;
    let down_note = (!v.up).then(|| {
        let back = v
            .aborts
            .iter()
            .rev()
            .find(|a| a.store == v.store && a.restart_ms > f.now_ms)
            .map(|a| format!(" until {}", format::secs_ms(a.restart_ms)))
            .unwrap_or_default();
        html! {
            <div class="ime-note">{ format!("Store {} is down{back}: its engine starts empty when it comes back.", v.store) }</div>
        }
    });
    html! {
        <div class="panel ime-panel" id="in-memory-engine" data-store={v.store.to_string()}>
            { header(f, &props.on_pick) }
            { abort_banner(f, &props.on_pick) }
            { for down_note }
            <div class="ime-top">
                <div class="ime-machine">
                    { state_machine(v) }
                    { transition_list(v) }
                </div>
                { preconditions(v) }
            </div>
            { metas_table(v) }
            <div class="ime-bottom">
                { task_list(v) }
                { load_list(v) }
            </div>
        </div>
    }
}
