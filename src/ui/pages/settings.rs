//! The Settings page: storage, simulated clock, upload rate, machines
//! (`machine_limits`), object storage (`object_storage`), the region's KMS keys (create, lock, unlock), delete all data.

use serde_json::json;
use yew::prelude::*;

use crate::browser::{self, human_bytes, StorageInfo};
use crate::error::Error;
use crate::service;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::dialogs::{SettingsAction, SettingsForm};
use crate::ui::model::keys::{KeysAction, KeysForm};
use crate::ui::model::rows::KeyRow;

reducible!(SettingsForm => SettingsAction, KeysForm => KeysAction);

#[function_component(SettingsPage)]
pub fn settings_page() -> Html {
    let ctx = use_ctx();
    let storage = use_state(|| None::<StorageInfo>);
    let form = use_reducer(SettingsForm::default);
    let error = use_state(|| None::<Error>);
    let d = form.dispatcher().to_callback();
    {
        let (storage, d) = (storage.clone(), d.clone());
        use_effect_with(ctx.tick, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                storage.set(browser::storage().await);
                if let Ok((offset, cap)) = service::with(async |ecs| Ok((ecs.clock_offset_seconds(), ecs.upload_rate()))).await {
                    d.emit(SettingsAction::Read(offset, cap));
                }
            });
        });
    }
    let do_advance = {
        let (ctx, error, days) = (ctx.clone(), error.clone(), form.advance_days());
        Callback::from(move |_: MouseEvent| {
            let (ctx, error) = (ctx.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match service::with(async |ecs| ecs.advance_clock(days * 86_400.0).await).await {
                    Ok(()) => ctx.toast.emit(Toast::Ok(format!("The console clock moved {days} days forward."))),
                    Err(e) => error.set(Some(e)),
                }
                ctx.refresh.emit(());
            });
        })
    };
    let do_rate = {
        let (ctx, error, kib) = (ctx.clone(), error.clone(), form.rate_kib());
        Callback::from(move |_: MouseEvent| {
            let (ctx, error) = (ctx.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match service::with(async |ecs| ecs.set_upload_rate(kib.map(|k| k * 1024)).await).await {
                    Ok(()) => ctx.toast.emit(Toast::Ok(match kib {
                        Some(k) => format!("Uploads capped at {k} KiB/s."),
                        None => "Uploads are not capped.".into(),
                    })),
                    Err(e) => error.set(Some(e)),
                }
                ctx.refresh.emit(());
            });
        })
    };
    let keys = use_keys();
    let keys_form = use_reducer(KeysForm::default);
    let kd = keys_form.dispatcher().to_callback();
    let problem = keys_form.problem();
    let done = |a: KeysAction| Some(kd.reform(move |_| a.clone()));
    let key_row = |k: &KeyRow| {
        let action = if k.is_default() {
            html! { <span class="sub">{"Kept by this browser profile"}</span> }
        } else if k.locked {
            html! { <>
                <input type="password" aria-label={format!("Passphrase for {}", k.alias)} placeholder="Passphrase" value={keys_form.unlock_passphrase(&k.alias).to_string()} />
                {key_button(&ctx, "Unlock", "UnlockKey", keys_form.unlock_request(k), format!("Key {} was unlocked.", k.alias), done(KeysAction::Unlocked(k.alias.clone())), None)}
            </> }
        } else {
            let ok = format!("Key {} was locked: its disks and snapshots cannot be read until it is unlocked.", k.alias);
            key_button(&ctx, "Lock", "LockKey", json!({"KeyId": k.key_id}), ok, None, None)
        };
        html! {
            <tr role="row" data-key={k.key_id.clone()}>
                // One <td> built in a loop: each element written out costs wasm.
                { for [k.alias.clone(), k.key_id.clone(), k.origin.clone(), (if k.locked { "Locked" } else { "Unlocked" }).into(), when(&k.creation_time)].into_iter().map(|t| html! { <td>{t}</td> }) }
                <td class="actions">{action}</td>
            </tr>
        }
    };
    let confirm = |on: bool| d.reform(move |_| SettingsAction::Confirming(on));
    let do_reset = {
        let (ctx, done) = (ctx.clone(), confirm(false));
        Callback::from(move |_: MouseEvent| {
            let (ctx, done) = (ctx.clone(), done.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match service::reset().await {
                    Ok(()) => ctx.toast.emit(Toast::Ok("All data was deleted.".into())),
                    Err(e) => ctx.toast.emit(Toast::Err(e)),
                }
                done.emit(());
                ctx.refresh.emit(());
            });
        })
    };
    html! {
        <section class="page" aria-labelledby="page-title" oninput={on_input(d.clone(), SettingsAction::of)}>
            <h1 id="page-title">{"Settings"}</h1>
            <h2>{"Storage"}</h2>
            { match &*storage {
                Some(st) => html! { <p>{format!("{} used of {} this browser allows this site; {}.", human_bytes(st.usage), human_bytes(st.quota),
                    if st.persisted { "persistent: the browser will not evict it" } else { "not persistent: the browser may evict it under storage pressure" })}</p> },
                None => html! { <p class="sub">{"This browser gives no storage figures."}</p> },
            } }
            <h2>{"Simulated clock"}</h2>
            <p>{format!("The console's clock is {:.1} days ahead of real time (retention, instant-access expiry and state changes follow it).", form.clock_offset / 86_400.0)}</p>
            <div class="toolbar">
                <label>{"Days "}<input type="number" aria-label="Days to advance" min="0" step="0.5" value={form.advance.clone()} /></label>
                <button onclick={do_advance}>{"Advance Clock"}</button>
            </div>
            <h2>{"Upload rate"}</h2>
            <p>{match form.upload_cap { Some(r) => format!("Uploads of normal snapshots to OSS are capped at {}/s.", human_bytes(r as f64)), None => "Uploads of normal snapshots to OSS are not capped.".into() }}</p>
            <div class="toolbar">
                <label>{"KiB/s (empty: no cap) "}<input type="number" aria-label="Upload rate in KiB/s" min="0" value={form.rate.clone()} /></label>
                <button onclick={do_rate}>{"Set Upload Rate"}</button>
            </div>
            {error_line(&error)}
            <super::machine_limits::MachineLimits />
            <super::object_storage::ObjectStorage />
            <h2>{"Keys (KMS)"}</h2>
            <p>{format!("The keys of {} that encrypt disks, snapshots and images. The default key ({}) is made the first time a disk is encrypted without a key; a passphrase key is locked after a reload until it is unlocked here.", ctx.scope.region, crate::ui::model::keys::DEFAULT_ALIAS)}</p>
            <div oninput={on_input(kd.clone(), KeysAction::of)}>
            if keys.is_empty() {
                <p class="empty">{"No keys in this region yet."}</p>
            } else {
                <table class="grid" aria-label="Keys">
                    <thead><tr role="row">{ for ["Alias", "Key ID", "Origin", "Status", "Created At", "Actions"].into_iter().map(|h| html! { <th>{h}</th> }) }</tr></thead>
                    <tbody>{ for keys.iter().map(key_row) }</tbody>
                </table>
            }
            <div class="toolbar">
                {field("Alias ", "Key Alias", "text", &keys_form.alias)}
                {field("Passphrase ", "Key Passphrase", "password", &keys_form.passphrase)}
                {field("Confirm ", "Confirm Passphrase", "password", &keys_form.confirm)}
                {key_button(&ctx, "Create Key", "CreateKey", keys_form.create_request(), format!("Key {} was created (unlocked in this tab).", keys_form.alias.trim()), done(KeysAction::Created), problem)}
            </div>
            </div>
            <p class="hint">{"The passphrase is never stored: it cannot be recovered, and without it the key's disks, snapshots and images can never be read again."}</p>
            <h2>{"Data"}</h2>
            <button class="primary danger" onclick={confirm(true).reform(|_: MouseEvent| ())}>{"Delete all data"}</button>
            if form.confirming {
                <Dialog title="Delete all data" on_close={confirm(false)}>
                    <div class="form">
                        <p class="warn">{"Every instance, disk, snapshot, image and OSS object in this browser is deleted. This cannot be undone."}</p>
                        <div class="buttons">
                            <button class="primary danger" onclick={do_reset}>{"Delete everything"}</button>
                            <button onclick={confirm(false).reform(|_: MouseEvent| ())}>{"Cancel"}</button>
                        </div>
                    </div>
                </Dialog>
            }
        </section>
    }
}

/// A button of the Keys section: runs a key call (its error toasted with its
/// code), then `done`; disabled with `problem` as its title. One closure
/// type for the three buttons.
fn key_button(
    ctx: &Ctx,
    label: &'static str,
    action: &'static str,
    params: serde_json::Value,
    ok: String,
    done: Option<Callback<serde_json::Value>>,
    problem: Option<&'static str>,
) -> Html {
    let ctx = ctx.clone();
    let onclick = Callback::from(move |_: MouseEvent| run(&ctx, action, params.clone(), ok.clone(), done.clone()));
    html! { <button {onclick} disabled={problem.is_some()} title={problem}>{label}</button> }
}
