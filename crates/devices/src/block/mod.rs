//! Disk image backends: where the bytes of an emulated disk or CD live.
//!
//! A [`BlockBackend`] is a byte-addressed image of fixed size: the storage
//! devices ([`crate::ide`]) translate sector numbers into byte offsets and
//! never reach past [`BlockBackend::size`]. Three implementations:
//!
//! - [`RawFile`]: a plain file, read and written in place. Writes go to
//!   the host page cache at once, so they survive the VMM exiting or being
//!   killed; [`BlockBackend::flush`] (which the guest's FLUSH CACHE reaches)
//!   calls `sync_data` so they also survive a host crash.
//! - [`Qcow2Image`]: a qcow2 v2/v3 image through the `imago` crate (built
//!   in its fully synchronous mode, no async runtime). imago caches
//!   metadata (L2 and refcount tables) in memory; `flush` writes it back
//!   and syncs, and dropping the image flushes too, so the machine must
//!   drop (or flush) its disks before exiting.
//! - [`MemBackend`]: bytes in memory, for tests and generated media.
//!
//! [`open_image`] picks the format from the file's first bytes (or takes
//! it from the caller), takes an advisory lock so two VMMs cannot write one
//! image, and reports what went wrong in words ([`OpenError`]). Guest
//! accesses never panic: an access the backend cannot serve is a
//! [`BlockError`], which the device turns into an error status for the
//! guest.

mod qcow2;
mod raw;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use qcow2::Qcow2Image;
pub use raw::RawFile;

/// Bytes per ATA sector.
pub const SECTOR_SIZE: u64 = 512;

/// A fixed-size image addressed in bytes.
///
/// Callers keep `offset + len <= size()`; an access outside is refused
/// with [`BlockError::OutOfRange`], never served short.
pub trait BlockBackend: Send + fmt::Debug {
    /// Size of the image in bytes (fixed while the image is open).
    fn size(&self) -> u64;
    /// Whether writes are refused.
    fn is_read_only(&self) -> bool;
    /// Fill `buf` from the image at byte `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Write `data` to the image at byte `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError>;
    /// Make every completed write durable on the host's storage.
    fn flush(&mut self) -> Result<(), BlockError>;
}

/// Why a guest access to an image failed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("write to a read-only image")]
    ReadOnly,
    #[error("access of {len} bytes at offset {offset} is outside the image ({size} bytes)")]
    OutOfRange { offset: u64, len: usize, size: u64 },
    #[error("host I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Check that `len` bytes at `offset` lie inside an image of `size` bytes.
pub(crate) fn check_range(offset: u64, len: usize, size: u64) -> Result<(), BlockError> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => Err(BlockError::OutOfRange { offset, len, size }),
    }
}

/// Image file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// The guest's bytes, one to one.
    Raw,
    /// QEMU copy-on-write v2 or v3.
    Qcow2,
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Raw => "raw",
            Self::Qcow2 => "qcow2",
        })
    }
}

impl std::str::FromStr for ImageFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "raw" => Ok(Self::Raw),
            "qcow2" => Ok(Self::Qcow2),
            other => Err(format!("unknown image format {other:?} (raw, qcow2)")),
        }
    }
}

/// Why an image could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("disk image {}: no such file", path.display())]
    NotFound { path: PathBuf },
    #[error("disk image {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("disk image {} is in use by another process (locked)", path.display())]
    Locked { path: PathBuf },
    #[error("disk image {} is a {format} image; only raw and qcow2 are supported", path.display())]
    UnsupportedFormat { path: PathBuf, format: &'static str },
    #[error("disk image {} is not a valid {format} image: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        format: ImageFormat,
        reason: String,
    },
}

impl OpenError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Self::NotFound { path: path.to_owned() }
        } else {
            Self::Io {
                path: path.to_owned(),
                source,
            }
        }
    }
}

/// The qcow2 magic, "QFI\xfb".
const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";

/// Formats we recognise but do not support, by their magic at offset 0:
/// refusing them beats handing a guest the container's bytes as a disk
/// (and letting it write over them).
const FOREIGN_MAGICS: &[(&[u8], &str)] = &[
    (b"KDMV", "VMDK"),
    (b"# Disk DescriptorFile", "VMDK descriptor"),
    (b"conectix", "VHD"),
    (b"vhdxfile", "VHDX"),
    (b"QED\0", "QED"),
    // VDI's text header; its binary signature follows at 0x40.
    (b"<<< ", "VDI"),
    (b"LUKS\xba\xbe", "LUKS"),
];

/// What the first bytes of the image at `path` say it is. Files that
/// match no known magic are raw (a raw image can hold anything).
pub fn detect_format(path: &Path) -> Result<ImageFormat, OpenError> {
    let mut file = std::fs::File::open(path).map_err(|e| OpenError::io(path, e))?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(OpenError::io(path, e)),
        }
    }
    let head = &head[..got];
    if head.starts_with(QCOW2_MAGIC) {
        let version = head.get(4..8).map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
        return match version {
            Some(2 | 3) => Ok(ImageFormat::Qcow2),
            Some(1) => Err(OpenError::UnsupportedFormat {
                path: path.to_owned(),
                format: "qcow (v1)",
            }),
            _ => Err(OpenError::Corrupt {
                path: path.to_owned(),
                format: ImageFormat::Qcow2,
                reason: format!("unknown qcow2 version {version:?}"),
            }),
        };
    }
    for (magic, name) in FOREIGN_MAGICS {
        if head.starts_with(magic) {
            return Err(OpenError::UnsupportedFormat {
                path: path.to_owned(),
                format: name,
            });
        }
    }
    Ok(ImageFormat::Raw)
}

/// Open the image at `path`, detecting its format unless `format` names
/// it. `read_only` opens it without write access (and with a shared lock,
/// so several VMs may share a read-only image).
pub fn open_image(path: &Path, format: Option<ImageFormat>, read_only: bool) -> Result<Box<dyn BlockBackend>, OpenError> {
    let format = match format {
        Some(f) => f,
        None => detect_format(path)?,
    };
    Ok(match format {
        ImageFormat::Raw => Box::new(RawFile::open(path, read_only)?),
        ImageFormat::Qcow2 => Box::new(Qcow2Image::open(path, read_only)?),
    })
}

/// Take an advisory lock on `file`: exclusive for writers, shared for
/// readers, failing at once (not waiting) when another process holds a
/// conflicting one.
pub(crate) fn lock_image(file: &std::fs::File, path: &Path, read_only: bool) -> Result<(), OpenError> {
    let result = if read_only { file.try_lock_shared() } else { file.try_lock() };
    match result {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::Locked { path: path.to_owned() }),
        Err(std::fs::TryLockError::Error(e)) => Err(OpenError::io(path, e)),
    }
}

/// An image held in memory: for tests, and for media the machine builds
/// itself. Nothing is durable; `flush` succeeds at once.
#[derive(Clone)]
pub struct MemBackend {
    data: Vec<u8>,
    read_only: bool,
    /// How often `flush` was called (tests check that FLUSH CACHE arrives).
    pub flushes: u64,
}

impl fmt::Debug for MemBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemBackend")
            .field("size", &self.data.len())
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl MemBackend {
    pub fn new(data: Vec<u8>, read_only: bool) -> Self {
        Self {
            data,
            read_only,
            flushes: 0,
        }
    }

    /// The image's bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl BlockBackend for MemBackend {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(offset, buf.len(), self.size())?;
        let start = offset as usize;
        buf.copy_from_slice(&self.data[start..start + buf.len()]);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_range(offset, data.len(), self.size())?;
        let start = offset as usize;
        self.data[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.flushes += 1;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A file path in the system temp directory, unique to this process
    /// and call, removed when dropped.
    pub struct TempPath(pub PathBuf);

    impl TempPath {
        pub fn new(tag: &str) -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let name = format!("ringvisor-{}-{}-{}", std::process::id(), n, tag);
            Self(std::env::temp_dir().join(name))
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn mem_backend_bounds_and_read_only() {
        let mut m = MemBackend::new(vec![0; 1024], false);
        m.write_at(1020, &[1, 2, 3, 4]).unwrap();
        let mut b = [0; 4];
        m.read_at(1020, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        assert!(matches!(m.write_at(1021, &[0; 4]), Err(BlockError::OutOfRange { .. })));
        assert!(matches!(m.read_at(u64::MAX, &mut b), Err(BlockError::OutOfRange { .. })));
        let mut ro = MemBackend::new(vec![0; 512], true);
        assert!(matches!(ro.write_at(0, &[1]), Err(BlockError::ReadOnly)));
    }

    #[test]
    fn detect_formats_and_open_errors() {
        let missing = TempPath::new("missing.img");
        let err = open_image(&missing.0, None, false).unwrap_err();
        assert!(matches!(err, OpenError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("no such file"));

        let vmdk = TempPath::new("x.vmdk");
        std::fs::write(&vmdk.0, b"KDMV\x01\x00\x00\x00").unwrap();
        let err = open_image(&vmdk.0, None, false).unwrap_err();
        assert!(matches!(err, OpenError::UnsupportedFormat { format: "VMDK", .. }));

        let bad = TempPath::new("bad.qcow2");
        std::fs::write(&bad.0, b"QFI\xfb\x00\x00\x00\x07").unwrap();
        let err = open_image(&bad.0, None, false).unwrap_err();
        assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");

        // A truncated qcow2 header (right magic and version, nothing else).
        let short = TempPath::new("short.qcow2");
        std::fs::write(&short.0, b"QFI\xfb\x00\x00\x00\x03").unwrap();
        let err = open_image(&short.0, None, false).unwrap_err();
        assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");

        let raw = TempPath::new("raw.img");
        std::fs::write(&raw.0, vec![0u8; 4096]).unwrap();
        assert_eq!(detect_format(&raw.0).unwrap(), ImageFormat::Raw);
        let img = open_image(&raw.0, None, true).unwrap();
        assert_eq!(img.size(), 4096);
        assert!(img.is_read_only());
        assert_eq!("qcow2".parse::<ImageFormat>(), Ok(ImageFormat::Qcow2));
        assert!("vdi".parse::<ImageFormat>().is_err());
    }
}
