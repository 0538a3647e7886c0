//! The largest values the command accepts, so that no argument can exhaust memory, start thousands of threads or
//! run for days; each error names its bound. The README lists them.

use clap::builder::RangedU64ValueParser;

use crate::error::CliError;

/// Optimizer steps on a surface (`run`, `race`, `tour`).
pub const MAX_STEPS: u64 = 1_000_000;

/// The dimension of an n-dimensional surface.
pub const MAX_DIM: u64 = 1_000_000;

/// Coordinates one trajectory may hold: steps × dimension (a run keeps every point, at 8 bytes each).
pub const MAX_TRAJECTORY_VALUES: usize = 25_000_000;

/// Optimizers in one `race`, `train` or `bench`.
pub const MAX_OPTIMIZERS: usize = 64;

/// Parameters of a `bench` run.
pub const MAX_BENCH_PARAMS: u64 = 1_000_000_000;

/// Tensors of a `bench` run (each has its own bookkeeping, beside its values).
pub const MAX_BENCH_TENSORS: u64 = 1_000_000;

/// Threads of a `bench` run.
pub const MAX_THREADS: u64 = 256;

/// Timed samples of a `bench` run.
pub const MAX_REPEATS: u64 = 1_000;

/// Epochs of a `train` run.
pub const MAX_EPOCHS: u64 = 1_000;

/// The width of a hidden layer.
pub const MAX_LAYER_WIDTH: usize = 100_000;

/// The weights and biases of a trained network.
pub const MAX_MODEL_PARAMS: usize = 100_000_000;

/// A parser of whole numbers from 1 to `max`, whose error names the range.
pub fn count(max: u64) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=max)
}

/// Refuses more than [`MAX_OPTIMIZERS`] optimizers.
pub fn check_optimizers(count: usize) -> Result<(), CliError> {
    if count > MAX_OPTIMIZERS {
        return Err(CliError::Usage(format!("{count} optimizers given, at most {MAX_OPTIMIZERS}")));
    }
    Ok(())
}

/// Refuses to allocate `bytes` for `what` when the machine does not have them available, rather than abort on a
/// failed allocation (or swap for hours). Where the available memory is not known, accepts.
pub fn check_memory(bytes: u128, what: &str) -> Result<(), CliError> {
    match available_memory() {
        Some(available) if bytes > u128::from(available) => Err(CliError::Usage(format!(
            "{what} needs {:.1} GB of memory, but {:.1} GB is available",
            bytes as f64 / 1e9,
            available as f64 / 1e9
        ))),
        _ => Ok(()),
    }
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kilobytes.checked_mul(1024)
}
