//! Small counters: cluster QPS now, the scenario's own counters (from its
//! spec, with the labels and alarms it gives them), and the invariant
//! violations (red when any).

use std::rc::Rc;

use kvscope_core::scenario::Alarm;
use yew::prelude::*;

use crate::snapshot::Frame;

/// Properties of [`Counters`].
#[derive(Properties, PartialEq)]
pub struct CountersProps {
    /// The snapshot.
    pub frame: Rc<Frame>,
}

fn item(
    id: String,
    label: &str,
    value: String,
    class: Option<&'static str>,
    title: String,
) -> Html {
    // Long values (thousands and up) get a smaller face, so that neighbours
    // in the strip stay apart.
    let long = (value.chars().count() > 5).then_some("long");
    html! {
        <div class={classes!("counter", class, long)} title={title}>
            <span class="counter-value" id={id}>{ value }</span>
            <span class="counter-label">{ label.to_string() }</span>
        </div>
    }
}

/// The counter strip.
#[component]
pub fn Counters(props: &CountersProps) -> Html {
    let f = &props.frame;
    let qps = f.view.qps.round() as i64;
    let violations = f.view.violations;
    html! {
        <div class="panel counters">
            { item("qps-now".into(), "cluster QPS", qps.to_string(), (qps == 0).then_some("bad"),
                "Client operations completed over the last virtual second".into()) }
            { for f.counters.iter().map(|(c, v)| {
                let class = match c.alarm {
                    Alarm::BadWhenNonZero if *v > 0 => Some("bad"),
                    Alarm::GoodWhenNonZero if *v > 0 => Some("good"),
                    _ => None,
                };
                item(
                    format!("counter-{}", c.counter.name()),
                    c.label,
                    crate::format::count(*v),
                    class,
                    format!("{} (counter {})", c.meaning, c.counter.name()),
                )
            }) }
            { item("violations".into(), "violations", violations.to_string(), Some(if violations > 0 { "bad" } else { "good" }),
                "Invariant violations: election safety, state machine safety, acknowledged writes lost".into()) }
        </div>
    }
}
