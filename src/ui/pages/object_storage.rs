//! The Settings page's Object Storage section: where normal snapshots go
//! (the embedded store, or an S3-compatible bucket), Test Connection, and
//! Recover Snapshots from Object Storage.

use serde_json::json;
use yew::prelude::*;

use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::object_store::{status_line, ObjectStoreAction, ObjectStoreForm};

reducible!(ObjectStoreForm => ObjectStoreAction);

#[function_component(ObjectStorage)]
pub fn object_storage() -> Html {
    let ctx = use_ctx();
    let form = use_reducer(ObjectStoreForm::default);
    let status = use_query("DescribeObjectStore", json!({})).and_then(Result::ok).unwrap_or_default();
    let problem = form.problem();
    let button = |label: &'static str, action: &'static str, params: serde_json::Value, ok: &str, problem: Option<&'static str>| {
        let (ctx, ok) = (ctx.clone(), ok.to_string());
        let onclick = Callback::from(move |_: MouseEvent| run(&ctx, action, params.clone(), ok.clone(), None));
        html! { <button {onclick} disabled={problem.is_some()} title={problem}>{label}</button> }
    };
    let connected = status["Connected"] == true;
    let check = |label: &'static str, on: bool| html! { <label><input type="checkbox" aria-label={label} checked={on} />{label}</label> };
    html! {
        <div oninput={on_input(form.dispatcher().to_callback(), ObjectStoreAction::of)}>
            <h2>{"Object Storage"}</h2>
            <p data-testid="object-storage-status">{status_line(&status)}</p>
            <div class="toolbar">
                {field("Endpoint ", "Endpoint URL", "url", &form.endpoint)}
                {field("Region ", "S3 Region", "text", &form.region)}
                {field("Bucket ", "Bucket Name", "text", &form.bucket)}
                {check("Path-style addressing", form.path_style)}
            </div>
            <div class="toolbar">
                {field("AccessKey ID ", "Access Key ID", "text", &form.key_id)}
                {field("AccessKey Secret ", "Access Key Secret", "password", &form.secret)}
                {field("STS token (optional) ", "Security Token", "password", &form.token)}
                {check("Remember on this device", form.remember)}
            </div>
            <p class="hint">{"The bucket and its CORS rule are made outside rowsnap (a browser cannot create them on OSS). Credentials stay in this tab's memory unless \"Remember on this device\" is ticked: then they are stored unencrypted in this browser profile, readable by anyone who uses it. Prefer temporary STS credentials. Switching the storage never moves or deletes snapshots: those in a bucket that is not connected cannot be read until it is."}</p>
            <div class="toolbar">
                {button("Test Connection", "TestObjectStore", form.request(), "The connection works: credentials, bucket, CORS and ranged reads.", problem)}
                {button("Connect", "SetObjectStore", form.request(), &format!("New normal snapshots go to the bucket {}.", form.bucket), problem)}
                {button("Use Embedded Storage", "SetObjectStore", json!({"Type": "Embedded"}), "New normal snapshots stay in this browser.", (!connected).then_some("Already in use."))}
                {button("Recover Snapshots from Object Storage", "RecoverSnapshots", json!({}), "The bucket's snapshots are listed under Snapshots.", (!connected).then_some("Connect a bucket first."))}
            </div>
        </div>
    }
}
