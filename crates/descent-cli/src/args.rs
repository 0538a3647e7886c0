//! Arguments shared by several commands, and the parsers of their values.

use clap::{Args, ValueEnum};
use descent::schedule::ScheduleSpec;
use descent::{Clip, Spec, SpecError};
use descent_landscape::{Entrant, Noise, Precision, Run, Surface};

use crate::error::CliError;
use crate::function::{self, Point};
use crate::limits;

/// Which surface, and where to start on it.
#[derive(Debug, Args)]
pub struct SurfaceArgs {
    /// The loss surface: a built-in name (see `descent list`) or an expression in x and y, such as
    /// 'x^2 - y^2 + 0.1*sin(3*x)'.
    #[arg(long, short, value_name = "F", allow_hyphen_values = true)]
    pub function: String,

    /// The start point, comma-separated; its length sets the dimension of n-dimensional surfaces
    /// [default: the surface's own start point].
    #[arg(long, value_name = "X,Y[,...]", allow_hyphen_values = true, value_parser = function::parse_point)]
    pub start: Option<Point>,

    /// The dimension of an n-dimensional surface (sphere, quadratic, rosenbrock, rastrigin, styblinski_tang) when
    /// no --start is given, at most 1,000,000 [default: 2].
    #[arg(long, value_name = "N", value_parser = limits::count(limits::MAX_DIM))]
    pub dim: Option<usize>,
}

impl SurfaceArgs {
    /// The surface and the start point.
    pub fn resolve(&self) -> Result<(Box<dyn Surface>, Vec<f64>), CliError> {
        function::resolve(&self.function, self.start.clone().map(|p| p.0), self.dim)
    }
}

/// How long to run, in which precision, and with what gradient noise.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The number of optimizer steps, at most 1,000,000.
    #[arg(long, default_value_t = 500, value_name = "N", value_parser = limits::count(limits::MAX_STEPS))]
    pub steps: usize,

    /// The element type the optimizers compute in.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,

    /// Add Gaussian noise of this standard deviation to every gradient coordinate (stochastic gradients).
    #[arg(long, value_name = "SIGMA", allow_hyphen_values = true)]
    pub noise: Option<f64>,

    /// The seed of the gradient noise: the same seed gives the same noise.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed: u64,

    #[command(flatten)]
    pub schedule: ScheduleArgs,

    #[command(flatten)]
    pub clip: ClipArgs,
}

/// A learning-rate schedule.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// A learning-rate schedule, stepped after every optimizer step: a scheduler written like an optimizer, with
    /// PyTorch's class name (or an alias) and arguments, such as 'CosineAnnealingLR(T_max=100)', composed with
    /// `*` (both at once) and `until N then` (one after the other). See `descent schedule --help`.
    #[arg(long, value_name = "SPEC", value_parser = parse_schedule)]
    pub lr_schedule: Option<ScheduleSpec>,
}

/// Gradient clipping, PyTorch's clip_grad_norm_ and clip_grad_value_, applied inside each step.
#[derive(Debug, Args)]
pub struct ClipArgs {
    /// Scale the gradients so that their total norm is at most MAX.
    #[arg(long, value_name = "MAX", allow_hyphen_values = true)]
    pub clip_norm: Option<f64>,

    /// The p of the norm --clip-norm measures: any number > 0, or inf [default: 2].
    #[arg(long, value_name = "P", requires = "clip_norm", allow_hyphen_values = true)]
    pub clip_norm_type: Option<f64>,

    /// Clamp every gradient value to [-V, V].
    #[arg(long, value_name = "V", allow_hyphen_values = true)]
    pub clip_value: Option<f64>,
}

impl ClipArgs {
    /// The clipping asked for, checked.
    pub fn clip(&self) -> Result<Option<Clip>, CliError> {
        if self.clip_norm.is_none() && self.clip_value.is_none() {
            return Ok(None);
        }
        let clip = Clip {
            max_norm: self.clip_norm,
            norm_type: self.clip_norm_type.unwrap_or(2.0),
            error_if_nonfinite: false,
            value: self.clip_value,
        };
        clip.validate().map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(Some(clip))
    }
}

impl RunArgs {
    /// The run from `start`.
    pub fn run(&self, start: Vec<f64>) -> Result<Run, CliError> {
        let noise = self.noise.map(|sigma| Noise::new(sigma, self.seed)).transpose()?;
        if self.dtype == Dtype::F32 {
            if let Some(v) = start.iter().find(|v| v.abs() > f64::from(f32::MAX)) {
                return Err(CliError::Usage(format!("--start coordinate {v:e} does not fit in f32 (at most ±3.4e38)")));
            }
        }
        let values = (self.steps + 1).saturating_mul(start.len() + 1);
        if values > limits::MAX_TRAJECTORY_VALUES {
            return Err(CliError::Usage(format!(
                "--steps {} in {} dimensions would keep {values} values; at most {} (fewer steps or dimensions)",
                self.steps,
                start.len(),
                limits::MAX_TRAJECTORY_VALUES
            )));
        }
        Ok(Run {
            noise,
            precision: self.dtype.into(),
            schedule: self.schedule.lr_schedule.clone(),
            clip: self.clip.clip()?,
            ..Run::new(start, self.steps)
        })
    }
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Aligned columns.
    Table,
    /// One JSON document with the same data (the command's help says how it is laid out).
    Json,
}

/// The element type of the optimizers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dtype {
    /// 32-bit floats.
    F32,
    /// 64-bit floats.
    F64,
}

impl From<Dtype> for Precision {
    fn from(dtype: Dtype) -> Precision {
        match dtype {
            Dtype::F32 => Precision::F32,
            Dtype::F64 => Precision::F64,
        }
    }
}

/// Parses an optimizer spec, for clap.
pub fn parse_spec(text: &str) -> Result<Spec, String> {
    text.parse().map_err(|e: SpecError| e.to_string())
}

/// Parses a learning-rate schedule, for clap.
pub fn parse_schedule(text: &str) -> Result<ScheduleSpec, String> {
    text.parse().map_err(|e: SpecError| e.to_string())
}

/// Parses an optimizer spec and keeps its text as the label, for clap.
pub fn parse_entrant(text: &str) -> Result<Entrant, String> {
    Ok(Entrant { label: text.trim().to_owned(), spec: parse_spec(text)? })
}
