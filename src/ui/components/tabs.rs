//! A row of tabs (role=tablist): the page keeps which one is active.

use yew::prelude::*;

/// The tabs, `active` selected; `on_select` gets the index of the one clicked.
pub fn tabs(tabs: &[&'static str], active: usize, on_select: &Callback<usize>) -> Html {
    html! {
        <div class="tabs" role="tablist">
            { for tabs.iter().enumerate().map(|(i, t)| html! {
                <button role="tab" aria-selected={if i == active { "true" } else { "false" }}
                    class={if i == active { "tab active" } else { "tab" }} onclick={on_select.reform(move |_: MouseEvent| i)}>{*t}</button>
            }) }
        </div>
    }
}
