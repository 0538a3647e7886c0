//! A scheduler argument given once for all groups or once per group, as PyTorch's `_format_param` reads it.

use serde::{Deserialize, Serialize};

use super::base::invalid;
use crate::Error;

/// One value for every group (`max_lr=0.1`), or one per group (`max_lr=[0.1, 0.01]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerGroup {
    /// The same value for every group.
    All(f64),
    /// One value per group, in group order.
    Each(Vec<f64>),
}

impl PerGroup {
    /// The value of each of `groups` groups, or PyTorch's error for a list of another length.
    pub(crate) fn values(&self, scheduler: &'static str, name: &str, groups: usize) -> Result<Vec<f64>, Error> {
        match self {
            PerGroup::All(v) => Ok(vec![*v; groups]),
            PerGroup::Each(values) if values.len() == groups => Ok(values.clone()),
            PerGroup::Each(values) => {
                Err(invalid(scheduler, format!("expected {groups} values for {name}, got {}", values.len())))
            }
        }
    }

    /// Whether every value satisfies `ok`.
    pub(crate) fn all(&self, ok: impl Fn(f64) -> bool) -> bool {
        match self {
            PerGroup::All(v) => ok(*v),
            PerGroup::Each(values) => values.iter().all(|v| ok(*v)),
        }
    }
}

impl From<f64> for PerGroup {
    fn from(value: f64) -> Self {
        PerGroup::All(value)
    }
}
