//! The story panel: what happens, what to watch, what the fix changes.

use kvscope_core::scenarios::specs;
use yew::prelude::*;

/// Properties of [`StoryPanel`].
#[derive(Properties, PartialEq)]
pub struct StoryProps {
    /// Scenario id.
    pub scenario_id: &'static str,
}

/// The scenario's story.
#[component]
pub fn StoryPanel(props: &StoryProps) -> Html {
    let Some(spec) = specs().find(|s| s.id == props.scenario_id) else {
        return html! {};
    };
    html! {
        <div class="panel story-panel">
            <div class="panel-head"><h2>{ spec.title }</h2></div>
            <div class="story-source">{ spec.source }</div>
            <div class="story-body">
                <h3>{"What happens"}</h3>
                <p>{ spec.story.what_happens }</p>
                <h3>{"What to watch"}</h3>
                <p>{ spec.story.what_to_watch }</p>
                <h3>{"What the fix changes"}</h3>
                <p>{ spec.story.what_the_fix_changes }</p>
            </div>
        </div>
    }
}
