//! What a scheduler drives: the learning rate, and the momentum or β₁, of each parameter group.

use serde_json::Value;

use crate::{DynOptimizer, Error, Float, Optimizer, Rule};

/// Parameter groups whose learning rate (and momentum or β₁) a [`Scheduler`](super::Scheduler) sets: every
/// optimizer, or plain [`LrGroup`]s to see a schedule without training anything.
pub trait LrGroups {
    /// How many groups there are.
    fn group_count(&self) -> usize;
    /// Group `group`'s learning rate.
    fn lr(&self, group: usize) -> Result<f64, Error>;
    /// Sets group `group`'s learning rate.
    fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error>;
    /// Group `group`'s `momentum`, or `betas[0]` for the Adam family; `None` if its optimizer has neither.
    fn momentum(&self, group: usize) -> Result<Option<f64>, Error>;
    /// Sets what [`momentum`](Self::momentum) reads.
    fn set_momentum(&mut self, group: usize, momentum: f64) -> Result<(), Error>;
}

/// A parameter group's learning rate and momentum, without an optimizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrGroup {
    /// The learning rate.
    pub lr: f64,
    /// The momentum or β₁, if the optimizer it stands for has one.
    pub momentum: Option<f64>,
}

impl LrGroup {
    /// A group with learning rate `lr` and no momentum.
    pub fn new(lr: f64) -> Self {
        LrGroup { lr, momentum: None }
    }

    /// A group with learning rate `lr` and momentum (or β₁) `momentum`.
    pub fn with_momentum(lr: f64, momentum: f64) -> Self {
        LrGroup { lr, momentum: Some(momentum) }
    }
}

impl LrGroups for [LrGroup] {
    fn group_count(&self) -> usize {
        self.len()
    }

    fn lr(&self, group: usize) -> Result<f64, Error> {
        Ok(plain(self, group)?.lr)
    }

    fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        let count = self.len();
        self.get_mut(group).ok_or(Error::NoSuchGroup { index: group, count })?.lr = lr;
        Ok(())
    }

    fn momentum(&self, group: usize) -> Result<Option<f64>, Error> {
        Ok(plain(self, group)?.momentum)
    }

    fn set_momentum(&mut self, group: usize, momentum: f64) -> Result<(), Error> {
        let count = self.len();
        self.get_mut(group).ok_or(Error::NoSuchGroup { index: group, count })?.momentum = Some(momentum);
        Ok(())
    }
}

impl LrGroups for Vec<LrGroup> {
    fn group_count(&self) -> usize {
        self.len()
    }

    fn lr(&self, group: usize) -> Result<f64, Error> {
        self.as_slice().lr(group)
    }

    fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        self.as_mut_slice().set_lr(group, lr)
    }

    fn momentum(&self, group: usize) -> Result<Option<f64>, Error> {
        self.as_slice().momentum(group)
    }

    fn set_momentum(&mut self, group: usize, momentum: f64) -> Result<(), Error> {
        self.as_mut_slice().set_momentum(group, momentum)
    }
}

fn plain(groups: &[LrGroup], group: usize) -> Result<&LrGroup, Error> {
    groups.get(group).ok_or(Error::NoSuchGroup { index: group, count: groups.len() })
}

/// The momentum of a group whose hyperparameters are read by name: `momentum`, else `betas[0]`.
fn named_momentum(read: impl Fn(&str) -> Result<Value, Error>) -> Option<f64> {
    if let Ok(Value::Number(m)) = read("momentum") {
        return m.as_f64();
    }
    match read("betas") {
        Ok(Value::Array(betas)) => betas.first().and_then(Value::as_f64),
        _ => None,
    }
}

/// Sets `momentum`, else `betas[0]`, through hyperparameters written by name.
fn set_named_momentum(
    read: impl Fn(&str) -> Result<Value, Error>,
    mut write: impl FnMut(&str, Value) -> Result<(), Error>,
    momentum: f64,
) -> Result<(), Error> {
    let number = |v: f64| serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null);
    if let Ok(Value::Number(_)) = read("momentum") {
        return write("momentum", number(momentum));
    }
    match read("betas")? {
        Value::Array(mut betas) if !betas.is_empty() => {
            betas[0] = number(momentum);
            write("betas", Value::Array(betas))
        }
        other => Err(Error::HyperparameterValue {
            optimizer: "scheduler",
            name: "betas".to_owned(),
            message: format!("expected a pair, found {other}"),
        }),
    }
}

/// [`LrGroups`] for an optimizer type, through its methods of the same names.
macro_rules! optimizer_lr_groups {
    ($target:ty, $($generics:tt)*) => {
        impl<$($generics)*> LrGroups for $target {
            fn group_count(&self) -> usize {
                <$target>::group_count(self)
            }

            fn lr(&self, group: usize) -> Result<f64, Error> {
                <$target>::lr(self, group)
            }

            fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error> {
                <$target>::set_lr(self, group, lr)
            }

            fn momentum(&self, group: usize) -> Result<Option<f64>, Error> {
                <$target>::hyperparameters(self, group)?;
                Ok(named_momentum(|name| self.hyperparameter(group, name)))
            }

            fn set_momentum(&mut self, group: usize, momentum: f64) -> Result<(), Error> {
                let current = (self.hyperparameter(group, "momentum"), self.hyperparameter(group, "betas"));
                let read_current = |name: &str| match name {
                    "momentum" => current.0.clone(),
                    _ => current.1.clone(),
                };
                set_named_momentum(read_current, |name, value| self.set_hyperparameter(group, name, value), momentum)
            }
        }
    };
}

optimizer_lr_groups!(dyn DynOptimizer<T> + '_, T: Float);
optimizer_lr_groups!(Optimizer<R, T>, R: Rule, T: Float);
