//! Output files: checked before long work starts, and written atomically.
//!
//! A file is written under a temporary name in its folder, flushed to disk, given the permissions of the file it
//! replaces, and renamed over it (through a symbolic link, onto the link's target). A failure, or SIGINT, SIGTERM
//! or SIGHUP on the way, removes the temporary file and leaves any previous file as it was.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::CliError;

/// The temporary files being written, removed if a signal ends the process.
static PARTIAL: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes the temporary files on SIGINT, SIGTERM and SIGHUP, then ends the process as the signal would have.
pub fn clean_up_on_signals() -> Result<(), CliError> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(CliError::Print)?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            // Holding the lock until the end keeps a writer from starting another file.
            let partial = PARTIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for path in partial.iter() {
                let _ = fs::remove_file(path);
            }
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

/// The extension of `path`, lower case (`"svg"`, `"png"`, …).
pub fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase()
}

/// Checks that `path` has one of the `allowed` extensions and that its folder exists and takes a new file, so
/// that a run fails at once rather than after its work.
pub fn check_writable(path: &Path, allowed: &[&str]) -> Result<(), CliError> {
    let fail = |reason: String| CliError::Write { path: path.to_owned(), reason };
    if !allowed.contains(&extension(path).as_str()) {
        return Err(fail(format!("the file name must end in .{}", allowed.join(" or ."))));
    }
    if path.to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) {
        return Err(fail(format!("the name ends in {}, as a folder's does", std::path::MAIN_SEPARATOR)));
    }
    let destination = destination(path).map_err(fail)?;
    if destination.is_dir() {
        return Err(fail("it is a folder".to_owned()));
    }
    let folder = folder_of(&destination);
    if !folder.exists() {
        return Err(fail(format!("the folder {} does not exist", folder.display())));
    }
    if !folder.is_dir() {
        return Err(fail(format!("{} is not a folder", folder.display())));
    }
    let probe = temporary_path(&destination);
    File::create(&probe).map_err(|e| fail(e.to_string()))?;
    fs::remove_file(&probe).map_err(|e| fail(e.to_string()))
}

/// Writes `path` through a temporary file that `write` fills, renamed into place once it is complete and on disk,
/// so that readers never see half a file and a failure leaves any previous file as it was.
pub fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), CliError> {
    let fail = |reason: String| CliError::Write { path: path.to_owned(), reason };
    let destination = destination(path).map_err(fail)?;
    let temporary = temporary_path(&destination);
    PARTIAL.lock().map_err(|_| fail("interrupted".to_owned()))?.push(temporary.clone());
    let result = write(&temporary).and_then(|()| finish(&temporary, &destination).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    if let Ok(mut partial) = PARTIAL.lock() {
        partial.retain(|p| *p != temporary);
    }
    result.map_err(fail)
}

/// Syncs the written temporary file, gives it the permissions of the file it replaces, renames it into place and
/// syncs the folder.
fn finish(temporary: &Path, destination: &Path) -> std::io::Result<()> {
    let file = File::options().write(true).open(temporary)?;
    if let Ok(previous) = fs::metadata(destination) {
        file.set_permissions(previous.permissions())?;
    }
    file.sync_all()?;
    fs::rename(temporary, destination)?;
    // Makes the rename itself durable; not every platform can sync a folder.
    if let Ok(folder) = File::open(folder_of(destination)) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// The file that writing `path` replaces: `path` itself, or the target of the symbolic links it names.
fn destination(path: &Path) -> Result<PathBuf, String> {
    let mut current = path.to_owned();
    for _ in 0..40 {
        match fs::read_link(&current) {
            Ok(target) => current = folder_of(&current).join(target),
            Err(_) => return Ok(current),
        }
    }
    Err("too many levels of symbolic links".to_owned())
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A short hidden name beside `path`, unique to this process and write, with the same extension (the bitmap
/// encoders choose the format by extension). A file of that name left by a killed process is overwritten.
fn temporary_path(path: &Path) -> PathBuf {
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let write = WRITES.fetch_add(1, Ordering::Relaxed);
    let name = format!(".descent-{}-{write}.partial.{}", std::process::id(), extension(path));
    folder_of(path).join(name)
}
