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
#[hook]
pub fn use_query(action: &'static str, params: Value) -> Option<Result<Value, EcsError>> {
    let ctx = use_ctx();
    let state = use_state(|| None);
    {
        let state = state.clone();
        let key = params.to_string();
        use_effect_with((key, ctx.tick, ctx.scope.clone()), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                state.set(Some(call(action, params).await));
            });
        });
    }
    (*state).clone()
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

/// A modal dialog (role=dialog, labelled by its title). It takes the focus
/// when it opens, and Escape closes it.
#[function_component(Dialog)]
pub fn dialog(p: &DialogProps) -> Html {
    let id = format!("dlg-{}", p.title.replace(' ', "-").to_lowercase());
    let close = p.on_close.reform(|_: MouseEvent| ());
    let node = use_node_ref();
    {
        let node = node.clone();
        use_effect_with((), move |_| {
            if let Some(el) = node.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        });
    }
    let on_key = {
        let on_close = p.on_close.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Escape" {
                on_close.emit(());
            }
        })
    };
    html! {
        <div class="overlay" onkeydown={on_key}>
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

/// An inline error with its ECS code.
pub fn error_line(e: &Option<EcsError>) -> Html {
    match e {
        Some(e) => html! { <p class="inline-error" role="alert"><strong>{e.code.clone()}</strong>{": "}{e.message.clone()}</p> },
        None => html! {},
    }
}

pub fn status_badge(status: &str) -> Html {
    let class = match status {
        "Running" | "In_use" | "accomplished" | "Available" => "st ok",
        "Stopped" => "st off",
        "failed" | "CreateFailed" => "st err",
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
