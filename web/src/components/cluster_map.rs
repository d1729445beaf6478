//! The cluster map: one column per store (disk state, slow score, eviction,
//! leader count) and one row per region, with each store's peer of that region
//! in its cell (leader, follower, learner, ...). Clicking a row selects the
//! region for the Raft group panel.

use std::rc::Rc;

use kvscope_core::views::{DiskState, PeerRole, PeerView, RegionView, StoreView};
use yew::prelude::*;

use crate::format;
use crate::snapshot::Frame;

/// Properties of [`ClusterMap`].
#[derive(Properties, PartialEq)]
pub struct ClusterMapProps {
    /// The snapshot to draw.
    pub frame: Rc<Frame>,
    /// A region was clicked.
    pub on_select: Callback<u64>,
}

/// CSS class and short label of a peer role.
pub fn role_class_label(role: PeerRole) -> (&'static str, &'static str, &'static str) {
    match role {
        PeerRole::Leader => ("leader", "L", "leader"),
        PeerRole::Follower => ("follower", "F", "follower"),
        PeerRole::Learner => ("learner", "Lrn", "learner"),
        PeerRole::Candidate => ("candidate", "C", "candidate"),
        PeerRole::PreCandidate => ("precandidate", "PC", "pre-candidate"),
        PeerRole::Down => ("down", "✕", "down (store process stopped)"),
    }
}

fn store_head(s: &StoreView) -> Html {
    let hung = match &s.disk {
        DiskState::Hung { since_ms, until_ms } => Some((*since_ms, *until_ms)),
        DiskState::Healthy => None,
    };
    let score_pct = s.slow_score.min(100);
    let score_class = if s.slow_score >= 100 {
        "bad"
    } else if s.slow_score > 1 {
        "warn"
    } else {
        "ok"
    };
    let leaders = if s.leader_count == 1 {
        "leader"
    } else {
        "leaders"
    };
    html! {
        <div class="store-head">
            <div class="store-title">
                <span class="store-name">{ format!("Store {}", s.id) }</span>
                <span class="store-stats" title={format!("{} region leaders and {} peers on this store", s.leader_count, s.peer_count)}>
                    <b class="leader-count">{ s.leader_count }</b>
                    <span class="leaders-word">{ format!(" {leaders}") }</span>
                    <span class="leaders-short">{" L"}</span>
                </span>
            </div>
            if !s.up {
                <div class="badge down-badge" title="The store's process is down">{"DOWN"}</div>
            }
            if let Some((since, until)) = hung {
                <div class="badge disk-hung" title="Every write of this store's disk is held">{"DISK HUNG"}</div>
                <div class="hang-time" title={match until {
                    Some(u) => format!("hung since {}, until {}", format::secs_ms(since), format::secs_ms(u)),
                    None => format!("hung since {}, no scheduled end", format::secs_ms(since)),
                }}>
                    { match until {
                        Some(u) => format!("{} → {}", format::secs_ms_short(since), format::secs_ms_short(u)),
                        None => format!("since {}", format::secs_ms(since)),
                    } }
                </div>
            } else {
                <div class="disk-ok" title="Writes complete after the configured latency">
                    { format!("disk ok · queue {}", s.disk_queue) }
                </div>
            }
            <div class="slow-score" title="TiKV's slow score (1 = healthy … 100 = slow); PD evicts leaders at 100">
                <span class="ss-label">{"slow"}</span>
                <span class="ss-track"><span class={classes!("ss-bar", score_class)} style={format!("width:{score_pct}%")}></span></span>
                <span class={classes!("ss-value", score_class)}>{ s.slow_score }</span>
            </div>
            if s.evicted_as_slow {
                <div class="badge evicted" title="PD's evict-slow-store scheduler moves this store's leaders away">{"evicted (slow)"}</div>
            }
        </div>
    }
}

fn peer_cell(
    region: &RegionView,
    peer: Option<&PeerView>,
    store: &StoreView,
    on_click: Callback<MouseEvent>,
    selected: bool,
) -> Html {
    let Some(p) = peer else {
        return html! { <div class={classes!("cell", "empty", selected.then_some("selected"))} onclick={on_click}></div> };
    };
    let (class, letter, name) = role_class_label(p.role);
    let title = format!(
        "region {} peer {} on store {}: {name}, term {}, persisted {}, committed {}, applied {}, last {}{}",
        region.id,
        p.peer_id,
        store.id,
        p.term,
        p.persisted,
        p.committed,
        p.applied,
        p.last_index,
        if p.has_pending_conf { ", conf change pending (not yet applied)" } else { "" }
    );
    html! {
        <div class={classes!("cell", "region", format!("role-{class}"), region.hot.then_some("hot"), selected.then_some("selected"))}
            data-region={region.id.to_string()} data-store={store.id.to_string()} data-role={class}
            title={title} onclick={on_click}>
            <span class={classes!("peer", class)}>{ letter }</span>
            <span class="cell-idx">{ format!("a{}", p.applied) }</span>
            if p.has_pending_conf {
                <span class="conf-pending" title="pending conf change not applied">{"⚙"}</span>
            }
        </div>
    }
}

/// The cluster map panel.
#[component]
pub fn ClusterMap(props: &ClusterMapProps) -> Html {
    let f = &props.frame;
    let view = &f.view;
    let select = |rid: u64| props.on_select.reform(move |_: MouseEvent| rid);
    let cols = format!(
        "grid-template-columns: 128px repeat({}, minmax(0, 1fr));",
        view.stores.len().max(1)
    );
    html! {
        <div class="panel cluster-panel">
            <div class="panel-head">
                <h2>{"Cluster map"}</h2>
                <span class="panel-sub">{"click a region for its Raft group"}</span>
                <span class="legend">
                    <span class="peer leader">{"L"}</span>{" leader "}
                    <span class="peer follower">{"F"}</span>{" follower "}
                    <span class="peer learner">{"Lrn"}</span>{" learner "}
                    <span class="conf-pending">{"⚙"}</span>{" conf change pending · a = applied index"}
                </span>
            </div>
            <div class="cluster-map" style={cols}>
                <div class="region-labels">
                    <div class="labels-head">
                        <div class="labels-title">{"Region"}</div>
                        <div class="labels-sub">{"leader store · QPS"}</div>
                    </div>
                    { for view.regions.iter().map(|r| {
                        let selected = r.id == f.selected_region;
                        let leader = r.leader_store.map_or("no leader".to_string(), |s| format!("S{s}"));
                        let range = if r.end_key.is_empty() { format!("[{}, ∞)", r.start_key) } else { format!("[{}, {})", r.start_key, r.end_key) };
                        html! {
                            <div class={classes!("region-label", r.hot.then_some("hot"), selected.then_some("selected"), r.leader_store.is_none().then_some("leaderless"))}
                                data-region={r.id.to_string()}
                                data-leader-store={r.leader_store.map(|s| s.to_string()).unwrap_or_default()}
                                title={format!("region {} keys {range}, epoch conf_ver {} version {}", r.id, r.conf_ver, r.version)}
                                onclick={select(r.id)}>
                                <span class="rid">{ format!("R{}", r.id) }</span>
                                if r.hot {
                                    <span class="hot-tag" title="the scenario's hot region">{"HOT"}</span>
                                }
                                if r.merging {
                                    <span class="hot-tag merging-tag" title="PrepareMerge applied: the region takes no writes until its CommitMerge (or RollbackMerge)">{"MERGING"}</span>
                                }
                                <span class="rl-leader">{ leader }</span>
                                <span class="rl-qps">{ format::rate(r.qps) }</span>
                            </div>
                        }
                    }) }
                </div>
                { for view.stores.iter().map(|s| {
                    let hung = matches!(s.disk, DiskState::Hung { .. });
                    html! {
                        <div class={classes!("store", hung.then_some("hung"), (!s.up).then_some("down"), s.evicted_as_slow.then_some("evicted-store"))}
                            data-store={s.id.to_string()}>
                            { store_head(s) }
                            { for view.regions.iter().map(|r| {
                                let peer = r.peers.iter().find(|p| p.store_id == s.id);
                                peer_cell(r, peer, s, select(r.id), r.id == f.selected_region)
                            }) }
                        </div>
                    }
                }) }
            </div>
        </div>
    }
}
