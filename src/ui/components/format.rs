//! Small pieces of presentation and input every page uses: sizes, times,
//! status badges, inline errors, the values of inputs, saving a file.

use yew::prelude::*;

use crate::error::Error;

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
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}
