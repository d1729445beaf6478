//! The error banner: problems with the URL or a run that could not start.
//!
//! (A panic is shown by the panic hook in a separate fixed `#error-panel`,
//! see [`crate::panic`], since the app may no longer render after one.)

use yew::prelude::*;

/// Properties of [`ErrorBanner`].
#[derive(Properties, PartialEq)]
pub struct ErrorBannerProps {
    /// The messages, oldest first.
    pub messages: Vec<String>,
    /// A message was dismissed (its index).
    pub on_dismiss: Callback<usize>,
}

/// A dismissible list of error messages under the control bar (nothing when empty).
#[component]
pub fn ErrorBanner(props: &ErrorBannerProps) -> Html {
    if props.messages.is_empty() {
        // An empty slot keeps the page grid's rows in place.
        return html! { <div class="error-banner-slot"></div> };
    }
    html! {
        <div id="error-banner" class="error-banner" role="alert">
            { for props.messages.iter().enumerate().map(|(i, m)| {
                let dismiss = props.on_dismiss.reform(move |_: MouseEvent| i);
                html! {
                    <div class="banner-line">
                        <span class="banner-icon">{"⚠"}</span>
                        <span class="banner-text">{ m }</span>
                        <button class="banner-close" onclick={dismiss} title="Dismiss">{"×"}</button>
                    </div>
                }
            }) }
        </div>
    }
}
