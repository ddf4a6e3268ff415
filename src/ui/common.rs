//! Pieces every page uses: calling the ECS service, the refresh tick,
//! toasts, dialogs, tabs and formatting. Text from users is always rendered
//! as text (Yew escapes it).

use serde_json::Value;
use yew::prelude::*;

use crate::ecs::EcsError;
use crate::service;

thread_local! {
    /// The region and resource group chosen in the top bar.
    static SCOPE: std::cell::RefCell<(String, String)> =
        std::cell::RefCell::new((crate::ecs::DEFAULT_REGION.to_string(), String::new()));
}

pub fn region() -> String {
    SCOPE.with(|s| s.borrow().0.clone())
}

pub fn resource_group() -> String {
    SCOPE.with(|s| s.borrow().1.clone())
}

pub fn set_scope(region: &str, group: &str) {
    SCOPE.with(|s| *s.borrow_mut() = (region.to_string(), group.to_string()));
}

/// The zones of the chosen region.
pub fn zones() -> Vec<&'static str> {
    let r = region();
    crate::ecs::REGIONS.iter().find(|x| x.0 == r).map(|x| x.2.to_vec()).unwrap_or_default()
}

/// One ECS action through the tab's service, in the chosen region (and, for
/// Describe actions, the chosen resource group).
pub async fn call(action: &str, mut params: Value) -> Result<Value, EcsError> {
    if let Value::Object(m) = &mut params {
        m.entry("RegionId").or_insert_with(|| Value::String(region()));
        let group = resource_group();
        if !group.is_empty() && action.starts_with("Describe") && action != "DescribeImages" {
            m.entry("ResourceGroupId").or_insert(Value::String(group));
        }
    }
    service::with(async |ecs| ecs.request(action, &params).await.map_err(|(e, _)| e)).await
}

/// A message for the toast area: Ok text, or an ECS error.
#[derive(Clone, PartialEq)]
pub enum Toast {
    Ok(String),
    Err(EcsError),
}

/// What pages get from the shell: the refresh tick and a way to toast.
#[derive(Clone, PartialEq)]
pub struct Ctx {
    /// Goes up every second and after every action: lists re-read on it.
    pub tick: u64,
    /// The region and resource group of the top bar (lists re-read when they change).
    pub scope: (String, String),
    pub toast: Callback<Toast>,
    pub refresh: Callback<()>,
}

#[hook]
pub fn use_ctx() -> Ctx {
    use_context::<Ctx>().expect("the shell provides Ctx")
}

/// The result of an action, re-read on every tick. None while loading.
/// With `PageSize: 100` a Describe action's every page is read and merged
/// (lists filter and page in the console), so no row is left out past 100.
#[hook]
pub fn use_query(action: &'static str, params: Value) -> Option<Result<Value, EcsError>> {
    let ctx = use_ctx();
    let state = use_state(|| None);
    {
        let state = state.clone();
        let key = params.to_string();
        use_effect_with((key, ctx.tick, ctx.scope.clone()), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let all = params["PageSize"].as_u64() == Some(100);
                state.set(Some(if all { call_all(action, params).await } else { call(action, params).await }));
            });
        });
    }
    (*state).clone()
}

/// Every page of a Describe action (at most 50), merged into the first
/// page's shape: the double-wrapped list (`Snapshots: {Snapshot: [...]}`)
/// holds every item.
pub async fn call_all(action: &str, params: Value) -> Result<Value, EcsError> {
    let mut first = call(action, params.clone()).await?;
    let (Some(total), Some(size)) = (first["TotalCount"].as_u64(), first["PageSize"].as_u64()) else { return Ok(first) };
    let Some((outer, inner)) = list_path(&first) else { return Ok(first) };
    let mut page = 1;
    while page * size < total && page < 50 {
        page += 1;
        let mut p = params.clone();
        p["PageNumber"] = Value::from(page);
        let next = call(action, p).await?;
        let more = next[&outer][&inner].as_array().cloned().unwrap_or_default();
        if more.is_empty() {
            break;
        }
        if let Some(items) = first[&outer][&inner].as_array_mut() {
            items.extend(more);
        }
    }
    Ok(first)
}

/// Where a Describe response keeps its list: the top-level key whose value
/// is an object with exactly one key holding an array.
fn list_path(v: &Value) -> Option<(String, String)> {
    v.as_object()?.iter().find_map(|(k, o)| {
        let o = o.as_object().filter(|o| o.len() == 1)?;
        let (ik, a) = o.iter().next()?;
        a.is_array().then(|| (k.clone(), ik.clone()))
    })
}

/// Runs an action; toasts its error (with the ECS Code) or `ok`, and refreshes.
pub fn run(ctx: &Ctx, action: &'static str, params: Value, ok: String, then: Option<Callback<Value>>) {
    let ctx = ctx.clone();
    wasm_bindgen_futures::spawn_local(async move {
        match call(action, params).await {
            Ok(v) => {
                ctx.toast.emit(Toast::Ok(ok));
                if let Some(t) = then {
                    t.emit(v);
                }
            }
            Err(e) => ctx.toast.emit(Toast::Err(e)),
        }
        ctx.refresh.emit(());
    });
}

/// Submits a dialog's action: on success toasts `ok(response)`, refreshes
/// and closes the dialog; on failure shows the ECS error in the dialog.
pub fn submit(
    ctx: &Ctx,
    action: &'static str,
    params: Value,
    error: UseStateHandle<Option<EcsError>>,
    on_close: Callback<()>,
    ok: impl FnOnce(&Value) -> String + 'static,
) {
    let ctx = ctx.clone();
    wasm_bindgen_futures::spawn_local(async move {
        match call(action, params).await {
            Ok(v) => {
                ctx.toast.emit(Toast::Ok(ok(&v)));
                ctx.refresh.emit(());
                on_close.emit(());
            }
            Err(e) => error.set(Some(e)),
        }
    });
}

pub fn list(v: &Value, outer: &str, inner: &str) -> Vec<Value> {
    v[outer][inner].as_array().cloned().unwrap_or_default()
}

pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

pub fn bytes(n: u64) -> String {
    crate::browser::human_bytes(n as f64)
}

/// ECS time `2026-11-21T10:00:00Z` as `2026-11-21 10:00:00 UTC`.
pub fn when(t: &str) -> String {
    t.replace('T', " ").replace('Z', " UTC")
}

#[derive(Properties, PartialEq)]
pub struct DialogProps {
    pub title: AttrValue,
    pub on_close: Callback<()>,
    #[prop_or_default]
    pub children: Html,
}

/// What Tab reaches inside a dialog, in document order: enabled controls,
/// links and summaries that are rendered (not in a closed `<details>`), and of
/// a radio group only its checked radio (the browser's one tab stop).
fn tabbables(dialog: &web_sys::Element) -> Vec<web_sys::HtmlElement> {
    use wasm_bindgen::JsCast;
    const FOCUSABLE: &str = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), \
        select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])";
    let Ok(found) = dialog.query_selector_all(FOCUSABLE) else { return Vec::new() };
    let all: Vec<web_sys::HtmlElement> = (0..found.length())
        .filter_map(|i| found.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        .filter(|e| e.tab_index() >= 0 && e.offset_parent().is_some())
        .collect();
    let radio = |e: &web_sys::HtmlElement| e.dyn_ref::<web_sys::HtmlInputElement>().filter(|i| i.type_() == "radio" && !i.name().is_empty()).cloned();
    all.iter()
        .filter(|e| match radio(e) {
            // An unchecked radio is a tab stop only when no radio of its group is checked.
            Some(r) if !r.checked() => !all.iter().filter_map(radio).any(|o| o.name() == r.name() && o.checked()),
            _ => true,
        })
        .cloned()
        .collect()
}

/// Whether `dialog` is the topmost open dialog (the last one in the document).
fn is_top(dialog: &web_sys::Element) -> bool {
    let Ok(all) = gloo::utils::document().query_selector_all(".dialog[aria-modal='true']") else { return true };
    all.length() == 0 || all.item(all.length() - 1).is_some_and(|n| n.is_same_node(Some(dialog)))
}

/// A modal dialog (role=dialog, labelled by its title). It takes the focus
/// when it opens and keeps it: Tab and Shift+Tab cycle through its controls
/// and never reach the page behind, focus moved outside comes back, and
/// Escape closes it. When it closes, the focus returns to the element that
/// had it when the dialog opened (the button that opened it), if that is
/// still on the page.
#[function_component(Dialog)]
pub fn dialog(p: &DialogProps) -> Html {
    let id = format!("dlg-{}", p.title.replace(' ', "-").to_lowercase());
    let close = p.on_close.reform(|_: MouseEvent| ());
    let node = use_node_ref();
    // The document's listeners live as long as the dialog; they call the latest on_close.
    let on_close = use_mut_ref(|| p.on_close.clone());
    *on_close.borrow_mut() = p.on_close.clone();
    {
        let node = node.clone();
        use_effect_with((), move |_| {
            use gloo::events::{EventListener, EventListenerOptions};
            use wasm_bindgen::JsCast;
            let document = gloo::utils::document();
            let opener = document.active_element().and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
            if let Some(el) = node.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
            let keys = {
                let node = node.clone();
                EventListener::new_with_options(&document, "keydown", EventListenerOptions::enable_prevent_default(), move |e| {
                    let (Some(dlg), Some(e)) = (node.cast::<web_sys::HtmlElement>(), e.dyn_ref::<web_sys::KeyboardEvent>()) else { return };
                    if !is_top(&dlg) || e.default_prevented() {
                        return;
                    }
                    match e.key().as_str() {
                        "Escape" => {
                            e.prevent_default();
                            let close = on_close.borrow().clone();
                            close.emit(());
                        }
                        "Tab" => {
                            let items = tabbables(&dlg);
                            let active = gloo::utils::document().active_element();
                            let inside = active.as_ref().is_some_and(|a| dlg.contains(Some(a)));
                            let at = |i: Option<&web_sys::HtmlElement>| i.is_some_and(|i| active.as_ref().is_some_and(|a| i.is_same_node(Some(a))));
                            let to = if items.is_empty() {
                                Some(dlg.clone())
                            } else if e.shift_key() {
                                // Before the first control (or from the dialog itself, or from outside): the last one.
                                let on_dialog = active.as_ref().is_some_and(|a| a.is_same_node(Some(&dlg)));
                                (!inside || on_dialog || at(items.first())).then(|| items[items.len() - 1].clone())
                            } else {
                                (!inside || at(items.last())).then(|| items[0].clone())
                            };
                            if let Some(to) = to {
                                e.prevent_default();
                                let _ = to.focus();
                            }
                        }
                        _ => {}
                    }
                })
            };
            // Focus that lands outside by any other way (a script, a click on
            // a toast) comes back to the dialog. Moved a moment later: focusing
            // inside this listener would run it again from within itself.
            let focus_in = {
                let node = node.clone();
                EventListener::new(&document, "focusin", move |e| {
                    let Some(dlg) = node.cast::<web_sys::HtmlElement>() else { return };
                    let target = e.target().and_then(|t| t.dyn_into::<web_sys::Node>().ok());
                    if is_top(&dlg) && target.is_some_and(|t| !dlg.contains(Some(&t))) {
                        wasm_bindgen_futures::spawn_local(async move {
                            let active = gloo::utils::document().active_element();
                            if !dlg.is_connected() || active.is_some_and(|a| dlg.contains(Some(&a))) {
                                return;
                            }
                            match tabbables(&dlg).first() {
                                Some(first) => { let _ = first.focus(); }
                                None => { let _ = dlg.focus(); }
                            }
                        });
                    }
                })
            };
            move || {
                drop((keys, focus_in));
                if let Some(opener) = opener.filter(|o| o.is_connected()) {
                    let _ = opener.focus();
                }
            }
        });
    }
    html! {
        <div class="overlay">
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby={id.clone()} tabindex="-1" ref={node}>
                <div class="dialog-head">
                    <h2 id={id}>{p.title.clone()}</h2>
                    <button class="icon" aria-label="Close" onclick={close}>{"×"}</button>
                </div>
                {p.children.clone()}
            </div>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct DialogButtonsProps {
    pub ok: AttrValue,
    pub on_ok: Callback<MouseEvent>,
    pub on_cancel: Callback<()>,
    /// The action destroys data (a red button).
    #[prop_or_default]
    pub danger: bool,
}

/// A dialog's OK and Cancel buttons.
#[function_component(DialogButtons)]
pub fn dialog_buttons(p: &DialogButtonsProps) -> Html {
    html! {
        <div class="buttons">
            <button class={classes!("primary", p.danger.then_some("danger"))} onclick={p.on_ok.clone()}>{p.ok.clone()}</button>
            <button onclick={p.on_cancel.reform(|_: MouseEvent| ())}>{"Cancel"}</button>
        </div>
    }
}

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

/// The value of an input or select from its change/input event.
pub fn value_of(e: &Event) -> String {
    use wasm_bindgen::JsCast;
    let t = e.target().expect("an event target");
    if let Some(i) = t.dyn_ref::<web_sys::HtmlInputElement>() {
        return i.value();
    }
    if let Some(s) = t.dyn_ref::<web_sys::HtmlSelectElement>() {
        return s.value();
    }
    String::new()
}

pub fn checked_of(e: &Event) -> bool {
    use wasm_bindgen::JsCast;
    e.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()).is_some_and(|i| i.checked())
}

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

/// An inline error with its ECS code.
pub fn error_line(e: &Option<EcsError>) -> Html {
    match e {
        Some(e) => html! { <p class="inline-error" role="alert"><strong>{e.code.clone()}</strong>{": "}{e.message.clone()}</p> },
        None => html! {},
    }
}

pub fn status_badge(status: &str) -> Html {
    let class = match status {
        "Running" | "In_use" | "accomplished" | "Available" | "Finished" => "st ok",
        "Stopped" | "Cancelled" => "st off",
        "failed" | "CreateFailed" | "Failed" => "st err",
        _ => "st busy",
    };
    let text = match status {
        "In_use" => "In Use",
        "accomplished" => "Accomplished",
        "progressing" => "Progressing",
        "ReIniting" => "Re-initializing",
        s => s,
    };
    html! { <span class={class}>{text.to_string()}</span> }
}

/// Offers `parts` (Uint8Arrays) to the user as a downloaded file.
pub fn save_file(parts: &js_sys::Array, name: &str) -> Result<(), EcsError> {
    use wasm_bindgen::JsCast;
    let fail = |_| EcsError::new(500, "InternalError", "The browser refused to make the file.");
    let blob = web_sys::Blob::new_with_u8_array_sequence(parts).map_err(fail)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(fail)?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or_else(|| fail(wasm_bindgen::JsValue::NULL))?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a").map_err(fail)?.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}
