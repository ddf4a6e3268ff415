//! The Snapshots page's Automatic Snapshot Policies tab: the policies of the
//! region, Create Policy, Apply to Disks (and cancel), Delete.

use serde_json::{json, Value};
use yew::prelude::*;

use crate::error::Error;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::rows::{rows, Created, DiskRow, PolicyRow};

const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// `["1","3"]` (a JSON array in a string, as ECS returns it) as numbers.
fn numbers(v: &str) -> Vec<u8> {
    serde_json::from_str::<Vec<String>>(v).unwrap_or_default().iter().filter_map(|n| n.parse().ok()).collect()
}

fn hours_text(v: &str) -> String {
    numbers(v).iter().map(|h| format!("{h:02}:00")).collect::<Vec<_>>().join(", ")
}

fn days_text(v: &str) -> String {
    let d = numbers(v);
    if d.len() == 7 {
        return "Every day".into();
    }
    d.iter().filter_map(|n| WEEKDAYS.get((*n as usize).wrapping_sub(1))).map(|w| &w[..3]).collect::<Vec<_>>().join(", ")
}

#[derive(Clone, PartialEq)]
enum Open {
    Create,
    Apply(PolicyRow),
    Delete(PolicyRow),
}

#[function_component(PoliciesTab)]
pub fn policies_tab() -> Html {
    let open = use_state(|| None::<Open>);
    let policies = use_query("DescribeAutoSnapshotPolicyEx", json!({"PageSize": 100}));
    let close = {
        let o = open.clone();
        Callback::from(move |_| o.set(None))
    };
    let show = |what: Open| {
        let o = open.clone();
        Callback::from(move |_: MouseEvent| o.set(Some(what.clone())))
    };
    html! {
        <>
        <div class="toolbar">
            <button class="primary" onclick={show(Open::Create)}>{"Create Policy"}</button>
            <span class="sub">{"Time points are hours in UTC+8, as ECS counts them; runs follow the console clock (Settings)."}</span>
        </div>
        { match policies {
            None => html! { <p class="loading">{"Loading…"}</p> },
            Some(Err(e)) => error_line(&Some(e)),
            Some(Ok(v)) => {
                let ps: Vec<PolicyRow> = rows(&v, "AutoSnapshotPolicies", "AutoSnapshotPolicy");
                if ps.is_empty() {
                    html! { <p class="empty">{"No automatic snapshot policies in this region. Create one, then apply it to disks."}</p> }
                } else {
                    html! {
                        <div class="table-scroll">
                        <table class="grid"><thead><tr role="row"><th>{"Policy ID/Name"}</th><th>{"Time Points (UTC+8)"}</th><th>{"Repeat On"}</th><th>{"Retention Period"}</th><th>{"Disks"}</th><th>{"Created At"}</th><th>{"Actions"}</th></tr></thead>
                        <tbody>{ for ps.iter().map(|p| {
                            let days = p.retention_days.unwrap_or(-1);
                            html! {
                                <tr role="row" key={p.auto_snapshot_policy_id.clone()}>
                                    <td><div class="mono">{p.auto_snapshot_policy_id.clone()}</div><div class="sub">{p.auto_snapshot_policy_name.clone()}</div></td>
                                    <td>{hours_text(&p.time_points)}</td>
                                    <td>{days_text(&p.repeat_weekdays)}</td>
                                    <td>{if days < 0 { "Permanent".to_string() } else { format!("{days} days") }}</td>
                                    <td>{p.disk_nums}</td>
                                    <td>{when(&p.creation_time)}</td>
                                    <td class="actions">
                                        <button class="link" onclick={show(Open::Apply(p.clone()))}>{"Apply to Disks"}</button>
                                        <button class="link danger" onclick={show(Open::Delete(p.clone()))}>{"Delete"}</button>
                                    </td>
                                </tr>
                            }
                        }) }</tbody></table>
                        </div>
                    }
                }
            }
        } }
        { match (*open).clone() {
            Some(Open::Create) => html! { <CreatePolicyDialog on_close={close.clone()} /> },
            Some(Open::Apply(p)) => html! { <ApplyPolicyDialog policy={p} on_close={close.clone()} /> },
            Some(Open::Delete(p)) => html! { <DeletePolicyDialog policy={p} on_close={close.clone()} /> },
            None => html! {},
        } }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct CloseProps {
    on_close: Callback<()>,
}

/// A set of numbers as checkboxes.
fn checks(label: &str, items: Vec<(u8, String)>, set: &UseStateHandle<Vec<u8>>) -> Html {
    html! {
        <fieldset class="checks"><legend>{label.to_string()}</legend>
        { for items.into_iter().map(|(n, text)| {
            let set = set.clone();
            let on = set.contains(&n);
            html! { <label class="check"><input type="checkbox" aria-label={text.clone()} checked={on}
                onchange={Callback::from(move |e: Event| {
                    let mut v = (*set).clone();
                    v.retain(|x| *x != n);
                    if checked_of(&e) { v.push(n); v.sort_unstable(); }
                    set.set(v);
                })} />{format!(" {text}")}</label> }
        }) }
        </fieldset>
    }
}

#[function_component(CreatePolicyDialog)]
fn create_policy_dialog(p: &CloseProps) -> Html {
    let ctx = use_ctx();
    let name = use_state(String::new);
    let hours = use_state(|| vec![2u8]);
    let days = use_state(|| (1..=7).collect::<Vec<u8>>());
    let permanent = use_state(|| false);
    let retention = use_state(|| "7".to_string());
    let error = use_state(|| None::<Error>);
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let (name, hours, days, permanent, retention) = (name.clone(), hours.clone(), days.clone(), permanent.clone(), retention.clone());
        Callback::from(move |_: MouseEvent| {
            let strs = |v: &[u8]| serde_json::to_string(&v.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
            let mut params = json!({"timePoints": strs(&hours), "repeatWeekdays": strs(&days),
                "retentionDays": if *permanent { "-1".to_string() } else { (*retention).clone() }});
            if !name.is_empty() {
                params["autoSnapshotPolicyName"] = json!(*name);
            }
            submit(&ctx, "CreateAutoSnapshotPolicy", params, error.clone(), on_close.clone(), |v: &Value| {
                format!("Policy {} was created.", Created::of(v).auto_snapshot_policy_id)
            });
        })
    };
    html! {
        <Dialog title="Create Automatic Snapshot Policy" on_close={p.on_close.clone()}>
            <div class="form">
                <label>{"Policy Name"}<input type="text" aria-label="Policy Name" value={(*name).clone()}
                    oninput={let n = name.clone(); Callback::from(move |e: InputEvent| n.set(value_of(&e.into())))} /></label>
                {checks("Time Points (UTC+8)", (0..24).map(|h| (h, format!("{h:02}:00"))).collect(), &hours)}
                {checks("Repeat On", (1..=7).map(|d| (d, WEEKDAYS[d as usize - 1].to_string())).collect(), &days)}
                <div class="radios" role="radiogroup" aria-label="Retention Period">
                    <label class="check"><input type="radio" name="policy-retention" aria-label="Retained for days" checked={!*permanent}
                        onchange={let pm = permanent.clone(); Callback::from(move |_| pm.set(false))} />{" Retained for "}
                        <input type="number" aria-label="Retention Days" min="1" max="65535" value={(*retention).clone()} disabled={*permanent}
                            oninput={let r = retention.clone(); Callback::from(move |e: InputEvent| r.set(value_of(&e.into())))} />{" days"}</label>
                    <label class="check"><input type="radio" name="policy-retention" aria-label="Permanent Retention" checked={*permanent}
                        onchange={let pm = permanent.clone(); Callback::from(move |_| pm.set(true))} />{" Permanent Retention (until deleted)"}</label>
                </div>
                <p class="hint">{"At each time point every disk the policy is applied to gets an automatic snapshot. A disk at its 64 snapshots gives up its oldest automatic one."}</p>
                {error_line(&error)}
                <DialogButtons ok="OK" on_ok={ok} on_cancel={p.on_close.clone()} />
            </div>
        </Dialog>
    }
}

#[derive(Properties, PartialEq)]
struct PolicyProps {
    policy: PolicyRow,
    on_close: Callback<()>,
}

#[function_component(ApplyPolicyDialog)]
fn apply_policy_dialog(p: &PolicyProps) -> Html {
    let ctx = use_ctx();
    let id = p.policy.auto_snapshot_policy_id.clone();
    let query = use_query("DescribeDisks", json!({"PageSize": 100}));
    let load_error = query.as_ref().and_then(|r| r.as_ref().err().cloned());
    let disks = query.and_then(|r| r.ok()).map(|v| rows::<DiskRow>(&v, "Disks", "Disk"));
    let chosen = use_state(|| None::<Vec<String>>);
    // Start from the disks that follow this policy now (once they are read).
    {
        let (chosen, id) = (chosen.clone(), id.clone());
        let now: Option<Vec<String>> = disks.as_ref().map(|ds| ds.iter().filter(|d| d.auto_snapshot_policy_id == id).map(|d| d.disk_id.clone()).collect());
        use_effect_with(now.is_some(), move |_| {
            if chosen.is_none() {
                if let Some(now) = now {
                    chosen.set(Some(now));
                }
            }
        });
    }
    let error = use_state(|| None::<Error>);
    let ok = {
        let (ctx, error, on_close, chosen, id) = (ctx.clone(), error.clone(), p.on_close.clone(), chosen.clone(), id.clone());
        let before: Vec<String> = disks.iter().flatten().filter(|d| d.auto_snapshot_policy_id == id).map(|d| d.disk_id.clone()).collect();
        Callback::from(move |_: MouseEvent| {
            let now = (*chosen).clone().unwrap_or_default();
            let dropped: Vec<String> = before.iter().filter(|d| !now.contains(d)).cloned().collect();
            let (ctx, error, on_close, id) = (ctx.clone(), error.clone(), on_close.clone(), id.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let mut result = Ok(Value::Null);
                if !now.is_empty() {
                    result = call(&ctx.scope, "ApplyAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": id, "diskIds": now})).await;
                }
                if result.is_ok() && !dropped.is_empty() {
                    result = call(&ctx.scope, "CancelAutoSnapshotPolicy", json!({"diskIds": dropped})).await;
                }
                match result {
                    Ok(_) => {
                        ctx.toast.emit(Toast::Ok(format!("Policy {id} now applies to {} disk(s).", now.len())));
                        ctx.refresh.emit(());
                        on_close.emit(());
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let picked = (*chosen).clone().unwrap_or_default();
    html! {
        <Dialog title="Apply Policy to Disks" on_close={p.on_close.clone()}>
            <div class="form">
                <p>{format!("Disks that follow {} ({}). A disk follows one policy: checking a disk that follows another moves it here.", id, p.policy.auto_snapshot_policy_name)}</p>
                { match &disks {
                    None if load_error.is_some() => error_line(&load_error),
                    None => html! { <p class="loading">{"Loading…"}</p> },
                    Some(ds) if ds.is_empty() => html! { <p class="empty">{"No disks in this region."}</p> },
                    Some(ds) => html! {
                        <fieldset class="checks"><legend>{"Disks"}</legend>
                        { for ds.iter().map(|d| {
                            let did = d.disk_id.clone();
                            let other = &d.auto_snapshot_policy_id;
                            let note = if !other.is_empty() && *other != id { format!(" (follows {other})") } else { String::new() };
                            let chosen = chosen.clone();
                            let on = picked.contains(&did);
                            let label = format!("{} {} ({}, {} GiB){note}", did, d.disk_name, d.kind, d.size);
                            html! { <label class="check"><input type="checkbox" aria-label={did.clone()} checked={on}
                                onchange={Callback::from(move |e: Event| {
                                    let mut v = (*chosen).clone().unwrap_or_default();
                                    v.retain(|x| *x != did);
                                    if checked_of(&e) { v.push(did.clone()); }
                                    chosen.set(Some(v));
                                })} />{format!(" {label}")}</label> }
                        }) }
                        </fieldset>
                    },
                } }
                {error_line(&error)}
                <DialogButtons ok="OK" on_ok={ok} on_cancel={p.on_close.clone()} />
            </div>
        </Dialog>
    }
}

#[function_component(DeletePolicyDialog)]
fn delete_policy_dialog(p: &PolicyProps) -> Html {
    let ctx = use_ctx();
    let error = use_state(|| None::<Error>);
    let id = p.policy.auto_snapshot_policy_id.clone();
    let ok = {
        let (ctx, error, on_close, id) = (ctx.clone(), error.clone(), p.on_close.clone(), id.clone());
        Callback::from(move |_: MouseEvent| {
            submit(&ctx, "DeleteAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": id}), error.clone(), on_close.clone(), |_v: &Value| {
                "The policy was deleted.".into()
            });
        })
    };
    html! {
        <Dialog title="Delete Policy" on_close={p.on_close.clone()}>
            <div class="form">
                <p>{format!("Delete policy {} ({}). Its {} disk(s) stop getting automatic snapshots; the snapshots already taken stay.", id, p.policy.auto_snapshot_policy_name, p.policy.disk_nums)}</p>
                {error_line(&error)}
                <DialogButtons ok="Delete" on_ok={ok} on_cancel={p.on_close.clone()} danger=true />
            </div>
        </Dialog>
    }
}
