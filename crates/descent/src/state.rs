//! The state an optimizer keeps for one parameter.

/// One parameter's optimizer state, under PyTorch's names: the step counter (if the optimizer counts steps) and
/// the state tensors (`momentum_buffer`, `exp_avg`, `exp_avg_sq`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamState<T> {
    pub(crate) step: Option<f32>,
    pub(crate) names: &'static [&'static str],
    pub(crate) tensors: Vec<Vec<T>>,
}

impl<T: Clone> ParamState<T> {
    pub(crate) fn new(names: &'static [&'static str], counts_steps: bool, len: usize, initial: T) -> Self {
        ParamState {
            step: counts_steps.then_some(0.0),
            names,
            tensors: names.iter().map(|_| vec![initial.clone(); len]).collect(),
        }
    }

    /// PyTorch's `state["step"]`: how many steps this parameter has taken, or `None` for optimizers that do not
    /// count (SGD).
    ///
    /// Like PyTorch's, the counter is an `f32`: it stops growing at 2²⁴ = 16,777,216 steps.
    pub fn step(&self) -> Option<f32> {
        self.step
    }

    /// The state tensor called `name`, if this state has one.
    pub fn get(&self, name: &str) -> Option<&[T]> {
        self.names.iter().position(|n| *n == name).map(|i| self.tensors[i].as_slice())
    }

    /// Every state tensor with its name, in PyTorch's order.
    pub fn tensors(&self) -> impl Iterator<Item = (&'static str, &[T])> {
        self.names.iter().copied().zip(self.tensors.iter().map(Vec::as_slice))
    }

    /// The names of the state tensors, in PyTorch's order.
    pub fn names(&self) -> &'static [&'static str] {
        self.names
    }
}
