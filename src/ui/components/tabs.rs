//! A row of tabs (role=tablist): the page keeps which one is active.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct TabsProps {
    pub tabs: Vec<&'static str>,
    pub active: usize,
    pub on_select: Callback<usize>,
}

#[function_component(Tabs)]
pub fn tabs(p: &TabsProps) -> Html {
    html! {
        <div class="tabs" role="tablist">
            { for p.tabs.iter().enumerate().map(|(i, t)| {
                let sel = p.on_select.reform(move |_: MouseEvent| i);
                html! {
                    <button role="tab" aria-selected={(i == p.active).to_string()}
                        class={classes!("tab", (i == p.active).then_some("active"))} onclick={sel}>{*t}</button>
                }
            }) }
        </div>
    }
}
