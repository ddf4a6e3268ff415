//! Connect: an instance's serial console in a real terminal (xterm.js, loaded
//! with the in-page host when the dialog opens), with the boot log.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::{JsCast, JsValue};
use yew::prelude::*;

use super::Dialog;
use crate::service::host_call;

#[derive(Properties, PartialEq)]
pub struct TerminalProps {
    pub instance: String,
    pub on_close: Callback<()>,
}

#[function_component(TerminalDialog)]
pub fn terminal_dialog(p: &TerminalProps) -> Html {
    let node = use_node_ref();
    let failed = use_state(|| false);
    {
        let (node, id, failed) = (node.clone(), p.instance.clone(), failed.clone());
        use_effect_with((), move |_| {
            let detach: Rc<RefCell<Option<js_sys::Function>>> = Rc::default();
            let keep = detach.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let el: JsValue = node.cast::<web_sys::Element>().map(Into::into).unwrap_or(JsValue::NULL);
                let attached = match host_call("attachTerminal", &[id.into(), el]) {
                    Some(p) => wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(p)).await.ok(),
                    None => None,
                };
                match attached.and_then(|f| f.dyn_into::<js_sys::Function>().ok()) {
                    Some(f) => *keep.borrow_mut() = Some(f),
                    None => failed.set(true),
                }
            });
            move || {
                if let Some(f) = detach.borrow_mut().take() {
                    let _ = f.call0(&JsValue::NULL);
                }
            }
        });
    }
    html! {
        <Dialog title="Connect" on_close={p.on_close.clone()}>
            <div class="form">
                <p class="hint">{format!("Serial console of {} (root shell, as ECS's remote connection gives the instance's owner). Type into the terminal; the boot log is above the prompt.", p.instance)}</p>
                <div class="terminal" ref={node} data-testid="terminal"></div>
                if *failed { <p class="inline-error" role="alert">{"The terminal could not be opened: the instance has no machine running in this tab."}</p> }
            </div>
        </Dialog>
    }
}
