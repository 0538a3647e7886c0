//! What a schedule does over a run, before the run: the learning rate (and momentum) of every step.

use super::{LrGroup, ScheduleSpec, Scheduler};
use crate::Error;

/// The learning rates, and the momenta if the schedule cycles them, of each step: one row per step, one column per
/// group.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    /// The learning rate of each group at each step.
    pub lrs: Vec<Vec<f64>>,
    /// The momentum of each group at each step, if the schedule cycles it.
    pub momenta: Option<Vec<Vec<f64>>>,
}

/// A schedule that cannot drive the groups, or that ends before the run does.
#[derive(Debug, thiserror::Error)]
#[error("{error}{}", if *.step > 0 { format!(" (after step {} of {})", .step, .steps) } else { String::new() })]
pub struct PreviewError {
    /// The step after which the scheduler failed; 0 if it could not start.
    pub step: usize,
    /// The steps asked for.
    pub steps: usize,
    /// What went wrong.
    pub error: Error,
}

impl ScheduleSpec {
    /// The rows of `steps` optimizer steps on groups that start at `lrs` (with momentum 0.9 for the schedules
    /// that cycle it, which set their own at once). The scheduler steps after every row, as after every optimizer
    /// step, so a schedule shorter than the run (OneCycleLR's `total_steps`) fails here as it would in the run.
    /// ReduceLROnPlateau follows a metric and has no rows: it fails at its first step.
    pub fn preview(&self, lrs: &[f64], steps: usize) -> Result<Preview, PreviewError> {
        let mut groups: Vec<LrGroup> = lrs.iter().map(|&lr| LrGroup::with_momentum(lr, 0.9)).collect();
        let mut scheduler =
            Scheduler::new(self, &mut groups).map_err(|error| PreviewError { step: 0, steps, error })?;
        let mut preview =
            Preview { lrs: Vec::with_capacity(steps), momenta: scheduler.cycles_momentum().then(Vec::new) };
        for step in 1..=steps {
            preview.lrs.push(groups.iter().map(|g| g.lr).collect());
            if let Some(momenta) = &mut preview.momenta {
                momenta.push(groups.iter().map(|g| g.momentum.unwrap_or(f64::NAN)).collect());
            }
            scheduler.step(&mut groups).map_err(|error| PreviewError { step, steps, error })?;
        }
        Ok(preview)
    }
}

#[cfg(test)]
mod tests {
    use super::ScheduleSpec;

    #[test]
    fn rows_follow_the_schedule_and_a_short_one_fails_at_its_end() {
        let spec: ScheduleSpec = "step(step_size=2, gamma=0.5)".parse().unwrap();
        let preview = spec.preview(&[1.0, 0.1], 5).unwrap();
        let first: Vec<f64> = preview.lrs.iter().map(|row| row[0]).collect();
        assert_eq!(first, [1.0, 1.0, 0.5, 0.5, 0.25]);
        assert_eq!(preview.lrs[4][1], 0.025);
        assert!(preview.momenta.is_none());

        let spec: ScheduleSpec = "onecycle(max_lr=0.1, total_steps=3)".parse().unwrap();
        assert_eq!(spec.preview(&[0.1], 3).unwrap().momenta.map(|m| m.len()), Some(3));
        let error = spec.preview(&[0.1], 4).unwrap_err();
        assert_eq!((error.step, error.steps), (4, 4), "the fourth step is one past the end, as in PyTorch");
        assert!(error.to_string().ends_with("(after step 4 of 4)"), "{error}");
    }
}
