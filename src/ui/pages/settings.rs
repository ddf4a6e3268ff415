//! The Settings page: storage, simulated clock, upload rate, delete all data.

use yew::prelude::*;

use crate::browser::{self, human_bytes, StorageInfo};
use crate::error::Error;
use crate::service;
use crate::ui::components::*;
use crate::ui::context::*;

#[function_component(SettingsPage)]
pub fn settings_page() -> Html {
    let ctx = use_ctx();
    let storage = use_state(|| None::<StorageInfo>);
    let clock = use_state(|| (0.0f64, None::<u64>));
    let advance = use_state(|| "1".to_string());
    let rate = use_state(String::new);
    let confirming = use_state(|| false);
    let error = use_state(|| None::<Error>);
    {
        let (storage, clock) = (storage.clone(), clock.clone());
        use_effect_with(ctx.tick, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                storage.set(browser::storage(false).await);
                if let Ok(c) = service::with(async |ecs| Ok((ecs.clock_offset_seconds(), ecs.upload_rate()))).await {
                    clock.set(c);
                }
            });
        });
    }
    let do_advance = {
        let (ctx, advance, error) = (ctx.clone(), advance.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            let days: f64 = advance.parse().unwrap_or(0.0);
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
        let (ctx, rate, error) = (ctx.clone(), rate.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            let kib: Option<u64> = rate.trim().parse::<u64>().ok().filter(|&k| k > 0);
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
    let do_reset = {
        let (ctx, confirming) = (ctx.clone(), confirming.clone());
        Callback::from(move |_: MouseEvent| {
            let (ctx, confirming) = (ctx.clone(), confirming.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match service::reset().await {
                    Ok(()) => ctx.toast.emit(Toast::Ok("All data was deleted.".into())),
                    Err(e) => ctx.toast.emit(Toast::Err(e)),
                }
                confirming.set(false);
                ctx.refresh.emit(());
            });
        })
    };
    let (offset, cap) = *clock;
    html! {
        <section class="page" aria-labelledby="page-title">
            <h1 id="page-title">{"Settings"}</h1>
            <h2>{"Storage"}</h2>
            { match &*storage {
                Some(st) => html! { <p>{format!("{} used of {} this browser allows this site; {}.", human_bytes(st.usage), human_bytes(st.quota),
                    if st.persisted { "persistent: the browser will not evict it" } else { "not persistent: the browser may evict it under storage pressure" })}</p> },
                None => html! { <p class="sub">{"This browser gives no storage figures."}</p> },
            } }
            <h2>{"Simulated clock"}</h2>
            <p>{format!("The console's clock is {:.1} days ahead of real time (retention, instant-access expiry and state changes follow it).", offset / 86_400.0)}</p>
            <div class="toolbar">
                <label>{"Days "}<input type="number" aria-label="Days to advance" min="0" step="0.5" value={(*advance).clone()}
                    oninput={let a = advance.clone(); Callback::from(move |e: InputEvent| a.set(value_of(&e.into())))} /></label>
                <button onclick={do_advance}>{"Advance Clock"}</button>
            </div>
            <h2>{"Upload rate"}</h2>
            <p>{match cap { Some(r) => format!("Uploads of normal snapshots to OSS are capped at {}/s.", human_bytes(r as f64)), None => "Uploads of normal snapshots to OSS are not capped.".into() }}</p>
            <div class="toolbar">
                <label>{"KiB/s (empty: no cap) "}<input type="number" aria-label="Upload rate in KiB/s" min="0" value={(*rate).clone()}
                    oninput={let r = rate.clone(); Callback::from(move |e: InputEvent| r.set(value_of(&e.into())))} /></label>
                <button onclick={do_rate}>{"Set Upload Rate"}</button>
            </div>
            {error_line(&error)}
            <h2>{"Data"}</h2>
            <button class="primary danger" onclick={let c = confirming.clone(); Callback::from(move |_| c.set(true))}>{"Delete all data"}</button>
            if *confirming {
                <Dialog title="Delete all data" on_close={let c = confirming.clone(); Callback::from(move |_| c.set(false))}>
                    <div class="form">
                        <p class="warn">{"Every instance, disk, snapshot, image and OSS object in this browser is deleted. This cannot be undone."}</p>
                        <div class="buttons">
                            <button class="primary danger" onclick={do_reset}>{"Delete everything"}</button>
                            <button onclick={let c = confirming.clone(); Callback::from(move |_: MouseEvent| c.set(false))}>{"Cancel"}</button>
                        </div>
                    </div>
                </Dialog>
            }
        </section>
    }
}
