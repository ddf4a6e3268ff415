//! Instances that really run: the ECS side of the machines the page
//! emulates (v86, see `static/guest-host.js`).
//!
//! An instance whose image boots in the page (`Image::boot`, the Linux image
//! and custom or copied images made from its disks) is a *VM instance*
//! (`Instance::vm`). Its states are moved by its machine, not by the clock:
//! StartInstance / RunInstances leave it Starting, and the page's host boots a
//! machine and reports it running (Running); StopInstance leaves it Stopping
//! until the host has asked the guest to flush and halt (or stopped it after
//! a time-out, or at once with ForceStop) and reports it gone (Stopped).
//!
//! The host learns what to do from [`Ecs::guest_orders`] (records compared with
//! the machines alive in this tab), so after a reload the instances that were
//! Running boot again, as after a host restart.
//!
//! The machine's disks are the instance's disks, read and written here: a
//! guest's writes are queued in memory in the order it issued them (the
//! disk's reads see them at once) and applied in one transaction per batch:
//! when a batch reaches [`BATCH_BYTES`], on the host's flush (every 250 ms),
//! and before any other request runs, so every write the guest completed is
//! durable before a snapshot is taken or a stop is reported. While a machine
//! holds a disk, `writeDisk` to it is refused (a write under a mounted file
//! system corrupts it); `readDisk` still works.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::model::{keys, Disk, DiskType, Image, ImageOwner, ImageStatus, Instance, InstanceStatus, Mapping, BLOCK_SHIFT, GIB};
use super::regions::{INSTANCE_TYPES, REGIONS};
use super::{restore, Cx, Ecs, DEFAULT_REGION};
use crate::engine::Store;
use crate::error::{Error, ErrorKind, Result};

/// The image whose system disk boots in the page.
pub const LINUX_IMAGE: &str = "rowsnap_linux_i386_busybox";
/// `Image::boot` of images that boot in the page: 32-bit x86 Linux on v86.
pub const BOOT_V86: &str = "v86-i386-linux";
/// Machines alive at once unless the settings say otherwise.
pub const DEFAULT_MAX_VMS: u32 = 2;
/// A machine's memory unless the settings say otherwise (capped by the instance type's).
pub const DEFAULT_VM_MIB: u32 = 128;
/// The most machines the setting allows (each costs 250-500 MiB of the tab).
pub const MOST_VMS: u32 = 8;
/// The record naming the saved machine state kept, and where its bytes are
/// (`guest/state/` is out of every bucket's reach, like `snap/`).
const STATE_RECORD: &str = "guest_state";
const STATE_PREFIX: &str = "guest/state/";
const STATE_CHUNK: usize = 4 << 20;
/// Saved machine states kept at once.
const STATES_KEPT: usize = 3;

/// The saved machine states kept: (key, chunks), oldest first (a record from
/// before several were kept names one).
async fn states_kept<S: Store>(cx: &mut Cx<'_, S>) -> Result<Vec<(String, usize)>> {
    let Some(b) = cx.t.get_in(crate::schema::RECORDS, STATE_RECORD).await? else { return Ok(Vec::new()) };
    match serde_json::from_slice::<Vec<(String, usize)>>(&b) {
        Ok(v) => Ok(v),
        Err(_) => Ok(vec![serde_json::from_slice::<(String, usize)>(&b)?]),
    }
}
/// The record a strict commit with no guest write puts (the time of the last sync).
const SYNC_RECORD: &str = "guest_synced";
/// Queued guest writes are applied once they reach this many bytes.
pub const BATCH_BYTES: usize = 8 << 20;

/// The machines alive in this tab and the guest writes not yet applied.
#[derive(Default)]
pub struct Guests {
    live: BTreeMap<String, Live>,
    pending: Vec<Pending>,
    pending_bytes: usize,
    /// Guest writes were committed without `strict` durability since the
    /// last [`Ecs::sync_guest_writes`] (the next one commits strictly even
    /// with nothing queued, so the device holds them).
    unsynced: bool,
}

struct Live {
    /// The disks the machine was given, in order (system disk first).
    disks: Vec<String>,
    /// Reported running since it was (re)booted.
    running: bool,
    /// Paused by its host on a failed read or write (one of [`PAUSE_REASONS`]).
    paused: Option<&'static str>,
    /// ResumeInstance asked for it: the host is ordered to retry now.
    resume: bool,
}

/// Why a machine is paused (`VmPauseReason`): the browser's storage is full;
/// a disk's KMS key is locked; another tab took the database (that tab runs
/// the instance now; this tab's machine is destroyed); a read or a write
/// failed otherwise. The guest's request waits; the host retries it every
/// few seconds and at once on ResumeInstance, and the machine goes on when
/// it succeeds.
pub const PAUSE_REASONS: &[&str] = &["StorageFull", "KeyLocked", "DatabaseTaken", "ReadError", "WriteError"];

struct Pending {
    disk: String,
    offset: u64,
    data: Vec<u8>,
}

impl Guests {
    /// Whether a machine holds `disk`.
    pub fn holds(&self, disk: &str) -> bool {
        self.live.values().any(|l| l.disks.iter().any(|d| d == disk))
    }

    /// The instances with a machine alive.
    pub fn live(&self) -> Vec<String> {
        self.live.keys().cloned().collect()
    }

    /// The instances whose machine is paused, with the reason.
    pub fn paused(&self) -> BTreeMap<String, String> {
        self.live.iter().filter_map(|(id, l)| l.paused.map(|r| (id.clone(), r.to_string()))).collect()
    }

    /// Orders the hosts of these paused machines to retry now (ResumeInstance).
    pub fn resume(&mut self, ids: &[String]) {
        for id in ids {
            if let Some(l) = self.live.get_mut(id).filter(|l| l.paused.is_some()) {
                l.resume = true;
            }
        }
    }
}

fn no_machine(instance: &str) -> Error {
    Error::forbidden("IncorrectInstanceStatus", format!("The instance \"{instance}\" has no machine."))
}

/// The cap on live machines: `QuotaExceed.RunningInstances` when starting
/// `adding` more VM instances would pass it.
pub fn check_cap(instances: &[Instance], max: u32, adding: usize) -> Result<()> {
    use InstanceStatus::*;
    let busy = instances.iter().filter(|i| i.vm && matches!(i.status, Pending | Starting | Running | Stopping)).count();
    if busy + adding > max as usize {
        return Err(Error::forbidden(
            "QuotaExceed.RunningInstances",
            format!(
                "At most {max} instances run a machine in this browser at once (each takes 250-500 MiB of the tab); {busy} do now. Stop one, or raise the limit in Settings."
            ),
        ));
    }
    Ok(())
}

/// The machine's memory in MiB: the setting, capped by the instance type's memory.
pub fn memory_mib(instance_type: &str, setting: u32) -> u32 {
    let of_type = INSTANCE_TYPES.iter().find(|t| t.0 == instance_type).map_or(setting, |t| t.2);
    setting.min(of_type)
}

/// The instances with a disk whose data key is not available (its KMS key is locked).
pub(crate) async fn key_locked<S: Store>(cx: &mut Cx<'_, S>) -> Result<Vec<String>> {
    // Asked every second (orders, DescribeInstances): no disk scan while every key is unlocked.
    if !super::kms::any_locked(cx) {
        return Ok(Vec::new());
    }
    let disks: Vec<Disk> = cx.scan(keys::DISKS).await?;
    Ok(disks.into_iter().filter(|d| d.data_key != 0 && !d.instance_id.is_empty() && !cx.t.engine().has_key(d.data_key)).map(|d| d.instance_id).collect())
}

impl<S: Store> Ecs<S> {
    /// What the page's host must do: boot (`boot`), reboot, stop (`stop`,
    /// with `Force`) or drop (`destroy`) machines, from the instances'
    /// records and the machines alive in this tab.
    pub async fn guest_orders(&mut self) -> Result<Vec<Value>> {
        let mut cx = self.cx("").await?;
        let instances: Vec<Instance> = cx.scan(keys::INSTANCES).await?;
        let locked = key_locked(&mut cx).await?;
        drop(cx);
        let mut out = Vec::new();
        for i in instances.iter().filter(|i| i.vm) {
            let mut i = i.clone();
            super::model::settle(&mut i.status, &mut i.plan, self.now());
            let live = self.guests.live.get(&i.id);
            let order = match (i.status, live) {
                // A disk's key is locked: it waits (booted once the key is unlocked).
                (InstanceStatus::Starting | InstanceStatus::Running, None) if locked.contains(&i.id) => continue,
                (InstanceStatus::Starting | InstanceStatus::Running, None) => "boot",
                (InstanceStatus::Starting, Some(l)) if l.running => "reboot",
                (InstanceStatus::Stopping, Some(_)) => "stop",
                (InstanceStatus::Stopped | InstanceStatus::Pending, Some(_)) => "destroy",
                _ => continue,
            };
            out.push(json!({"Order": order, "InstanceId": i.id, "Force": i.force_stop}));
        }
        for (id, l) in &self.guests.live {
            if l.resume && instances.iter().any(|i| &i.id == id) {
                out.push(json!({"Order": "resume", "InstanceId": id}));
            }
        }
        for id in self.guests.live.keys() {
            if !instances.iter().any(|i| &i.id == id) {
                out.push(json!({"Order": "destroy", "InstanceId": id, "Force": true}));
            }
        }
        Ok(out)
    }

    /// The host boots a machine for `instance`: it is Starting until the
    /// machine runs. Returns its disks (system first: `DiskId`, `Bytes`) and
    /// memory.
    pub async fn guest_attach(&mut self, instance: &str) -> Result<Value> {
        self.flush_guest_writes().await?;
        let mut cx = self.cx("").await?;
        let mut i = cx.instance(instance).await?;
        if !i.vm {
            return Err(Error::forbidden("IncorrectInstanceStatus", format!("The instance \"{instance}\" does not boot in the browser (its image does not).")));
        }
        if !matches!(i.status, InstanceStatus::Starting | InstanceStatus::Running) {
            return Err(Error::forbidden("IncorrectInstanceStatus", format!("The instance \"{instance}\" is {}.", i.status)));
        }
        let mut disks: Vec<Disk> = cx.scan::<Disk>(keys::DISKS).await?.into_iter().filter(|d| d.instance_id == instance).collect();
        disks.sort_by(|a, b| (a.disk_type != DiskType::System, &a.device).cmp(&(b.disk_type != DiskType::System, &b.device)));
        // A disk whose key is locked: the machine waits (the host asks again) until it is unlocked.
        if let Some(d) = disks.iter().find(|d| d.data_key != 0 && !cx.t.engine().has_key(d.data_key)) {
            return Err(super::kms::data_key_locked(&self.kms.borrow(), d.data_key));
        }
        i.status = InstanceStatus::Starting;
        i.plan.clear();
        cx.put(&i);
        let memory = memory_mib(&i.instance_type, cx.settings.vm_memory_mib.unwrap_or(DEFAULT_VM_MIB));
        self.settings = cx.commit().await?;
        let ids: Vec<String> = disks.iter().map(|d| d.id.clone()).collect();
        self.guests.live.insert(instance.to_string(), Live { disks: ids, running: false, paused: None, resume: false });
        let encrypted = disks.iter().any(|d| d.encrypted);
        let disks: Vec<Value> = disks.iter().map(|d| json!({"DiskId": d.id, "Bytes": d.size_gib * GIB, "Device": d.device})).collect();
        // Encrypted: the host keeps no saved machine state of it (guest RAM would hold its data).
        Ok(json!({"InstanceId": instance, "Disks": disks, "MemoryMiB": memory, "Encrypted": encrypted}))
    }

    /// The host's machine for `instance` runs: Starting becomes Running.
    pub async fn guest_running(&mut self, instance: &str) -> Result<()> {
        let Some(live) = self.guests.live.get_mut(instance) else {
            return Err(no_machine(instance));
        };
        live.running = true;
        let mut cx = self.cx("").await?;
        let mut i = cx.instance(instance).await?;
        if i.status == InstanceStatus::Starting {
            i.status = InstanceStatus::Running;
            i.plan.clear();
            cx.put(&i);
        }
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// The host paused `instance`'s machine: a read or write failed for
    /// `reason` (one of [`PAUSE_REASONS`]); the guest's request waits.
    pub fn guest_paused(&mut self, instance: &str, reason: &str) -> Result<()> {
        let Some(&reason) = PAUSE_REASONS.iter().find(|r| **r == reason) else {
            return Err(Error::invalid("Reason", format!("one of {}", PAUSE_REASONS.join(", "))));
        };
        let live = self.guests.live.get_mut(instance).ok_or_else(|| no_machine(instance))?;
        live.paused = Some(reason);
        live.resume = false;
        Ok(())
    }

    /// The host's paused machine for `instance` goes on (its request succeeded).
    pub fn guest_resumed(&mut self, instance: &str) -> Result<()> {
        let live = self.guests.live.get_mut(instance).ok_or_else(|| no_machine(instance))?;
        live.paused = None;
        live.resume = false;
        Ok(())
    }

    /// The host's machine for `instance` is gone (halted, stopped, dropped):
    /// its writes are applied and the instance is Stopped.
    pub async fn guest_detach(&mut self, instance: &str) -> Result<()> {
        if let Err(e) = self.flush_guest_writes().await {
            if e.kind == ErrorKind::Closed {
                return Err(e);
            }
            // The machine is gone (a paused one stopped) with writes that no completed flush
            // covered: they are dropped, as a disk's cache is at a power cut, and the guest's
            // journal recovers at its next boot. Other machines' writes stay queued.
            let disks = self.guests.live.get(instance).map(|l| l.disks.clone()).unwrap_or_default();
            self.guests.pending.retain(|w| !disks.contains(&w.disk));
            self.guests.pending_bytes = self.guests.pending.iter().map(|w| w.data.len()).sum();
        }
        self.guests.live.remove(instance);
        let mut cx = self.cx("").await?;
        if let Some(mut i) = cx.load::<Instance>(&keys::instance(instance)).await? {
            i.status = InstanceStatus::Stopped;
            i.plan.clear();
            i.force_stop = false;
            cx.put(&i);
        }
        self.settings = cx.commit().await?;
        Ok(())
    }

    fn guest_disk(&self, instance: &str, index: usize) -> Result<String> {
        let live = self.guests.live.get(instance).ok_or_else(|| no_machine(instance))?;
        live.disks.get(index).cloned().ok_or_else(|| Error::invalid("DiskIndex", format!("the machine has {} disks", live.disks.len())))
    }

    /// A guest's read: the disk's bytes with its queued writes over them.
    pub async fn guest_read(&mut self, instance: &str, index: usize, offset: u64, len: u64) -> Result<Vec<u8>> {
        self.remote(async |e| e.guest_read_inner(instance, index, offset, len).await).await.map_err(|e| self.name_key(e))
    }

    async fn guest_read_inner(&mut self, instance: &str, index: usize, offset: u64, len: u64) -> Result<Vec<u8>> {
        let disk_id = self.guest_disk(instance, index)?;
        let mut cx = self.cx("").await?;
        let disk = cx.disk(&disk_id).await?;
        super::check_range(offset, len, disk.size_gib * GIB)?;
        let mut out = restore::read_disk(&mut cx, &disk, offset, len).await?;
        drop(cx);
        let end = offset + len;
        for w in self.guests.pending.iter().filter(|w| w.disk == disk_id) {
            let (from, to) = (w.offset.max(offset), (w.offset + w.data.len() as u64).min(end));
            if from < to {
                out[(from - offset) as usize..(to - offset) as usize].copy_from_slice(&w.data[(from - w.offset) as usize..(to - w.offset) as usize]);
            }
        }
        Ok(out)
    }

    /// A guest's write, queued (applied with its batch, in order).
    pub async fn guest_write(&mut self, instance: &str, index: usize, offset: u64, data: Vec<u8>) -> Result<()> {
        let disk = self.guest_disk(instance, index)?;
        self.guests.pending_bytes += data.len();
        self.guests.pending.push(Pending { disk, offset, data });
        if self.guests.pending_bytes >= BATCH_BYTES {
            self.flush_guest_writes().await?;
        }
        Ok(())
    }

    /// The machine limits: the most machines alive at once, and a machine's
    /// memory in MiB (an instance type with less gets less).
    pub fn machine_limits(&self) -> (u32, u32) {
        (self.settings.max_vms.unwrap_or(DEFAULT_MAX_VMS), self.settings.vm_memory_mib.unwrap_or(DEFAULT_VM_MIB))
    }

    /// Sets the machine limits (None leaves one as it is). Machines alive
    /// keep running; a lower cap refuses starts beyond it, new memory applies
    /// from a machine's next boot.
    pub async fn set_machine_limits(&mut self, max: Option<u32>, mib: Option<u32>) -> Result<()> {
        if max.is_some_and(|m| !(1..=MOST_VMS).contains(&m)) {
            return Err(Error::invalid("MaxMachines", format!("a whole number from 1 to {MOST_VMS}")));
        }
        if mib.is_some_and(|m| !(64..=2048).contains(&m)) {
            return Err(Error::invalid("MemoryMiB", "a whole number of MiB from 64 to 2048"));
        }
        let mut cx = self.cx("").await?;
        if max.is_some() {
            cx.settings.max_vms = max;
        }
        if mib.is_some() {
            cx.settings.vm_memory_mib = mib;
        }
        cx.settings_dirty = true;
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// Whether guest writes wait to be applied.
    pub fn guest_writes_pending(&self) -> bool {
        !self.guests.pending.is_empty()
    }

    /// Applies the queued guest writes in one transaction, in order. Writes
    /// to a disk that is gone (deleted with its instance) are dropped.
    pub async fn flush_guest_writes(&mut self) -> Result<()> {
        if self.guests.pending.is_empty() {
            return Ok(());
        }
        self.apply_pending(false).await
    }

    /// The guest's FLUSH CACHE: applies the queued guest writes as
    /// [`Ecs::flush_guest_writes`] does, in a transaction with `strict`
    /// durability ([`crate::engine::Store::begin_strict`]), so once it
    /// returns every guest write queued before it survives the browser
    /// being killed and the operating system crashing. With nothing queued
    /// but earlier batches committed relaxed, a strict commit of a marker
    /// record flushes them to the device too.
    pub async fn sync_guest_writes(&mut self) -> Result<()> {
        if self.guests.pending.is_empty() && !self.guests.unsynced {
            return Ok(());
        }
        self.apply_pending(true).await?;
        self.guests.unsynced = false;
        Ok(())
    }

    async fn apply_pending(&mut self, strict: bool) -> Result<()> {
        let pending = std::mem::take(&mut self.guests.pending);
        let bytes = std::mem::take(&mut self.guests.pending_bytes);
        match self.remote(async |e| e.apply_guest_writes(&pending, strict).await).await.map_err(|e| self.name_key(e)) {
            Ok(()) => {
                self.guests.unsynced |= !strict;
                Ok(())
            }
            Err(e) => {
                // Not applied: the writes (which the guest was told are done) stay
                // queued, ahead of any newer ones, and are tried again.
                let newer = std::mem::replace(&mut self.guests.pending, pending);
                self.guests.pending.extend(newer);
                self.guests.pending_bytes += bytes;
                Err(e)
            }
        }
    }

    async fn apply_guest_writes(&mut self, pending: &[Pending], strict: bool) -> Result<()> {
        let mut cx = if strict { self.cx_strict().await? } else { self.cx("").await? };
        if strict && pending.is_empty() {
            let wall = cx.wall;
            cx.save(SYNC_RECORD, &wall);
        }
        let mut disks: BTreeMap<String, Option<Disk>> = BTreeMap::new();
        for w in pending {
            if !disks.contains_key(&w.disk) {
                let d = cx.load::<Disk>(&keys::disk(&w.disk)).await?;
                disks.insert(w.disk.clone(), d);
            }
            if let Some(Some(d)) = disks.get_mut(&w.disk) {
                let hydrating = d.hydration.is_some();
                restore::write_disk(&mut cx, d, w.offset, &w.data).await?;
                if hydrating {
                    cx.put(&*d);
                }
            }
        }
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// Which instances have a machine alive in this tab.
    pub fn guests(&self) -> &Guests {
        &self.guests
    }

    /// Keeps a saved machine state (the host's fast boot: a machine saved
    /// once its modules are loaded, before it mounts its disk) under `key`
    /// (the guest build, memory and disk sizes it depends on); at most
    /// [`STATES_KEPT`] are kept (one per disk layout met: a system disk
    /// alone, with a data disk), the oldest going first. Stored in 4 MiB
    /// records beside the OSS chunks.
    pub async fn guest_state_put(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        let mut cx = self.cx("").await?;
        let mut kept = states_kept(&mut cx).await?;
        let mut gone: Vec<(String, usize)> = Vec::new();
        kept.retain(|(k, n)| {
            let same = k == key;
            if same {
                gone.push((k.clone(), *n));
            }
            !same
        });
        while kept.len() >= STATES_KEPT {
            gone.push(kept.remove(0));
        }
        for (k, n) in gone {
            for i in 0..n {
                cx.t.delete_in(crate::oss::CHUNKS, &format!("{STATE_PREFIX}{k}/{i}"));
            }
        }
        let chunks: Vec<&[u8]> = bytes.chunks(STATE_CHUNK).collect();
        for (n, c) in chunks.iter().enumerate() {
            cx.t.put_in(crate::oss::CHUNKS, &format!("{STATE_PREFIX}{key}/{n}"), c.to_vec());
        }
        kept.push((key.to_string(), chunks.len()));
        cx.save(STATE_RECORD, &kept);
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// The keys of the saved machine states kept, oldest first.
    pub async fn guest_state_keys(&mut self) -> Result<Vec<String>> {
        let mut cx = self.cx("").await?;
        Ok(states_kept(&mut cx).await?.into_iter().map(|(k, _)| k).collect())
    }

    /// The saved machine state kept under `key`, if one is.
    pub async fn guest_state_get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut cx = self.cx("").await?;
        let Some((_, n)) = states_kept(&mut cx).await?.into_iter().find(|(k, _)| k == key) else { return Ok(None) };
        let mut out = Vec::new();
        for i in 0..n {
            match cx.t.get_in(crate::oss::CHUNKS, &format!("{STATE_PREFIX}{key}/{i}")).await? {
                Some(c) => out.extend_from_slice(&c),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// Installs (or, for another build, replaces) the content of the Linux
    /// image in every region: `raw`, the guest build's system disk image.
    /// Returns whether anything changed.
    pub async fn install_guest_image(&mut self, build: &str, raw: &[u8]) -> Result<bool> {
        if self.settings.guest_build == build {
            return Ok(false);
        }
        let mut cx = self.cx(DEFAULT_REGION).await?;
        let bs = 1usize << BLOCK_SHIFT;
        let size = (raw.len() as u64).div_ceil(bs as u64) * bs as u64;
        let v = cx.t.create_volume(size, BLOCK_SHIFT).await?;
        for (n, block) in raw.chunks(bs).enumerate() {
            if block.iter().any(|&b| b != 0) {
                cx.t.write(v, (n * bs) as u64, block).await?;
            }
        }
        let snap = cx.t.snapshot(v).await?;
        cx.t.delete_volume(v).await?;
        let mut old = None;
        for (region, _, _) in REGIONS {
            let key = keys::image(region, LINUX_IMAGE);
            let mut img = match cx.load::<Image>(&key).await? {
                Some(i) => i,
                None => Image {
                    id: LINUX_IMAGE.into(),
                    seq: cx.next_seq(),
                    region: region.to_string(),
                    name: LINUX_IMAGE.into(),
                    description: "Linux that boots in this browser: Debian's i386 kernel and busybox on ext4, a root shell on the serial console".into(),
                    owner_alias: ImageOwner::System,
                    status: ImageStatus::Available,
                    os_type: "linux".into(),
                    os_name: "rowsnap Linux i386 (busybox)".into(),
                    platform: "Linux".into(),
                    architecture: "i386".into(),
                    size_gib: 1,
                    boot: BOOT_V86.into(),
                    ..Default::default()
                },
            };
            if let Some(m) = img.mappings.first() {
                old = Some(m.engine);
            }
            img.mappings = vec![Mapping { snapshot_id: String::new(), engine: snap, size_gib: 1, device: "/dev/xvda".into(), disk_type: DiskType::System }];
            cx.put(&img);
        }
        if let Some(old) = old {
            // Disks made from the old build keep their blocks (shared, counted).
            cx.t.delete_snapshot(old).await?;
        }
        cx.settings.guest_build = build.to_string();
        cx.settings_dirty = true;
        self.settings = cx.commit().await?;
        Ok(true)
    }
}
