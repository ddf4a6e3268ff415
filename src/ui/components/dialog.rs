//! A modal dialog that keeps the focus, and its OK and Cancel buttons.

use yew::prelude::*;

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
                                Some(first) => {
                                    let _ = first.focus();
                                }
                                None => {
                                    let _ = dlg.focus();
                                }
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

/// A dialog's OK and Cancel buttons (OK red when the action destroys data).
pub fn dialog_buttons(ok: &'static str, on_ok: Callback<MouseEvent>, on_cancel: &Callback<()>, danger: bool) -> Html {
    html! {
        <div class="buttons">
            <button class={if danger { "primary danger" } else { "primary" }} onclick={on_ok}>{ok}</button>
            <button onclick={on_cancel.reform(|_: MouseEvent| ())}>{"Cancel"}</button>
        </div>
    }
}
