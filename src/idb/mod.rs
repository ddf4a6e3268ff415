//! The IndexedDB [`Store`]: the only code in rowsnap that touches IndexedDB.
//!
//! One object store per [`Table`], out-of-line keys (numbers or strings),
//! values as `Uint8Array`. Each [`IdbTx`] is one IndexedDB transaction over
//! every object store:
//! - reads issue all their requests before awaiting any (`get_many`,
//!   `get_values` over several ranges); block reads (`get_values`) are one
//!   `get` per key, all in flight at once, which Chromium serves 2-2.5x
//!   faster than one `getAll` over the same 32 KiB records (make bench:
//!   raw_gets_mb_s_32k vs raw_getall_mb_s_32k); scans use `getAll`;
//! - puts and deletes are issued at once and never awaited one by one; the
//!   transaction's completion is the only thing `commit` waits for, so an
//!   error in any request aborts the whole transaction and nothing is written;
//! - nothing but IndexedDB requests is awaited inside a transaction (anything
//!   else would let the browser auto-commit it half-way).
//!
//! Schema versions: [`DB_VERSION`]; `upgrade` migrates from every earlier
//! version inside the browser's upgrade transaction. When another tab opens
//! the database with a newer version, this connection closes itself and every
//! later call fails with [`StoreError::VersionChanged`].

use std::cell::{Cell, RefCell};
use std::future::IntoFuture;
use std::rc::Rc;

use idb::{Database, Factory, KeyRange, ObjectStore, ObjectStoreParams, Query, TransactionMode};
use js_sys::Uint8Array;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use crate::engine::store::{Key, Store, StoreError, Table, Tx};
use crate::schema;

/// The schema version of the IndexedDB database.
/// 1: one object store per engine table, and `records`.
/// 2: adds `oss_objects` and `oss_chunks` (the embedded OSS).
pub const DB_VERSION: u32 = schema::VERSION;

/// A rowsnap database in IndexedDB.
#[derive(Clone)]
pub struct IdbStore {
    conn: Rc<RefCell<Conn>>,
    reserve: Rc<RefCell<Reserve>>,
    name: String,
    /// Set when another tab's upgrade or deletion closed the connection: for good.
    closed: Rc<Cell<bool>>,
    /// Set when the browser closed the connection by itself (an I/O error, a full disk):
    /// the next transaction opens a new one.
    lost: Rc<Cell<bool>>,
    /// Set when the database was found gone on opening it again: the browser deleted it.
    wiped: Rc<Cell<bool>>,
    on_closed: OnClosed,
}

/// What every request answers once the browser deleted the database under an open tab.
const WIPED: &str = "the browser deleted this site's database while the page had it open (Chromium does so when the disk under its profile fills up); nothing more is written here: reload the page (snapshots kept in a bucket can be recovered)";

/// What runs once when another tab's upgrade or deletion closes the database.
type OnClosed = Rc<RefCell<Option<Box<dyn FnOnce()>>>>;

/// One connection to the database.
struct Conn {
    db: Database,
    raw: web_sys::IdbDatabase,
    _on_close: Closure<dyn FnMut()>,
}

/// Whether a browser's error says the storage is full: its quota (`QuotaExceededError`) or
/// the disk under the profile (Chromium: `UnknownError` "... FILE_ERROR_NO_SPACE").
fn says_full(d: &web_sys::DomException) -> bool {
    let m = d.message();
    d.name() == "QuotaExceededError" || m.contains("NO_SPACE") || m.contains("No space left")
}

fn js_err(e: idb::Error) -> StoreError {
    if let idb::Error::DomException(d) = &e {
        if says_full(d) {
            return StoreError::QuotaExceeded;
        }
        return StoreError::Backend(format!("{}: {}", d.name(), d.message()));
    }
    StoreError::Backend(e.to_string())
}

/// A thrown JavaScript value (a DOMException) as a store error.
fn js_value_err(e: &JsValue) -> StoreError {
    match e.dyn_ref::<web_sys::DomException>() {
        Some(d) if says_full(d) => StoreError::QuotaExceeded,
        Some(d) => StoreError::Backend(format!("{}: {}", d.name(), d.message())),
        None => StoreError::Backend(format!("{e:?}")),
    }
}

fn key_js(k: &Key) -> JsValue {
    match k {
        Key::Num(n) => JsValue::from_f64(*n as f64),
        Key::Str(s) => JsValue::from_str(s),
    }
}

fn bytes(v: &JsValue) -> Vec<u8> {
    Uint8Array::new(v).to_vec()
}

/// Migrates a database of version `old` to [`DB_VERSION`], inside the
/// browser's upgrade transaction: each version's step in turn.
fn upgrade(db: &Database, old: u32) -> Result<(), idb::Error> {
    for version in (old + 1)..=DB_VERSION {
        // Every step so far only adds the object stores of its new tables.
        for (t, _) in schema::TABLES.iter().filter(|(_, since)| *since == version) {
            db.create_object_store(t.name(), ObjectStoreParams::new())?;
        }
    }
    Ok(())
}

impl IdbStore {
    /// Opens (creating or upgrading) the database `name`.
    pub async fn open(name: &str) -> Result<IdbStore, StoreError> {
        Self::open_with(name, || ()).await
    }

    /// As [`IdbStore::open`]; `on_closed` runs when another tab's upgrade or
    /// deletion makes this connection close (so the page can say so).
    pub async fn open_with(name: &str, on_closed: impl FnOnce() + 'static) -> Result<IdbStore, StoreError> {
        let (closed, lost, wiped) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
        let on_closed: OnClosed = Rc::new(RefCell::new(Some(Box::new(on_closed))));
        let (conn, _) = connect(name, &closed, &lost, &on_closed).await?;
        let reserve = Reserve { ceiling: Ceiling::load(name), name: name.to_string(), ..Default::default() };
        Ok(IdbStore { conn: Rc::new(RefCell::new(conn)), reserve: Rc::new(RefCell::new(reserve)), name: name.to_string(), closed, lost, wiped, on_closed })
    }

    /// Opens a new connection when the browser closed the last one by itself (an I/O error:
    /// Chromium closes every connection of a database whose disk filled, and would answer
    /// "The database connection is closing" for ever).
    async fn reconnect(&self) -> Result<(), StoreError> {
        self.usable()?;
        if self.lost.get() {
            let (conn, created) = connect(&self.name, &self.closed, &self.lost, &self.on_closed).await?;
            *self.conn.borrow_mut() = conn;
            self.lost.set(false);
            if created {
                // Not a fresh start: the tab's state says there was a database. Stop writing.
                self.wiped.set(true);
                self.conn.borrow().db.close();
                web_sys::console::error_1(&format!("rowsnap: {WIPED}").into());
                return Err(StoreError::Backend(WIPED.into()));
            }
            web_sys::console::warn_1(&"rowsnap: the browser had closed the database after an error; it is open again".into());
        }
        Ok(())
    }

    /// The error every request gets once the connection is closed for good.
    fn usable(&self) -> Result<(), StoreError> {
        if self.wiped.get() {
            return Err(StoreError::Backend(WIPED.into()));
        }
        if self.closed.get() {
            return Err(StoreError::VersionChanged);
        }
        Ok(())
    }

    /// Begins a transaction with `open` over the connection, after opening a new connection
    /// if the browser closed it (also when it is found closing only now).
    async fn begin_with(&self, open: impl Fn(&Conn) -> Result<web_sys::IdbTransaction, JsValue>, tables: &[Table]) -> Result<IdbTx, StoreError> {
        for attempt in 0..2 {
            self.reconnect().await?;
            let opened = open(&self.conn.borrow());
            match opened {
                Ok(raw) => return self.tx(raw, tables),
                Err(_) if self.closed.get() => return Err(StoreError::VersionChanged),
                Err(e) if attempt == 0 && e.dyn_ref::<web_sys::DomException>().is_some_and(|d| d.name() == "InvalidStateError") => self.lost.set(true),
                Err(e) => return Err(js_value_err(&e)),
            }
        }
        Err(StoreError::Backend("the database connection could not be opened again".into()))
    }

    /// Deletes the database `name` (every table, every record).
    pub async fn delete(name: &str) -> Result<(), StoreError> {
        let factory = Factory::new().map_err(js_err)?;
        factory.delete(name).map_err(js_err)?.await.map_err(js_err)?;
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// True once another tab's upgrade made this connection close.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Closes the connection as the browser does after an I/O error (tests): closed, and with
    /// `event` its close event fired.
    #[doc(hidden)]
    pub fn close_as_the_browser_would(&self, event: bool) {
        let conn = self.conn.borrow();
        conn.db.close();
        if event {
            if let Ok(e) = web_sys::Event::new("close") {
                let _ = conn.raw.dispatch_event(&e);
            }
        }
    }

    /// Closes the connection (after running transactions finish).
    pub fn close(&self) {
        self.closed.set(true);
        self.conn.borrow().db.close();
    }
}

/// Opens a connection (creating or upgrading the database) and watches it: another tab's
/// upgrade or deletion closes it for good (`closed`, then `on_closed`); the browser closing it
/// by itself sets `lost`.
async fn connect(name: &str, closed: &Rc<Cell<bool>>, lost: &Rc<Cell<bool>>, on_closed: &OnClosed) -> Result<(Conn, bool), StoreError> {
    let factory = Factory::new().map_err(js_err)?;
    let mut req = factory.open(name, Some(DB_VERSION)).map_err(js_err)?;
    let created = Rc::new(Cell::new(false));
    let was_created = created.clone();
    req.on_upgrade_needed(move |event| {
        let old = event.old_version().unwrap_or(0);
        was_created.set(old == 0);
        match idb::DatabaseEvent::database(&event) {
            Ok(db) => {
                if let Err(e) = upgrade(&db, old) {
                    web_sys::console::error_1(&format!("rowsnap: upgrade failed: {e}").into());
                }
            }
            Err(e) => web_sys::console::error_1(&format!("rowsnap: upgrade: {e}").into()),
        }
    });
    let db = req.await.map_err(|e| match &e {
        idb::Error::DomException(d) if d.name() == "VersionError" => {
            StoreError::Backend("this database was written by a newer rowsnap; open that version".into())
        }
        _ => js_err(e),
    })?;
    // The raw connection too: idb 0.6 has no transaction options (durability) nor close event.
    let raw: web_sys::IdbDatabase = JsValue::from(db).unchecked_into();
    let mut db = Database::from(raw.clone());
    let (flag, on_closed) = (closed.clone(), on_closed.clone());
    db.on_version_change(move |event| {
        // Another tab upgrades or deletes the database: step aside cleanly.
        if let Some(target) = event.target() {
            target.unchecked_into::<web_sys::IdbDatabase>().close();
        }
        flag.set(true);
        if let Some(f) = on_closed.borrow_mut().take() {
            f();
        }
        web_sys::console::warn_1(&"rowsnap: the database was upgraded or deleted by another tab; this tab closed it".into());
    });
    let lost = lost.clone();
    let on_close = Closure::<dyn FnMut()>::new(move || {
        web_sys::console::warn_1(&"rowsnap: the browser closed the database (an I/O error); it opens again at the next request".into());
        lost.set(true);
    });
    raw.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    Ok((Conn { db, raw, _on_close: on_close }, created.get()))
}

/// The room the store never fills with data: a commit that puts blocks or
/// object chunks is refused (`QuotaExceeded`, nothing written) while the
/// site's usage plus what it puts would come within this margin of its limit,
/// so the commits that free space (deletes, which put only small records) have
/// room: 5% of the limit, at least 32 MiB and at most 256 MiB. The limit is the
/// quota `navigator.storage.estimate()` reports or, when lower, the [`Ceiling`]
/// learnt when the browser last refused a commit for want of space (Chromium
/// reports its usage plus a fixed 1 GiB as quota, whatever the disk holds).
pub fn reserve_margin(quota: f64) -> f64 {
    (quota * 0.05).clamp(32.0 * MIB, 256.0 * MIB)
}
const MIB: f64 = 1048576.0;
/// How long a learnt ceiling holds (ms): then writes go up to the browser's refusal again
/// (the disk may have room by then).
const CEILING_MS: f64 = 3600.0 * 1000.0;
/// The estimate is asked again after this long (ms) or this many bytes put.
const ESTIMATE_MS: f64 = 1000.0;
const ESTIMATE_BYTES: f64 = 8.0 * MIB;
/// The tables that hold data (the rest are small records, maps and counts).
const DATA_TABLES: [&str; 2] = ["blocks", "oss_chunks"];

/// The last storage estimate and what was put since.
#[derive(Default)]
struct Reserve {
    usage: f64,
    quota: f64,
    /// When the estimate was taken (ms since the epoch; 0: none yet).
    at: f64,
    /// Bytes committed that the estimate does not count yet.
    since: f64,
    /// `since` when the estimate was taken.
    since_at: f64,
    /// A quota set by a test (instead of the browser's).
    quota_for_test: Option<f64>,
    ceiling: Option<Ceiling>,
    /// Whether this tab made or found the ballast (and has not dropped it).
    ballast: bool,
    /// The database's name (the ceiling is kept under it).
    name: String,
}

/// Where the browser last refused a commit for want of space (its quota, or the disk under
/// the profile full): the site's usage then, and when. Kept in `localStorage` (a tiny write
/// the full disk is likelier to take than a commit), so a reopened tab knows it before it
/// writes anything.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ceiling {
    usage: f64,
    at: f64,
}

impl Ceiling {
    fn slot(name: &str) -> String {
        format!("rowsnap-ceiling:{name}")
    }

    fn local_storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    /// The ceiling kept for the database `name`, unless it has expired.
    fn load(name: &str) -> Option<Ceiling> {
        let v = Self::local_storage()?.get_item(&Self::slot(name)).ok()??;
        let (usage, at) = v.split_once(' ')?;
        let c = Ceiling { usage: usage.parse().ok()?, at: at.parse().ok()? };
        c.holds().then_some(c)
    }

    fn holds(&self) -> bool {
        js_sys::Date::now() - self.at < CEILING_MS
    }

    fn keep(&self, name: &str) {
        if let Some(s) = Self::local_storage() {
            let _ = s.set_item(&Self::slot(name), &format!("{} {}", self.usage, self.at));
        }
    }
}

impl IdbStore {
    /// Our transaction over `raw`, a new IndexedDB transaction whose scope is `tables`.
    fn tx(&self, raw: web_sys::IdbTransaction, tables: &[Table]) -> Result<IdbTx, StoreError> {
        let tx = idb::Transaction::from(raw.clone());
        let stores = tables.iter().map(|t| tx.object_store(t.name()).map(|st| (*t, st))).collect::<Result<Vec<_>, _>>().map_err(js_err)?;
        Ok(IdbTx { raw, stores, closed: self.closed.clone(), committed: false, reserve: self.reserve.clone(), put_bytes: 0.0, data_bytes: 0.0 })
    }

    /// Makes the reserve count against `quota` bytes instead of the browser's quota (tests:
    /// Chromium ignores DevTools quota overrides for IndexedDB writes); None gives it back.
    pub fn set_quota_for_test(&self, quota: Option<f64>) {
        let mut r = self.reserve.borrow_mut();
        r.quota_for_test = quota;
        r.at = 0.0;
    }

    /// Asks the browser for its estimate when the last one is old; before a write transaction
    /// begins (a transaction's commit cannot await anything else: IndexedDB would commit it
    /// by itself meanwhile).
    async fn refresh_estimate(&self) {
        let stale = {
            let r = self.reserve.borrow();
            r.at == 0.0 || js_sys::Date::now() - r.at > ESTIMATE_MS || r.since > r.since_at + ESTIMATE_BYTES
        };
        if stale {
            if let Some((usage, quota)) = crate::browser::estimate().await {
                // The browser counts committed bytes when it gets to it (Firefox later than
                // Chromium): what it now counts more is taken off what was counted here.
                let mut r = self.reserve.borrow_mut();
                let counted = (usage - r.usage).max(0.0);
                r.since = if r.at == 0.0 { 0.0 } else { (r.since - counted).max(0.0) };
                (r.usage, r.quota, r.at, r.since_at) = (usage, quota, js_sys::Date::now(), r.since);
            }
        }
    }
}

impl Reserve {
    /// The limit the reserve counts against (0: none known).
    fn limit(&self) -> f64 {
        let quota = self.quota_for_test.unwrap_or(self.quota);
        match self.ceiling.filter(Ceiling::holds) {
            Some(c) if quota <= 0.0 || c.usage < quota => c.usage,
            _ => quota,
        }
    }

    /// Whether `bytes` more fit outside the reserve, by the last estimate.
    fn fits(&self, bytes: f64) -> bool {
        let limit = self.limit();
        limit <= 0.0 || self.usage + self.since + bytes <= limit - reserve_margin(limit)
    }

    /// The browser refused a commit for want of space: its usage now, less the ballast about
    /// to be dropped, is the limit.
    fn learn_ceiling(&mut self) {
        let c = Ceiling { usage: self.usage + self.since - if self.ballast { BALLAST_BYTES as f64 } else { 0.0 }, at: js_sys::Date::now() };
        if c.usage > 0.0 {
            web_sys::console::warn_1(
                &format!(
                    "rowsnap: the browser refused a write for want of space; data writes stop {:.0} MiB below {:.0} MiB used",
                    reserve_margin(c.usage) / MIB,
                    c.usage / MIB,
                )
                .into(),
            );
            self.ceiling = Some(c);
            c.keep(&self.name);
        }
    }
}

/// The ballast: [`BALLAST_BYTES`] of noise in the Cache Storage (`caches`, cache
/// [`BALLAST_CACHE`]), made while there is room (`IdbStore::keep_ballast`, by the console) and
/// deleted the moment the browser refuses a commit for want of space. The browser's own limit
/// leaves no room at all then (Chromium refuses every write, deletes' small records included,
/// once the site reaches its quota), and the reserve is learnt only at that refusal: the ballast
/// is the room the deletes that free space are made in. It counts against the same quota as
/// IndexedDB but lives apart from IndexedDB's files, so dropping it asks nothing of a database
/// in distress.
pub const BALLAST_CACHE: &str = "rowsnap-ballast";
pub const BALLAST_BYTES: usize = 32 << 20;
const BALLAST_URL: &str = "/rowsnap-ballast";

impl IdbStore {
    /// Makes the ballast when it is missing and no learnt ceiling holds (a full disk gets none
    /// back until the ceiling expires). True when the ballast is there.
    pub async fn keep_ballast(&self) -> Result<bool, StoreError> {
        if self.reserve.borrow().ceiling.is_some_and(|c| c.holds()) {
            return Ok(false);
        }
        crate::browser::cache_keep(BALLAST_CACHE, BALLAST_URL, || {
            // Noise: a browser that compresses what it stores would keep zeros in nothing.
            let mut noise = vec![0u8; BALLAST_BYTES];
            crate::util::Rng::new(js_sys::Date::now() as u64).fill(&mut noise);
            noise
        })
        .await
        .map_err(StoreError::Backend)?;
        self.reserve.borrow_mut().ballast = true;
        Ok(true)
    }
}

/// Deletes the ballast (its file goes at once).
async fn drop_ballast() {
    if let Err(e) = crate::browser::cache_delete(BALLAST_CACHE).await {
        web_sys::console::error_1(&format!("rowsnap: the ballast could not be dropped: {e}").into());
    }
}

/// Longest key range `get_values` reads with one get per key.
const GETS_MAX: u64 = 4096;

/// One IndexedDB transaction over every table.
pub struct IdbTx {
    raw: web_sys::IdbTransaction,
    /// The tables of the transaction's scope.
    stores: Vec<(Table, ObjectStore)>,
    closed: Rc<Cell<bool>>,
    committed: bool,
    reserve: Rc<RefCell<Reserve>>,
    /// Bytes put, and bytes put into the data tables.
    put_bytes: f64,
    data_bytes: f64,
}

impl IdbTx {
    /// The transaction's `durability` as the browser reports it (`"strict"`,
    /// `"relaxed"`, `"default"`), or None where it has no such attribute.
    pub fn durability(&self) -> Option<String> {
        js_sys::Reflect::get(&self.raw, &"durability".into()).ok().and_then(|v| v.as_string())
    }
}

impl Drop for IdbTx {
    /// A transaction dropped without `commit` is aborted: IndexedDB would
    /// otherwise commit whatever requests it had when it goes idle.
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.raw.abort();
        }
    }
}

impl IdbTx {
    /// Every (key, value) with a key in `lo..=hi`, ascending: getAllKeys and
    /// getAll over the same range, both issued before either is awaited.
    async fn entries(&self, table: Table, lo: &JsValue, hi: &JsValue) -> Result<Vec<(JsValue, Vec<u8>)>, StoreError> {
        let range = || KeyRange::bound(lo, hi, None, None).map_err(|e| self.err(e));
        let st = self.store(table);
        let keys = st.get_all_keys(Some(Query::KeyRange(range()?)), None).map_err(|e| self.err(e))?;
        let vals = st.get_all(Some(Query::KeyRange(range()?)), None).map_err(|e| self.err(e))?;
        let (keys, vals) = (keys.into_future(), vals.into_future());
        let keys = keys.await.map_err(|e| self.err(e))?;
        let vals = vals.await.map_err(|e| self.err(e))?;
        Ok(keys.into_iter().zip(vals.iter()).map(|(k, v)| (k, bytes(v))).collect())
    }

    fn store(&self, t: Table) -> &ObjectStore {
        self.stores.iter().find(|(s, _)| *s == t).map(|(_, st)| st).unwrap_or_else(|| panic!("{t:?} is outside this transaction's scope"))
    }

    fn err(&self, e: idb::Error) -> StoreError {
        if self.closed.get() {
            StoreError::VersionChanged
        } else {
            js_err(e)
        }
    }
}

impl Store for IdbStore {
    type Tx = IdbTx;

    async fn begin(&self, write: bool) -> Result<IdbTx, StoreError> {
        let all: Vec<Table> = schema::all().collect();
        self.begin_scoped(write, &all).await
    }

    async fn begin_scoped(&self, write: bool, tables: &[Table]) -> Result<IdbTx, StoreError> {
        self.usable()?;
        if write {
            self.refresh_estimate().await;
        }
        let names: js_sys::Array = tables.iter().map(|t| JsValue::from_str(t.name())).collect();
        let mode = if write { web_sys::IdbTransactionMode::Readwrite } else { web_sys::IdbTransactionMode::Readonly };
        self.begin_with(|c| c.raw.transaction_with_str_sequence_and_mode(&names, mode), tables).await
    }

    async fn begin_strict(&self) -> Result<IdbTx, StoreError> {
        self.usable()?;
        self.refresh_estimate().await;
        let tables: Vec<Table> = schema::all().collect();
        let names: js_sys::Array = tables.iter().map(|t| JsValue::from_str(t.name())).collect();
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"durability".into(), &"strict".into());
        // IDBDatabase.transaction(names, "readwrite", { durability: "strict" }); a browser without
        // the option ignores it (web-sys has the call only behind its unstable-API cfg).
        let open = |c: &Conn| {
            js_sys::Reflect::get(&c.raw, &"transaction".into())
                .and_then(|f| f.dyn_into::<js_sys::Function>())
                .and_then(|f| f.call3(&c.raw, &names, &"readwrite".into(), &options))
                .and_then(|t| t.dyn_into::<web_sys::IdbTransaction>())
        };
        self.begin_with(open, &tables).await
    }
}

impl Tx for IdbTx {
    async fn get(&mut self, table: Table, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let req = self.store(table).get(Query::Key(key_js(key))).map_err(|e| self.err(e))?;
        let v = req.await.map_err(|e| self.err(e))?;
        Ok(v.map(|v| bytes(&v)))
    }

    async fn get_many(&mut self, table: Table, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        // Every request is issued (and its callbacks attached) before the first await.
        let mut futs = Vec::with_capacity(keys.len());
        for k in keys {
            let req = self.store(table).get(Query::Key(key_js(k))).map_err(|e| self.err(e))?;
            futs.push(req.into_future());
        }
        let mut out = Vec::with_capacity(keys.len());
        for f in futs {
            out.push(f.await.map_err(|e| self.err(e))?.map(|v| bytes(&v)));
        }
        Ok(out)
    }

    async fn get_range(&mut self, table: Table, lo: u64, hi: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let (lo, hi) = (JsValue::from_f64(lo as f64), JsValue::from_f64(hi as f64));
        let entries = self.entries(table, &lo, &hi).await?;
        Ok(entries.into_iter().map(|(k, v)| (k.as_f64().unwrap_or(0.0) as u64, v)).collect())
    }

    async fn get_values(&mut self, table: Table, ranges: &[(u64, u64)]) -> Result<Vec<Vec<Vec<u8>>>, StoreError> {
        // One get per key, every request issued before the first await:
        // Chromium serves many gets in flight 2-2.5x faster than getAll over
        // the same 32 KiB records (measured: ~265 vs ~100 MB/s). Very long
        // ranges (which the engine never asks for) use getAll.
        enum Req {
            Gets(Vec<idb::request::futures::GetStoreRequestFuture>),
            All(idb::request::futures::GetAllStoreRequestFuture),
        }
        let mut futs = Vec::with_capacity(ranges.len());
        for &(lo, hi) in ranges {
            let st = self.store(table);
            // lo > hi goes to getAll, which refuses it (DataError).
            futs.push(if hi.checked_sub(lo).is_some_and(|n| n < GETS_MAX) {
                let mut gets = Vec::with_capacity((hi - lo + 1) as usize);
                for k in lo..=hi {
                    gets.push(st.get(Query::Key(JsValue::from_f64(k as f64))).map_err(|e| self.err(e))?.into_future());
                }
                Req::Gets(gets)
            } else {
                let r = KeyRange::bound(&JsValue::from_f64(lo as f64), &JsValue::from_f64(hi as f64), None, None).map_err(|e| self.err(e))?;
                Req::All(st.get_all(Some(Query::KeyRange(r)), None).map_err(|e| self.err(e))?.into_future())
            });
        }
        let mut out = Vec::with_capacity(ranges.len());
        for f in futs {
            out.push(match f {
                Req::All(all) => all.await.map_err(|e| self.err(e))?.iter().map(bytes).collect(),
                Req::Gets(gets) => {
                    let mut values = Vec::with_capacity(gets.len());
                    for g in gets {
                        // Keys that hold nothing are left out, as getAll would.
                        if let Some(v) = g.await.map_err(|e| self.err(e))? {
                            values.push(bytes(&v));
                        }
                    }
                    values
                }
            });
        }
        Ok(out)
    }

    async fn get_values_each(&mut self, table: Table, ranges: &[(u64, u64)], each: &mut dyn FnMut(u64, Vec<u8>)) -> Result<(), StoreError> {
        // Every get issued first, then each value handed on as it arrives.
        if ranges.iter().any(|&(lo, hi)| hi.checked_sub(lo).is_none_or(|n| n >= GETS_MAX)) {
            for (&(lo, _), values) in ranges.iter().zip(self.get_values(table, ranges).await?) {
                for (i, v) in values.into_iter().enumerate() {
                    each(lo + i as u64, v);
                }
            }
            return Ok(());
        }
        let mut gets = Vec::new();
        for &(lo, hi) in ranges {
            let st = self.store(table);
            for k in lo..=hi {
                gets.push((k, st.get(Query::Key(JsValue::from_f64(k as f64))).map_err(|e| self.err(e))?.into_future()));
            }
        }
        for (k, g) in gets {
            if let Some(v) = g.await.map_err(|e| self.err(e))? {
                each(k, bytes(&v));
            }
        }
        Ok(())
    }

    async fn count(&mut self, table: Table) -> Result<u64, StoreError> {
        let req = self.store(table).count(None).map_err(|e| self.err(e))?;
        Ok(req.await.map_err(|e| self.err(e))? as u64)
    }

    async fn scan_prefix(&mut self, table: Table, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let (lo, hi) = (JsValue::from_str(prefix), JsValue::from_str(&format!("{prefix}\u{ffff}")));
        let entries = self.entries(table, &lo, &hi).await?;
        Ok(entries.into_iter().map(|(k, v)| (k.as_string().unwrap_or_default(), v)).collect())
    }

    fn put(&mut self, table: Table, key: Key, value: Vec<u8>) {
        self.put_bytes += value.len() as f64;
        if DATA_TABLES.contains(&table.name()) {
            self.data_bytes += value.len() as f64;
        }
        let v = Uint8Array::from(&value[..]);
        // Fire and forget: a failure aborts the transaction, which `commit` reports.
        if let Err(e) = self.store(table).put(&v, Some(&key_js(&key))) {
            web_sys::console::error_1(&format!("rowsnap: put failed: {e}").into());
            let _ = self.raw.abort();
        }
    }

    fn delete(&mut self, table: Table, key: Key) {
        if let Err(e) = self.store(table).delete(Query::Key(key_js(&key))) {
            web_sys::console::error_1(&format!("rowsnap: delete failed: {e}").into());
            let _ = self.raw.abort();
        }
    }

    async fn commit(mut self) -> Result<(), StoreError> {
        // Data that would eat into the reserve is refused (dropped: the transaction aborts).
        let (reserve, put) = (self.reserve.clone(), self.put_bytes);
        if self.data_bytes > 0.0 && !reserve.borrow().fits(put) {
            return Err(StoreError::QuotaExceeded);
        }
        self.committed = true;
        let closed = self.closed.clone();
        let raw = self.raw.clone();
        drop(self);
        let result = idb::Transaction::from(raw.clone()).into_future();
        // Ask for the commit now rather than when the browser notices we are done.
        #[allow(deprecated)]
        let _ = raw.commit();
        let outcome = result.await;
        if matches!(outcome, Ok(idb::TransactionResult::Committed)) {
            reserve.borrow_mut().since += put;
        }
        let error = raw.error();
        let quota = error.as_ref().is_some_and(says_full);
        if quota {
            reserve.borrow_mut().learn_ceiling();
            // The room the deletes that free space will need, given back before we answer.
            if std::mem::take(&mut reserve.borrow_mut().ballast) {
                drop_ballast().await;
            }
        }
        match outcome {
            Ok(idb::TransactionResult::Committed) => Ok(()),
            _ if quota => Err(StoreError::QuotaExceeded),
            _ if closed.get() => Err(StoreError::VersionChanged),
            Ok(idb::TransactionResult::Aborted) => {
                Err(StoreError::Aborted(error.map(|d| format!("{}: {}", d.name(), d.message())).unwrap_or_else(|| "aborted".into())))
            }
            Err(e) => Err(js_err(e)),
        }
    }
}

/// The device key of the key service (`crate::vault`): a non-extractable
/// `CryptoKey` kept as the object itself (structured clone) in the database
/// `name`, object store `keys`, key `device`; `make` makes it when there is
/// none (awaited outside any transaction). Beside the main database, so the
/// main database's schema is untouched.
pub async fn device_key(name: &str, make: impl std::future::Future<Output = crate::error::Result<JsValue>>) -> crate::error::Result<JsValue> {
    let e = |e: idb::Error| crate::error::Error::from(js_err(e));
    let factory = Factory::new().map_err(e)?;
    let mut req = factory.open(name, Some(1)).map_err(e)?;
    req.on_upgrade_needed(|event| {
        if let Ok(db) = idb::DatabaseEvent::database(&event) {
            let _ = db.create_object_store("keys", ObjectStoreParams::new());
        }
    });
    let db = req.await.map_err(e)?;
    let key = JsValue::from_str("device");
    let tx = db.transaction(&["keys"], TransactionMode::ReadOnly).map_err(e)?;
    let found = tx.object_store("keys").map_err(e)?.get(Query::Key(key.clone())).map_err(e)?.await.map_err(e)?;
    drop(tx);
    if let Some(k) = found {
        db.close();
        return Ok(k);
    }
    let made = make.await?;
    let tx = db.transaction(&["keys"], TransactionMode::ReadWrite).map_err(e)?;
    // `add`: when another tab made one meanwhile, theirs stays and is used.
    let added = tx.object_store("keys").map_err(e)?.add(&made, Some(&key)).map_err(e)?;
    let ok = added.await.is_ok();
    let _ = tx.await;
    let out = if ok {
        made
    } else {
        let tx = db.transaction(&["keys"], TransactionMode::ReadOnly).map_err(e)?;
        let k = tx.object_store("keys").map_err(e)?.get(Query::Key(key)).map_err(e)?.await.map_err(e)?;
        k.ok_or_else(|| crate::error::Error::internal("the device key could not be stored"))?
    };
    db.close();
    Ok(out)
}
