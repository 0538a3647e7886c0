//! The body of `POST /api/race` (and of `/api/tune` and `/api/picture`): what to run, checked against the
//! explorer's bounds, and the `descent race` command that runs the same in a terminal.

use std::time::{Duration, Instant};

use descent::optim::ARTICLE;
use descent::schedule::ScheduleSpec;
use descent::Spec;
use descent_landscape::{Entrant, Noise, Precision, Run, Surface};
use serde::Deserialize;

use super::{ApiError, MAX_OPTIMIZERS, MAX_SPEC_CHARS, MAX_STATE_STEPS, MAX_STEPS, MAX_TOTAL_STEPS};
use crate::function;

/// A race, as the page and scripts send it. Only `function` is required.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaceRequest {
    /// A built-in surface's name or an expression in x and y.
    pub function: String,
    /// The start point [x, y] (default: the surface's own).
    #[serde(default)]
    pub start: Option<Vec<f64>>,
    /// Steps of each run.
    #[serde(default = "default_steps")]
    pub steps: u64,
    /// Optimizer specs, as on the command line (default: the article's seven).
    #[serde(default)]
    pub optimizers: Vec<String>,
    /// The standard deviation of the gradient noise (0: none).
    #[serde(default)]
    pub noise: f64,
    /// The seed of the gradient noise.
    #[serde(default)]
    pub seed: u64,
    /// A learning-rate schedule, as `--lr-schedule` takes it.
    #[serde(default)]
    pub lr_schedule: Option<String>,
    /// `"f64"` (the default) or `"f32"`.
    #[serde(default)]
    pub dtype: Option<String>,
    /// The distance from a known minimum that counts as reaching it.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Whether each run also gives the optimizer's state after every step.
    #[serde(default)]
    pub states: bool,
}

fn default_steps() -> u64 {
    200
}

fn default_tolerance() -> f64 {
    1e-3
}

/// A race request, checked: ready to run.
pub struct Race {
    pub surface: Box<dyn Surface>,
    pub entrants: Vec<Entrant>,
    pub config: Run,
    pub tolerance: f64,
}

impl RaceRequest {
    /// Parses a request body.
    pub fn parse(body: &[u8]) -> Result<RaceRequest, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("invalid request: {e}")))
    }

    /// Checks the request against the explorer's bounds and builds what it asks for; the runs must end within
    /// `time_limit` from now.
    pub fn check(&self, time_limit: Duration) -> Result<Race, ApiError> {
        if let Some(start) = &self.start {
            if start.len() != 2 {
                return Err(ApiError::bad(format!("start has {} coordinates; the explorer draws two", start.len())));
            }
        }
        let (surface, start) = function::resolve(&self.function, self.start.clone(), Some(2)).map_err(ApiError::bad)?;
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(ApiError::bad(format!("steps = {} is out of range (1 to {MAX_STEPS})", self.steps)));
        }
        if self.optimizers.len() > MAX_OPTIMIZERS {
            return Err(ApiError::bad(format!("{} optimizers given, at most {MAX_OPTIMIZERS}", self.optimizers.len())));
        }
        let entrants = if self.optimizers.is_empty() {
            crate::race::entrants(&ARTICLE)
        } else {
            self.optimizers.iter().map(|text| entrant(text)).collect::<Result<_, _>>()?
        };
        let total = self.steps * entrants.len() as u64;
        let most = if self.states { MAX_STATE_STEPS } else { MAX_TOTAL_STEPS };
        if total > most {
            return Err(ApiError::bad(format!(
                "{} steps × {} optimizers = {total} steps in all, at most {most}{}",
                self.steps,
                entrants.len(),
                if self.states { " with states" } else { "" }
            )));
        }
        let noise =
            if self.noise == 0.0 { None } else { Some(Noise::new(self.noise, self.seed).map_err(ApiError::bad)?) };
        let schedule = match &self.lr_schedule {
            Some(text) if !text.trim().is_empty() => {
                check_length("lr_schedule", text)?;
                Some(text.parse::<ScheduleSpec>().map_err(ApiError::bad)?)
            }
            _ => None,
        };
        let precision = match self.dtype.as_deref() {
            None => Precision::F64,
            Some(text) => text.parse().map_err(ApiError::bad)?,
        };
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(ApiError::bad(format!("invalid tolerance {} (expected a distance >= 0)", self.tolerance)));
        }
        let config = Run {
            noise,
            precision,
            schedule,
            record_states: self.states,
            deadline: Some(Instant::now() + time_limit),
            ..Run::new(start, self.steps as usize)
        };
        config.check(surface.as_ref()).map_err(ApiError::bad)?;
        Ok(Race { surface, entrants, config, tolerance: self.tolerance })
    }
}

/// One optimizer of a request: its spec, which is also its label.
fn entrant(text: &str) -> Result<Entrant, ApiError> {
    check_length("an optimizer spec", text)?;
    let spec: Spec = text.parse().map_err(ApiError::bad)?;
    Ok(Entrant { label: text.trim().to_owned(), spec })
}

fn check_length(what: &str, text: &str) -> Result<(), ApiError> {
    let length = text.chars().count();
    if length > MAX_SPEC_CHARS {
        return Err(ApiError::bad(format!("{what} has {length} characters, at most {MAX_SPEC_CHARS}")));
    }
    Ok(())
}

impl Race {
    /// The `descent race` command that runs the same race in a terminal.
    pub fn command(&self) -> String {
        let start: Vec<String> = self.config.start.iter().map(|v| format!("{v:?}")).collect();
        let mut words = vec![
            "descent race".to_owned(),
            format!("--function={}", quote(self.surface.name())),
            format!("--start={}", start.join(",")),
            format!("--steps {}", self.config.steps),
            "-o".to_owned(),
        ];
        words.extend(self.entrants.iter().map(|e| quote(&e.label)));
        if let Some(noise) = self.config.noise {
            words.push(format!("--noise {:?} --seed {}", noise.sigma(), noise.seed()));
        }
        if let Some(schedule) = &self.config.schedule {
            words.push(format!("--lr-schedule {}", quote(&schedule.to_string())));
        }
        if self.config.precision != Precision::F64 {
            words.push(format!("--dtype {}", self.config.precision.name()));
        }
        if self.tolerance != default_tolerance() {
            words.push(format!("--tolerance {:?}", self.tolerance));
        }
        words.join(" ")
    }
}

/// `text` as one word of a POSIX shell: bare if it is plain, in single quotes otherwise.
fn quote(text: &str) -> String {
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "_-.,=/:+".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(quote("himmelblau"), "himmelblau");
        assert_eq!(quote("adam(lr=0.1)"), "'adam(lr=0.1)'");
        assert_eq!(quote("x^2 - y^2"), "'x^2 - y^2'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
