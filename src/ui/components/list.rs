//! A list's toolbar: search box, filter selects, creation-time sort toggle
//! and pager; lists filter and page in the browser.

use serde_json::Value;
use yew::prelude::*;

use super::format::value_of;
use crate::ui::context::s;

/// Whether `needle` (trimmed, lower-cased by the caller) is empty or occurs
/// in one of `fields`, in any case: a list's search box.
pub fn text_matches(needle: &str, fields: &[&str]) -> bool {
    needle.is_empty() || fields.iter().any(|f| f.to_lowercase().contains(needle))
}

/// Whether a list filter's choice (`""`: all) admits `value`.
pub fn admits(choice: &str, value: &str) -> bool {
    choice.is_empty() || choice == value
}

/// A list's search box: typing sets `query` and goes back to the first page.
pub fn search_box(label: &'static str, placeholder: &'static str, query: &UseStateHandle<String>, page: &UseStateHandle<usize>) -> Html {
    let (q, pg) = (query.clone(), page.clone());
    html! {
        <input type="search" aria-label={label} placeholder={placeholder} value={(**query).clone()}
            oninput={Callback::from(move |e: InputEvent| { q.set(value_of(&e.into())); pg.set(0); })} />
    }
}

/// A select that filters a list by one field: `options` are (value, text),
/// and the first option (`all`, value `""`) admits every row. A change goes
/// back to the first page.
pub fn filter_select(label: &'static str, all: &'static str, options: &[(&'static str, &'static str)], choice: &UseStateHandle<String>, page: &UseStateHandle<usize>) -> Html {
    let (c, pg) = (choice.clone(), page.clone());
    html! {
        <select aria-label={label} onchange={Callback::from(move |e: Event| { c.set(value_of(&e)); pg.set(0); })}>
            <option value="" selected={choice.is_empty()}>{all}</option>
            { for options.iter().map(|(v, t)| html! { <option value={*v} selected={**choice == *v}>{*t}</option> }) }
        </select>
    }
}

/// Rows on one page of the console's lists (filtered and paged in the browser).
pub const PER_PAGE: usize = 20;

/// One page of `rows`: the rows on it, the page shown (`page` clamped to the
/// last one) and the number of pages (at least 1).
pub fn paginate<T>(rows: Vec<T>, page: usize) -> (Vec<T>, usize, usize) {
    let pages = rows.len().div_ceil(PER_PAGE).max(1);
    let current = page.min(pages - 1);
    (rows.into_iter().skip(current * PER_PAGE).take(PER_PAGE).collect(), current, pages)
}

/// Previous, "Page n of m" and Next, when there is more than one page.
pub fn pager(current: usize, pages: usize, page: &UseStateHandle<usize>) -> Html {
    if pages <= 1 {
        return html! {};
    }
    html! {
        <>
            <button disabled={current == 0} onclick={let pg = page.clone(); Callback::from(move |_| pg.set(current.saturating_sub(1)))}>{"Previous"}</button>
            <span class="sub">{format!("Page {} of {pages}", current + 1)}</span>
            <button disabled={current + 1 >= pages} onclick={let pg = page.clone(); Callback::from(move |_| pg.set(current + 1))}>{"Next"}</button>
        </>
    }
}

/// Orders a Describe list by `CreationTime` (ISO 8601, so text order is time
/// order): newest first, or oldest first. Rows created in the same second keep
/// the API's order (newest first, by creation sequence), and oldest first is
/// exactly the reverse of newest first.
pub fn sort_by_creation(rows: &mut [Value], oldest_first: bool) {
    rows.sort_by(|a, b| s(b, "CreationTime").cmp(s(a, "CreationTime")));
    if oldest_first {
        rows.reverse();
    }
}

/// A list's creation-time sort toggle (newest first until clicked, as in the
/// ECS console); a click flips the order and goes back to the first page.
pub fn sort_toggle(oldest_first: &UseStateHandle<bool>, page: &UseStateHandle<usize>) -> Html {
    let (o, pg) = (oldest_first.clone(), page.clone());
    let (text, title) = if **oldest_first {
        ("Created: oldest first", "Oldest first; click for newest first")
    } else {
        ("Created: newest first", "Newest first; click for oldest first")
    };
    html! {
        <button class="sort" aria-label="Sort by creation time" title={title}
            onclick={Callback::from(move |_: MouseEvent| { o.set(!*o); pg.set(0); })}>{text}</button>
    }
}

