//! The Raft group panel of the selected region: term, each peer's role and
//! persisted / committed / applied / last index, the leader's log strip with
//! its conf change entries, the pending conf index, and the transfer-leader
//! attempts with their outcomes.

use std::rc::Rc;

use kvscope_core::views::{EntryKind, PeerRole, PeerView, RaftGroupView, TransferOutcome};
use yew::prelude::*;

use crate::components::cluster_map::role_class_label;
use crate::snapshot::Frame;

/// Properties of [`RaftGroup`].
#[derive(Properties, PartialEq)]
pub struct RaftGroupProps {
    /// The snapshot (its `group` is drawn).
    pub frame: Rc<Frame>,
}

/// Entries shown in the log strip.
const STRIP_ENTRIES: usize = 30;
/// Transfer attempts listed.
const ATTEMPTS_SHOWN: usize = 12;

fn pct(v: u64, lo: u64, hi: u64) -> f64 {
    if hi <= lo {
        return 100.0;
    }
    (v.saturating_sub(lo) as f64 / (hi - lo) as f64 * 100.0).clamp(0.0, 100.0)
}

/// The leader's pending conf index while the leader has not applied it.
fn stuck_pending(g: &RaftGroupView) -> Option<u64> {
    g.peers
        .iter()
        .find(|p| p.role == PeerRole::Leader)
        .filter(|l| g.pending_conf_index > l.applied)
        .map(|_| g.pending_conf_index)
}

fn index_bars(p: &PeerView, lo: u64, hi: u64, pending: Option<u64>) -> Html {
    let bar = |class: &'static str, v: u64, label: &'static str| {
        html! {
            <span class={classes!("ib", class)} style={format!("width:{:.1}%", pct(v, lo, hi))}
                title={format!("{label} {v}")}></span>
        }
    };
    html! {
        <div class="index-bars" title={format!("indices {lo}..{hi}")}>
            { bar("ib-last", p.last_index, "last index") }
            { bar("ib-persisted", p.persisted, "persisted") }
            { bar("ib-committed", p.committed, "committed") }
            { bar("ib-applied", p.applied, "applied") }
            if let Some(pending) = pending.filter(|&x| x > lo && x <= hi) {
                <span class="ib-pending" style={format!("left:{:.1}%", pct(pending, lo, hi))}
                    title={format!("pending conf index {pending}")}></span>
            }
        </div>
    }
}

fn peer_table(g: &RaftGroupView) -> Html {
    let hi = g
        .peers
        .iter()
        .map(|p| p.last_index.max(p.committed))
        .max()
        .unwrap_or(0);
    let lo_data = g
        .peers
        .iter()
        .filter(|p| p.role != PeerRole::Down)
        .map(|p| p.applied.min(p.persisted))
        .min()
        .unwrap_or(0);
    // Leave a little room on the left so that a stuck peer still shows a bar.
    let span = hi.saturating_sub(lo_data).max(8);
    let lo = hi.saturating_sub(span + span / 6 + 2);
    html! {
        <table class="peer-table">
            <thead>
                <tr>
                    <th>{"peer"}</th><th>{"store"}</th><th>{"role"}</th><th>{"term"}</th>
                    <th title="durable on the peer's disk">{"persisted"}</th>
                    <th title="known committed">{"committed"}</th>
                    <th title="applied to the state machine">{"applied"}</th>
                    <th title="last index in the log">{"last"}</th>
                    <th title="the leader's view of this peer's replication (matched)">{"matched"}</th>
                    <th class="bars-col" title="bars: persisted (gray), committed (blue), applied (green); red line: pending conf index">
                        {"indices"}
                        <span class="key ib-persisted"></span><span class="key ib-committed"></span><span class="key ib-applied"></span><span class="key ib-pending-key"></span>
                    </th>
                </tr>
            </thead>
            <tbody>
                { for g.peers.iter().map(|p| {
                    let (class, letter, name) = role_class_label(p.role);
                    let stuck = p.role == PeerRole::Leader && stuck_pending(g).is_some();
                    html! {
                        <tr class={classes!(format!("row-{class}"), stuck.then_some("stuck"))} data-store={p.store_id.to_string()}>
                            <td>{ p.peer_id }</td>
                            <td>{ format!("S{}", p.store_id) }</td>
                            <td class="role-cell" title={name}><span class={classes!("peer", class)}>{ letter }</span>{" "}{ name }</td>
                            <td>{ p.term }</td>
                            <td>{ p.persisted }</td>
                            <td>{ p.committed }</td>
                            <td class={classes!(stuck.then_some("bad"))}>{ p.applied }</td>
                            <td>{ p.last_index }</td>
                            <td>{ p.matched.map(|m| m.to_string()).unwrap_or_else(|| "–".into()) }</td>
                            <td class="bars-col">{ index_bars(p, lo, hi, stuck_pending(g)) }</td>
                        </tr>
                    }
                }) }
            </tbody>
        </table>
    }
}

fn log_strip(g: &RaftGroupView) -> Html {
    let leader = g.peers.iter().find(|p| p.role == PeerRole::Leader);
    let skip = g.log_tail.len().saturating_sub(STRIP_ENTRIES);
    let entries = &g.log_tail[skip..];
    let whose = match leader {
        Some(l) => format!("Leader's log (S{})", l.store_id),
        None => "Longest log (no leader)".to_string(),
    };
    // The pending conf change may lie before the strip when the leader keeps
    // appending (the core hands out the last 64 entries only).
    let first_shown = entries.first().map_or(0, |e| e.index);
    let conf_before = stuck_pending(g)
        .filter(|&p| p < first_shown)
        .map(|p| (p, first_shown - p));
    let confs: Vec<_> = g
        .log_tail
        .iter()
        .filter(|e| e.kind == EntryKind::ConfChange)
        .collect();
    html! {
        <div class="log-strip-box">
            <div class="sub-head">{ format!("{whose}, last {} entries", entries.len()) }</div>
            if let Some((idx, gap)) = conf_before {
                <div class="strip-gap">
                    <span class="le conf pending">{"C"}</span>
                    { format!("pending conf change #{idx}{}: {gap} entries before the strip, not applied by the leader",
                        g.pending_conf_entry.as_ref().and_then(|e| e.label.as_ref()).map(|l| format!(" ({l})")).unwrap_or_default()) }
                </div>
            }
            <div class="log-strip">
                { for entries.iter().map(|e| {
                    let kind = match e.kind {
                        EntryKind::Empty => "empty",
                        EntryKind::Normal => "normal",
                        EntryKind::ConfChange => "conf",
                    };
                    let (uncommitted, unapplied) = match leader {
                        Some(l) => (e.index > l.committed, e.index <= l.committed && e.index > l.applied),
                        None => (false, false),
                    };
                    let pending = stuck_pending(g) == Some(e.index);
                    let title = format!(
                        "#{} term {}{}{}",
                        e.index,
                        e.term,
                        e.label.as_ref().map(|l| format!(": {l}")).unwrap_or_default(),
                        if pending { " (pending conf index)" } else { "" }
                    );
                    html! {
                        <span class={classes!("le", kind, uncommitted.then_some("uncommitted"), unapplied.then_some("unapplied"), pending.then_some("pending"))}
                            title={title}>
                            if e.kind == EntryKind::ConfChange { {"C"} }
                        </span>
                    }
                }) }
            </div>
            if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
                <div class="strip-axis"><span>{ format!("#{}", first.index) }</span><span>{ format!("#{}", last.index) }</span></div>
            }
            <div class="strip-legend">
                <span class="lg"><span class="le normal"></span>{"write"}</span>
                <span class="lg"><span class="le empty"></span>{"no-op"}</span>
                <span class="lg"><span class="le conf"></span>{"conf change"}</span>
                <span class="lg"><span class="le normal uncommitted"></span>{"not committed"}</span>
                <span class="lg"><span class="le normal unapplied"></span>{"not applied by leader"}</span>
            </div>
            if !confs.is_empty() {
                <ul class="conf-list">
                    { for confs.iter().map(|e| {
                        let applied_on_leader = leader.is_some_and(|l| l.applied >= e.index);
                        html! {
                            <li class={classes!(if applied_on_leader { "applied" } else { "unapplied" })}
                                title={format!("entry #{} (term {}): {}", e.index, e.term, e.label.clone().unwrap_or_default())}>
                                <span class="conf-idx">{ format!("#{}", e.index) }</span>
                                <span class="conf-label">{ e.label.clone().unwrap_or_else(|| "conf change".into()) }</span>
                                <span class="conf-state">{ if applied_on_leader { "✓ applied" } else { "✕ not applied by leader" } }</span>
                            </li>
                        }
                    }) }
                </ul>
            }
        </div>
    }
}

fn attempts(g: &RaftGroupView) -> Html {
    let total = g.transfer_attempts.len();
    let rejected = g
        .transfer_attempts
        .iter()
        .filter(|a| matches!(a.outcome, TransferOutcome::Rejected(_)))
        .count();
    html! {
        <div class="attempts">
            <div class="sub-head">
                { format!("Transfer-leader attempts: {total}") }
                if rejected > 0 {
                    <span class="bad">{ format!(" · {rejected} rejected") }</span>
                }
            </div>
            if total == 0 {
                <div class="muted">{"none on this region yet"}</div>
            } else {
                <ul class="attempt-list">
                    { for g.transfer_attempts.iter().rev().take(ATTEMPTS_SHOWN).map(|a| {
                        let (class, text) = match &a.outcome {
                            TransferOutcome::InFlight => ("inflight", "in flight".to_string()),
                            TransferOutcome::Rejected(why) => ("rejected", format!("✕ rejected: {why}")),
                            TransferOutcome::Transferring => ("transferring", "transferring".to_string()),
                            TransferOutcome::Succeeded => ("succeeded", "✓ succeeded".to_string()),
                        };
                        html! {
                            <li class={classes!("attempt", class)} title={text.clone()}>
                                <span class="at-time">{ format!("{}.{}s", a.t_ms / 1000, (a.t_ms % 1000) / 100) }</span>
                                <span class="at-move">{ format!("S{} → S{}", a.from_store, a.to_store) }</span>
                                <span class="at-outcome">{ text }</span>
                            </li>
                        }
                    }) }
                </ul>
            }
        </div>
    }
}

/// The Raft group panel.
#[component]
pub fn RaftGroup(props: &RaftGroupProps) -> Html {
    let f = &props.frame;
    let Some(g) = &f.group else {
        return html! {
            <div class="panel raft-panel">
                <div class="panel-head"><h2>{"Raft group"}</h2></div>
                <div class="muted">{ format!("Region {} has no peer on any store.", f.selected_region) }</div>
            </div>
        };
    };
    let leader = g.peers.iter().find(|p| p.role == PeerRole::Leader);
    let stuck = leader.is_some_and(|l| g.pending_conf_index > l.applied);
    html! {
        <div class="panel raft-panel" data-region={g.region_id.to_string()}>
            <div class="panel-head">
                <h2>{ format!("Raft group · region {}", g.region_id) }</h2>
                if g.region_id == f.hot_region {
                    <span class="hot-tag">{"HOT"}</span>
                }
                <span class="chip">{ format!("term {}", g.term) }</span>
                <span class="chip">{ leader.map_or("no leader".to_string(), |l| format!("leader S{}", l.store_id)) }</span>
                <span id="pending-conf" class={classes!("chip", stuck.then_some("chip-bad"))}
                    title="raft-rs pending_conf_index of the leader: while the leader's applied index is below it, the leader has a pending conf change">
                    { format!("pending conf {}", if g.pending_conf_index == 0 { "–".to_string() } else { g.pending_conf_index.to_string() }) }
                    if let (true, Some(l)) = (stuck, leader) {
                        { format!(" > leader applied {}", l.applied) }
                    }
                </span>
            </div>
            <div class="raft-body">
                { peer_table(g) }
                <div class="raft-lower">
                    { log_strip(g) }
                    { attempts(g) }
                </div>
            </div>
        </div>
    }
}
