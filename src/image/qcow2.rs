//! qcow2 images: a streaming reader (versions 2 and 3) and a front-to-back writer (version 3).
//!
//! # Reader
//!
//! [`Qcow2Reader`] reads the *active layer* of a qcow2 image from any random-access source
//! ([`ReadAt`]: a byte slice, a `Vec<u8>`, a [`std::fs::File`], or an object read in ranges).
//! Memory stays bounded whatever the input: the L1 table is loaded once (at most
//! [`MAX_L1_BYTES`]), L2 tables are read one cluster at a time into a small cache, and one
//! compressed cluster is kept decompressed. Malformed input yields a [`Qcow2Error`], never a
//! panic and never an unbounded allocation.
//!
//! Supported: versions 2 and 3, cluster sizes 512 B to 2 MiB (`cluster_bits` 9..=21), zero
//! clusters (the v3 zero flag, and unallocated clusters, which read as zeros since backing
//! files are refused), compressed clusters (raw deflate, the zlib compression type), a dirty
//! image (only refcounts may be stale, which reading never uses) and internal snapshots: they
//! are listed by [`Qcow2Reader::snapshots`], but reading always takes the active layer (the
//! header's L1 table), which is what an import wants.
//!
//! Refused with a clear error: a backing file, encryption, the corrupt bit, an external data
//! file, a compression type other than zlib, extended L2 entries (subclusters), and unknown
//! incompatible feature bits.
//!
//! # Writer
//!
//! [`Qcow2Writer`] plans a qcow2 v3 image with 64 KiB clusters from the list of allocated guest
//! clusters alone, so every metadata offset is known up front and the file can be produced
//! front to back: first [`Qcow2Writer::metadata`] (header, refcount table, refcount blocks, L1,
//! L2 tables), then the data clusters in the order given, contiguously. Every used cluster has
//! refcount 1, table entries carry the COPIED flag and never-written clusters are not stored.

use std::io;

/// The qcow2 magic, `QFI\xfb`.
pub const QCOW2_MAGIC: u32 = 0x5146_49fb;
/// Largest virtual size accepted by the reader and the writer (64 TiB).
pub const MAX_VIRTUAL_SIZE: u64 = 64 << 40;
/// Largest L1 table the reader loads (the same limit as qemu's).
pub const MAX_L1_BYTES: u64 = 32 << 20;
/// Cluster size of the images [`Qcow2Writer`] produces (64 KiB).
pub const WRITER_CLUSTER_SIZE: u64 = 1 << WRITER_CLUSTER_BITS;

const WRITER_CLUSTER_BITS: u32 = 16;
const MIN_CLUSTER_BITS: u32 = 9;
const MAX_CLUSTER_BITS: u32 = 21;
const V2_HEADER_LEN: usize = 72;
const V3_HEADER_LEN: usize = 104;
/// Largest refcount table qemu accepts (8 MiB).
const MAX_REFTABLE_BYTES: u64 = 8 << 20;
const MAX_SNAPSHOTS: u32 = 65536;
/// Largest snapshot table (qemu's limit).
const MAX_SNAPSHOT_TABLE_BYTES: u64 = 64 << 20;
const MAX_SNAPSHOT_EXTRA: u32 = 1024;
/// Most separate ranges [`Qcow2Reader::allocated_ranges`] returns (32 MiB of ranges).
const MAX_RANGES: usize = 1 << 21;
/// Bytes of L2 tables kept in the cache (between 2 and [`L2_CACHE_MAX`] tables).
const L2_CACHE_BYTES: u64 = 8 << 20;
const L2_CACHE_MAX: usize = 16;
/// L1 tables are read in pieces of this size.
const READ_CHUNK: usize = 64 << 10;

/// Bits 9-55 of an L1 or standard L2 entry: the host offset.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const FLAG_COPIED: u64 = 1 << 63;
const FLAG_COMPRESSED: u64 = 1 << 62;
const FLAG_ZERO: u64 = 1;

const INCOMPAT_DIRTY: u64 = 1 << 0;
const INCOMPAT_CORRUPT: u64 = 1 << 1;
const INCOMPAT_DATA_FILE: u64 = 1 << 2;
const INCOMPAT_COMPRESSION: u64 = 1 << 3;
const INCOMPAT_EXTL2: u64 = 1 << 4;

/// Why an image could not be read or planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Qcow2Error {
    /// The source failed to read.
    #[error("I/O error: {0}")]
    Io(String),
    /// The file does not start with `QFI\xfb`.
    #[error("not a qcow2 image (magic is {0:#010x}, expected 0x514649fb)")]
    BadMagic(u32),
    /// Only versions 2 and 3 exist.
    #[error("unsupported qcow2 version {0} (only versions 2 and 3 are supported)")]
    UnsupportedVersion(u32),
    /// The image is an overlay over another image.
    #[error(
        "the image has a backing file ({0}); only standalone images can be imported: \
         flatten it first with `qemu-img convert -O qcow2`"
    )]
    BackingFile(String),
    /// The image is encrypted.
    #[error("the image is encrypted (crypt_method {0}); encrypted images are not supported")]
    Encrypted(u32),
    /// The image uses a feature this reader does not implement.
    #[error("unsupported qcow2 feature: {0}")]
    Unsupported(String),
    /// The header's corrupt bit is set.
    #[error("the image is marked corrupt; repair it first with `qemu-img check -r all`")]
    MarkedCorrupt,
    /// A structure lies (partly) past the end of the file.
    #[error(
        "the image is truncated: {what} at offset {offset:#x} ({len} bytes) ends past the end \
         of the file ({file_size} bytes)"
    )]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it starts in the file.
        offset: u64,
        /// How long it is.
        len: u64,
        /// The file's size.
        file_size: u64,
    },
    /// The metadata is inconsistent.
    #[error("malformed qcow2 image: {0}")]
    Malformed(String),
    /// A size in the image is over a limit of this reader.
    #[error("image too large: {0}")]
    TooLarge(String),
    /// A read outside the virtual disk.
    #[error("read of {len} bytes at offset {offset} is outside the virtual disk ({size} bytes)")]
    OutOfRange {
        /// Guest offset of the read.
        offset: u64,
        /// Length of the read.
        len: u64,
        /// The virtual size.
        size: u64,
    },
    /// A compressed cluster does not inflate to one cluster.
    #[error("bad compressed cluster at host offset {offset:#x}: {reason}")]
    Compressed {
        /// Host offset of the compressed data.
        offset: u64,
        /// What went wrong.
        reason: String,
    },
    /// [`Qcow2Writer::try_plan`] was given an impossible layout.
    #[error("invalid qcow2 plan: {0}")]
    InvalidPlan(String),
    /// The source does not hold these bytes yet: fetch them and call again (an asynchronous
    /// source, see [`super::prefetch`]). The reader's state is unchanged by a failed read, so
    /// the same call can simply be repeated.
    #[error("{len} bytes at offset {offset} are not fetched yet")]
    Pending {
        /// File offset of the missing bytes.
        offset: u64,
        /// How many.
        len: u64,
    },
}

impl From<io::Error> for Qcow2Error {
    fn from(e: io::Error) -> Self {
        Qcow2Error::Io(e.to_string())
    }
}

fn malformed(msg: impl Into<String>) -> Qcow2Error {
    Qcow2Error::Malformed(msg.into())
}

// ---------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------

/// A random-access byte source: a file, a buffer, or an object read in ranges.
pub trait ReadAt {
    /// The source's length in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` with the bytes at `[offset, offset + buf.len())`; fails if any is missing.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Qcow2Error>;
}

fn slice_read_at(data: &[u8], offset: u64, buf: &mut [u8]) -> Result<(), Qcow2Error> {
    let len = data.len() as u64;
    let end = offset.checked_add(buf.len() as u64);
    match end {
        Some(end) if end <= len => {
            let start = offset as usize;
            buf.copy_from_slice(&data[start..start + buf.len()]);
            Ok(())
        }
        _ => Err(Qcow2Error::Io(format!("read of {} bytes at offset {offset} past the end of a {len}-byte buffer", buf.len()))),
    }
}

impl ReadAt for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Qcow2Error> {
        slice_read_at(self, offset, buf)
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Qcow2Error> {
        slice_read_at(self, offset, buf)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &mut T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Qcow2Error> {
        (**self).read_at(offset, buf)
    }
}

impl ReadAt for std::fs::File {
    fn size(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }

    #[cfg(unix)]
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Qcow2Error> {
        use std::os::unix::fs::FileExt;
        self.read_exact_at(buf, offset)?;
        Ok(())
    }

    #[cfg(not(unix))]
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Qcow2Error> {
        use std::io::{Read, Seek, SeekFrom};
        self.seek(SeekFrom::Start(offset))?;
        self.read_exact(buf)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

/// One internal snapshot from the image's snapshot table (informational: reading always takes
/// the active layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The snapshot's unique id (qemu numbers them "1", "2", ...).
    pub id: String,
    /// The snapshot's name (`qemu-img snapshot -c NAME`).
    pub name: String,
    /// Host offset of the snapshot's L1 table.
    pub l1_table_offset: u64,
    /// Entries in the snapshot's L1 table.
    pub l1_size: u32,
    /// Virtual disk size when the snapshot was taken, if recorded (qemu records it).
    pub disk_size: Option<u64>,
    /// Bytes of saved VM state (0 for a disk-only snapshot).
    pub vm_state_size: u64,
    /// Creation time, seconds since the epoch.
    pub date_sec: u32,
    /// Creation time, nanoseconds part.
    pub date_nsec: u32,
    /// Guest clock when the snapshot was taken, in nanoseconds.
    pub vm_clock_nsec: u64,
}

#[derive(Debug, Clone)]
struct Header {
    version: u32,
    cluster_bits: u32,
    virtual_size: u64,
    incompatible_features: u64,
}

/// How one guest cluster is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    /// Unallocated or zero cluster: reads as zeros.
    Zero,
    /// A standard cluster at this cluster-aligned host offset.
    Data(u64),
    /// A compressed cluster: (host offset of the data, bytes of compressed data).
    Compressed(u64, u64),
}

struct L2Slot {
    offset: u64,
    table: Vec<u64>,
    used: u64,
}

/// Reads the active layer of a qcow2 image from a random-access source; see the module doc.
pub struct Qcow2Reader<R: ReadAt> {
    src: R,
    file_size: u64,
    header: Header,
    /// The first `ceil(virtual_size / bytes per L2)` entries of the active L1 table.
    l1: Vec<u64>,
    snapshots: Vec<SnapshotInfo>,
    l2_cache: Vec<L2Slot>,
    l2_cache_cap: usize,
    tick: u64,
    scratch: Vec<u8>,
    compressed_in: Vec<u8>,
    compressed_out: Vec<u8>,
    compressed_key: Option<(u64, u64)>,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Fails unless `[offset, offset + len)` lies inside a file of `file_size` bytes.
fn check_in_file(what: &'static str, offset: u64, len: u64, file_size: u64) -> Result<(), Qcow2Error> {
    match offset.checked_add(len) {
        Some(end) if end <= file_size => Ok(()),
        _ => Err(Qcow2Error::Truncated { what, offset, len, file_size }),
    }
}

impl<R: ReadAt> Qcow2Reader<R> {
    /// Opens an image: reads and validates the header, loads the active L1 table and parses
    /// the snapshot table. Refuses backing files, encryption and unsupported features.
    pub fn open(mut src: R) -> Result<Self, Qcow2Error> {
        let file_size = src.size();
        check_in_file("the qcow2 header", 0, V2_HEADER_LEN as u64, file_size)?;
        let mut h = [0u8; V3_HEADER_LEN + 8];
        src.read_at(0, &mut h[..V2_HEADER_LEN])?;
        let magic = be32(&h, 0);
        if magic != QCOW2_MAGIC {
            return Err(Qcow2Error::BadMagic(magic));
        }
        let version = be32(&h, 4);
        if version != 2 && version != 3 {
            return Err(Qcow2Error::UnsupportedVersion(version));
        }
        let backing_file_offset = be64(&h, 8);
        let backing_file_size = be32(&h, 16);
        let cluster_bits = be32(&h, 20);
        let virtual_size = be64(&h, 24);
        let crypt_method = be32(&h, 32);
        let l1_size = be32(&h, 36);
        let l1_table_offset = be64(&h, 40);
        let refcount_table_offset = be64(&h, 48);
        let refcount_table_clusters = be32(&h, 56);
        let nb_snapshots = be32(&h, 60);
        let snapshots_offset = be64(&h, 64);

        if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&cluster_bits) {
            return Err(malformed(format!("cluster_bits {cluster_bits} is out of range ({MIN_CLUSTER_BITS}..={MAX_CLUSTER_BITS})")));
        }
        let cluster_size = 1u64 << cluster_bits;

        let mut incompatible_features = 0;
        if version == 3 {
            check_in_file("the qcow2 v3 header", 0, V3_HEADER_LEN as u64, file_size)?;
            src.read_at(V2_HEADER_LEN as u64, &mut h[V2_HEADER_LEN..V3_HEADER_LEN])?;
            incompatible_features = be64(&h, 72);
            let refcount_order = be32(&h, 96);
            let header_length = be32(&h, 100) as u64;
            if header_length < V3_HEADER_LEN as u64 {
                return Err(malformed(format!("header_length {header_length} is shorter than the 104 bytes of a v3 header")));
            }
            if header_length > cluster_size {
                return Err(malformed(format!("header_length {header_length} exceeds the cluster size {cluster_size}")));
            }
            if refcount_order > 6 {
                return Err(malformed(format!("refcount_order {refcount_order} is over 6")));
            }
            if incompatible_features & INCOMPAT_CORRUPT != 0 {
                return Err(Qcow2Error::MarkedCorrupt);
            }
            if incompatible_features & INCOMPAT_DATA_FILE != 0 {
                return Err(Qcow2Error::Unsupported("an external data file (the guest data is not in this file)".into()));
            }
            if incompatible_features & INCOMPAT_COMPRESSION != 0 {
                return Err(Qcow2Error::Unsupported(
                    "a compression type other than zlib (e.g. zstd); convert the image with \
                     `qemu-img convert -O qcow2` first"
                        .into(),
                ));
            }
            if incompatible_features & INCOMPAT_EXTL2 != 0 {
                return Err(Qcow2Error::Unsupported("extended L2 entries (subclusters, extended_l2=on)".into()));
            }
            let unknown = incompatible_features & !(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2);
            if unknown != 0 {
                return Err(Qcow2Error::Unsupported(format!("unknown incompatible feature bits {unknown:#x}")));
            }
            if header_length > V3_HEADER_LEN as u64 {
                // The compression type byte: zlib (0) is the only one without bit 3.
                check_in_file("the qcow2 header", 0, header_length, file_size)?;
                src.read_at(V3_HEADER_LEN as u64, &mut h[V3_HEADER_LEN..V3_HEADER_LEN + 1])?;
                let compression_type = h[V3_HEADER_LEN];
                if compression_type != 0 {
                    return Err(Qcow2Error::Unsupported(format!("compression type {compression_type} (only zlib is supported)")));
                }
            }
        }

        if crypt_method != 0 {
            return Err(Qcow2Error::Encrypted(crypt_method));
        }
        if backing_file_offset != 0 {
            let name = Self::backing_name(&mut src, backing_file_offset, backing_file_size, file_size)?
                .unwrap_or_else(|| format!("name at offset {backing_file_offset:#x}"));
            return Err(Qcow2Error::BackingFile(name));
        }

        if virtual_size > MAX_VIRTUAL_SIZE {
            return Err(Qcow2Error::TooLarge(format!("virtual size {virtual_size} is over the 64 TiB limit")));
        }
        let l2_bits = cluster_bits - 3;
        let bytes_per_l2 = cluster_size << l2_bits;
        let l1_needed = virtual_size.div_ceil(bytes_per_l2);
        if l1_needed * 8 > MAX_L1_BYTES {
            return Err(Qcow2Error::TooLarge(format!(
                "the L1 table for {virtual_size} bytes with {cluster_size}-byte clusters would be \
                 {} bytes, over the {MAX_L1_BYTES}-byte limit",
                l1_needed * 8
            )));
        }
        if (l1_size as u64) < l1_needed {
            return Err(malformed(format!("L1 table has {l1_size} entries but the virtual size needs {l1_needed}")));
        }
        if l1_size as u64 * 8 > MAX_L1_BYTES {
            return Err(Qcow2Error::TooLarge(format!("L1 table of {l1_size} entries is over the {MAX_L1_BYTES}-byte limit")));
        }
        if l1_size > 0 {
            if !l1_table_offset.is_multiple_of(cluster_size) {
                return Err(malformed(format!("L1 table offset {l1_table_offset:#x} is not cluster-aligned")));
            }
            check_in_file("the L1 table", l1_table_offset, l1_size as u64 * 8, file_size)?;
        }

        if refcount_table_clusters == 0 {
            return Err(malformed("the image has no refcount table (refcount_table_clusters is 0)"));
        }
        let reftable_bytes = refcount_table_clusters as u64 * cluster_size;
        if reftable_bytes > MAX_REFTABLE_BYTES {
            return Err(Qcow2Error::TooLarge(format!("refcount table of {reftable_bytes} bytes is over the {MAX_REFTABLE_BYTES}-byte limit")));
        }
        if !refcount_table_offset.is_multiple_of(cluster_size) {
            return Err(malformed(format!("refcount table offset {refcount_table_offset:#x} is not cluster-aligned")));
        }
        check_in_file("the refcount table", refcount_table_offset, reftable_bytes, file_size)?;

        if nb_snapshots > MAX_SNAPSHOTS {
            return Err(Qcow2Error::TooLarge(format!("{nb_snapshots} snapshots is over the limit of {MAX_SNAPSHOTS}")));
        }
        if nb_snapshots > 0 && !snapshots_offset.is_multiple_of(cluster_size) {
            return Err(malformed(format!("snapshot table offset {snapshots_offset:#x} is not cluster-aligned")));
        }

        // The active L1 table: only the entries the virtual size uses.
        let mut l1 = Vec::with_capacity(l1_needed as usize);
        let mut chunk = vec![0u8; READ_CHUNK.min(l1_needed as usize * 8)];
        let mut done = 0u64;
        while done < l1_needed {
            let n = (l1_needed - done).min((READ_CHUNK / 8) as u64) as usize;
            src.read_at(l1_table_offset + done * 8, &mut chunk[..n * 8])?;
            l1.extend(chunk[..n * 8].chunks_exact(8).map(|e| be64(e, 0)));
            done += n as u64;
        }

        let snapshots = Self::read_snapshots(&mut src, snapshots_offset, nb_snapshots, file_size)?;

        let l2_cache_cap = ((L2_CACHE_BYTES / cluster_size) as usize).clamp(2, L2_CACHE_MAX);
        Ok(Qcow2Reader {
            src,
            file_size,
            header: Header { version, cluster_bits, virtual_size, incompatible_features },
            l1,
            snapshots,
            l2_cache: Vec::new(),
            l2_cache_cap,
            tick: 0,
            scratch: Vec::new(),
            compressed_in: Vec::new(),
            compressed_out: Vec::new(),
            compressed_key: None,
        })
    }

    fn backing_name(src: &mut R, offset: u64, size: u32, file_size: u64) -> Result<Option<String>, Qcow2Error> {
        if size == 0 || size > 1023 || check_in_file("", offset, size as u64, file_size).is_err() {
            return Ok(None);
        }
        let mut name = vec![0u8; size as usize];
        match src.read_at(offset, &mut name) {
            Ok(()) => Ok(Some(format!("\"{}\"", String::from_utf8_lossy(&name)))),
            Err(e @ Qcow2Error::Pending { .. }) => Err(e),
            Err(_) => Ok(None),
        }
    }

    fn read_snapshots(src: &mut R, table_offset: u64, count: u32, file_size: u64) -> Result<Vec<SnapshotInfo>, Qcow2Error> {
        let mut snapshots = Vec::new();
        let mut pos = table_offset;
        for i in 0..count {
            let used = pos - table_offset;
            if used > MAX_SNAPSHOT_TABLE_BYTES {
                return Err(Qcow2Error::TooLarge(format!("the snapshot table is over {MAX_SNAPSHOT_TABLE_BYTES} bytes")));
            }
            let mut fixed = [0u8; 40];
            check_in_file("a snapshot table entry", pos, 40, file_size)?;
            src.read_at(pos, &mut fixed)?;
            let l1_table_offset = be64(&fixed, 0);
            let l1_size = be32(&fixed, 8);
            let id_size = be16(&fixed, 12) as u64;
            let name_size = be16(&fixed, 14) as u64;
            let date_sec = be32(&fixed, 16);
            let date_nsec = be32(&fixed, 20);
            let vm_clock_nsec = be64(&fixed, 24);
            let vm_state_size32 = be32(&fixed, 32);
            let extra_size = be32(&fixed, 36);
            if extra_size > MAX_SNAPSHOT_EXTRA {
                return Err(malformed(format!("snapshot {i} has {extra_size} bytes of extra data (limit {MAX_SNAPSHOT_EXTRA})")));
            }
            let var_len = extra_size as u64 + id_size + name_size;
            let entry_len = (40 + var_len).next_multiple_of(8);
            // The last entry's padding may be missing at the end of the file (qemu-img
            // snapshot writes the table's bytes only).
            check_in_file("a snapshot table entry", pos, 40 + var_len, file_size)?;
            let mut var = vec![0u8; var_len as usize];
            src.read_at(pos + 40, &mut var)?;
            let extra = &var[..extra_size as usize];
            let vm_state_size = if extra.len() >= 8 { be64(extra, 0) } else { vm_state_size32 as u64 };
            let disk_size = if extra.len() >= 16 { Some(be64(extra, 8)) } else { None };
            let id_start = extra_size as usize;
            let name_start = id_start + id_size as usize;
            let id = String::from_utf8_lossy(&var[id_start..name_start]).into_owned();
            let name = String::from_utf8_lossy(&var[name_start..]).into_owned();
            snapshots.push(SnapshotInfo { id, name, l1_table_offset, l1_size, disk_size, vm_state_size, date_sec, date_nsec, vm_clock_nsec });
            pos += entry_len;
        }
        Ok(snapshots)
    }

    /// The guest disk's size in bytes.
    pub fn virtual_size(&self) -> u64 {
        self.header.virtual_size
    }

    /// The image's cluster size in bytes (512 B to 2 MiB).
    pub fn cluster_size(&self) -> u64 {
        1 << self.header.cluster_bits
    }

    /// The qcow2 version, 2 or 3.
    pub fn version(&self) -> u32 {
        self.header.version
    }

    /// Whether the image was not closed cleanly (v3 dirty bit): its refcounts may be stale,
    /// which does not matter for reading.
    pub fn is_dirty(&self) -> bool {
        self.header.incompatible_features & INCOMPAT_DIRTY != 0
    }

    /// The internal snapshots in the image's snapshot table. Reading always takes the active
    /// layer (the header's L1 table); snapshots are listed for information only.
    pub fn snapshots(&self) -> &[SnapshotInfo] {
        &self.snapshots
    }

    /// Gives back the source.
    pub fn into_inner(self) -> R {
        self.src
    }

    fn guest_clusters(&self) -> u64 {
        self.header.virtual_size.div_ceil(self.cluster_size())
    }

    /// Index into `l2_cache` of the L2 table at host offset `offset`, reading it if needed.
    fn l2_table(&mut self, offset: u64) -> Result<usize, Qcow2Error> {
        self.tick += 1;
        if let Some(i) = self.l2_cache.iter().position(|s| s.offset == offset) {
            self.l2_cache[i].used = self.tick;
            return Ok(i);
        }
        let cs = self.cluster_size();
        if !offset.is_multiple_of(cs) {
            return Err(malformed(format!("L2 table offset {offset:#x} is not cluster-aligned")));
        }
        check_in_file("an L2 table", offset, cs, self.file_size)?;
        self.scratch.resize(cs as usize, 0);
        self.src.read_at(offset, &mut self.scratch)?;
        let slot = if self.l2_cache.len() < self.l2_cache_cap {
            self.l2_cache.push(L2Slot { offset, table: Vec::new(), used: 0 });
            self.l2_cache.len() - 1
        } else {
            let mut lru = 0;
            for (i, s) in self.l2_cache.iter().enumerate() {
                if s.used < self.l2_cache[lru].used {
                    lru = i;
                }
            }
            lru
        };
        let s = &mut self.l2_cache[slot];
        s.offset = offset;
        s.used = self.tick;
        s.table.clear();
        s.table.extend(self.scratch.chunks_exact(8).map(|e| be64(e, 0)));
        Ok(slot)
    }

    /// The L2 entry of guest cluster `cluster` (0 if its L2 table is unallocated).
    fn l2_entry(&mut self, cluster: u64) -> Result<u64, Qcow2Error> {
        let l2_bits = self.header.cluster_bits - 3;
        let l1_index = (cluster >> l2_bits) as usize;
        let l1_entry = *self.l1.get(l1_index).ok_or_else(|| malformed(format!("guest cluster {cluster} is past the L1 table")))?;
        let l2_offset = l1_entry & OFFSET_MASK;
        if l2_offset == 0 {
            return Ok(0);
        }
        let slot = self.l2_table(l2_offset)?;
        let index = (cluster & ((1 << l2_bits) - 1)) as usize;
        Ok(self.l2_cache[slot].table[index])
    }

    /// Decodes and validates one L2 entry.
    fn classify(&self, entry: u64) -> Result<Mapping, Qcow2Error> {
        let cb = self.header.cluster_bits;
        if entry & FLAG_COMPRESSED != 0 {
            let shift = 62 - (cb - 8);
            let host = entry & ((1u64 << shift) - 1);
            let sectors = ((entry >> shift) & ((1u64 << (cb - 8)) - 1)) + 1;
            let len = sectors * 512 - (host & 511);
            if host == 0 || host >= self.file_size {
                return Err(Qcow2Error::Truncated { what: "a compressed cluster", offset: host, len, file_size: self.file_size });
            }
            return Ok(Mapping::Compressed(host, len));
        }
        if entry & FLAG_ZERO != 0 {
            if self.header.version < 3 {
                return Err(malformed(format!("L2 entry {entry:#x} has the zero flag, which a version 2 image cannot have")));
            }
            return Ok(Mapping::Zero);
        }
        let host = entry & OFFSET_MASK;
        if host == 0 {
            return Ok(Mapping::Zero);
        }
        if !host.is_multiple_of(self.cluster_size()) {
            return Err(malformed(format!("data cluster offset {host:#x} is not cluster-aligned")));
        }
        Ok(Mapping::Data(host))
    }

    fn mapping(&mut self, cluster: u64) -> Result<Mapping, Qcow2Error> {
        let entry = self.l2_entry(cluster)?;
        self.classify(entry)
    }

    /// Inflates the compressed cluster at `host` (`len` bytes) into `compressed_out`.
    fn inflate(&mut self, host: u64, len: u64) -> Result<(), Qcow2Error> {
        if self.compressed_key == Some((host, len)) {
            return Ok(());
        }
        self.compressed_key = None;
        let cs = self.cluster_size() as usize;
        // The last sectors of compressed data may run past the end of the file.
        let avail = len.min(self.file_size - host) as usize;
        self.compressed_in.resize(avail, 0);
        self.src.read_at(host, &mut self.compressed_in)?;
        self.compressed_out.resize(cs, 0);
        let mut d = flate2::Decompress::new(false);
        loop {
            let (in_done, out_done) = (d.total_in() as usize, d.total_out() as usize);
            let status = d
                .decompress(&self.compressed_in[in_done..], &mut self.compressed_out[out_done..], flate2::FlushDecompress::Finish)
                .map_err(|e| Qcow2Error::Compressed { offset: host, reason: e.to_string() })?;
            let out = d.total_out() as usize;
            if out == cs {
                break;
            }
            let progressed = d.total_in() as usize != in_done || out != out_done;
            if status != flate2::Status::Ok || !progressed {
                return Err(Qcow2Error::Compressed { offset: host, reason: format!("inflates to {out} bytes instead of one {cs}-byte cluster") });
            }
        }
        self.compressed_key = Some((host, len));
        Ok(())
    }

    /// Reads guest bytes `[offset, offset + buf.len())` of the active layer; unallocated and
    /// zero clusters read as zeros. Adjacent clusters that are contiguous in the file are read
    /// with one source read.
    pub fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Qcow2Error> {
        let size = self.header.virtual_size;
        let len = buf.len() as u64;
        match offset.checked_add(len) {
            Some(end) if end <= size => {}
            _ => return Err(Qcow2Error::OutOfRange { offset, len, size }),
        }
        let cs = self.cluster_size();
        let cb = self.header.cluster_bits;
        // A pending run of file bytes: (host offset, start in buf, length).
        let mut run: Option<(u64, usize, usize)> = None;
        let mut pos = 0usize;
        while pos < buf.len() {
            let guest = offset + pos as u64;
            let in_cluster = guest & (cs - 1);
            let n = (cs - in_cluster).min((buf.len() - pos) as u64) as usize;
            match self.mapping(guest >> cb)? {
                Mapping::Zero => buf[pos..pos + n].fill(0),
                Mapping::Data(host) => {
                    let at = host + in_cluster;
                    check_in_file("a data cluster", at, n as u64, self.file_size)?;
                    match &mut run {
                        Some((h, b, l)) if *h + *l as u64 == at && *b + *l == pos => *l += n,
                        _ => {
                            if let Some((h, b, l)) = run.take() {
                                self.src.read_at(h, &mut buf[b..b + l])?;
                            }
                            run = Some((at, pos, n));
                        }
                    }
                }
                Mapping::Compressed(host, clen) => {
                    self.inflate(host, clen)?;
                    let s = in_cluster as usize;
                    buf[pos..pos + n].copy_from_slice(&self.compressed_out[s..s + n]);
                }
            }
            pos += n;
        }
        if let Some((h, b, l)) = run {
            self.src.read_at(h, &mut buf[b..b + l])?;
        }
        Ok(())
    }

    /// Calls `f(guest_offset, len)` for each run of allocated data (standard or compressed
    /// clusters, not zero clusters) in guest order, adjacent clusters merged, the last run
    /// clipped to the virtual size. Validates each data cluster's offset on the way.
    pub fn visit_allocated(&mut self, mut f: impl FnMut(u64, u64) -> Result<(), Qcow2Error>) -> Result<(), Qcow2Error> {
        let cs = self.cluster_size();
        let size = self.header.virtual_size;
        let l2_bits = self.header.cluster_bits - 3;
        let per_l2 = 1u64 << l2_bits;
        let clusters = self.guest_clusters();
        let mut run: Option<(u64, u64)> = None;
        for l1_index in 0..self.l1.len() {
            let l2_offset = self.l1[l1_index] & OFFSET_MASK;
            if l2_offset == 0 {
                continue;
            }
            let first = l1_index as u64 * per_l2;
            let count = per_l2.min(clusters.saturating_sub(first)) as usize;
            let slot = self.l2_table(l2_offset)?;
            for j in 0..count {
                let entry = self.l2_cache[slot].table[j];
                let start = (first + j as u64) * cs;
                let end = (start + cs).min(size);
                match self.classify(entry)? {
                    Mapping::Zero => continue,
                    Mapping::Data(host) => {
                        check_in_file("a data cluster", host, end - start, self.file_size)?;
                    }
                    Mapping::Compressed(..) => {}
                }
                match &mut run {
                    Some((_, e)) if *e == start => *e = end,
                    _ => {
                        if let Some((s, e)) = run.take() {
                            f(s, e - s)?;
                        }
                        run = Some((start, end));
                    }
                }
            }
        }
        if let Some((s, e)) = run {
            f(s, e - s)?;
        }
        Ok(())
    }

    /// The allocated data runs `(guest_offset, len)` from guest offset `from` (rounded down to
    /// a cluster) on, in guest order and merged, until the runs hold `max_bytes` of data (a
    /// cluster may go past it) or the scan has covered `max_span` bytes of guest space.
    /// Returns the runs and the guest offset where the next scan starts (the virtual size
    /// at the end). Unallocated L2 tables are skipped whole, so an importer walks a sparse
    /// image in few steps; each step is bounded, also in the L2 tables it reads (at most
    /// 64 of them and 4 MiB).
    pub fn allocated_from(&mut self, from: u64, max_bytes: u64, max_span: u64) -> Result<(Vec<(u64, u64)>, u64), Qcow2Error> {
        let cs = self.cluster_size();
        let size = self.header.virtual_size;
        let l2_bits = self.header.cluster_bits - 3;
        let per_l2 = 1u64 << l2_bits;
        let clusters = self.guest_clusters();
        let span_end = from.saturating_add(max_span.max(cs)).min(size);
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut data = 0u64;
        let mut c = from / cs;
        let mut tables = 0u64;
        let mut last_table = u64::MAX;
        while c < clusters && c * cs < span_end && data < max_bytes {
            let l1_index = (c >> l2_bits) as usize;
            let l2_offset = self.l1.get(l1_index).copied().unwrap_or(0) & OFFSET_MASK;
            if l2_offset == 0 {
                c = (c / per_l2 + 1) * per_l2;
                continue;
            }
            if l2_offset != last_table {
                if tables > 0 && (tables >= 64 || (tables + 1) * cs > 4 << 20) {
                    break;
                }
                tables += 1;
                last_table = l2_offset;
            }
            let slot = self.l2_table(l2_offset)?;
            let entry = self.l2_cache[slot].table[(c & (per_l2 - 1)) as usize];
            let start = c * cs;
            let end = (start + cs).min(size);
            match self.classify(entry)? {
                Mapping::Zero => {}
                mapping => {
                    if let Mapping::Data(host) = mapping {
                        check_in_file("a data cluster", host, end - start, self.file_size)?;
                    }
                    data += end - start;
                    match runs.last_mut() {
                        Some((s, l)) if *s + *l == start => *l += end - start,
                        _ => runs.push((start, end - start)),
                    }
                }
            }
            c += 1;
        }
        Ok((runs, (c * cs).min(size)))
    }

    /// The allocated data ranges `(guest_offset, len)` in guest order, merged, so an importer
    /// can skip holes and zero clusters. Fails with [`Qcow2Error::TooLarge`] past 2 Mi separate
    /// ranges (use [`Qcow2Reader::visit_allocated`] for such images).
    pub fn allocated_ranges(&mut self) -> Result<Vec<(u64, u64)>, Qcow2Error> {
        let mut ranges = Vec::new();
        self.visit_allocated(|s, l| {
            if ranges.len() >= MAX_RANGES {
                return Err(Qcow2Error::TooLarge(format!("more than {MAX_RANGES} separate allocated ranges")));
            }
            ranges.push((s, l));
            Ok(())
        })?;
        Ok(ranges)
    }
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

/// Plans and produces a qcow2 v3 image (64 KiB clusters, 16-bit refcounts) front to back; see
/// the module doc.
///
/// Layout, in clusters: header, refcount table, refcount blocks, L1 table, L2 tables (one per
/// 512 MiB of guest space holding data), then the data clusters in the given order.
#[derive(Debug, Clone)]
pub struct Qcow2Writer {
    virtual_size: u64,
    clusters: Vec<u64>,
    l1_size: u64,
    reftable_clusters: u64,
    refblocks: u64,
    l1_clusters: u64,
    /// L1 indexes that have an L2 table, ascending.
    l2_tables: Vec<u64>,
    total_clusters: u64,
}

const W_CS: u64 = WRITER_CLUSTER_SIZE;
const W_L2_ENTRIES: u64 = W_CS / 8;
/// 16-bit refcounts: entries per refcount block.
const W_REFS_PER_BLOCK: u64 = W_CS / 2;

impl Qcow2Writer {
    /// Plans an image of `virtual_size` bytes (rounded up to a multiple of 512, as qemu
    /// requires) holding the given guest clusters (64 KiB cluster indexes, strictly ascending,
    /// each below `ceil(virtual_size / 65536)`).
    ///
    /// # Panics
    /// If the inputs break those rules or the size is over 64 TiB; see [`Qcow2Writer::try_plan`].
    pub fn plan(virtual_size: u64, allocated_clusters: &[u64]) -> Self {
        match Self::try_plan(virtual_size, allocated_clusters) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Qcow2Writer::plan`] that reports bad inputs as [`Qcow2Error::InvalidPlan`].
    pub fn try_plan(virtual_size: u64, allocated_clusters: &[u64]) -> Result<Self, Qcow2Error> {
        if virtual_size > MAX_VIRTUAL_SIZE {
            return Err(Qcow2Error::InvalidPlan(format!("virtual size {virtual_size} is over the 64 TiB limit")));
        }
        let virtual_size = virtual_size.next_multiple_of(512);
        let guest_clusters = virtual_size.div_ceil(W_CS);
        let mut l2_tables = Vec::new();
        for (i, &c) in allocated_clusters.iter().enumerate() {
            if c >= guest_clusters {
                return Err(Qcow2Error::InvalidPlan(format!("cluster {c} is past the end of a {virtual_size}-byte disk")));
            }
            if i > 0 && allocated_clusters[i - 1] >= c {
                return Err(Qcow2Error::InvalidPlan(format!("clusters must be strictly ascending ({} then {c})", allocated_clusters[i - 1])));
            }
            let l1_index = c / W_L2_ENTRIES;
            if l2_tables.last() != Some(&l1_index) {
                l2_tables.push(l1_index);
            }
        }
        let l1_size = virtual_size.div_ceil(W_CS * W_L2_ENTRIES);
        let l1_clusters = (l1_size * 8).div_ceil(W_CS);
        let fixed = 1 + l1_clusters + l2_tables.len() as u64 + allocated_clusters.len() as u64;
        let (mut reftable_clusters, mut refblocks) = (1u64, 1u64);
        loop {
            let total = fixed + reftable_clusters + refblocks;
            let rb = total.div_ceil(W_REFS_PER_BLOCK);
            let rt = (rb * 8).div_ceil(W_CS);
            if rb == refblocks && rt == reftable_clusters {
                break;
            }
            // Both only grow, so this terminates.
            refblocks = rb.max(refblocks);
            reftable_clusters = rt.max(reftable_clusters);
        }
        let total_clusters = fixed + reftable_clusters + refblocks;
        Ok(Qcow2Writer { virtual_size, clusters: allocated_clusters.to_vec(), l1_size, reftable_clusters, refblocks, l1_clusters, l2_tables, total_clusters })
    }

    /// The image's virtual size (the planned size rounded up to 512).
    pub fn virtual_size(&self) -> u64 {
        self.virtual_size
    }

    /// The image file's total size in bytes.
    pub fn total_size(&self) -> u64 {
        self.total_clusters * W_CS
    }

    /// Length of [`Qcow2Writer::metadata`]: where the first data cluster goes.
    pub fn metadata_len(&self) -> u64 {
        self.l2_offset_at(self.l2_tables.len())
    }

    fn reftable_offset(&self) -> u64 {
        W_CS
    }
    fn refblocks_offset(&self) -> u64 {
        self.reftable_offset() + self.reftable_clusters * W_CS
    }
    fn l1_offset(&self) -> u64 {
        self.refblocks_offset() + self.refblocks * W_CS
    }
    /// Offset of the `i`-th L2 table (in `l2_tables` order).
    fn l2_offset_at(&self, i: usize) -> u64 {
        self.l1_offset() + (self.l1_clusters + i as u64) * W_CS
    }

    /// File offset of data cluster `i` (the `i`-th of the planned clusters).
    pub fn data_offset(&self, i: usize) -> u64 {
        self.metadata_len() + i as u64 * W_CS
    }

    /// The image's bytes from the start up to the first data cluster: header, refcount table,
    /// refcount blocks, L1 table and L2 tables.
    pub fn metadata(&self) -> Vec<u8> {
        let mut m = vec![0u8; self.metadata_len() as usize];
        let put32 = |m: &mut [u8], at: u64, v: u32| m[at as usize..at as usize + 4].copy_from_slice(&v.to_be_bytes());
        let put64 = |m: &mut [u8], at: u64, v: u64| m[at as usize..at as usize + 8].copy_from_slice(&v.to_be_bytes());
        // Header (v3, 104 bytes); the zero bytes after it are the end-of-extensions marker.
        put32(&mut m, 0, QCOW2_MAGIC);
        put32(&mut m, 4, 3);
        put32(&mut m, 20, WRITER_CLUSTER_BITS);
        put64(&mut m, 24, self.virtual_size);
        put32(&mut m, 36, self.l1_size as u32);
        put64(&mut m, 40, if self.l1_size > 0 { self.l1_offset() } else { 0 });
        put64(&mut m, 48, self.reftable_offset());
        put32(&mut m, 56, self.reftable_clusters as u32);
        put32(&mut m, 96, 4);
        put32(&mut m, 100, V3_HEADER_LEN as u32);
        // Refcount table and blocks: every cluster of the file is used once.
        for b in 0..self.refblocks {
            put64(&mut m, self.reftable_offset() + b * 8, self.refblocks_offset() + b * W_CS);
        }
        let rb = self.refblocks_offset() as usize;
        for entry in m[rb..rb + self.total_clusters as usize * 2].chunks_exact_mut(2) {
            entry.copy_from_slice(&1u16.to_be_bytes());
        }
        // L1 table.
        for (i, &l1_index) in self.l2_tables.iter().enumerate() {
            put64(&mut m, self.l1_offset() + l1_index * 8, self.l2_offset_at(i) | FLAG_COPIED);
        }
        // L2 tables.
        let mut table = 0usize;
        for (i, &c) in self.clusters.iter().enumerate() {
            let l1_index = c / W_L2_ENTRIES;
            while self.l2_tables[table] != l1_index {
                table += 1;
            }
            let at = self.l2_offset_at(table) + (c % W_L2_ENTRIES) * 8;
            put64(&mut m, at, self.data_offset(i) | FLAG_COPIED);
        }
        m
    }

    /// Writes the whole image to `w`, front to back: the metadata, then each data cluster,
    /// filled by `fill(i, guest_cluster, buf)` into a zeroed 64 KiB buffer.
    pub fn write_to<W: io::Write>(&self, w: &mut W, mut fill: impl FnMut(usize, u64, &mut [u8]) -> io::Result<()>) -> io::Result<()> {
        w.write_all(&self.metadata())?;
        let mut buf = vec![0u8; W_CS as usize];
        for (i, &c) in self.clusters.iter().enumerate() {
            buf.fill(0);
            fill(i, c, &mut buf)?;
            w.write_all(&buf)?;
        }
        Ok(())
    }
}
