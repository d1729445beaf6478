//! "Why is it stuck?": the client requests waiting longest, each with the
//! chain of what it waits on as the core computes it
//! (`kvscope_core::views::why`), root last and marked. A link naming a
//! region selects it (the Raft group panel follows).

use std::rc::Rc;

use kvscope_core::views::why::{StuckGroup, WhyLink};
use yew::prelude::*;

use crate::snapshot::Frame;

/// Properties of [`WhyStuck`].
#[derive(Properties, PartialEq)]
pub struct WhyStuckProps {
    /// The snapshot (its `why` is drawn).
    pub frame: Rc<Frame>,
    /// Selects a region.
    pub on_select: Callback<u64>,
}

fn chain_link(l: &WhyLink, root: bool, on_select: &Callback<u64>) -> Html {
    let onclick = l.region.map(|r| {
        let cb = on_select.clone();
        Callback::from(move |_: MouseEvent| cb.emit(r))
    });
    html! {
        <li class={classes!("why-link", format!("why-{}", l.kind), root.then_some("why-root"), onclick.is_some().then_some("clickable"))}
            data-kind={l.kind} onclick={onclick}>
            <span class="why-arrow">{ if root { "■" } else { "→" } }</span>
            { &l.text }
        </li>
    }
}

fn item(g: &StuckGroup, on_select: &Callback<u64>) -> Html {
    let (head, rest) = match g.chain.links.split_first() {
        Some((h, r)) => (h.text.clone(), r),
        None => (String::new(), &[][..]),
    };
    let n = rest.len();
    let others = match g.requests {
        1 => String::new(),
        k => format!("{k} requests, the longest: "),
    };
    html! {
        <li class="why-item" data-requests={g.requests.to_string()}>
            <div class="why-head"><span class="why-count">{ others }</span>{ head }</div>
            <ol class="why-chain">
                { for rest.iter().enumerate().map(|(k, l)| chain_link(l, k + 1 == n, on_select)) }
            </ol>
        </li>
    }
}

/// The panel.
#[component]
pub fn WhyStuck(props: &WhyStuckProps) -> Html {
    let items = props.frame.why.as_deref().unwrap_or(&[]);
    html! {
        <div class="panel why-panel" id="why-stuck">
            <div class="panel-head">
                <h2>{"Why is it stuck?"}</h2>
                <span class="panel-sub">{ "requests waiting > 1 s, by what they wait on · ■ root" }</span>
            </div>
            if items.is_empty() {
                <div class="muted" id="why-none">{"No client request has waited over 1 s."}</div>
            } else {
                <ul class="why-list">
                    { for items.iter().map(|i| item(i, &props.on_select)) }
                </ul>
            }
        </div>
    }
}
