//! `descent bench`: how fast an optimizer step is, against the memory-bandwidth limit measured in the same run.
//!
//! A step reads every parameter, gradient and state value once and writes the parameter and the state once, so
//! its lower bound is the time to move those bytes. The baseline is a rule that moves exactly the same bytes and
//! does one addition per value, run through the same kernels, threads and chunks as the optimizer; the two are
//! timed alternately, and `baseline_ratio` is the baseline's time over the optimizer's (1.0: as fast as memory).

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use descent::optim::ARTICLE;
use descent::{
    DynOptimizer, Error, Float, Lane, Optimizer, Param, ParamState, Rule, Shape, Spec, StateLayout, StepContext,
    MAX_ELEMENTWISE_TENSORS,
};
use descent_landscape::Entrant;
use rayon::prelude::*;
use serde_json::json;

use crate::args::{parse_entrant, Dtype, ReportFormat};
use crate::error::CliError;
use crate::limits;
use crate::table::Table;

/// Arguments of `descent bench`.
#[derive(Debug, Args)]
pub struct BenchCommand {
    /// The optimizers to time [default: the seven of the article and AdamW, at PyTorch's defaults]. Those
    /// that ask for their gradients (lbfgs, nag) step with a closure that computes the gradient of a quadratic,
    /// ½·Σ cᵢ·θᵢ², in one pass; their time includes it.
    #[arg(long = "optimizer", short = 'o', visible_alias = "optimizers", num_args = 1.., value_name = "SPEC", value_parser = parse_entrant)]
    optimizers: Vec<Entrant>,

    /// The number of parameters in all (at most 1,000,000,000).
    #[arg(long, default_value_t = 10_000_000, value_name = "N", value_parser = limits::count(limits::MAX_BENCH_PARAMS))]
    params: usize,

    /// The number of tensors the parameters are split into (at most --params, and 1,000,000).
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = limits::count(limits::MAX_BENCH_TENSORS))]
    tensors: usize,

    /// Lay each tensor out as a matrix of this many rows (its length must be a multiple of it) [default: vectors,
    /// or for optimizers that take only matrices, such as Muon, the squarest matrix of the tensor's length].
    #[arg(long, value_name = "R", value_parser = limits::count(limits::MAX_BENCH_PARAMS))]
    rows: Option<usize>,

    /// The element type.
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    dtype: Dtype,

    /// The number of threads, at most 256 [default: one per core].
    #[arg(long, value_name = "T", value_parser = limits::count(limits::MAX_THREADS))]
    threads: Option<usize>,

    /// How many timed samples of each, at most 1000 (the median is reported).
    #[arg(long, default_value_t = 15, value_name = "R", value_parser = limits::count(limits::MAX_REPEATS))]
    repeats: usize,

    /// table: aligned columns; json: one object per optimizer.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,

    /// Also report the optimizer-state bytes each of this many ranks would hold with the state sharded (ZeRO, as
    /// `mpirun -np N descent train` shards it: balanced by size, tensors cut where the optimizer steps them
    /// element by element, whole otherwise).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = limits::count(limits::MAX_THREADS))]
    ranks: usize,
}

/// One optimizer's measurements.
struct Measurement {
    label: String,
    spec: Spec,
    state_tensors: usize,
    /// The optimizer's state, in bytes per parameter (compact state: its codes, scales or bfloat16 values).
    state_bytes_per_param: f64,
    ns_per_param: f64,
    baseline_ns_per_param: f64,
    bytes_per_param: f64,
    data_bytes: usize,
    /// Memory the steps added to the process's peak resident size (Linux only).
    step_peak_bytes: Option<u64>,
    /// The state bytes of each rank, with the state sharded across --ranks.
    state_bytes_per_rank: Vec<usize>,
}

/// Runs the command, printing to `out`.
pub fn execute(command: &BenchCommand, out: &mut dyn Write) -> Result<(), CliError> {
    if command.tensors > command.params {
        return Err(CliError::Usage(format!(
            "--tensors is {}, more than the {} --params",
            command.tensors, command.params
        )));
    }
    if let Some(rows) = command.rows {
        if let Some(n) = lengths(command.params, command.tensors).into_iter().find(|n| !n.is_multiple_of(rows)) {
            return Err(CliError::Usage(format!("--rows {rows} does not divide a tensor of {n} parameters")));
        }
    }
    limits::check_optimizers(command.optimizers.len())?;
    let size = match command.dtype {
        Dtype::F32 => std::mem::size_of::<f32>(),
        Dtype::F64 => std::mem::size_of::<f64>(),
    };
    // The parameters, the gradients and the fullest state, for the optimizer and for the baseline.
    let values = 3 + 2 * MAX_ELEMENTWISE_TENSORS;
    limits::check_memory(command.params as u128 * (values * size) as u128, "the benchmark")?;
    let entrants = if command.optimizers.is_empty() {
        // The article's seven and AdamW, at PyTorch's defaults, named as `race` and `train` name them.
        let defaults: Vec<(&str, &str)> = ARTICLE.iter().copied().chain([("AdamW", "adamw")]).collect();
        crate::race::entrants(&defaults)
    } else {
        command.optimizers.clone()
    };
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = command.threads {
        builder = builder.num_threads(threads);
    }
    let pool = builder.build().map_err(|e| CliError::Usage(format!("cannot start threads: {e}")))?;
    let threads = pool.current_num_threads();
    let measurements = pool.install(|| {
        entrants
            .iter()
            .map(|entrant| match command.dtype {
                Dtype::F32 => measure::<f32>(entrant, command),
                Dtype::F64 => measure::<f64>(entrant, command),
            })
            .collect::<Result<Vec<_>, CliError>>()
    })?;
    let dtype = match command.dtype {
        Dtype::F32 => f32::NAME,
        Dtype::F64 => f64::NAME,
    };
    match command.format {
        ReportFormat::Table => {
            writeln!(
                out,
                "{} parameters in {} tensor(s), {dtype}, {threads} thread(s); median of {} samples",
                command.params, command.tensors, command.repeats
            )?;
            let mut table = Table::new(&[
                "optimizer",
                "ns/param",
                "GB/s",
                "bandwidth baseline ns/param",
                "speed vs baseline",
                "state bytes/param",
                "step peak memory",
            ]);
            for m in &measurements {
                table.row(vec![
                    m.label.clone(),
                    format!("{:.3}", m.ns_per_param),
                    format!("{:.1}", m.bytes_per_param / m.ns_per_param),
                    format!("{:.3}", m.baseline_ns_per_param),
                    format!("{:.2}", m.baseline_ns_per_param / m.ns_per_param),
                    format!("{:.2}", m.state_bytes_per_param),
                    m.step_peak_bytes.map_or("-".to_owned(), |b| format!("{:.2} MB", b as f64 / 1e6)),
                ]);
            }
            write!(out, "{table}")?;
        }
        ReportFormat::Json => {
            let rows: Vec<serde_json::Value> = measurements
                .iter()
                .map(|m| {
                    json!({
                        "optimizer": m.label,
                        "spec": m.spec.to_string(),
                        "params": command.params,
                        "tensors": command.tensors,
                        "dtype": dtype,
                        "threads": threads,
                        "state_tensors": m.state_tensors,
                        "state_bytes_per_param": m.state_bytes_per_param,
                        "ns_per_param": m.ns_per_param,
                        "gbps": m.bytes_per_param / m.ns_per_param,
                        "baseline_ns_per_param": m.baseline_ns_per_param,
                        "baseline_ratio": m.baseline_ns_per_param / m.ns_per_param,
                        "bytes_per_param": m.bytes_per_param,
                        "data_bytes": m.data_bytes,
                        "step_peak_bytes": m.step_peak_bytes,
                        "state_bytes_per_rank": m.state_bytes_per_rank,
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &rows).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Tensor lengths: `params` split into `tensors` nearly equal parts.
fn lengths(params: usize, tensors: usize) -> Vec<usize> {
    (0..tensors).map(|k| params / tensors + usize::from(k < params % tensors)).collect()
}

/// Times `entrant` and the bandwidth baseline on the same parameters and gradients.
fn measure<T: Float>(entrant: &Entrant, command: &BenchCommand) -> Result<Measurement, CliError> {
    let lens = lengths(command.params, command.tensors);
    let mut params: Vec<Vec<T>> = lens.iter().map(|&n| vec![T::from_f64(0.5); n]).collect();
    let grads: Vec<Vec<T>> = lens.iter().map(|&n| (0..n).map(|i| T::from_f64(gradient(i))).collect()).collect();
    let grad_slices: Vec<Option<&[T]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
    let specs = lens.iter().map(|&n| Param::new(shape_for(&entrant.spec, n, command.rows)));
    let mut optimizer = entrant.spec.build::<T>(specs).map_err(|e| bench_error(entrant, e))?;
    let closure = entrant.spec.needs_closure();
    let step = |optimizer: &mut dyn DynOptimizer<T>, params: &mut Vec<Vec<T>>| {
        let mut slices: Vec<&mut [T]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        if closure {
            optimizer.step_with_closure(&mut slices, &mut quadratic).expect("lengths match");
        } else {
            optimizer.step(&mut slices, &grad_slices).expect("lengths match");
        }
    };
    // Warm up: the first step creates the state; L-BFGS fills its history.
    let history = entrant.spec.hyperparameters().get("history_size").and_then(serde_json::Value::as_u64);
    for _ in 0..history.map_or(2, |m| m + 2) {
        step(optimizer.as_mut(), &mut params);
    }
    let state_tensors = optimizer.state(0).map_or(0, |s| s.names().len());
    let size = std::mem::size_of::<T>();
    let state_bytes: usize = (0..optimizer.param_count())
        .filter_map(|k| optimizer.state(k))
        .chain(optimizer.global_state())
        .map(ParamState::bytes)
        .sum();
    let splits: Vec<bool> =
        (0..lens.len()).map(|k| optimizer.param(k).is_some_and(|param| entrant.spec.splits(param.shape()))).collect();
    let partition = descent_mpi::Partition::balanced(&lens, &splits, command.ranks);
    let mut state_bytes_per_rank = vec![0; command.ranks];
    for piece in partition.pieces() {
        // A parameter that is cut has element-wise state only: its bytes split in proportion to its values.
        let bytes = optimizer.state(piece.param).map_or(0, ParamState::bytes);
        let len = lens[piece.param];
        state_bytes_per_rank[piece.owner] += if piece.len() == len { bytes } else { bytes / len * piece.len() };
    }
    // An optimizer-wide state (L-BFGS's history) is not sharded: every rank would hold it.
    for bytes in &mut state_bytes_per_rank {
        *bytes += optimizer.global_state().map_or(0, ParamState::bytes);
    }
    let state_bytes_per_param = state_bytes as f64 / command.params as f64;
    // The baseline moves the parameter, the gradient and as many state tensors of the element type as hold the
    // state's bytes (rounded up: for compact state, at least as many bytes as the optimizer moves).
    // (A state larger than the fused pass holds, like L-BFGS's history, is measured against the fullest baseline.)
    let baseline_tensors = ((state_bytes_per_param / size as f64).ceil() as usize).min(MAX_ELEMENTWISE_TENSORS);
    let step_peak_bytes = peak_memory_of(|| {
        for _ in 0..3 {
            step(optimizer.as_mut(), &mut params);
        }
    });

    let mut baseline =
        Optimizer::<Touch, T>::new(Touch { tensors: baseline_tensors }, lens.iter().map(|&n| Param::new(n)))
            .map_err(|e| bench_error(entrant, e))?;
    let mut baseline_params = params.clone();
    let mut touch = |params: &mut Vec<Vec<T>>| {
        let mut slices: Vec<&mut [T]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        baseline.step(&mut slices, &grad_slices).expect("lengths match");
    };
    touch(&mut baseline_params);

    // Batch enough steps into a sample to measure it well, then alternate the two.
    let single = time(|| step(optimizer.as_mut(), &mut params));
    let batch = (Duration::from_millis(5).as_secs_f64() / single.as_secs_f64()).ceil().clamp(1.0, 10_000.0) as u32;
    let mut ours = Vec::with_capacity(command.repeats);
    let mut theirs = Vec::with_capacity(command.repeats);
    for _ in 0..command.repeats {
        ours.push(time(|| (0..batch).for_each(|_| step(optimizer.as_mut(), &mut params))) / batch);
        theirs.push(time(|| (0..batch).for_each(|_| touch(&mut baseline_params))) / batch);
    }
    let per_param = |samples: &mut Vec<Duration>| median(samples).as_secs_f64() * 1e9 / command.params as f64;
    Ok(Measurement {
        label: entrant.label.clone(),
        spec: entrant.spec.clone(),
        state_tensors,
        state_bytes_per_param,
        ns_per_param: per_param(&mut ours),
        baseline_ns_per_param: per_param(&mut theirs),
        bytes_per_param: (3 * size) as f64 + 2.0 * state_bytes_per_param,
        data_bytes: command.params * 2 * size + state_bytes,
        step_peak_bytes,
        state_bytes_per_rank,
    })
}

/// A tensor of `n` parameters: a matrix of `rows` rows if given, else a vector, or for rules that take only
/// matrices (Muon) the squarest matrix of `n` values.
fn shape_for(spec: &Spec, n: usize, rows: Option<usize>) -> Shape {
    if rows.is_none() && spec.layout(&Shape::from(n)).is_ok() {
        return Shape::from(n);
    }
    let rows = rows.unwrap_or_else(|| (1..=n.isqrt()).rev().find(|&rows| n.is_multiple_of(rows)).unwrap_or(1));
    Shape::from([rows, n / rows])
}

fn bench_error(entrant: &Entrant, error: Error) -> CliError {
    CliError::Usage(format!("cannot benchmark {}: {error}", entrant.label))
}

/// Elements per parallel task of the quadratic's closure.
const CHUNK: usize = 1 << 15;

/// The closure that optimizers which ask for their gradients (L-BFGS, the look-ahead Nesterov) step with: the loss
/// J = ½·Σ cᵢ·θᵢ² with curvatures cᵢ from 1 to 10.9, its gradient cᵢ·θᵢ written in one parallel pass.
fn quadratic<T: Float>(points: &[&[T]], grads: &mut [&mut [T]]) -> f64 {
    let curvature = |i: usize| 1.0 + (i % 100) as f64 * 0.1;
    let mut loss = 0.0;
    for (point, grad) in points.iter().zip(grads.iter_mut()) {
        loss += grad
            .par_chunks_mut(CHUNK)
            .zip(point.par_chunks(CHUNK))
            .enumerate()
            .map(|(chunk, (grad, point))| {
                let mut sum = 0.0;
                for (i, (g, &p)) in grad.iter_mut().zip(point).enumerate() {
                    let (c, p) = (curvature(chunk * CHUNK + i), p.to_f64());
                    *g = T::from_f64(c * p);
                    sum += 0.5 * c * p * p;
                }
                sum
            })
            .collect::<Vec<f64>>()
            .iter()
            .sum::<f64>();
    }
    loss
}

/// Gradients of a realistic spread, different for every element.
fn gradient(i: usize) -> f64 {
    ((i % 1000) as f64 - 499.5) * 1e-3
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// How much `f` raised the process's peak resident memory, read from /proc (Linux); `None` elsewhere.
fn peak_memory_of(f: impl FnOnce()) -> Option<u64> {
    // Writing 5 to clear_refs resets the peak (VmHWM) to the current resident size.
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = status_kib("VmHWM:")?;
    f();
    // Memory the steps freed leaves the peak where it was: nothing added.
    Some(status_kib("VmHWM:")?.saturating_sub(before) * 1024)
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The bandwidth baseline: reads the parameter, the gradient and `tensors` state values, writes the parameter and
/// the state values, with one addition each: the bytes of an optimizer step and almost none of its arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Touch {
    tensors: usize,
}

impl Rule for Touch {
    const NAME: &'static str = "bandwidth baseline";

    fn validate(&self) -> Result<(), Error> {
        Ok(())
    }

    fn layout(&self, _shape: &Shape) -> Result<StateLayout, Error> {
        Ok(["a", "b", "c", "d"][..self.tensors]
            .iter()
            .fold(StateLayout::new(), |layout, name| layout.elementwise(name, 0.0)))
    }

    type Coefficients<L: Lane> = ();

    fn coefficients<L: Lane>(&self, _step: &StepContext<'_>) {}

    #[inline(always)]
    fn update<L: Lane>(_: &(), param: &mut L, grad: L, state: &mut [L]) {
        *param = *param + grad;
        for value in state {
            *value = *value + grad;
        }
    }
}
