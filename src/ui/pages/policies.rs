//! The Snapshots page's Automatic Snapshot Policies tab (also its own page
//! in the navigation): the policies of the region, Create Policy, Modify
//! (the same dialog, prefilled), Apply to Disks (and cancel), Delete.

use serde_json::{json, Value};
use yew::prelude::*;

use crate::error::Error;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::policies::{days_text, following, hour_text, hours_text, ApplyAction, ApplyForm, PolicyAction, PolicyForm, WEEKDAYS};
use crate::ui::model::rows::{rows, Created, DiskRow, PolicyRow};

#[derive(Clone, PartialEq)]
enum Open {
    /// Create Policy (a new form) or Modify (the policy's).
    Form(PolicyForm),
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
            <button class="primary" onclick={show(Open::Form(PolicyForm::default()))}>{"Create Policy"}</button>
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
                                        <button class="link" onclick={show(Open::Form(PolicyForm::of(p)))}>{"Modify"}</button>
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
            Some(Open::Form(start)) => html! { <PolicyDialog {start} on_close={close.clone()} /> },
            Some(Open::Apply(p)) => html! { <ApplyPolicyDialog policy={p} on_close={close.clone()} /> },
            Some(Open::Delete(p)) => html! { <DeletePolicyDialog policy={p} on_close={close.clone()} /> },
            None => html! {},
        } }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct FormProps {
    /// The form as the dialog opens.
    start: PolicyForm,
    on_close: Callback<()>,
}

/// A set of numbers as checkboxes, each named by its text.
fn checks(label: &str, items: impl Iterator<Item = (String, bool)>) -> Html {
    html! {
        <fieldset class="checks"><legend>{label.to_string()}</legend>
        { for items.map(|(text, on)| html! {
            <label class="check"><input type="checkbox" aria-label={text.clone()} checked={on} />{format!(" {text}")}</label>
        }) }
        </fieldset>
    }
}

reducible!(PolicyForm => PolicyAction, ApplyForm => ApplyAction);

/// Create Automatic Snapshot Policy, or Modify one (ModifyAutoSnapshotPolicyEx).
#[function_component(PolicyDialog)]
fn policy_dialog(p: &FormProps) -> Html {
    let ctx = use_ctx();
    let form = use_reducer(|| p.start.clone());
    let error = use_state(|| None::<Error>);
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let (action, params) = form.request();
        let id = form.id.clone();
        Callback::from(move |_: MouseEvent| {
            let id = id.clone();
            submit(&ctx, action, params.clone(), error.clone(), on_close.clone(), move |v: &Value| match id.as_str() {
                "" => format!("Policy {} was created.", Created::of(v).auto_snapshot_policy_id),
                id => format!("Policy {id} was modified."),
            });
        })
    };
    let title = if form.id.is_empty() { "Create Automatic Snapshot Policy" } else { "Modify Automatic Snapshot Policy" };
    html! {
        <Dialog {title} on_close={p.on_close.clone()}>
            <div class="form" oninput={on_input(form.dispatcher().to_callback(), PolicyAction::of)}>
                {field("Policy Name", "Policy Name", "text", &form.name)}
                {checks("Time Points (UTC+8)", (0..24).map(|h| (hour_text(h), form.hours.contains(&h))))}
                {checks("Repeat On", (1..=7).map(|d| (WEEKDAYS[d as usize - 1].to_string(), form.days.contains(&d))))}
                <div class="radios" role="radiogroup" aria-label="Retention Period">
                    <label class="check"><input type="radio" name="policy-retention" aria-label="Retained for days" checked={!form.permanent} />{" Retained for "}
                        <input type="number" aria-label="Retention Days" min="1" max="65535" value={form.retention.clone()} disabled={form.permanent} />{" days"}</label>
                    <label class="check"><input type="radio" name="policy-retention" aria-label="Permanent Retention" checked={form.permanent} />{" Permanent Retention (until deleted)"}</label>
                </div>
                <p class="hint">{"At each time point every disk the policy is applied to gets an automatic snapshot. A disk at its 64 snapshots gives up its oldest automatic one. A changed retention applies to the snapshots taken from then on."}</p>
                {error_line(&error)}
                {dialog_buttons("OK", ok, &p.on_close, false)}
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
    let form = use_reducer(ApplyForm::default);
    let d = form.dispatcher().to_callback();
    // The disks that follow this policy now: the first choice, once they are read.
    let before = disks.as_deref().map(|ds| following(ds, &id));
    {
        let (d, before) = (d.clone(), before.clone());
        use_effect_with(before.is_some(), move |_| {
            if let Some(b) = before {
                d.emit(ApplyAction::Start(b));
            }
        });
    }
    let error = use_state(|| None::<Error>);
    let ok = {
        let (ctx, error, on_close, id) = (ctx.clone(), error.clone(), p.on_close.clone(), id.clone());
        let (calls, n) = (form.requests(&id, &before.unwrap_or_default()), form.checked().len());
        Callback::from(move |_: MouseEvent| {
            submit_all(&ctx, calls.clone(), error.clone(), on_close.clone(), format!("Policy {id} now applies to {n} disk(s)."))
        })
    };
    let picked = form.checked();
    html! {
        <Dialog title="Apply Policy to Disks" on_close={p.on_close.clone()}>
            <div class="form" oninput={on_input(d, ApplyAction::of)}>
                <p>{format!("Disks that follow {} ({}). A disk follows one policy: checking a disk that follows another moves it here.", id, p.policy.auto_snapshot_policy_name)}</p>
                { match &disks {
                    None if load_error.is_some() => error_line(&load_error),
                    None => html! { <p class="loading">{"Loading…"}</p> },
                    Some(ds) if ds.is_empty() => html! { <p class="empty">{"No disks in this region."}</p> },
                    Some(ds) => html! {
                        <fieldset class="checks"><legend>{"Disks"}</legend>
                        { for ds.iter().map(|d| {
                            let other = &d.auto_snapshot_policy_id;
                            let note = if !other.is_empty() && *other != id { format!(" (follows {other})") } else { String::new() };
                            let label = format!("{} {} ({}, {} GiB){note}", d.disk_id, d.disk_name, d.kind, d.size);
                            html! { <label class="check"><input type="checkbox" aria-label={d.disk_id.clone()} checked={picked.contains(&d.disk_id)} />{format!(" {label}")}</label> }
                        }) }
                        </fieldset>
                    },
                } }
                {error_line(&error)}
                {dialog_buttons("OK", ok, &p.on_close, false)}
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
                {dialog_buttons("Delete", ok, &p.on_close, true)}
            </div>
        </Dialog>
    }
}
