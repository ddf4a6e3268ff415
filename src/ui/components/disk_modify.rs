//! The disk's Modify dialog (ModifyDiskAttribute).

use serde_json::Value;
use yew::prelude::*;

use super::*;
use crate::error::Error;
use crate::ui::context::*;
use crate::ui::model::disk_attr::{DiskAttrAction, DiskAttrForm};

reducible!(DiskAttrForm => DiskAttrAction);

#[derive(Properties, PartialEq)]
pub struct ModifyDiskProps {
    /// The disk as DescribeDisks shows it.
    pub disk: Value,
    pub on_close: Callback<()>,
}

#[function_component(ModifyDiskDialog)]
pub fn modify_disk_dialog(p: &ModifyDiskProps) -> Html {
    let ctx = use_ctx();
    let form = use_reducer(|| DiskAttrForm::of(&p.disk));
    let error = use_state(|| None::<Error>);
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let params = form.request();
        Callback::from(move |_: MouseEvent| {
            submit(&ctx, "ModifyDiskAttribute", params.clone(), error.clone(), on_close.clone(), |_: &Value| "The disk was modified.".into());
        })
    };
    let check = |label: &'static str, on: bool, disabled: bool| {
        html! { <label class="check"><input type="checkbox" aria-label={label} checked={on} {disabled} />{" "}{label}</label> }
    };
    html! {
        <Dialog title="Modify Disk" on_close={p.on_close.clone()}>
            <div class="form" oninput={on_input(form.dispatcher().to_callback(), DiskAttrAction::of)}>
                {field("Disk Name", "Disk Name", "text", &form.name)}
                {field("Description", "Description", "text", &form.description)}
                {check("Release with Instance", form.delete_with_instance, false)}
                {check("Release Automatic Snapshots with Disk", form.delete_auto_snapshot, false)}
                <p class="hint">{"When the disk is released, its automatic snapshots go with it; manual snapshots always stay."}</p>
                {check("Automatic Snapshots", form.enable_auto_snapshot, !form.has_policy)}
                if !form.has_policy { <p class="hint">{"No automatic snapshot policy is applied to this disk: apply one on the Automatic Snapshot Policies tab."}</p> }
                {error_line(&error)}
                {dialog_buttons("OK", ok, &p.on_close, false)}
            </div>
        </Dialog>
    }
}
