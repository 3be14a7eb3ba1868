//! Raw image files: the guest's sectors, byte for byte, in a host file
//! (or a host block device).

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::{Path, PathBuf};

use super::{BlockBackend, BlockError, OpenError, check_range, lock_image};

/// A raw image file.
///
/// Reads and writes are positioned (`pread`/`pwrite`), so there is no
/// file cursor to keep in step. A write is in the host's page cache when
/// `write_at` returns: another process (or the next boot) sees it even if
/// the VMM dies right after. `flush` adds `fdatasync`, for host crashes.
#[derive(Debug)]
pub struct RawFile {
    file: File,
    path: PathBuf,
    size: u64,
    read_only: bool,
}

impl RawFile {
    /// Open `path`; `read_only` opens it without write access. The file is
    /// locked (shared when read-only, exclusive otherwise) for as long as
    /// it stays open.
    pub fn open(path: &Path, read_only: bool) -> Result<Self, OpenError> {
        let file = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .open(path)
            .map_err(|e| OpenError::io(path, e))?;
        let meta = file.metadata().map_err(|e| OpenError::io(path, e))?;
        if meta.is_dir() {
            return Err(OpenError::Io {
                path: path.to_owned(),
                source: std::io::Error::other("is a directory"),
            });
        }
        lock_image(&file, path, read_only)?;
        // A block device's metadata says 0 bytes; its end says the size.
        let size = if meta.file_type().is_block_device() {
            (&file).seek(SeekFrom::End(0)).map_err(|e| OpenError::io(path, e))?
        } else {
            meta.len()
        };
        Ok(Self {
            file,
            path: path.to_owned(),
            size,
            read_only,
        })
    }

    /// The file this image was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl BlockBackend for RawFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(offset, buf.len(), self.size)?;
        self.file.read_exact_at(buf, offset)?;
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_range(offset, data.len(), self.size)?;
        self.file.write_all_at(data, offset)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        if !self.read_only {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::tests::TempPath;
    use std::io::Read;

    #[test]
    fn writes_reach_the_file_and_flush_syncs() {
        let path = TempPath::new("raw-rw.img");
        std::fs::write(&path.0, vec![0u8; 8192]).unwrap();
        let mut img = RawFile::open(&path.0, false).unwrap();
        assert_eq!(img.size(), 8192);
        img.write_at(512, b"hello, disk").unwrap();
        img.flush().unwrap();
        // A separate handle (as the next boot would open) sees the data.
        let mut other = std::fs::File::open(&path.0).unwrap();
        let mut all = Vec::new();
        other.read_to_end(&mut all).unwrap();
        assert_eq!(&all[512..523], b"hello, disk");
        let mut back = [0u8; 11];
        img.read_at(512, &mut back).unwrap();
        assert_eq!(&back, b"hello, disk");
        assert!(matches!(img.write_at(8190, &[0; 4]), Err(BlockError::OutOfRange { .. })));
    }

    #[test]
    fn read_only_refuses_writes_and_locks_are_enforced() {
        let path = TempPath::new("raw-ro.img");
        std::fs::write(&path.0, vec![7u8; 1024]).unwrap();
        let mut ro = RawFile::open(&path.0, true).unwrap();
        assert!(matches!(ro.write_at(0, &[1]), Err(BlockError::ReadOnly)));
        // Readers share; a writer is refused while a reader holds it.
        let ro2 = RawFile::open(&path.0, true).unwrap();
        let err = RawFile::open(&path.0, false).unwrap_err();
        assert!(matches!(err, OpenError::Locked { .. }), "{err}");
        drop((ro, ro2));
        let rw = RawFile::open(&path.0, false).unwrap();
        assert!(matches!(RawFile::open(&path.0, true), Err(OpenError::Locked { .. })));
        drop(rw);
    }
}
