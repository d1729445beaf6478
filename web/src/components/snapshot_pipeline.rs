//! The snapshot pipeline: each Raft snapshot's journey on a shared time
//! axis, one row per (region, follower peer): generate on the leader's
//! `snap-generator` (amber), send in 1 MiB chunks (blue), apply on the
//! follower's `region-worker` (green), a failure in red. Beside each row its
//! current stage, its size and the leader's progress state for the
//! follower (Probe, Replicate, Snapshot); above, the limits in use and each
//! store's streams and pools now. Data: `kvscope_core::views::snapshots`.

use std::rc::Rc;

use kvscope_core::raftstore::snap::SnapStage;
use kvscope_core::views::snapshots::{PipelineView, SnapshotJourney};
use kvscope_core::views::ClusterView;
use yew::prelude::*;

use crate::format::bytes;
use crate::snapshot::Frame;

/// Properties of [`SnapshotPipeline`].
#[derive(Properties, PartialEq)]
pub struct SnapshotPipelineProps {
    /// The snapshot of the simulation.
    pub frame: Rc<Frame>,
}

/// The stage's name as TiKV's logs put it, for the row label.
pub fn stage_label(s: SnapStage) -> &'static str {
    match s {
        SnapStage::Requested => "requested (temporarily unavailable)",
        SnapStage::Generating => "generating on snap-generator",
        SnapStage::Generated => "generated",
        SnapStage::Sending => "sending chunks",
        SnapStage::Receiving => "receiving chunks",
        SnapStage::RecvRefused => "refused: receive limit",
        SnapStage::Received => "received",
        SnapStage::Applying => "applying on region-worker",
        SnapStage::Sent => "sent (Finish reported)",
        SnapStage::SendFailed => "send failed (Failure reported)",
        SnapStage::Applied => "applied",
    }
}

/// A segment of a journey: `[from, to)` virtual ms and its phase class.
fn segments(j: &SnapshotJourney, now_ms: u64) -> Vec<(u64, u64, &'static str, String)> {
    let mut out = Vec::new();
    let end_or_now = |s: Option<u64>| s.unwrap_or(now_ms);
    let mut phase = |from: Option<u64>, to: Option<u64>, class: &'static str, what: &str| {
        if let Some(f) = from {
            let t = end_or_now(to);
            out.push((
                f,
                t.max(f),
                class,
                format!("{what}: {} ms", t.saturating_sub(f)),
            ));
        }
    };
    let failed_at = j.at(SnapStage::SendFailed).or(j.at(SnapStage::RecvRefused));
    let stop = |t: Option<u64>| t.or(failed_at);
    phase(
        j.at(SnapStage::Requested),
        stop(j.at(SnapStage::Generated)),
        "seg-generate",
        "requested → generated",
    );
    if j.at(SnapStage::Generated).is_some() {
        phase(
            j.at(SnapStage::Sending),
            stop(j.at(SnapStage::Received)),
            "seg-send",
            "sending → received",
        );
    }
    if j.at(SnapStage::Received).is_some() {
        phase(
            j.at(SnapStage::Applying),
            j.at(SnapStage::Applied),
            "seg-apply",
            "applying → applied",
        );
    }
    if let Some(f) = failed_at {
        out.push((f, f + 1, "seg-failed", "failed".to_string()));
    }
    out
}

fn progress_of(view: &ClusterView, region: u64, peer: u64) -> Option<(&'static str, u64)> {
    view.regions
        .iter()
        .find(|r| r.id == region)?
        .peers
        .iter()
        .find(|p| p.peer_id == peer)
        .map(|p| (p.progress_state.unwrap_or("-"), p.store_id))
}

fn row(j: &SnapshotJourney, pv: &PipelineView, view: &ClusterView, t0: u64, span: u64) -> Html {
    let current = j.current().unwrap_or(SnapStage::Requested);
    let (progress, follower_store) = progress_of(view, j.region_id, j.to_peer).unwrap_or(("-", 0));
    let bars = segments(j, pv.now_ms)
        .into_iter()
        .map(|(f, t, class, title)| {
            let left = (f.saturating_sub(t0)) as f64 * 100.0 / span as f64;
            let width = ((t - f) as f64 * 100.0 / span as f64).max(0.6);
            html! {
                <div class={classes!("seg", class)} title={title}
                    style={format!("left:{left:.2}%;width:{width:.2}%")}></div>
            }
        });
    let status = if j.applied {
        "done"
    } else if j.failed {
        "failed"
    } else {
        "open"
    };
    let title = j
        .stages
        .iter()
        .map(|s| format!("{} ms, store {}: {}", s.at_ms, s.store, s.detail))
        .collect::<Vec<_>>()
        .join("\n");
    html! {
        <div class={classes!("snap-row", status)} data-region={j.region_id.to_string()}
            data-peer={j.to_peer.to_string()} data-stage={format!("{current:?}")} title={title}>
            <span class="snap-who">{ format!("r{} → s{}", j.region_id, follower_store) }</span>
            <div class="snap-track">{ for bars }</div>
            <span class="snap-stage">{ stage_label(current) }</span>
            <span class="snap-size">{ if j.size > 0 { bytes(j.size) } else { String::new() } }</span>
            <span class={classes!("snap-progress", format!("pr-{}", progress.to_lowercase()))}
                title="raft-rs progress of the follower, as the leader sees it">{ progress }</span>
        </div>
    }
}

/// The snapshot pipeline panel.
#[component]
pub fn SnapshotPipeline(props: &SnapshotPipelineProps) -> Html {
    let f = &props.frame;
    let Some(pv) = f.pipeline.as_ref() else {
        return html! {};
    };
    // Journeys still on their way first (oldest first), then the finished
    // ones, newest first; the list scrolls past about ten rows.
    let mut shown: Vec<&SnapshotJourney> = pv
        .journeys
        .iter()
        .filter(|j| !j.applied && !j.failed)
        .collect();
    shown.extend(pv.journeys.iter().rev().filter(|j| j.applied || j.failed));
    let t0 = shown
        .iter()
        .filter_map(|j| j.stages.first().map(|s| s.at_ms))
        .min()
        .unwrap_or(pv.now_ms);
    let span = pv.now_ms.saturating_sub(t0).max(200);
    let l = &pv.limits;
    let stores = pv.stores.iter().map(|s| {
        let busy = s.sending > 0 || s.receiving > 0 || s.generator_busy > 0 || s.region_worker_busy;
        html! {
            <span class={classes!("snap-store", busy.then_some("busy"))} data-store={s.store.to_string()}>
                { format!("s{}: send {}/{} · recv {}/{} · snap-generator {}/{}{} · region-worker {}",
                    s.store, s.sending, l.concurrent_send_snap_limit, s.receiving,
                    l.concurrent_recv_snap_limit, s.generator_busy, pv.generator_threads,
                    if s.generator_queue > 0 { format!(" (+{} queued)", s.generator_queue) } else { String::new() },
                    if s.region_worker_busy { "busy" } else { "idle" }) }
            </span>
        }
    });
    html! {
        <div class="panel" id="snapshot-pipeline">
            <h2>{ "Snapshot pipeline" }
                <span class="panel-note">{ format!("{} · IO limit {}/s · {} journeys",
                    pv.engine, bytes(l.snap_io_max_bytes_per_sec), pv.total_journeys) }</span>
            </h2>
            <div class="snap-stores">{ for stores }</div>
            if shown.is_empty() {
                <div class="snap-empty">{ "No snapshot yet: peers catch up from the log while the leader still has the entries they need." }</div>
            } else {
                <div class="snap-legend">
                    <span class="seg-generate">{ "generate" }</span>
                    <span class="seg-send">{ "send 1 MiB chunks" }</span>
                    <span class="seg-apply">{ "apply" }</span>
                    <span class="seg-failed">{ "failed" }</span>
                    <span class="snap-axis">{ format!("{:.1} s → {:.1} s", t0 as f64 / 1000.0, pv.now_ms as f64 / 1000.0) }</span>
                </div>
                <div class="snap-rows">{ for shown.iter().map(|j| row(j, pv, &f.view, t0, span)) }</div>
            }
        </div>
    }
}
