//! What the command-line test files share: running `descent` and checking how it ended.

#![allow(dead_code)] // Each test file uses its own part.

use assert_cmd::Command;

pub fn descent() -> Command {
    Command::cargo_bin("descent").unwrap()
}

/// Runs `descent args`, expects success, returns standard output.
pub fn ok(args: &[&str]) -> String {
    let output = descent().args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `descent args`, expects exit code 2 and a single line on standard error containing `message`.
pub fn fails(args: &[&str], message: &str) {
    let output = descent().args(args).output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: not one line: {stderr}");
    assert!(stderr.contains(message), "{args:?}: {stderr:?} does not say {message:?}");
    assert!(output.stdout.is_empty(), "{args:?}: printed {}", String::from_utf8_lossy(&output.stdout));
}

pub mod server;
