//! What pages get from the shell (`Ctx`: the scope, the refresh tick, toasts)
//! and how they call the ECS service: in the scope of the top bar, which
//! lives only here (in the context), never in a global.

use serde_json::Value;
use yew::prelude::*;

use super::model::keys::key_rows;
use super::model::rows::{list_path, KeyRow, Paging};
use crate::error::Error;
use crate::service;

/// The region and resource group chosen in the top bar. Every call is made
/// in the region; Describe actions (but DescribeImages) in the group too.
#[derive(Clone, Debug, PartialEq)]
pub struct Scope {
    pub region: String,
    /// Empty: all resource groups.
    pub group: String,
}

impl Default for Scope {
    fn default() -> Self {
        Scope { region: crate::ecs::DEFAULT_REGION.to_string(), group: String::new() }
    }
}

impl Scope {
    /// The zones of the region.
    pub fn zones(&self) -> Vec<&'static str> {
        crate::ecs::REGIONS.iter().find(|x| x.0 == self.region).map(|x| x.2.to_vec()).unwrap_or_default()
    }
}

/// One ECS action through the tab's service, in the chosen region (and, for
/// Describe actions, the chosen resource group); also the key service's
/// methods, as `ListKeys`, `CreateKey` (Alias, Passphrase), `LockKey`
/// (KeyId) and `UnlockKey` (KeyId, Passphrase).
pub async fn call(scope: &Scope, action: &str, mut params: Value) -> Result<Value, Error> {
    if let Value::Object(m) = &mut params {
        m.entry("RegionId").or_insert_with(|| Value::String(scope.region.clone()));
        if !scope.group.is_empty() && action.starts_with("Describe") && action != "DescribeImages" {
            m.entry("ResourceGroupId").or_insert_with(|| Value::String(scope.group.clone()));
        }
    }
    // The key service's methods are called as if they were actions (`service::key_action`).
    service::with(async |ecs| match service::key_action(ecs, action, &params).await {
        Some(out) => out,
        None => ecs.request(action, &params).await.map_err(|(e, _)| e),
    })
    .await
}

/// A message for the toast area: Ok text, or an ECS error.
#[derive(Clone, PartialEq)]
pub enum Toast {
    Ok(String),
    Err(Error),
}

/// What pages get from the shell: the scope, the refresh tick and a way to toast.
#[derive(Clone, PartialEq)]
pub struct Ctx {
    /// Goes up every second and after every action: lists re-read on it.
    pub tick: u64,
    /// The region and resource group of the top bar (lists re-read when they change).
    pub scope: Scope,
    pub toast: Callback<Toast>,
    pub refresh: Callback<()>,
}

#[hook]
pub fn use_ctx() -> Ctx {
    use_context::<Ctx>().expect("the shell provides Ctx")
}

/// The result of an action, re-read on every tick. None while loading.
/// With `PageSize: 100` a Describe action's every page is read and merged
/// (lists filter and page in the console), so no row is left out past 100.
#[hook]
pub fn use_query(action: &'static str, params: Value) -> Option<Result<Value, Error>> {
    let ctx = use_ctx();
    let state = use_state(|| None);
    {
        let state = state.clone();
        let key = params.to_string();
        use_effect_with((key, ctx.tick, ctx.scope.clone()), move |(_, _, scope)| {
            let scope = scope.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let all = Paging::of(&params).page_size == Some(100);
                state.set(Some(if all { call_all(&scope, action, params).await } else { call(&scope, action, params).await }));
            });
        });
    }
    (*state).clone()
}

/// The region's KMS keys (ListKeys), re-read on every tick; none while loading.
#[hook]
pub fn use_keys() -> Vec<KeyRow> {
    use_query("ListKeys", Value::Object(Default::default())).and_then(Result::ok).map(|v| key_rows(&v)).unwrap_or_default()
}

/// Every page of a Describe action (at most 50), merged into the first
/// page's shape: the double-wrapped list (`Snapshots: {Snapshot: [...]}`)
/// holds every item.
pub async fn call_all(scope: &Scope, action: &str, params: Value) -> Result<Value, Error> {
    let mut first = call(scope, action, params.clone()).await?;
    let Some((outer, inner)) = list_path(&first) else { return Ok(first) };
    for page in Paging::of(&first).more_pages() {
        let mut p = params.clone();
        p["PageNumber"] = Value::from(page);
        let next = call(scope, action, p).await?;
        let more = next[&outer][&inner].as_array().cloned().unwrap_or_default();
        if more.is_empty() {
            break;
        }
        if let Some(items) = first[&outer][&inner].as_array_mut() {
            items.extend(more);
        }
    }
    Ok(first)
}

/// Runs an action; toasts its error (with the ECS Code) or `ok`, and refreshes.
pub fn run(ctx: &Ctx, action: &'static str, params: Value, ok: String, then: Option<Callback<Value>>) {
    let ctx = ctx.clone();
    wasm_bindgen_futures::spawn_local(async move {
        match call(&ctx.scope, action, params).await {
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
    error: UseStateHandle<Option<Error>>,
    on_close: Callback<()>,
    ok: impl FnOnce(&Value) -> String + 'static,
) {
    submit_calls(ctx, vec![(action, params)], error, on_close, Box::new(ok));
}

/// Submits a dialog's calls in order, as `submit`: the first that fails
/// stops there (what was done before it stays done, and the lists show it).
pub fn submit_all(ctx: &Ctx, calls: Vec<(&'static str, Value)>, error: UseStateHandle<Option<Error>>, on_close: Callback<()>, ok: String) {
    submit_calls(ctx, calls, error, on_close, Box::new(move |_| ok));
}

/// Both: not generic, so the async body is compiled once (one per call site
/// cost about 600 bytes of wasm each).
fn submit_calls(
    ctx: &Ctx,
    calls: Vec<(&'static str, Value)>,
    error: UseStateHandle<Option<Error>>,
    on_close: Callback<()>,
    ok: Box<dyn FnOnce(&Value) -> String>,
) {
    let ctx = ctx.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let mut last = Value::Null;
        for (action, params) in calls {
            match call(&ctx.scope, action, params).await {
                Ok(v) => last = v,
                Err(e) => {
                    ctx.refresh.emit(());
                    return error.set(Some(e));
                }
            }
        }
        ctx.toast.emit(Toast::Ok(ok(&last)));
        ctx.refresh.emit(());
        on_close.emit(());
    });
}
