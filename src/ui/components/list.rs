//! A list's toolbar over its `ListState` (held with `use_reducer`): search
//! box, filter selects, creation-time sort toggle and pager.

use std::rc::Rc;

use yew::prelude::*;

use super::format::value_of;
use crate::ui::model::list::{Filter, ListAction, ListState, Order};

impl Reducible for ListState {
    type Action = ListAction;

    fn reduce(self: Rc<Self>, action: ListAction) -> Rc<Self> {
        Rc::new(ListState::reduce((*self).clone(), action))
    }
}

/// A list's state and the way to change it.
pub type List = UseReducerHandle<ListState>;

/// A list's search box.
pub fn search_box(label: &'static str, placeholder: &'static str, list: &List) -> Html {
    let d = list.dispatcher();
    html! {
        <input type="search" aria-label={label} placeholder={placeholder} value={list.search.clone()}
            oninput={Callback::from(move |e: InputEvent| d.dispatch(ListAction::Search(value_of(&e.into()))))} />
    }
}

/// A select that filters a list by one field: `options` are (value, text)
/// (the filter's own, or the page's), and the first option (`all`, value
/// `""`) admits every row.
pub fn filter_select(f: &Filter, options: &[(&'static str, &'static str)], list: &List) -> Html {
    let (d, field) = (list.dispatcher(), f.field);
    let choice = list.choice(field);
    html! {
        <select aria-label={f.label} onchange={Callback::from(move |e: Event| d.dispatch(ListAction::Filter(field, value_of(&e))))}>
            <option value="" selected={choice.is_empty()}>{f.all}</option>
            { for options.iter().map(|(v, t)| html! { <option value={*v} selected={choice == *v}>{*t}</option> }) }
        </select>
    }
}

/// Previous, "Page n of m" and Next, when there is more than one page.
pub fn pager(current: usize, pages: usize, list: &List) -> Html {
    if pages <= 1 {
        return html! {};
    }
    let d = list.dispatcher().to_callback();
    let to = |n: usize| d.reform(move |_: MouseEvent| ListAction::Page(n));
    html! {
        <>
            <button disabled={current == 0} onclick={to(current.saturating_sub(1))}>{"Previous"}</button>
            <span class="sub">{format!("Page {} of {pages}", current + 1)}</span>
            <button disabled={current + 1 >= pages} onclick={to(current + 1)}>{"Next"}</button>
        </>
    }
}

/// A list's creation-time sort toggle (newest first until clicked, as in the
/// ECS console).
pub fn sort_toggle(list: &List) -> Html {
    let (text, title) = if list.order == Order::OldestFirst {
        ("Created: oldest first", "Oldest first; click for newest first")
    } else {
        ("Created: newest first", "Newest first; click for oldest first")
    };
    html! {
        <button class="sort" aria-label="Sort by creation time" title={title}
            onclick={list.dispatcher().to_callback().reform(|_: MouseEvent| ListAction::ToggleOrder)}>{text}</button>
    }
}
