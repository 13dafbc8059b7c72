//! Publishing a run's folder so that nobody ever sees half a report.
//!
//! A run takes the reports folder's lock (`.yjaudit.lock`, an OS file lock,
//! so a killed run never leaves a stale lock), writes everything into a
//! hidden temporary folder beside the target, and only then renames it into
//! place and moves the `latest` pointer. Files and folders are created
//! readable by the owner only.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("another yjaudit run holds the lock on {0}; wait for it to finish (the lock is released when that process ends)")]
    Locked(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "--out {path} already exists and is not a yjaudit report ({found}); a run replaces its output folder whole, so it never writes over anything else: choose a new or empty folder, or one an earlier run wrote"
    )]
    NotAReport { path: PathBuf, found: String },
}

/// What a report folder holds. An existing output folder is replaced whole,
/// so it must hold nothing else: never the extract, never a user's files.
const REPORT_ENTRIES: [&str; 9] =
    ["index.html", "findings.csv", "findings.json", "manifest.json", "rejected.csv", "changes.csv", "teams", "workers", "rules"];

/// Whether `out` may be replaced by a new report: absent, an empty folder,
/// or a folder holding only what a run writes.
pub fn check_replaceable(out: &Path) -> Result<(), PublishError> {
    let refuse = |found: String| Err(PublishError::NotAReport { path: out.to_path_buf(), found });
    let metadata = match fs::symlink_metadata(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(out)(e)),
        Ok(metadata) => metadata,
    };
    if metadata.file_type().is_symlink() {
        return refuse("it is a link; give the folder it points to".into());
    }
    if !metadata.is_dir() {
        return refuse("it is a file, not a folder".into());
    }
    for entry in fs::read_dir(out).map_err(io_error(out))? {
        let name = entry.map_err(io_error(out))?.file_name();
        if !REPORT_ENTRIES.iter().any(|known| name == *known) {
            return refuse(format!("it holds {}", crate::text::escape_value(&name.to_string_lossy())));
        }
    }
    Ok(())
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PublishError + '_ {
    move |source| PublishError::Io { path: path.to_path_buf(), source }
}

/// Creates a folder readable by the owner only.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Holds the reports folder's lock for as long as it lives.
pub struct Lock {
    _file: fs::File,
}

impl Lock {
    pub fn acquire(reports: &Path) -> Result<Lock, PublishError> {
        let path = reports.join(".yjaudit.lock");
        let mut options = fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(io_error(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(PublishError::Locked(reports.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => Err(io_error(&path)(e)),
        }
    }
}

/// The temporary folder being written, removed if the run is interrupted.
static BEING_WRITTEN: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

fn being_written(folder: Option<&Path>) {
    *BEING_WRITTEN.lock().unwrap_or_else(|e| e.into_inner()) = folder.map(Path::to_path_buf);
}

/// Makes an interrupted run (Ctrl-C, or SIGTERM from a scheduler's time
/// limit, or a hang-up) remove its half-written temporary folder before it
/// exits, so it leaves nothing but what contract section 7 allows; the
/// previous report is untouched either way. Call before any thread starts:
/// the signals are blocked in every thread and taken by one that waits for
/// them. (SIGKILL cannot be caught; the next run removes what it left.)
#[cfg(unix)]
pub fn clean_up_when_interrupted() {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use;
    // the calls only change this process's signal mask and wait on it.
    unsafe {
        let mut signals: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut signals);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut signals, signal);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &signals, std::ptr::null_mut()) != 0 {
            return;
        }
        std::thread::spawn(move || {
            let mut signal = 0;
            if libc::sigwait(&signals, &mut signal) == 0 {
                if let Some(folder) = BEING_WRITTEN.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    remove_while_written(&folder);
                }
                eprintln!("yjaudit: error: interrupted (signal {signal}); nothing was published, the previous report is as it was");
                std::process::exit(128 + signal);
            }
        });
    }
}

#[cfg(not(unix))]
pub fn clean_up_when_interrupted() {}

/// Removes a folder other threads may still be writing into. Removing it
/// where it stands races them: a page created after its folder was listed
/// leaves the folder not empty, and the removal fails. Renamed first, the
/// folder takes no new files (writers name their files by the old path);
/// only a creation already under way can land, so a few tries suffice. The
/// new name keeps the temporary prefix: whatever is left, the next run on
/// the reports folder removes.
#[cfg_attr(not(unix), allow(dead_code))]
fn remove_while_written(folder: &Path) {
    let mut doomed = folder.as_os_str().to_owned();
    doomed.push("-interrupted");
    let doomed = PathBuf::from(doomed);
    let folder = if fs::rename(folder, &doomed).is_ok() { doomed.as_path() } else { folder };
    for _ in 0..50 {
        match fs::remove_dir_all(folder) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => std::thread::sleep(std::time::Duration::from_millis(10)),
            _ => return,
        }
    }
}

/// Writes a run's output into `out` atomically: `write` fills a fresh
/// temporary folder; only if it succeeds does that folder replace `out`.
pub fn publish(out: &Path, write: impl FnOnce(&Path) -> io::Result<()>) -> Result<(), PublishError> {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&parent).map_err(io_error(&parent))?;
    let _lock = Lock::acquire(&parent)?;
    check_replaceable(out)?;
    remove_leftovers(&parent, &name);
    let temporary = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    // Named before it exists, so no interrupt finds it unnamed.
    being_written(Some(&temporary));
    if let Err(e) = builder.create(&temporary) {
        being_written(None);
        return Err(io_error(&temporary)(e));
    }
    if let Err(e) = write(&temporary) {
        being_written(None);
        let _ = fs::remove_dir_all(&temporary);
        return Err(io_error(out)(e));
    }
    if let Ok(test_hook) = std::env::var("YJAUDIT_TEST_FAIL_BEFORE_PUBLISH")
        && !test_hook.is_empty()
    {
        // Lets tests show that a run dying here leaves the old report intact.
        std::process::abort();
    }
    // Replacing an earlier report of the same name: swap the two folders in
    // one step where the system can, so no moment exists without a report.
    if out.exists() && exchange(&temporary, out) {
        // The temporary name now holds the report replaced: removing it,
        // now or on an interrupt, is the same.
        let _ = fs::remove_dir_all(&temporary);
        being_written(None);
        point_latest(&parent, &name);
        return Ok(());
    }
    // Renames from here on: an interrupt between them leaves the folders for
    // the next run to sort out, never a lost report.
    being_written(None);
    let previous = parent.join(format!(".{name}.old-{}", std::process::id()));
    let had_previous = out.exists();
    if had_previous {
        fs::rename(out, &previous).map_err(io_error(out))?;
    }
    if let Err(e) = fs::rename(&temporary, out) {
        if had_previous {
            let _ = fs::rename(&previous, out);
        }
        return Err(io_error(out)(e));
    }
    if had_previous {
        let _ = fs::remove_dir_all(&previous);
    }
    point_latest(&parent, &name);
    Ok(())
}

/// Atomically exchanges two paths (Linux renameat2 RENAME_EXCHANGE).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let (Ok(a), Ok(b)) = (std::ffi::CString::new(a.as_os_str().as_bytes()), std::ffi::CString::new(b.as_os_str().as_bytes())) else {
        return false;
    };
    // SAFETY: two valid NUL-terminated paths; the call only renames.
    unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> bool {
    false
}

/// Removes temporary and replaced folders left by killed runs (we hold the
/// lock, so no other run is writing them).
fn remove_leftovers(parent: &Path, name: &str) {
    let prefixes = [format!(".{name}.tmp-"), format!(".{name}.old-")];
    if let Ok(entries) = fs::read_dir(parent) {
        for entry in entries.flatten() {
            let entry_name = entry.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|p| entry_name.starts_with(p.as_str())) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Moves the `latest` symlink to the folder just published.
fn point_latest(parent: &Path, name: &str) {
    #[cfg(unix)]
    {
        let staged = parent.join(format!(".latest.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&staged);
        if std::os::unix::fs::symlink(name, &staged).is_ok() && fs::rename(&staged, parent.join("latest")).is_err() {
            let _ = fs::remove_file(&staged);
        }
    }
    #[cfg(not(unix))]
    {
        let _ = fs::write(parent.join("latest"), name);
    }
}

/// Keeps the `keep` most recent report folders in `reports` (those holding
/// a manifest.json), never removing `current` or what `latest` points at.
pub fn prune(reports: &Path, current: &Path, keep: usize) {
    let latest = fs::read_link(reports.join("latest")).ok().map(|target| reports.join(target));
    let same = |a: &Path, b: &Path| fs::canonicalize(a).ok().zip(fs::canonicalize(b).ok()).is_some_and(|(a, b)| a == b);
    let Ok(entries) = fs::read_dir(reports) else { return };
    let mut folders: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.is_symlink() && p.is_dir() && p.join("manifest.json").is_file())
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .filter_map(|p| fs::metadata(p.join("manifest.json")).and_then(|m| m.modified()).ok().map(|t| (t, p)))
        .collect();
    folders.sort_by(|a, b| b.0.cmp(&a.0));
    for (_, folder) in folders.into_iter().skip(keep.max(1)) {
        if same(&folder, current) || latest.as_deref().is_some_and(|l| same(&folder, l)) {
            continue;
        }
        let _ = fs::remove_dir_all(&folder);
    }
}

#[cfg(test)]
mod tests {
    use super::remove_while_written;

    /// A writer creating pages as fast as it can while the folder is removed
    /// (as the report's page threads do when a run is interrupted): nothing
    /// is left, under the folder's name or the one it was moved to.
    #[test]
    fn a_folder_still_being_written_is_removed_whole() {
        let scratch = tempfile::tempdir().unwrap();
        let folder = scratch.path().join(".r.tmp-1");
        std::fs::create_dir_all(folder.join("teams")).unwrap();
        let writer = {
            let folder = folder.clone();
            std::thread::spawn(move || {
                // Bounded, so a removal that fails ends the test, not hangs it.
                let mut written = 0;
                while written < 20_000 && std::fs::write(folder.join("teams").join(format!("{written}.html")), "page").is_ok() {
                    written += 1;
                }
                written
            })
        };
        while std::fs::read_dir(folder.join("teams")).map_or(0, |d| d.count()) < 200 {
            std::thread::yield_now();
        }
        remove_while_written(&folder);
        assert!(writer.join().unwrap() >= 200);
        let left: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
