//! Small pieces of presentation and input every page uses: sizes, times,
//! status badges, inline errors, the values of inputs, saving a file.

use yew::prelude::*;

use crate::error::Error;
use crate::ui::model::dialogs::Input;
use crate::ui::model::keys::key_options;
use crate::ui::model::rows::KeyRow;

pub fn bytes(n: u64) -> String {
    crate::browser::human_bytes(n as f64)
}

/// ECS time `2026-11-21T10:00:00Z` as `2026-11-21 10:00:00 UTC`.
pub fn when(t: &str) -> String {
    t.replace('T', " ").replace('Z', " UTC")
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

/// An inline error with its ECS code.
pub fn error_line(e: &Option<Error>) -> Html {
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
pub fn save_file(parts: &js_sys::Array, name: &str) -> Result<(), Error> {
    use wasm_bindgen::JsCast;
    let fail = |_| Error::internal("The browser refused to make the file.");
    let blob = web_sys::Blob::new_with_u8_array_sequence(parts).map_err(fail)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(fail)?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or_else(|| fail(wasm_bindgen::JsValue::NULL))?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a").map_err(fail)?.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // The browser reads the Blob after the click returns (Firefox may still be starting the
    // download): the URL is revoked a minute later, as FileSaver.js does, not at once.
    gloo::timers::callback::Timeout::new(60_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

/// What changed in a form: the control's accessible name (aria-label), value and checked state.
pub fn input_of(e: &Event) -> Input {
    use wasm_bindgen::JsCast;
    let label = e.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).and_then(|t| t.get_attribute("aria-label"));
    Input { label: label.unwrap_or_default(), value: value_of(e), checked: checked_of(e) }
}

/// The one listener of a form: the `input` events of all its controls
/// (text fields, selects, checkboxes and radios) bubble to it, and `of`
/// tells the form's action (if any) for the control that changed.
pub fn on_input<A: 'static>(d: Callback<A>, of: fn(Input) -> Option<A>) -> Callback<InputEvent> {
    Callback::from(move |e: InputEvent| {
        if let Some(a) = of(input_of(&e)) {
            d.emit(a)
        }
    })
}

/// `Reducible` for a model form: its reducer, on a copy.
macro_rules! reducible {
    ($($form:ty => $action:ty),* $(,)?) => {$(
        impl yew::Reducible for $form {
            type Action = $action;

            fn reduce(self: std::rc::Rc<Self>, action: $action) -> std::rc::Rc<Self> {
                std::rc::Rc::new(<$form>::reduce((*self).clone(), action))
            }
        }
    )*};
}
pub(crate) use reducible;

/// A labelled field of a form: `<label>text<input type=kind aria-label=label value /></label>`.
pub fn field(text: &'static str, label: &'static str, kind: &'static str, value: &str) -> Html {
    html! { <label>{text}<input type={kind} aria-label={label} value={value.to_string()} /></label> }
}

/// A labelled select of a form (each option's text is its value).
pub fn select_field(label: &'static str, options: &[&'static str], chosen: &str) -> Html {
    html! {
        <label>{label}<select aria-label={label}>
            { for options.iter().map(|o| html! { <option value={*o} selected={*o == chosen}>{*o}</option> }) }
        </select></label>
    }
}

/// The Encryption key select of Create Disk and Create Instance: the
/// region's default key first, locked keys disabled.
pub fn key_select(keys: &[KeyRow], chosen: &str) -> Html {
    html! {
        <label>{"Encryption key"}<select aria-label="Encryption key">
            { for key_options(keys).into_iter().map(|(v, text, locked)| {
                let selected = v == chosen;
                html! { <option value={v} {selected} disabled={locked}>{text}</option> }
            }) }
        </select></label>
    }
}
