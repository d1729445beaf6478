//! Small counters: cluster QPS now, invariant violations (red when any), and
//! the scenario's own: transfer-leader attempts / rejected / succeeded, or,
//! for the lock-manager scenarios, transactions, deadlocks, detector
//! requests and OOM kills.

use std::rc::Rc;

use yew::prelude::*;

use crate::snapshot::Frame;

/// Properties of [`Counters`].
#[derive(Properties, PartialEq)]
pub struct CountersProps {
    /// The snapshot.
    pub frame: Rc<Frame>,
}

fn item_owned(
    id: String,
    label: &'static str,
    value: String,
    class: Option<&'static str>,
    title: &'static str,
) -> Html {
    html! {
        <div class={classes!("counter", class)} title={title}>
            <span class="counter-value" id={id}>{ value }</span>
            <span class="counter-label">{ label }</span>
        </div>
    }
}

/// The counter strip.
#[component]
pub fn Counters(props: &CountersProps) -> Html {
    let f = &props.frame;
    let qps = f.view.qps.round() as i64;
    let violations = f.view.violations;
    let item = |id: &'static str,
                label: &'static str,
                value: String,
                class: Option<&'static str>,
                title: &'static str| {
        html! {
            <div class={classes!("counter", class)} title={title}>
                <span class="counter-value" id={id}>{ value }</span>
                <span class="counter-label">{ label }</span>
            </div>
        }
    };
    if let Some(lf) = &f.locks {
        let lock_item = |name: &'static str,
                         label: &'static str,
                         bad_when_nonzero: bool,
                         title: &'static str| {
            let v = lf.counter(name);
            let class = if bad_when_nonzero && v > 0 {
                Some("bad")
            } else {
                None
            };
            item_owned(
                format!("counter-{name}"),
                label,
                crate::format::count(v),
                class,
                title,
            )
        };
        return html! {
            <div class="panel counters lock-counters">
                { item("qps-now", "cluster QPS", qps.to_string(), (qps == 0).then_some("bad"),
                    "Client operations completed over the last virtual second") }
                { lock_item("txn_committed", "txns committed", false, "Transactions committed (counter txn_committed)") }
                { lock_item("txn_rolled_back", "rolled back", false, "Transactions rolled back (counter txn_rolled_back)") }
                { lock_item("deadlocks_detected", "deadlocks", false, "Deadlocks found by the detector leader (counter deadlocks_detected)") }
                { lock_item("lock_wait_timeouts", "wait timeouts", false, "Lock waits that reached wait-for-lock-timeout (counter lock_wait_timeouts)") }
                { lock_item("detect_requests_sent", "detect sent", false, "DeadlockRequest Detect sent to the detector leader (counter detect_requests_sent)") }
                { lock_item("clean_up_wait_for_sent", "clean-up-wait-for", false, "DeadlockRequest CleanUpWaitFor sent (counter clean_up_wait_for_sent)") }
                { lock_item("detector_requests_dropped", "requests dropped", true, "Detector requests dropped (a bounded stream, or the leader down) (counter detector_requests_dropped)") }
                { lock_item("oom_kills", "OOM kills", true, "Stores killed by the OOM killer (counter oom_kills)") }
                { item("violations", "violations", violations.to_string(), Some(if violations > 0 { "bad" } else { "good" }),
                    "Invariant violations recorded by the simulator") }
            </div>
        };
    }
    html! {
        <div class="panel counters">
            { item("qps-now", "cluster QPS", qps.to_string(), (qps == 0).then_some("bad"),
                "Client writes completed over the last virtual second") }
            { item("counter-attempts", "transfer attempts", f.transfer_attempts.to_string(), None,
                "Transfer-leader requests received by leaders (counter transfer_leader_attempts)") }
            { item("counter-rejected", "rejected (pending conf)", f.transfer_rejected_pending_conf.to_string(),
                (f.transfer_rejected_pending_conf > 0).then_some("bad"),
                "\"reject transfer leader due to pending conf change\" (counter transfer_leader_rejected_pending_conf)") }
            { item("counter-succeeded", "transfers succeeded", f.transfer_succeeded.to_string(),
                (f.transfer_succeeded > 0).then_some("good"), "Transferees that became leader (counter transfer_leader_succeeded)") }
            { item("violations", "violations", violations.to_string(), Some(if violations > 0 { "bad" } else { "good" }),
                "Invariant violations: election safety, state machine safety, acknowledged writes lost") }
        </div>
    }
}
