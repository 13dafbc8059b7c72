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
//!
//! A direct write returns only when the device has the bytes, so each file
//! has a thread that writes its full blocks while the next is filled, and
//! the bytes go into a block with stores that bypass the cache (the device
//! reads the block next, not the processor).

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};

/// File offsets, lengths and buffer addresses of direct writes are
/// multiples of this (a page: at least any device's logical block).
const ALIGN: usize = 4096;
/// Bytes gathered before each write.
const BLOCK: usize = 8 << 20;
/// Blocks a file has at most: one being filled, one waiting for the
/// file's writer thread and one it is writing.
const BLOCKS: usize = 3;

/// A new, private file written in large aligned blocks (see the module doc),
/// each by a thread of the file's own while the next is filled: a direct
/// write returns only when the device has the bytes.
pub struct LargeFile {
    block: Block,
    filled: usize,
    blocks_made: usize,
    /// Full blocks (and how much of each to write) to the writer thread.
    full: Option<SyncSender<(Block, usize)>>,
    /// Blocks the writer thread is done with, to fill again.
    empty: Receiver<Block>,
    writer: Option<std::thread::JoinHandle<std::io::Result<Sink>>>,
}

/// `BLOCK + ALIGN` bytes, of which the aligned `BLOCK` at `start` are used.
struct Block {
    bytes: Vec<u8>,
    start: usize,
}

impl Block {
    fn new() -> Block {
        let bytes = vec![0u8; BLOCK + ALIGN];
        let start = bytes.as_ptr().align_offset(ALIGN);
        Block { bytes, start }
    }

    fn part(&mut self, range: std::ops::Range<usize>) -> &mut [u8] {
        &mut self.bytes[self.start + range.start..self.start + range.end]
    }
}

/// The writer thread's side: the file, and how far it is written.
struct Sink {
    path: PathBuf,
    file: File,
    direct: bool,
    written: u64,
}

impl Sink {
    fn write(&mut self, gathered: &[u8]) -> std::io::Result<()> {
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
        self.written += gathered.len() as u64;
        Ok(())
    }
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
        let mut sink = Sink { path: path.to_path_buf(), file, direct, written: 0 };
        let (full, to_write) = std::sync::mpsc::sync_channel::<(Block, usize)>(1);
        let (written, empty) = std::sync::mpsc::channel();
        let writer = std::thread::Builder::new().name("yjaudit-writer".into()).spawn(move || {
            for (mut block, length) in to_write {
                sink.write(block.part(0..length))?;
                // The file's side may be gone (an error of its own): nothing to reuse.
                let _ = written.send(block);
            }
            Ok(sink)
        })?;
        Ok(LargeFile { block: Block::new(), filled: 0, blocks_made: 1, full: Some(full), empty, writer: Some(writer) })
    }

    /// Writes what is gathered: the last part block padded to a whole one
    /// (as a direct write must be), the file then cut back to its true length.
    pub fn finish(mut self) -> std::io::Result<()> {
        let padded = self.filled.next_multiple_of(ALIGN);
        self.block.part(self.filled..padded).fill(0);
        let padding = (padded - self.filled) as u64;
        let last = std::mem::replace(&mut self.block, Block { bytes: Vec::new(), start: 0 });
        let sent = self.full.take().map(|full| full.send((last, padded)));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.writer_error());
        }
        let sink = self.writer.take().expect("finished once").join().expect("the writer thread does not panic")?;
        if padding > 0 {
            sink.file.set_len(sink.written - padding)?;
        }
        Ok(())
    }

    /// Sends the full block to the writer thread and takes an empty one.
    fn send_full(&mut self) -> std::io::Result<()> {
        let next = match self.empty.try_recv() {
            Ok(block) => block,
            Err(_) if self.blocks_made < BLOCKS => {
                self.blocks_made += 1;
                Block::new()
            }
            Err(_) => match self.empty.recv() {
                Ok(block) => block,
                Err(_) => return Err(self.writer_error()),
            },
        };
        let full = std::mem::replace(&mut self.block, next);
        let sent = self.full.as_ref().map(|full_blocks| full_blocks.send((full, BLOCK)));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.writer_error());
        }
        self.filled = 0;
        Ok(())
    }

    /// Why the writer thread stopped (it stops only on an error).
    fn writer_error(&mut self) -> std::io::Error {
        self.full = None;
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(Err(e))) => e,
            _ => std::io::Error::other("the findings file's writer stopped"),
        }
    }
}

impl Write for LargeFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.filled == BLOCK {
            self.send_full()?;
        }
        let n = bytes.len().min(BLOCK - self.filled);
        copy_past_the_cache(self.block.part(self.filled..self.filled + n), &bytes[..n]);
        self.filled += n;
        Ok(n)
    }

    /// Nothing is written until a block is full or [`LargeFile::finish`]:
    /// a direct write must be whole blocks.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Copies `from` into `to` (of the same length) as `copy_from_slice` does,
/// but, where the processor allows, with stores that go to memory without
/// first bringing `to` into the cache: a block is read next by the device,
/// not the processor, and a national run copies 12 GB into blocks, which
/// would otherwise each be read from memory before being written, and push
/// the rows being rendered out of the cache.
fn copy_past_the_cache(to: &mut [u8], from: &[u8]) {
    assert_eq!(to.len(), from.len(), "copied whole");
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
        const LINE: usize = 64;
        let head = to.as_ptr().align_offset(LINE).min(to.len());
        let lines = (to.len() - head) / LINE;
        if lines >= 16 {
            to[..head].copy_from_slice(&from[..head]);
            let done = head + lines * LINE;
            // SAFETY: SSE2 is part of x86_64. Every load reads within
            // from[head..done] (unaligned loads), every store writes within
            // to[head..done] at an address that is a multiple of 64 (so of
            // 16, as streaming stores need) plus 0, 16, 32 or 48. The fence
            // orders the streaming stores before anything this thread does
            // next (such as handing the block to the writer thread).
            unsafe {
                let source = from.as_ptr().add(head).cast::<__m128i>();
                let target = to.as_mut_ptr().add(head).cast::<__m128i>();
                for i in 0..lines * 4 {
                    _mm_stream_si128(target.add(i), _mm_loadu_si128(source.add(i)));
                }
                _mm_sfence();
            }
            to[done..].copy_from_slice(&from[done..]);
            return;
        }
    }
    to.copy_from_slice(from);
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

    /// Every alignment of the block and of the bytes, and lengths on both
    /// sides of where streaming stores start to be used.
    #[test]
    fn copies_past_the_cache_are_exact() {
        let from: Vec<u8> = (0..3000u32).map(|i| (i * 13 % 251) as u8).collect();
        let mut to = vec![0u8; 3100];
        for to_start in 0..70 {
            for from_start in [0, 1, 15, 16, 63] {
                for length in [0, 1, 63, 64, 16 * 64 - 1, 16 * 64, 17 * 64 + 5, 2900] {
                    to.fill(0xAA);
                    let source = &from[from_start..from_start + length];
                    super::copy_past_the_cache(&mut to[to_start..to_start + length], source);
                    assert_eq!(&to[to_start..to_start + length], source, "at {to_start}, from {from_start}, {length} bytes");
                    assert!(to[..to_start].iter().chain(&to[to_start + length..]).all(|&b| b == 0xAA), "nothing else written");
                }
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
