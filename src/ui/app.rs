//! The shell: title, region and resource group, navigation, the routes, the
//! session that takes the writer's lock and opens the database, the refresh
//! tick and the toasts.

use std::cell::RefCell;
use std::rc::Rc;

use gloo::events::EventListener;
use yew::prelude::*;

use crate::browser::{self, human_bytes, LockGuard, LockOutcome, StorageInfo};
use crate::service;

use super::components::value_of;
use super::context::{Ctx, Scope, Toast};
use super::model::rows::Paging;
use super::pages::{disk, disks, images, instance, instances, oss, policies, settings, snapshot, snapshots};

/// The console's pages, each at a URL after `#` (`#/disks/<id>`).
#[derive(Clone, PartialEq, Debug)]
pub enum Route {
    Home,
    Instances,
    Instance { id: String },
    Disks,
    Disk { id: String },
    Settings,
    Oss,
    Snapshots,
    Snapshot { id: String },
    Images,
    Policies,
    NotFound,
}

/// The routes by hand, without yew-router (its HashRouter, Switch, Link and
/// gloo-history cost 14.7 KB of the gzipped bundle): links are plain anchors
/// to `#/page[/id]` (the URLs HashRouter wrote), and [`App`] follows
/// `hashchange` (links, back and forward).
impl Route {
    /// The link to the page: `#` and its path (`#/disks/<id>`).
    pub fn href(&self) -> String {
        let (page, id) = match self {
            Route::Home => ("", None),
            Route::Instances => ("instances", None),
            Route::Instance { id } => ("instances", Some(id)),
            Route::Disks => ("disks", None),
            Route::Disk { id } => ("disks", Some(id)),
            Route::Settings => ("settings", None),
            Route::Oss => ("oss", None),
            Route::Snapshots => ("snapshots", None),
            Route::Snapshot { id } => ("snapshots", Some(id)),
            Route::Images => ("images", None),
            Route::Policies => ("policies", None),
            Route::NotFound => ("404", None),
        };
        match id {
            Some(id) => format!("#/{page}/{id}"),
            None => format!("#/{page}"),
        }
    }

    /// The page of a location's hash (`#/disks/<id>`; what follows a `?` or `#` ignored).
    fn of_hash(hash: &str) -> Self {
        let path = hash.strip_prefix('#').unwrap_or(hash);
        Self::recognize(path.split(['?', '#']).next().unwrap_or_default())
    }

    /// `/page` or `/page/id` (a trailing `/` ignored); anything else is NotFound.
    fn recognize(pathname: &str) -> Self {
        let path = pathname.trim_end_matches('/');
        let mut parts = path.strip_prefix('/').unwrap_or(path).split('/');
        let (page, id) = (parts.next().unwrap_or_default(), parts.next().filter(|id| !id.is_empty()).map(str::to_string));
        if parts.next().is_some() {
            return Route::NotFound;
        }
        match (page, id) {
            ("", None) => Route::Home,
            ("instances", None) => Route::Instances,
            ("instances", Some(id)) => Route::Instance { id },
            ("disks", None) => Route::Disks,
            ("disks", Some(id)) => Route::Disk { id },
            ("settings", None) => Route::Settings,
            ("oss", None) => Route::Oss,
            ("snapshots", None) => Route::Snapshots,
            ("snapshots", Some(id)) => Route::Snapshot { id },
            ("images", None) => Route::Images,
            ("policies", None) => Route::Policies,
            _ => Route::NotFound,
        }
    }
}

/// The route in the address bar. A URL without a `#/` path shows as `#/` (the
/// home page), as under yew-router's HashRouter.
fn current_route() -> Route {
    let window = gloo::utils::window();
    let hash = window.location().hash().unwrap_or_default();
    if !hash.starts_with("#/") {
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("#/"));
        }
        return Route::Home;
    }
    Route::of_hash(&hash)
}

/// Where the session stands.
#[derive(Clone, PartialEq)]
pub enum Session {
    Locking,
    /// Another tab holds the writer's lock.
    Elsewhere,
    Opening,
    Ready(DbSummary),
    /// This tab lost the database (another tab took over or upgraded it).
    Lost(String),
    Failed(String),
}

#[derive(Clone, PartialEq)]
pub struct DbSummary {
    pub instances: u64,
    pub disks: u64,
    pub snapshots: u64,
    pub storage: Option<StorageInfo>,
    pub locked: bool,
}

/// What the session keeps alive while the tab owns the database.
#[derive(Default)]
struct Held {
    _lock: Option<LockGuard>,
}

fn start(steal: bool, session: UseStateHandle<Session>, held: Rc<RefCell<Held>>) {
    session.set(Session::Locking);
    wasm_bindgen_futures::spawn_local(async move {
        let lost_session = session.clone();
        let lost_held = held.clone();
        let on_lost = move || {
            lost_held.borrow_mut()._lock = None;
            wasm_bindgen_futures::spawn_local(service::close());
            lost_session.set(Session::Lost("rowsnap was opened in another tab, which took over the database. This tab no longer writes.".into()));
        };
        let (guard, locked) = match browser::writer_lock(steal, on_lost).await {
            Ok(LockOutcome::Held(g)) => (Some(g), true),
            Ok(LockOutcome::HeldElsewhere) => return session.set(Session::Elsewhere),
            Ok(LockOutcome::Unsupported) => (None, false),
            Err(e) => return session.set(Session::Failed(e)),
        };
        session.set(Session::Opening);
        let closed_session = session.clone();
        let on_closed = move || {
            closed_session.set(Session::Lost(
                "The rowsnap database was upgraded or deleted by another tab (a newer rowsnap?). This tab closed it: reload to continue.".into(),
            ))
        };
        if let Err(e) = service::open(on_closed).await {
            return session.set(Session::Failed(e.to_string()));
        }
        let counts = service::with(async |ecs| {
            let mut n = Vec::new();
            for action in ["DescribeInstances", "DescribeDisks", "DescribeSnapshots"] {
                let v = ecs.request(action, &serde_json::json!({})).await.map_err(|(e, _)| e)?;
                n.push(Paging::of(&v).total_count.unwrap_or(0));
            }
            Ok(n)
        })
        .await;
        let counts = match counts {
            Ok(c) => c,
            Err(e) => return session.set(Session::Failed(e.to_string())),
        };
        // Whether storage is persistent already; asking for it (App, below) never holds the console.
        let storage = browser::storage().await;
        held.borrow_mut()._lock = guard;
        session.set(Session::Ready(DbSummary { instances: counts[0], disks: counts[1], snapshots: counts[2], storage, locked }));
    });
}

#[function_component(App)]
pub fn app() -> Html {
    let session = use_state(|| Session::Locking);
    // The page: the hash, followed as links, back and forward change it.
    let route = use_state_eq(current_route);
    {
        let route = route.clone();
        use_effect_with((), move |_| {
            let listener = EventListener::new(&gloo::utils::window(), "hashchange", move |_| route.set(current_route()));
            move || drop(listener)
        });
    }
    let held = use_mut_ref(Held::default);
    {
        let (session, held) = (session.clone(), held.clone());
        use_effect_with((), move |_| start(false, session, held));
    }
    // The first page's part is fetched while the database opens.
    use_effect_with((), |_| {
        #[cfg(feature = "split")]
        wasm_bindgen_futures::spawn_local(async {
            let _ = parts::page(current_route()).await;
        })
    });
    let take_over = {
        let (session, held) = (session.clone(), held.clone());
        Callback::from(move |_| start(true, session.clone(), held.clone()))
    };
    // Live updates: lists re-read every second and after every action.
    let tick = use_state(|| 0u64);
    let ready = matches!(*session, Session::Ready(_));
    {
        let tick = tick.clone();
        use_effect_with(ready, move |ready| {
            let interval = ready.then(|| {
                let tick = tick.clone();
                gloo::timers::callback::Interval::new(1_000, move || tick.set(*tick + 1))
            });
            move || drop(interval)
        });
    }
    // Persistent storage is asked for once the console is ready, and the answer shown when it
    // comes: Firefox asks the person first, and may never answer (headless, a prompt unseen).
    let persist_answer = use_state(|| None::<bool>);
    {
        let persist_answer = persist_answer.clone();
        use_effect_with(ready, move |ready| {
            if *ready {
                wasm_bindgen_futures::spawn_local(async move {
                    if let Some(granted) = browser::request_persist().await {
                        persist_answer.set(Some(granted));
                    }
                });
            }
        });
    }
    let toasts = use_state(Vec::<(u64, Toast)>::new);
    let next_toast = use_mut_ref(|| 0u64);
    let scope = use_state(Scope::default);
    let ctx = Ctx {
        scope: (*scope).clone(),
        tick: *tick,
        toast: {
            let toasts = toasts.clone();
            let next = next_toast.clone();
            Callback::from(move |t: Toast| {
                let id = {
                    let mut n = next.borrow_mut();
                    *n += 1;
                    *n
                };
                let mut v = (*toasts).clone();
                v.push((id, t));
                toasts.set(v);
                let toasts = toasts.clone();
                gloo::timers::callback::Timeout::new(8_000, move || {
                    toasts.set(toasts.iter().filter(|(i, _)| *i != id).cloned().collect());
                })
                .forget();
            })
        },
        refresh: {
            let tick = tick.clone();
            Callback::from(move |_| tick.set(*tick + 1))
        },
    };
    html! {
        <ContextProvider<Ctx> context={ctx}>
            <div class="shell">
                <header class="topbar">
                    <span class="brand">{"rowsnap"}</span>
                    <span class="product">{"ECS snapshot console"}</span>
                    <label class="region">{"Region "}
                        <select aria-label="Region" onchange={let sc = scope.clone(); Callback::from(move |e: Event| {
                            sc.set(Scope { region: value_of(&e), group: sc.group.clone() });
                        })}>
                            { for crate::ecs::REGIONS.iter().map(|(id, name, _)| html! {
                                <option value={*id} selected={scope.region == *id}>{format!("{name} · {id}")}</option>
                            }) }
                        </select>
                    </label>
                    <label class="region">{"Resource Group "}
                        <input type="text" aria-label="Resource Group" placeholder="All resource groups" value={scope.group.clone()}
                            onchange={let sc = scope.clone(); Callback::from(move |e: Event| {
                                sc.set(Scope { region: sc.region.clone(), group: value_of(&e).trim().to_string() });
                            })} />
                    </label>
                    {session_badge(&session)}
                </header>
                // Grouped as the ECS console's left navigation.
                <nav class="sidenav" aria-label="Main navigation">
                    {nav_group("Instances & Images", html! { <>
                        {nav_item(Route::Instances, "Instances", &route)}
                        {nav_item(Route::Images, "Images", &route)}
                    </> })}
                    {nav_group("Storage & Snapshots", html! { <>
                        {nav_item(Route::Disks, "Disks", &route)}
                        {nav_item(Route::Snapshots, "Snapshots", &route)}
                        {nav_item(Route::Policies, "Automatic Snapshot Policies", &route)}
                    </> })}
                    {nav_group("Object Storage", nav_item(Route::Oss, "OSS", &route))}
                    {nav_group("Console", nav_item(Route::Settings, "Settings", &route))}
                </nav>
                <main class="content">
                    {session_panel(&session, *persist_answer, take_over)}
                    if ready {
                        {switch((*route).clone())}
                    }
                </main>
                <div class="toasts" aria-live="polite">
                    { for toasts.iter().map(|(_, t)| match t {
                        Toast::Ok(m) => html! { <div class="toast ok" role="status">{m.clone()}</div> },
                        Toast::Err(e) => html! { <div class="toast err" role="alert"><strong>{e.code.clone()}</strong>{format!(" ({}): {}", e.http_status, e.message)}</div> },
                    }) }
                </div>
            </div>
        </ContextProvider<Ctx>>
    }
}

/// A group of the navigation: its title over its links.
fn nav_group(title: &'static str, links: Html) -> Html {
    html! { <div class="navgroup" role="group" aria-label={title}><span class="navhead" aria-hidden="true">{title}</span>{links}</div> }
}

/// A link of the navigation, highlighted on its page.
fn nav_item(to: Route, label: &'static str, current: &Route) -> Html {
    html! {
        <a href={to.href()} class={classes!("navlink", (*current == to).then_some("active"))}>
            {label}
        </a>
    }
}

/// The page of a route. In the release bundle (feature "split") every page
/// is a part of its own, fetched the first time it is shown ([`parts`]).
fn switch(route: Route) -> Html {
    #[cfg(feature = "split")]
    return html! { <LazyPage {route} /> };
    // Without the split every page is at hand: the future is ready at once.
    #[cfg(not(feature = "split"))]
    futures::FutureExt::now_or_never(parts::page(route)).and_then(Result::ok).unwrap_or_default()
}

/// The pages as split points: `#[wasm_split(part)]` moves the code only a
/// page reaches (its components, models and dialogs) into the wasm file of
/// `part` (`split_<part>.wasm`), which the bundle fetches the first time the
/// page is shown; code several parts share goes into files they all load.
/// A disk's and a snapshot's page share their list's part (one part less to
/// fetch, and fewer files of shared code); an instance's page (the terminal,
/// the machine) is its own, which keeps the home page's part small.
/// Without the feature each is a plain function.
mod parts {
    use super::*;

    macro_rules! parts {
        ($($name:ident ($($arg:ident: $ty:ty),*) in $part:ident => $body:expr;)+) => {
            $(
                #[cfg_attr(feature = "split", wasm_split_helpers::wasm_split($part, fallible))]
                fn $name($($arg: $ty),*) -> crate::error::Result<Html> {
                    Ok($body)
                }
            )+
        };
    }

    parts! {
        instances_page() in instances => html! { <instances::InstancesPage /> };
        instance_page(id: String) in instance => html! { <instance::InstanceDetails {id} /> };
        snapshots_page() in snapshots => html! { <snapshots::SnapshotsPage /> };
        disks_page() in disks => html! { <disks::DisksPage /> };
        disk_page(id: String) in disks => html! { <disk::DiskDetails {id} /> };
        snapshot_page(id: String) in snapshots => html! { <snapshot::SnapshotDetails {id} /> };
        images_page() in images => html! { <images::ImagesPage /> };
        // Also the Snapshots page's tab, as in the ECS console.
        policies_page() in policies => html! {
            <section class="page" aria-labelledby="page-title">
                <h1 id="page-title">{"Automatic Snapshot Policies"}</h1>
                <policies::PoliciesTab />
            </section>
        };
        settings_page() in settings => html! { <settings::SettingsPage /> };
        oss_page() in oss => html! { <oss::OssPage /> };
    }

    /// The page of `route`, its part fetched first (an error when it cannot be).
    pub async fn page(route: Route) -> crate::error::Result<Html> {
        match route {
            Route::Home | Route::Instances => part!(instances_page()),
            Route::Instance { id } => part!(instance_page(id)),
            Route::Snapshots => part!(snapshots_page()),
            Route::Disks => part!(disks_page()),
            Route::Disk { id } => part!(disk_page(id)),
            Route::Snapshot { id } => part!(snapshot_page(id)),
            Route::Images => part!(images_page()),
            Route::Policies => part!(policies_page()),
            Route::Settings => part!(settings_page()),
            Route::Oss => part!(oss_page()),
            Route::NotFound => Ok(html! {
                <section class="page" aria-labelledby="page-title">
                    <h1 id="page-title">{"Not found"}</h1>
                    <p class="empty">{"This page does not exist."}</p>
                </section>
            }),
        }
    }
}

#[cfg(feature = "split")]
#[derive(Properties, PartialEq)]
struct LazyPageProps {
    route: Route,
}

/// A page whose part may still be on its way: "Loading…" until it is, then
/// the page; if it cannot be fetched, says so with a Retry button. Only the
/// page of the route asked for last is shown.
#[cfg(feature = "split")]
#[function_component(LazyPage)]
fn lazy_page(p: &LazyPageProps) -> Html {
    // The route loaded, and its page (None: its part could not be fetched).
    let shown = use_state(|| None::<(Route, Option<Html>)>);
    let attempt = use_state(|| 0u32);
    let wanted = use_mut_ref(|| p.route.clone());
    {
        let shown = shown.clone();
        use_effect_with((p.route.clone(), *attempt), move |(route, _)| {
            *wanted.borrow_mut() = route.clone();
            let route = route.clone();
            wasm_bindgen_futures::spawn_local(async move {
                // A fetch that hangs gives the Retry notice after 30 s (the
                // part, if it arrives later, is kept: Retry then finds it).
                let load = std::pin::pin!(parts::page(route.clone()));
                let timeout = std::pin::pin!(gloo::timers::future::TimeoutFuture::new(30_000));
                let html = match futures::future::select(load, timeout).await {
                    futures::future::Either::Left((page, _)) => page.ok(),
                    futures::future::Either::Right(_) => None,
                };
                if *wanted.borrow() == route {
                    shown.set(Some((route, html)));
                }
            });
        });
    }
    // A part already loaded gives its page at once: no "Loading…" between
    // two pages, and a page stays mounted when only its route's id changes.
    if let Some(Ok(html)) = futures::FutureExt::now_or_never(parts::page(p.route.clone())) {
        return html;
    }
    match &*shown {
        Some((route, Some(html))) if *route == p.route => html.clone(),
        Some((route, None)) if *route == p.route => {
            let retry = {
                let (shown, attempt) = (shown.clone(), attempt.clone());
                Callback::from(move |_: MouseEvent| {
                    shown.set(None);
                    attempt.set(*attempt + 1);
                })
            };
            html! {
                <div class="notice err" role="alert">
                    <p>{"This page could not be loaded: its part of the console was not fetched (is the server reachable?). Nothing was changed."}</p>
                    <button class="primary" onclick={retry}>{"Retry"}</button>
                </div>
            }
        }
        _ => html! { <section class="page" aria-busy="true" data-testid="part-loading"><p class="sub">{"Loading…"}</p></section> },
    }
}

fn session_badge(session: &Session) -> Html {
    let (class, text) = match session {
        Session::Locking | Session::Opening => ("badge pending", "Opening database…"),
        Session::Ready(_) => ("badge ok", "Database ready"),
        Session::Elsewhere => ("badge warn", "Open in another tab"),
        Session::Lost(_) => ("badge warn", "Taken over"),
        Session::Failed(_) => ("badge err", "Database error"),
    };
    html! { <span class={class} role="status" data-testid="db-status">{text}</span> }
}

/// `persist_answer`: the browser's answer to the request for persistent storage, once it came.
fn session_panel(session: &Session, persist_answer: Option<bool>, on_take_over: Callback<MouseEvent>) -> Html {
    match session {
        Session::Locking | Session::Opening => html! {
            <div class="notice" aria-busy="true">{"Opening the rowsnap database in this browser…"}</div>
        },
        Session::Elsewhere => html! {
            <div class="notice warn" role="alert">
                <p>{"rowsnap is open in another tab. Only one tab writes to the database, so this one waits."}</p>
                <button class="primary" onclick={on_take_over}>{"Take over here"}</button>
            </div>
        },
        Session::Lost(m) => html! { <div class="notice warn" role="alert">{m}</div> },
        Session::Failed(m) => html! { <div class="notice err" role="alert">{format!("The database could not be opened: {m}")}</div> },
        Session::Ready(s) => {
            let storage = match &s.storage {
                Some(st) => format!(
                    "Storage: {} used of {} available to this site; {}.",
                    human_bytes(st.usage),
                    human_bytes(st.quota),
                    match (st.persisted, persist_answer) {
                        (true, _) | (_, Some(true)) => "persistent (the browser will not evict it)",
                        (false, None) => "not persistent yet: rowsnap asked the browser to keep it (some browsers ask you first)",
                        (false, Some(false)) => "not persistent (the browser may evict it under pressure)",
                    }
                ),
                None => "Storage figures are not available in this browser.".into(),
            };
            html! {
                <div class="notice ok" data-testid="db-summary">
                    <p>{format!(
                        "Database ready ({} instances, {} disks, {} snapshots when this tab opened it). Scripts can use window.ecs and window.oss.",
                        s.instances, s.disks, s.snapshots
                    )}</p>
                    <p>{storage}</p>
                    if !s.locked {
                        <p>{"This browser has no Web Locks: keep rowsnap open in one tab only."}</p>
                    }
                </div>
            }
        }
    }
}
