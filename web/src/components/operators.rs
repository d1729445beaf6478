//! PD's operators: the ones running, then the most recent finished ones, each
//! with its steps (the current one highlighted) and status.

use std::rc::Rc;

use kvscope_core::views::{OperatorStatus, OperatorView};
use yew::prelude::*;

use crate::format;
use crate::snapshot::Frame;

/// Properties of [`Operators`].
#[derive(Properties, PartialEq)]
pub struct OperatorsProps {
    /// The snapshot (its `view.operators` is drawn).
    pub frame: Rc<Frame>,
}

/// Operators listed at most.
const SHOWN: usize = 14;

fn status(o: &OperatorView) -> (&'static str, &'static str) {
    match o.status {
        OperatorStatus::Running => ("running", "running"),
        OperatorStatus::Success => ("success", "done"),
        OperatorStatus::Timeout => ("timeout", "timed out"),
        OperatorStatus::Canceled => ("canceled", "canceled"),
    }
}

fn operator(o: &OperatorView) -> Html {
    let (class, label) = status(o);
    let when = match o.finished_ms {
        Some(end) => format!(
            "{} → {}",
            format::secs_ms(o.created_ms),
            format::secs_ms(end)
        ),
        None => format!("since {}", format::secs_ms(o.created_ms)),
    };
    html! {
        <li class={classes!("operator", class)} data-region={o.region_id.to_string()}>
            <div class="op-head">
                <span class={classes!("op-status", class)}>{ label }</span>
                <span class="op-desc">{ &o.desc }</span>
                <span class="op-region">{ format!("region {}", o.region_id) }</span>
                <span class="op-time">{ when }</span>
            </div>
            <ol class="op-steps">
                { for o.steps.iter().enumerate().map(|(i, s)| {
                    let state = if i < o.current_step {
                        "done"
                    } else if i == o.current_step && o.status == OperatorStatus::Running {
                        "current"
                    } else if i == o.current_step {
                        "stopped"
                    } else {
                        "todo"
                    };
                    let mark = match state {
                        "done" => "✓",
                        "current" => "▶",
                        "stopped" => "✕",
                        _ => "·",
                    };
                    html! { <li class={classes!("step", state)}><span class="step-mark">{ mark }</span>{ s }</li> }
                }) }
            </ol>
        </li>
    }
}

/// The PD operators panel.
#[component]
pub fn Operators(props: &OperatorsProps) -> Html {
    let ops = &props.frame.view.operators;
    let running = ops
        .iter()
        .filter(|o| o.status == OperatorStatus::Running)
        .count();
    html! {
        <div class="panel operators-panel">
            <div class="panel-head">
                <h2>{"PD operators"}</h2>
                <span class="panel-sub">{ format!("{running} running · {} finished (recent)", ops.len() - running) }</span>
            </div>
            if ops.is_empty() {
                <div class="muted">{"PD has created no operator yet."}</div>
            } else {
                <ul class="operator-list">
                    { for ops.iter().take(SHOWN).map(operator) }
                </ul>
            }
        </div>
    }
}
