//! Running one optimizer on a surface.

use std::str::FromStr;
use std::time::Instant;

use descent::schedule::{ScheduleSpec, Scheduler};
use descent::{Clip, Float, Spec};

use crate::{LandscapeError, Noise, StepState, Surface};

/// The element type an optimizer computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// `f32`.
    F32,
    /// `f64`.
    #[default]
    F64,
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "f32" => Ok(Precision::F32),
            "f64" => Ok(Precision::F64),
            other => Err(format!("unknown dtype {other:?} (expected f32 or f64)")),
        }
    }
}

impl Precision {
    /// `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

/// The path of one optimizer on a surface.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// θ₀ (the start point as the element type holds it), then the point after each step: for optimizers with an
    /// evaluation point (Schedule-Free), that point, an average of the iterates, rather than the one where the
    /// gradients are taken.
    pub points: Vec<Vec<f64>>,
    /// J at each point (without noise).
    pub losses: Vec<f64>,
    /// The gradient evaluations made up to each point (0 at θ₀; one per step, except for L-BFGS, whose
    /// iterations and line search evaluate several times per step).
    pub evaluations: Vec<u64>,
    /// The learning rate of each step (as a schedule set it).
    pub lrs: Vec<f64>,
    /// What the optimizer held after each step, when [`Run::record_states`] asked for it (empty otherwise).
    pub states: Vec<StepState>,
    /// Whether the run stopped early because a point or its loss stopped being finite.
    pub diverged: bool,
}

impl Trajectory {
    /// The last point reached.
    pub fn last_point(&self) -> &[f64] {
        self.points.last().expect("a trajectory has its start point")
    }

    /// J at the last point.
    pub fn final_loss(&self) -> f64 {
        *self.losses.last().expect("a trajectory has its start point")
    }
}

/// What to run: where to start, how long, and with what gradient noise.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// θ₀.
    pub start: Vec<f64>,
    /// The number of steps (at least 1).
    pub steps: usize,
    /// Gaussian gradient noise, if any.
    pub noise: Option<Noise>,
    /// The element type of the optimizer.
    pub precision: Precision,
    /// A learning-rate schedule, stepped after every optimizer step (ReduceLROnPlateau watches the loss).
    pub schedule: Option<ScheduleSpec>,
    /// Gradient clipping, by norm and/or by value.
    pub clip: Option<Clip>,
    /// Record the optimizer's state after every step ([`Trajectory::states`]).
    pub record_states: bool,
    /// A time by which the run must be over: past it, the run stops with [`LandscapeError::Deadline`]. For
    /// services that bound the time a request may take.
    pub deadline: Option<Instant>,
}

impl Run {
    /// `steps` steps from `start`, in `f64`, without noise, schedule, clipping, recorded states or deadline.
    pub fn new(start: Vec<f64>, steps: usize) -> Run {
        Run {
            start,
            steps,
            noise: None,
            precision: Precision::F64,
            schedule: None,
            clip: None,
            record_states: false,
            deadline: None,
        }
    }

    /// Checks the run against `surface`: at least one step, and a finite start point of its dimension.
    pub fn check(&self, surface: &dyn Surface) -> Result<(), LandscapeError> {
        if self.steps == 0 {
            return Err(LandscapeError::ZeroSteps);
        }
        if self.start.len() != surface.dim() {
            return Err(LandscapeError::Dimension {
                surface: surface.name().to_owned(),
                expected: surface.dim().to_string(),
                got: self.start.len(),
            });
        }
        if !self.start.iter().all(|v| v.is_finite()) {
            return Err(LandscapeError::Start(self.start.clone()));
        }
        Ok(())
    }
}

/// Runs `spec` on `surface`. The gradient is evaluated in `f64` at the optimizer's point and rounded to its
/// element type; a run that reaches a non-finite point or loss stops there and is marked diverged.
pub fn run(surface: &dyn Surface, spec: &Spec, run: &Run) -> Result<Trajectory, LandscapeError> {
    run.check(surface)?;
    match run.precision {
        Precision::F32 => run_as::<f32>(surface, spec, run),
        Precision::F64 => run_as::<f64>(surface, spec, run),
    }
}

/// How many gradient evaluations pass between two looks at the clock.
const DEADLINE_EVERY: u64 = 64;

/// A run's time limit, looked at every [`DEADLINE_EVERY`] gradient evaluations (a step evaluates at least once;
/// an L-BFGS step as often as its `max_iter` and `max_eval` allow, so the clock is read inside the step).
struct Clock {
    deadline: Option<Instant>,
    evaluations: u64,
    passed: bool,
}

impl Clock {
    /// Counts an evaluation; whether the deadline has passed (at this evaluation or before).
    fn tick(&mut self) -> bool {
        if let Some(deadline) = self.deadline {
            if !self.passed && self.evaluations.is_multiple_of(DEADLINE_EVERY) {
                self.passed = Instant::now() >= deadline;
            }
        }
        self.evaluations += 1;
        self.passed
    }
}

fn run_as<T: Float>(surface: &dyn Surface, spec: &Spec, run: &Run) -> Result<Trajectory, LandscapeError> {
    let dim = surface.dim();
    let mut optimizer = spec.build_flat::<T>(dim)?;
    optimizer.optimizer_mut().set_clip(run.clip)?;
    let mut scheduler = run.schedule.as_ref().map(|s| Scheduler::new(s, optimizer.optimizer_mut())).transpose()?;
    let mut noise = run.noise.as_ref().map(Noise::stream);
    let mut theta: Vec<T> = run.start.iter().map(|&v| T::from_f64(v)).collect();
    let mut at = vec![0.0; dim];
    let mut grad = vec![0.0; dim];
    let start: Vec<f64> = theta.iter().map(|v| v.to_f64()).collect();
    let mut trajectory = Trajectory {
        losses: vec![surface.value(&start)],
        points: vec![start],
        evaluations: vec![0],
        lrs: Vec::new(),
        states: Vec::new(),
        diverged: false,
    };
    let mut first_gradient = Vec::new();
    let evaluates = optimizer.optimizer_mut().has_evaluation_point();
    let mut clock = Clock { deadline: run.deadline, evaluations: 0, passed: false };
    for step in 0..run.steps {
        trajectory.lrs.push(optimizer.lr());
        first_gradient.clear();
        optimizer.step(&mut theta, |point, out| {
            for (a, p) in at.iter_mut().zip(point) {
                *a = p.to_f64();
            }
            if clock.tick() {
                // Past the deadline: a zero gradient ends the step at once (L-BFGS stops when max|g| is within
                // its tolerance, which is never negative), and the run is refused below.
                out.fill(T::from_f64(0.0));
                return surface.value(&at);
            }
            surface.gradient(&at, &mut grad);
            if let Some(noise) = &mut noise {
                noise.perturb(&mut grad);
            }
            for (o, g) in out.iter_mut().zip(&grad) {
                *o = T::from_f64(*g);
            }
            if run.record_states && first_gradient.is_empty() {
                first_gradient.extend(out.iter().map(|g| g.to_f64()));
            }
            // L-BFGS's line search compares losses.
            surface.value(&at)
        })?;
        if clock.passed {
            return Err(LandscapeError::Deadline { steps: step });
        }
        let point: Vec<f64> = if evaluates {
            // Schedule-Free: the point to report is the evaluation point; θ stays where gradients are taken.
            let (mut copy, mut x) = (theta.clone(), Vec::with_capacity(dim));
            optimizer.optimizer_mut().evaluate(&mut [&mut copy], &mut |points| {
                x.extend(points[0].iter().map(|v| v.to_f64()));
            })?;
            x
        } else {
            theta.iter().map(|v| v.to_f64()).collect()
        };
        let loss = surface.value(&point);
        let finite = loss.is_finite() && point.iter().all(|v| v.is_finite());
        trajectory.points.push(point);
        trajectory.losses.push(loss);
        trajectory.evaluations.push(optimizer.evaluations());
        if run.record_states {
            trajectory.states.push(StepState::of(&*optimizer.optimizer_mut(), &first_gradient));
        }
        if !finite {
            trajectory.diverged = true;
            break;
        }
        if let Some(scheduler) = &mut scheduler {
            match scheduler.watches_metric() {
                true => scheduler.step_with_metric(optimizer.optimizer_mut(), loss)?,
                false => scheduler.step(optimizer.optimizer_mut())?,
            }
        }
    }
    Ok(trajectory)
}
