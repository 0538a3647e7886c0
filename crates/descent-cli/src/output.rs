//! Output files: checked before long work starts, and written atomically.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::CliError;

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
    if path.is_dir() {
        return Err(fail("it is a folder".to_owned()));
    }
    let folder = folder_of(path);
    if !folder.is_dir() {
        return Err(fail(format!("the folder {} does not exist", folder.display())));
    }
    let probe = temporary_path(path);
    fs::write(&probe, b"").map_err(|e| fail(e.to_string()))?;
    fs::remove_file(&probe).map_err(|e| fail(e.to_string()))
}

/// Writes `path` through a temporary file in its folder, renamed into place once `write` has finished, so that
/// readers never see half a file and a failure leaves any previous file as it was.
pub fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), CliError> {
    let temporary = temporary_path(path);
    let result = write(&temporary).and_then(|()| fs::rename(&temporary, path).map_err(|e| e.to_string()));
    if let Err(reason) = result {
        let _ = fs::remove_file(&temporary);
        return Err(CliError::Write { path: path.to_owned(), reason });
    }
    Ok(())
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A hidden file beside `path` with the same extension (the bitmap encoders choose the format by extension).
fn temporary_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("output");
    let name = format!(".{stem}.{}.partial.{}", std::process::id(), extension(path));
    folder_of(path).join(name)
}
