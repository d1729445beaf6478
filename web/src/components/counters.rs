//! Small counters: transfer-leader attempts / rejected / succeeded, cluster
//! QPS now, and invariant violations (red when any).

use std::rc::Rc;

use yew::prelude::*;

use crate::snapshot::Frame;

/// Properties of [`Counters`].
#[derive(Properties, PartialEq)]
pub struct CountersProps {
    /// The snapshot.
    pub frame: Rc<Frame>,
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
