//! A surface that stops computing at a request's deadline, so that drawing a map or a picture ends within the time
//! limit as a race does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use descent_landscape::{CriticalPoint, Domain, Surface};

use super::ApiError;

/// `surface` until `deadline`; past it, every value is NaN (at once: nothing more is computed), and
/// [`TimeLimited::finish`] turns what was drawn into the time-limit error.
pub struct TimeLimited<'a> {
    surface: &'a dyn Surface,
    deadline: Instant,
    expired: AtomicBool,
}

impl<'a> TimeLimited<'a> {
    /// `surface`, computed until `deadline`.
    pub fn new(surface: &'a dyn Surface, deadline: Instant) -> TimeLimited<'a> {
        TimeLimited { surface, deadline, expired: AtomicBool::new(false) }
    }

    /// `drawn` if every value was computed before the deadline; the time-limit error otherwise.
    pub fn finish<T>(&self, drawn: T, what: &str) -> Result<T, ApiError> {
        if self.expired.load(Ordering::Relaxed) {
            Err(ApiError::bad(format!(
                "drawing the {what} took too long: stopped at its time limit (a smaller picture or a simpler function)"
            )))
        } else {
            Ok(drawn)
        }
    }

    fn running(&self) -> bool {
        if self.expired.load(Ordering::Relaxed) {
            return false;
        }
        let running = Instant::now() < self.deadline;
        if !running {
            self.expired.store(true, Ordering::Relaxed);
        }
        running
    }
}

impl Surface for TimeLimited<'_> {
    fn name(&self) -> &str {
        self.surface.name()
    }

    fn formula(&self) -> String {
        self.surface.formula()
    }

    fn dim(&self) -> usize {
        self.surface.dim()
    }

    fn value(&self, theta: &[f64]) -> f64 {
        if self.running() {
            self.surface.value(theta)
        } else {
            f64::NAN
        }
    }

    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        if self.running() {
            self.surface.gradient(theta, grad);
        } else {
            grad.fill(f64::NAN);
        }
    }

    fn critical_points(&self) -> Vec<CriticalPoint> {
        self.surface.critical_points()
    }

    fn domain(&self) -> Domain {
        self.surface.domain()
    }

    fn default_start(&self) -> Vec<f64> {
        self.surface.default_start()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn values_stop_at_the_deadline_and_the_drawing_is_refused() {
        let (surface, _) = crate::function::resolve("rosenbrock", None, Some(2)).unwrap();
        let limited = TimeLimited::new(surface.as_ref(), Instant::now() + Duration::from_secs(3600));
        assert_eq!(limited.value(&[1.0, 1.0]), 0.0);
        assert_eq!(limited.finish(7, "map").unwrap(), 7);
        let late = TimeLimited::new(surface.as_ref(), Instant::now());
        assert!(late.value(&[1.0, 1.0]).is_nan());
        let mut grad = [0.0; 2];
        late.gradient(&[0.0, 0.0], &mut grad);
        assert!(grad.iter().all(|g| g.is_nan()));
        let error = late.finish(7, "map").unwrap_err();
        assert!(error.message.contains("drawing the map took too long"), "{}", error.message);
    }
}
