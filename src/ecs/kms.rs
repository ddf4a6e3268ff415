//! The key service, in the spirit of KMS: the keys that protect encrypted
//! disks, per region.
//!
//! Three levels, each wrapping the next:
//! - a **KMS key** (id a UUID, as KMS's are): the region's *default* key
//!   (alias `alias/acs/ecs`, made on first use), or a *passphrase* key the
//!   user creates. A KMS key is 32 secret bytes (its KEK) kept wrapped: a
//!   default key's under the profile's root secret, which the vault's
//!   non-extractable device key wraps; a passphrase key's under a key derived
//!   from the passphrase (PBKDF2-SHA-256, salt and iterations on the record;
//!   the passphrase and the derived key are never stored; the wrapped KEK's
//!   authentication tag is the verifier that tells a wrong passphrase).
//! - a **data key** per encrypted disk (32 random bytes, a random id), kept
//!   wrapped under each KMS key that protects a disk or snapshot holding it
//!   (`datakey/<id>`). Snapshots, clones, copies and images share their
//!   disk's data key, since redirect-on-write shares their blocks; a disk made
//!   from an encrypted snapshot under another KMS key adds a wrap of the same
//!   data key (never re-encrypts data).
//! - the engine seals every block with its volume's data key
//!   (`crate::engine::seal`).
//!
//! Unwrapped KEKs and data keys live only in this tab's memory
//! ([`Kms`]); a passphrase key is locked after a reload until it is unlocked.
//! Wrapping data keys is synchronous (XChaCha20-Poly1305 in wasm), so a
//! request creates one inside its transaction; the vault's asynchronous
//! WebCrypto runs only in [`super::Ecs`]'s key methods, before or after
//! their transactions.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::cx::Cx;
use super::model::Snapshot;
use crate::engine::seal::{random_bytes, BlockKey};
use crate::engine::Store;
use crate::error::{Error, ErrorKind, Result};
use crate::vault::{Vault, PBKDF2_ITERATIONS};

/// The alias of a region's default key (KMS's default key for ECS).
pub const DEFAULT_ALIAS: &str = "alias/acs/ecs";

pub mod keys {
    pub const ROOT: &str = "kms/root";
    pub const KEYS: &str = "kmskey/";
    pub const DATA_KEYS: &str = "datakey/";
    pub fn key(id: &str) -> String {
        format!("{KEYS}{id}")
    }
    pub fn data_key(id: u64) -> String {
        format!("{DATA_KEYS}{id}")
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum Origin {
    #[default]
    Default,
    Passphrase,
}

/// A KMS key (`kmskey/<KeyId>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct KmsKey {
    pub id: String,
    pub region: String,
    pub alias: String,
    pub origin: Origin,
    pub created: u64,
    /// Passphrase keys: PBKDF2's salt and iterations.
    pub salt: Vec<u8>,
    pub iterations: u32,
    /// The KEK, wrapped (by the root secret, or the passphrase's key).
    pub wrapped: Vec<u8>,
}

/// A data key's wraps (`datakey/<id>`): KMS key id -> the data key wrapped by its KEK.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct DataKey {
    pub id: u64,
    pub wraps: BTreeMap<String, Vec<u8>>,
}

/// The root secret, wrapped by the vault's device key (`kms/root`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Root {
    pub wrapped: Vec<u8>,
}

/// What this tab holds unwrapped.
#[derive(Default)]
pub struct Kms {
    pub root: Option<[u8; 32]>,
    /// Unlocked KMS keys' KEKs.
    pub keks: HashMap<String, [u8; 32]>,
    /// Data key -> the KMS keys that wrap it (known from the records).
    pub owners: HashMap<u64, Vec<String>>,
    /// KMS key id -> alias (for messages).
    pub aliases: HashMap<String, String>,
}

/// The encryption of a disk: its KMS key and data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enc {
    pub kms_key_id: String,
    pub data_key: u64,
}

pub fn random32() -> [u8; 32] {
    let mut k = [0u8; 32];
    random_bytes(&mut k);
    k
}

/// `plain` (a key) wrapped by `kek`, bound to `what` (the wrapped key's id).
pub fn wrap(kek: &[u8; 32], what: u64, plain: &[u8; 32]) -> Vec<u8> {
    BlockKey::new(0, kek).seal(what, plain)
}

pub fn unwrap(kek: &[u8; 32], what: u64, wrapped: &[u8]) -> Option<[u8; 32]> {
    BlockKey::new(0, kek).open(what, wrapped).ok().and_then(|v| v.try_into().ok())
}

/// A KMS key id's tag in the wraps of the root secret (any fixed number).
const KEK_TAG: u64 = 0x6b656b;

/// A new key id: a lowercase UUID (version 4).
pub fn uuid() -> String {
    let mut b = [0u8; 16];
    random_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

pub fn locked(kms: &Kms, key_id: &str) -> Error {
    let alias = kms.aliases.get(key_id).map(|a| format!(" ({a})")).unwrap_or_default();
    Error::forbidden(
        "InvalidKMSKeyId.Locked",
        format!("The KMS key \"{key_id}\"{alias} is locked: unlock it with its passphrase (Settings, or ecs.unlockKey) and try again."),
    )
    .with_kind(ErrorKind::KeyLocked { data_key: 0, key_id: Some(key_id.to_string()) })
}

/// The engine's "data key N is not unlocked", said with the KMS keys that could unlock it.
pub fn data_key_locked(kms: &Kms, data_key: u64) -> Error {
    match kms.owners.get(&data_key).and_then(|o| o.first()) {
        Some(k) => locked(kms, k).with_kind(ErrorKind::KeyLocked { data_key, key_id: Some(k.clone()) }),
        None => Error::forbidden(
            "InvalidKMSKeyId.Locked",
            format!("The data key {data_key} of this encrypted resource is not available: its KMS key is locked or was lost."),
        )
        .with_kind(ErrorKind::KeyLocked { data_key, key_id: None }),
    }
}

fn not_found(id: &str) -> Error {
    Error::not_found("InvalidKMSKeyId.NotFound", format!("The KMS key \"{id}\" does not exist in this region."))
}

pub(crate) async fn load_key<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<KmsKey> {
    match cx.load::<KmsKey>(&keys::key(id)).await? {
        Some(k) if k.region == cx.region || cx.region.is_empty() => Ok(k),
        _ => Err(not_found(id)),
    }
}

/// The region's default key, made on first use (inside the request: its KEK
/// is wrapped by the root secret, synchronously).
pub(crate) async fn default_key<S: Store>(cx: &mut Cx<'_, S>) -> Result<KmsKey> {
    let region = cx.region.clone();
    let all: Vec<KmsKey> = cx.scan(keys::KEYS).await?;
    if let Some(k) = all.into_iter().find(|k| k.region == region && k.origin == Origin::Default) {
        return Ok(k);
    }
    let root = cx.kms.borrow().root.ok_or_else(|| {
        Error::forbidden(
            "InvalidKMSKeyId.Locked",
            "The key service's root secret is not available in this tab (the device key could not be read), so no default key can be made.",
        )
    })?;
    let kek = random32();
    let id = uuid();
    let k = KmsKey {
        id: id.clone(),
        region,
        alias: DEFAULT_ALIAS.into(),
        origin: Origin::Default,
        created: cx.now,
        wrapped: wrap(&root, KEK_TAG, &kek),
        ..Default::default()
    };
    cx.save(&keys::key(&id), &k);
    let mut kms = cx.kms.borrow_mut();
    kms.keks.insert(id.clone(), kek);
    kms.aliases.insert(id, k.alias.clone());
    Ok(k)
}

/// The KMS key a request names (`KMSKeyId`), or the region's default; unlocked.
pub(crate) async fn resolve<S: Store>(cx: &mut Cx<'_, S>, id: Option<&str>) -> Result<KmsKey> {
    let k = match id.filter(|s| !s.is_empty()) {
        Some(id) => load_key(cx, id).await?,
        None => default_key(cx).await?,
    };
    let kms = cx.kms.borrow();
    if !kms.keks.contains_key(&k.id) {
        return Err(locked(&kms, &k.id));
    }
    Ok(k)
}

/// A new data key under `key` (unlocked): recorded wrapped, given to the engine.
pub(crate) fn new_data_key<S: Store>(cx: &mut Cx<'_, S>, key: &KmsKey) -> Result<u64> {
    let dk = random32();
    let mut id = 0;
    while id == 0 || id >= 1 << 53 {
        let mut b = [0u8; 8];
        random_bytes(&mut b);
        id = u64::from_le_bytes(b) & ((1 << 53) - 1);
    }
    let kek = *cx.kms.borrow().keks.get(&key.id).ok_or_else(|| locked(&cx.kms.borrow(), &key.id))?;
    let rec = DataKey { id, wraps: BTreeMap::from([(key.id.clone(), wrap(&kek, id, &dk))]) };
    cx.save(&keys::data_key(id), &rec);
    cx.t.engine().set_key(id, Some(&dk));
    cx.kms.borrow_mut().owners.insert(id, vec![key.id.clone()]);
    Ok(id)
}

/// Makes `key` (unlocked) also wrap data key `id` (whose key must be available).
pub(crate) async fn add_wrap<S: Store>(cx: &mut Cx<'_, S>, id: u64, key: &KmsKey) -> Result<()> {
    let mut rec: DataKey = cx.load(&keys::data_key(id)).await?.ok_or_else(|| Error::internal(format!("data key {id} has no record")))?;
    if rec.wraps.contains_key(&key.id) {
        return Ok(());
    }
    let kms = cx.kms.borrow();
    let kek = *kms.keks.get(&key.id).ok_or_else(|| locked(&kms, &key.id))?;
    // The data key, unwrapped through any unlocked owner.
    let dk = rec.wraps.iter().find_map(|(owner, w)| kms.keks.get(owner).and_then(|k| unwrap(k, id, w))).ok_or_else(|| data_key_locked(&kms, id))?;
    drop(kms);
    rec.wraps.insert(key.id.clone(), wrap(&kek, id, &dk));
    cx.save(&keys::data_key(id), &rec);
    cx.kms.borrow_mut().owners.entry(id).or_default().push(key.id.clone());
    Ok(())
}

/// The encryption a new disk gets: from its snapshot (the snapshot's data
/// key, under `kms_key_id` or the snapshot's KMS key), or a new data key when
/// `encrypted` (or a `KMSKeyId`) asks for one. Never converts: a disk from an
/// unencrypted snapshot cannot be encrypted.
pub(crate) async fn for_new_disk<S: Store>(cx: &mut Cx<'_, S>, encrypted: bool, kms_key_id: Option<&str>, from: Option<&Snapshot>) -> Result<Option<Enc>> {
    let wants = encrypted || kms_key_id.is_some_and(|k| !k.is_empty());
    match from {
        Some(s) if s.encrypted => {
            if s.data_key == 0 {
                // Recorded encrypted before encryption was real: stays as it was.
                return Ok(Some(Enc { kms_key_id: String::new(), data_key: 0 }));
            }
            let key = resolve(cx, kms_key_id.or(Some(s.kms_key_id.as_str()))).await?;
            add_wrap(cx, s.data_key, &key).await?;
            Ok(Some(Enc { kms_key_id: key.id, data_key: s.data_key }))
        }
        Some(s) if wants => Err(Error::bad(
            "InvalidParameter.Encrypted",
            format!(
                "The snapshot \"{}\" is unencrypted: disks made from it are unencrypted (an unencrypted snapshot cannot be converted to an encrypted one).",
                s.id
            ),
        )),
        _ if wants => {
            let key = resolve(cx, kms_key_id).await?;
            let data_key = new_data_key(cx, &key)?;
            Ok(Some(Enc { kms_key_id: key.id, data_key }))
        }
        _ => Ok(None),
    }
}

/// Gives the engine every data key some unlocked KMS key wraps, and takes
/// away the others; refreshes the owners and aliases (from the records).
pub(crate) async fn sync_engine<S: Store>(cx: &mut Cx<'_, S>) -> Result<()> {
    let all: Vec<KmsKey> = cx.scan(keys::KEYS).await?;
    let dks: Vec<DataKey> = cx.scan(keys::DATA_KEYS).await?;
    let mut kms = cx.kms.borrow_mut();
    kms.aliases = all.iter().map(|k| (k.id.clone(), k.alias.clone())).collect();
    kms.owners.clear();
    for d in dks {
        kms.owners.insert(d.id, d.wraps.keys().cloned().collect());
        let dk = d.wraps.iter().find_map(|(owner, w)| kms.keks.get(owner).and_then(|k| unwrap(k, d.id, w)));
        cx.t.engine().set_key(d.id, dk.as_ref());
    }
    Ok(())
}

/// What a bucket's manifest carries so that another database can open an
/// encrypted snapshot: its passphrase key's record (salt, iterations, the KEK
/// wrapped by the passphrase's key: useless without the passphrase) and the
/// data key wrapped by that KEK. None for a default key (it cannot leave the
/// browser profile that made it).
pub(crate) async fn portable<S: Store>(cx: &mut Cx<'_, S>, kms_key_id: &str, dk: u64) -> Result<Option<Value>> {
    let Some(k) = cx.t.get_in(crate::schema::RECORDS, &keys::key(kms_key_id)).await? else { return Ok(None) };
    let key: KmsKey = serde_json::from_slice(&k)?;
    let Some(rec) = cx.load::<DataKey>(&keys::data_key(dk)).await? else { return Ok(None) };
    match (key.origin, rec.wraps.get(kms_key_id)) {
        (Origin::Passphrase, Some(w)) => Ok(Some(json!({"KeyRecord": String::from_utf8_lossy(&k), "DataKeyId": dk, "Wrap": w}))),
        _ => Ok(None),
    }
}

/// Registers what [`portable`] wrote: the passphrase key (locked until
/// unlocked with its passphrase) and the data key's wrap. Returns the KMS key
/// id and the data key id.
pub(crate) async fn import_portable<S: Store>(cx: &mut Cx<'_, S>, v: &Value) -> Result<(String, u64)> {
    let bad = || Error::internal("the manifest's key material does not parse");
    let record = v["KeyRecord"].as_str().ok_or_else(bad)?.as_bytes().to_vec();
    let key: KmsKey = serde_json::from_slice(&record)?;
    let dk = v["DataKeyId"].as_u64().filter(|&d| d > 0).ok_or_else(bad)?;
    let wrap: Vec<u8> = v["Wrap"].as_array().ok_or_else(bad)?.iter().map(|b| b.as_u64().unwrap_or(0) as u8).collect();
    if key.origin != Origin::Passphrase || key.id.is_empty() {
        return Err(bad());
    }
    if cx.t.get_in(crate::schema::RECORDS, &keys::key(&key.id)).await?.is_none() {
        cx.t.put_in(crate::schema::RECORDS, &keys::key(&key.id), record);
    }
    let mut rec: DataKey = cx.load(&keys::data_key(dk)).await?.unwrap_or(DataKey { id: dk, wraps: BTreeMap::new() });
    rec.wraps.insert(key.id.clone(), wrap);
    cx.save(&keys::data_key(dk), &rec);
    sync_engine(cx).await?;
    Ok((key.id, dk))
}

/// Data key `dk` (0: none) as the engine holds it, to seal and open blocks
/// outside the engine (uploads and restores of encrypted snapshots), or
/// `InvalidKMSKeyId.Locked`.
pub(crate) fn block_key<S: Store>(cx: &Cx<'_, S>, dk: u64) -> Result<Option<std::rc::Rc<BlockKey>>> {
    if dk == 0 {
        return Ok(None);
    }
    cx.t.engine().block_key(dk).map(Some).ok_or_else(|| crate::engine::EngineError::KeyUnavailable(dk).into())
}

/// Whether some data key this tab knows of is not unlocked (cheap: no records read).
pub(crate) fn any_locked<S: Store>(cx: &Cx<'_, S>) -> bool {
    cx.kms.borrow().owners.keys().any(|&dk| !cx.t.engine().has_key(dk))
}

/// Unwraps the region default keys' KEKs with the root secret.
pub(crate) async fn open_defaults<S: Store>(cx: &mut Cx<'_, S>) -> Result<()> {
    let Some(root) = cx.kms.borrow().root else { return Ok(()) };
    let all: Vec<KmsKey> = cx.scan(keys::KEYS).await?;
    for k in all.into_iter().filter(|k| k.origin == Origin::Default) {
        if let Some(kek) = unwrap(&root, KEK_TAG, &k.wrapped) {
            cx.kms.borrow_mut().keks.insert(k.id, kek);
        }
    }
    Ok(())
}

/// ListKeys: the region's keys (ids, aliases, origin, locked, disks they protect).
pub(crate) async fn list<S: Store>(cx: &mut Cx<'_, S>) -> Result<Value> {
    let region = cx.region.clone();
    let mut all: Vec<KmsKey> = cx.scan(keys::KEYS).await?;
    all.retain(|k| k.region == region);
    all.sort_by_key(|k| (k.origin != Origin::Default, k.created));
    let kms = cx.kms.borrow();
    let keys: Vec<Value> = all
        .iter()
        .map(|k| {
            json!({
                "KeyId": k.id,
                "Alias": k.alias,
                "Origin": match k.origin { Origin::Default => "Default", Origin::Passphrase => "Passphrase" },
                "Locked": !kms.keks.contains_key(&k.id),
                "CreationTime": super::time::iso(k.created),
                "Iterations": k.iterations,
            })
        })
        .collect();
    Ok(json!({"Keys": keys, "TotalCount": keys.len()}))
}

fn check_passphrase(p: &str) -> Result<()> {
    if p.chars().count() < 8 || p.len() > 1024 {
        return Err(Error::invalid("Passphrase", "8 to 1024 characters"));
    }
    Ok(())
}

impl<S: Store> super::Ecs<S> {
    /// Opens the key service in this tab: the root secret (made on first use
    /// and wrapped by the vault's device key), the region default keys it
    /// unwraps, and the data keys those keys unlock. Passphrase keys stay
    /// locked until [`Self::unlock_key`].
    pub async fn kms_open<V: Vault>(&mut self, vault: &V) -> Result<()> {
        let device = vault.device_key().await?;
        let mut cx = self.cx("").await?;
        let root: Option<Root> = cx.load(keys::ROOT).await?;
        drop(cx);
        let secret = match root {
            Some(r) => vault.unwrap(&device, &r.wrapped).await?.and_then(|v| <[u8; 32]>::try_from(v).ok()),
            None => {
                let s = random32();
                let wrapped = vault.wrap(&device, &s).await?;
                let mut cx = self.cx("").await?;
                cx.save(keys::ROOT, &Root { wrapped });
                self.settings = cx.commit().await?;
                Some(s)
            }
        };
        self.kms.borrow_mut().root = secret;
        let mut cx = self.cx("").await?;
        open_defaults(&mut cx).await?;
        sync_engine(&mut cx).await
    }

    /// CreateKey (extension): a key derived from a passphrase, unlocked in this tab.
    pub async fn create_key<V: Vault>(&mut self, vault: &V, region: &str, alias: &str, passphrase: &str) -> Result<Value> {
        let alias = if alias.starts_with("alias/") { alias.to_string() } else { format!("alias/{alias}") };
        let name = &alias["alias/".len()..];
        if name.is_empty() || alias.len() > 255 || name.starts_with("acs/") || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-/".contains(c)) {
            return Err(Error::invalid("Alias", "alias/ and 1 to 249 letters, digits, _ - /, not under alias/acs/"));
        }
        check_passphrase(passphrase)?;
        let mut cx = self.cx(region).await?;
        let all: Vec<KmsKey> = cx.scan(keys::KEYS).await?;
        drop(cx);
        if all.iter().any(|k| k.region == region && k.alias == alias) {
            return Err(Error::new(409, "AlreadyExists.Alias", format!("A key with the alias \"{alias}\" already exists in this region.")));
        }
        let mut salt = vec![0u8; 16];
        random_bytes(&mut salt);
        let kek = random32();
        let derived = vault.derive(passphrase, &salt, PBKDF2_ITERATIONS).await?;
        let wrapped = vault.wrap(&derived, &kek).await?;
        let id = uuid();
        let mut cx = self.cx(region).await?;
        let k = KmsKey {
            id: id.clone(),
            region: region.into(),
            alias: alias.clone(),
            origin: Origin::Passphrase,
            created: cx.now,
            salt,
            iterations: PBKDF2_ITERATIONS,
            wrapped,
        };
        cx.save(&keys::key(&id), &k);
        self.settings = cx.commit().await?;
        let mut kms = self.kms.borrow_mut();
        kms.keks.insert(id.clone(), kek);
        kms.aliases.insert(id.clone(), alias);
        Ok(json!({"KeyId": id}))
    }

    /// UnlockKey (extension): derives the passphrase's key and unwraps the
    /// KMS key; its disks, snapshots and images are usable again.
    pub async fn unlock_key<V: Vault>(&mut self, vault: &V, key_id: &str, passphrase: &str) -> Result<()> {
        let mut cx = self.cx("").await?;
        let k = load_key(&mut cx, key_id).await?;
        drop(cx);
        if k.origin == Origin::Default || self.kms.borrow().keks.contains_key(key_id) {
            return Ok(());
        }
        let derived = vault.derive(passphrase, &k.salt, k.iterations).await?;
        let kek =
            vault.unwrap(&derived, &k.wrapped).await?.and_then(|v| <[u8; 32]>::try_from(v).ok()).ok_or_else(|| {
                Error::bad("InvalidKMSKeyId.WrongPassphrase", format!("The passphrase does not unlock the KMS key \"{key_id}\" ({}).", k.alias))
            })?;
        self.kms.borrow_mut().keks.insert(k.id, kek);
        let mut cx = self.cx("").await?;
        sync_engine(&mut cx).await
    }

    /// LockKey (extension): forgets a passphrase key in this tab; its disks,
    /// snapshots and images fail with `InvalidKMSKeyId.Locked` until unlocked.
    /// The guest writes queued so far are committed first.
    pub async fn lock_key(&mut self, key_id: &str) -> Result<()> {
        self.flush_guest_writes().await?;
        let mut cx = self.cx("").await?;
        let k = load_key(&mut cx, key_id).await?;
        drop(cx);
        if k.origin == Origin::Default {
            return Err(Error::forbidden(
                "OperationDenied",
                format!("\"{key_id}\" is the region's default key ({DEFAULT_ALIAS}): it is kept by this browser profile and cannot be locked."),
            ));
        }
        // A machine running on a disk this key protects pauses at its next read or write of it
        // (VmPauseReason KeyLocked; its queued writes wait) and goes on once the key is unlocked.
        self.kms.borrow_mut().keks.remove(key_id);
        let mut cx = self.cx("").await?;
        sync_engine(&mut cx).await
    }

    /// ListKeys (extension): the region's keys.
    pub async fn list_keys(&mut self, region: &str) -> Result<Value> {
        let mut cx = self.cx(region).await?;
        list(&mut cx).await
    }
}
