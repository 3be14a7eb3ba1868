//! qcow2 images through the `imago` crate.
//!
//! imago is built with its `sync` feature: every call is a plain blocking
//! function, no async runtime. It reads and writes qcow2 v2 and v3 as
//! `qemu-img create -f qcow2` makes them (and more: compressed clusters
//! for reading, backing files, external data files), allocating clusters
//! on first write. Backing files named in the image are opened read-only
//! next to it.

use std::path::{Path, PathBuf};

use imago::file::File as ImagoFile;
use imago::qcow2::Qcow2;
use imago::{FormatAccess, FormatDriverBuilder, PermissiveImplicitOpenGate};

use super::{BlockBackend, BlockError, ImageFormat, OpenError, check_range, lock_image};

/// An open qcow2 image.
///
/// Metadata updates stay in imago's caches until [`BlockBackend::flush`]
/// (the guest's FLUSH CACHE) or drop, which both write them back; flush
/// also syncs the file. A process killed between the two loses the writes
/// since the last flush but leaves a consistent image, since imago writes
/// data before the mapping that points at it.
pub struct Qcow2Image {
    access: FormatAccess<ImagoFile>,
    path: PathBuf,
    size: u64,
    read_only: bool,
    /// Holds the advisory lock for as long as the image is open.
    _lock: std::fs::File,
}

impl std::fmt::Debug for Qcow2Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qcow2Image")
            .field("path", &self.path)
            .field("size", &self.size)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Qcow2Image {
    /// Open the qcow2 image at `path`.
    pub fn open(path: &Path, read_only: bool) -> Result<Self, OpenError> {
        let lock = std::fs::File::open(path).map_err(|e| OpenError::io(path, e))?;
        lock_image(&lock, path, read_only)?;
        let driver = Qcow2::<ImagoFile>::builder_path(path)
            .write(!read_only)
            .open(PermissiveImplicitOpenGate::default())
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => OpenError::io(path, e),
                _ => OpenError::Corrupt {
                    path: path.to_owned(),
                    format: ImageFormat::Qcow2,
                    reason: e.to_string(),
                },
            })?;
        let access = FormatAccess::new(driver);
        let size = access.size();
        Ok(Self {
            access,
            path: path.to_owned(),
            size,
            read_only,
            _lock: lock,
        })
    }

    /// The file this image was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl BlockBackend for Qcow2Image {
    fn size(&self) -> u64 {
        self.size
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(offset, buf.len(), self.size)?;
        self.access.read(buf, offset)?;
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_range(offset, data.len(), self.size)?;
        self.access.write(data, offset)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        if !self.read_only {
            self.access.flush()?;
            self.access.sync()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::tests::TempPath;
    use crate::block::{ImageFormat, detect_format, open_image};
    use std::process::Command;

    /// Run `qemu-img`; `None` when it is not installed (the test then
    /// checks nothing rather than failing on a machine without it).
    fn qemu_img(args: &[&str]) -> Option<String> {
        let out = Command::new("qemu-img").args(args).output().ok()?;
        assert!(out.status.success(), "qemu-img {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    #[test]
    fn read_write_against_qemu_img() {
        for compat in ["1.1", "0.10"] {
            let img = TempPath::new("t.qcow2");
            let path = img.0.to_str().unwrap();
            let opt = format!("compat={compat}");
            if qemu_img(&["create", "-q", "-f", "qcow2", "-o", &opt, path, "8M"]).is_none() {
                eprintln!("qemu-img not installed; skipping");
                return;
            }
            assert_eq!(detect_format(&img.0).unwrap(), ImageFormat::Qcow2);
            {
                let mut q = open_image(&img.0, None, false).unwrap();
                assert_eq!(q.size(), 8 << 20);
                let mut buf = vec![0xAAu8; 4096];
                q.read_at(1 << 20, &mut buf).unwrap();
                assert!(buf.iter().all(|&b| b == 0), "unallocated reads as zero");
                // Unaligned, cluster-crossing write.
                let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + 3) as u8).collect();
                q.write_at(65_536 - 300, &data).unwrap();
                q.write_at((8 << 20) - 512, &[0x5A; 512]).unwrap();
                assert!(q.write_at(8 << 20, &[0]).is_err());
                q.flush().unwrap();
                let mut back = vec![0u8; data.len()];
                q.read_at(65_536 - 300, &mut back).unwrap();
                assert_eq!(back, data);
            }
            // qemu-img agrees the image is sound and sees the data.
            qemu_img(&["check", "-q", path]).unwrap();
            let raw = TempPath::new("t.raw");
            let rawp = raw.0.to_str().unwrap();
            qemu_img(&["convert", "-O", "raw", path, rawp]).unwrap();
            let bytes = std::fs::read(&raw.0).unwrap();
            assert_eq!(bytes.len(), 8 << 20);
            assert_eq!(bytes[65_536 - 300], 3);
            assert_eq!(bytes[65_536 - 299], 10);
            assert!(bytes[(8 << 20) - 512..].iter().all(|&b| b == 0x5A));
            // Reopened read-only: data there, writes refused.
            let mut q = open_image(&img.0, None, true).unwrap();
            let mut b = [0u8; 2];
            q.read_at(65_536 - 300, &mut b).unwrap();
            assert_eq!(b, [3, 10]);
            assert!(matches!(q.write_at(0, &[1]), Err(BlockError::ReadOnly)));
        }
    }

    #[test]
    fn reads_data_written_by_qemu_io_convert() {
        // A raw image with a pattern, converted to qcow2 by qemu-img.
        let raw = TempPath::new("src.raw");
        let pattern: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&raw.0, &pattern).unwrap();
        let img = TempPath::new("conv.qcow2");
        let converted = qemu_img(&[
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            raw.0.to_str().unwrap(),
            img.0.to_str().unwrap(),
        ]);
        if converted.is_none() {
            return;
        }
        let mut q = Qcow2Image::open(&img.0, true).unwrap();
        let mut back = vec![0u8; pattern.len()];
        q.read_at(0, &mut back).unwrap();
        assert_eq!(back, pattern);
    }
}
