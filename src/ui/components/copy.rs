//! The Copy Snapshot and Copy Image dialogs: the destination region and the
//! copy's name, then the copy's progress in its region until it is done.

use yew::prelude::*;

use super::*;
use crate::error::Error;
use crate::ui::context::*;
use crate::ui::model::copies::{copy_done, copy_state, destinations, CopyAction, CopyForm, Copying};

reducible!(CopyForm => CopyAction);

#[derive(Properties, PartialEq)]
pub struct CopyProps {
    pub what: Copying,
    /// The snapshot or image to copy.
    pub id: String,
    pub on_close: Callback<()>,
}

#[function_component(CopyDialog)]
pub fn copy_dialog(p: &CopyProps) -> Html {
    let ctx = use_ctx();
    let regions: Vec<&str> = crate::ecs::REGIONS.iter().map(|r| r.0).collect();
    let regions = destinations(&regions, &ctx.scope.region);
    let form = use_reducer(|| CopyForm::new(p.what, &p.id, regions.first().copied().unwrap_or_default()));
    let error = use_state(|| None::<Error>);
    // The copy's id once CopySnapshot / CopyImage answered.
    let copy = use_state(String::new);
    let (noun, title) = match p.what {
        Copying::Snapshot => ("snapshot", "Copy Snapshot"),
        Copying::Image => ("image", "Copy Image"),
    };
    if !copy.is_empty() {
        return html! { <CopyProgress form={(*form).clone()} copy={(*copy).clone()} on_close={p.on_close.clone()} /> };
    }
    let ok = {
        let (ctx, error, copy) = (ctx.clone(), error.clone(), copy.clone());
        let (action, params) = form.request();
        Callback::from(move |_: MouseEvent| {
            let (ctx, error, copy, params) = (ctx.clone(), error.clone(), copy.clone(), params.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match call(&ctx.scope, action, params).await {
                    Ok(v) => {
                        let id = v["SnapshotId"].as_str().or(v["ImageId"].as_str()).unwrap_or_default();
                        copy.set(id.to_string());
                        ctx.refresh.emit(());
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    html! {
        <Dialog {title} on_close={p.on_close.clone()}>
            <div class="form" oninput={on_input(form.dispatcher().to_callback(), CopyAction::of)}>
                <p>{format!("Copy {noun} {} from {} to another region: the copy is a new {noun} there, independent of this one.", p.id, ctx.scope.region)}</p>
                {select_field("Destination Region", &regions, &form.region)}
                {field("Name", "Name", "text", &form.name)}
                {field("Description", "Description", "text", &form.description)}
                if p.what == Copying::Snapshot {
                    <label>{"Retention Period (days; empty keeps the copy until you delete it)"}
                        <input type="number" aria-label="Retention Days" min="1" max="65536" value={form.days.clone()} /></label>
                    <p class="hint">{"Only normal snapshots that are accomplished (uploaded to OSS) can be copied; local snapshots cannot."}</p>
                }
                {error_line(&error)}
                {dialog_buttons("Copy", ok, &p.on_close, false)}
            </div>
        </Dialog>
    }
}

#[derive(Properties, PartialEq)]
struct ProgressProps {
    form: CopyForm,
    copy: String,
    on_close: Callback<()>,
}

/// The copy in its region, re-read every second until it is done.
#[function_component(CopyProgress)]
fn copy_progress(p: &ProgressProps) -> Html {
    let (action, params) = p.form.follow(&p.copy);
    let state = use_query(action, params).and_then(|r| r.ok()).and_then(|v| copy_state(&v));
    let (status, progress) = state.unwrap_or_else(|| ("…".into(), String::new()));
    let close = p.on_close.reform(|_: MouseEvent| ());
    html! {
        <Dialog title="Copying" on_close={p.on_close.clone()}>
            <div class="form" data-copy={p.copy.clone()}>
                <p>{format!("The copy of {} in {}: ", p.form.id, p.form.region)}<span class="mono">{p.copy.clone()}</span></p>
                <p aria-live="polite">{"Status: "}{status_badge(&status)}{" "}<span class="copy-progress">{progress}</span></p>
                if copy_done(&status) {
                    <p>{format!("Done: switch the region to {} to use it.", p.form.region)}</p>
                } else {
                    <p class="hint">{"You may close this dialog: the copy goes on in the background."}</p>
                }
                <div class="buttons"><button class="primary" onclick={close}>{"OK"}</button></div>
            </div>
        </Dialog>
    }
}
