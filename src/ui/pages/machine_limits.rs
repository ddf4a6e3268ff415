//! The Settings page's Machines section: how many machines may run in this
//! tab at once, and each one's memory (`SetMachineLimits`, a service action).

use serde_json::{json, Value};
use yew::prelude::*;

use crate::ui::components::*;
use crate::ui::context::*;

#[function_component(MachineLimits)]
pub fn machine_limits() -> Html {
    let ctx = use_ctx();
    let now = use_query("DescribeMachineLimits", json!({})).and_then(Result::ok).unwrap_or_default();
    // What is typed ("" keeps the current value).
    let typed = use_state(|| (String::new(), String::new()));
    let oninput = {
        let typed = typed.clone();
        Callback::from(move |e: InputEvent| {
            let i = input_of(&e);
            let mut t = (*typed).clone();
            if i.label == "Most machines at once" {
                t.0 = i.value;
            } else {
                t.1 = i.value;
            }
            typed.set(t);
        })
    };
    let num = |s: &str| if s.trim().is_empty() { Value::Null } else { s.trim().parse::<u64>().map_or_else(|_| json!(s), Value::from) };
    let params = json!({"MaxMachines": num(&typed.0), "MemoryMiB": num(&typed.1)});
    let onclick = {
        let (ctx, typed) = (ctx.clone(), typed.clone());
        Callback::from(move |_: MouseEvent| {
            run(&ctx, "SetMachineLimits", params.clone(), "The machine limits were saved (new memory applies from a machine's next boot).".into(), None);
            typed.set(Default::default());
        })
    };
    html! {
        <div {oninput}>
            <h2>{"Machines"}</h2>
            <p data-testid="machine-limits">{format!(
                "At most {} machines run in this tab at once ({} running now); each gets {} MiB of memory, or its instance type's memory if that is less. Each machine costs the tab 250-500 MiB.",
                now["MaxMachines"], now["MachinesAlive"], now["MemoryMiB"])}</p>
            <div class="toolbar">
                {field("Machines ", "Most machines at once", "number", &typed.0)}
                {field("Memory (MiB) ", "Memory per machine in MiB", "number", &typed.1)}
                <button {onclick}>{"Save Machine Limits"}</button>
            </div>
        </div>
    }
}
