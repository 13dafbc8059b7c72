//! Writing the findings files past the page cache.
//!
//! A national run writes 12 GB of findings. Written the ordinary way, every
//! byte is copied into freshly allocated page-cache pages, and on a virtual
//! machine a page the guest has not touched lately is expensive to hand out:
//! on the benchmark machine `dd` writes a new 2 GB file in 3.3 s of system
//! time, but 0.15 s with `O_DIRECT`, which hands the device the process's
//! own buffer. So large files are written in aligned blocks with `O_DIRECT`
//! where the system and file system allow it (Linux; not tmpfs), and the
//! ordinary way everywhere else. The bytes are the same either way.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// File offsets, lengths and buffer addresses of direct writes are
/// multiples of this (a page: at least any device's logical block).
const ALIGN: usize = 4096;
/// Bytes gathered before each write.
const BLOCK: usize = 8 << 20;

/// A new, private file written in large aligned blocks (see the module doc).
pub struct LargeFile {
    path: PathBuf,
    file: File,
    direct: bool,
    /// `BLOCK + ALIGN` bytes, of which the aligned `BLOCK` at `start` are used.
    buffer: Vec<u8>,
    start: usize,
    filled: usize,
    written: u64,
}

impl LargeFile {
    /// Creates `path` (it must not exist), readable by its owner only.
    pub fn create(path: &Path) -> std::io::Result<LargeFile> {
        LargeFile::create_trying(path, true)
    }

    fn create_trying(path: &Path, try_direct: bool) -> std::io::Result<LargeFile> {
        let file = open(path, true, false)?;
        // Opened again for direct writes, where the file system allows it.
        let file = match try_direct.then(|| open(path, false, true)) {
            Some(Ok(direct)) if is_direct(&direct) => direct,
            _ => file,
        };
        let direct = is_direct(&file);
        let buffer = vec![0u8; BLOCK + ALIGN];
        let start = buffer.as_ptr().align_offset(ALIGN);
        Ok(LargeFile { path: path.to_path_buf(), file, direct, buffer, start, filled: 0, written: 0 })
    }

    /// Writes what is gathered: whole blocks directly, the last part block
    /// padded and then cut back to the true length.
    pub fn finish(mut self) -> std::io::Result<()> {
        let length = self.written + self.filled as u64;
        if self.direct && self.filled % ALIGN != 0 {
            let padded = self.filled.next_multiple_of(ALIGN);
            self.buffer[self.start + self.filled..self.start + padded].fill(0);
            self.filled = padded;
        }
        self.write_gathered()?;
        if self.written != length {
            self.file.set_len(length)?;
        }
        Ok(())
    }

    fn write_gathered(&mut self) -> std::io::Result<()> {
        let gathered = &self.buffer[self.start..self.start + self.filled];
        match self.file.write_all(gathered) {
            // Some file systems refuse direct writes only when they happen:
            // the same bytes again, the ordinary way, from where this left off.
            Err(e) if self.direct && e.kind() == std::io::ErrorKind::InvalidInput => {
                let mut file = open(&self.path, false, false)?;
                file.seek(SeekFrom::Start(self.written))?;
                file.write_all(gathered)?;
                self.file = file;
                self.direct = false;
            }
            result => result?,
        }
        self.written += self.filled as u64;
        self.filled = 0;
        Ok(())
    }
}

impl Write for LargeFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.filled == BLOCK {
            self.write_gathered()?;
        }
        let n = bytes.len().min(BLOCK - self.filled);
        self.buffer[self.start + self.filled..self.start + self.filled + n].copy_from_slice(&bytes[..n]);
        self.filled += n;
        Ok(n)
    }

    /// Nothing is written until [`LargeFile::finish`]: a direct write must
    /// be whole blocks.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn open(path: &Path, new: bool, direct: bool) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if new {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    #[cfg(target_os = "linux")]
    if direct {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_DIRECT);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = direct;
    options.open(path)
}

#[cfg(target_os = "linux")]
fn is_direct(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETFL reads the flags of a descriptor this process owns.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    flags != -1 && flags & libc::O_DIRECT != 0
}

#[cfg(not(target_os = "linux"))]
fn is_direct(_: &File) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::{ALIGN, BLOCK, LargeFile};
    use std::io::Write;

    /// Direct where the test's file system allows it, and the ordinary way.
    #[test]
    fn every_length_is_written_exactly_and_privately() {
        let dir = tempfile::tempdir().unwrap();
        let lengths = [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 12_345];
        for (n, (length, try_direct)) in lengths.into_iter().flat_map(|l| [(l, true), (l, false)]).enumerate() {
            let path = dir.path().join(format!("file{n}"));
            let bytes: Vec<u8> = (0..length).map(|i| (i * 7 % 251) as u8).collect();
            let mut file = LargeFile::create_trying(&path, try_direct).unwrap();
            // In uneven pieces, as the rendered chunks come.
            for piece in bytes.chunks(100_003) {
                file.write_all(piece).unwrap();
            }
            file.finish().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "length {length}");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            }
        }
    }

    #[test]
    fn an_existing_file_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("findings.csv");
        std::fs::write(&path, "kept").unwrap();
        assert!(LargeFile::create(&path).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept");
    }
}
