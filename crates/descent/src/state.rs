//! The state an optimizer keeps for one parameter: named tensors of any shape, named scalars and a step counter,
//! with a layout that is known when the optimizer is built.

use crate::{CompactTensor, CompactType, Error, Float, Shape};

/// The most state tensors a rule can update element by element in its fused pass (Adam with AMSGrad and RMSprop
/// centered with momentum use three). Tensors of other shapes, updated by the per-tensor stage, are not limited.
pub const MAX_ELEMENTWISE_TENSORS: usize = 4;

/// What state a parameter needs: declared by [`Rule::layout`](crate::Rule::layout) for a parameter's shape, and
/// checked when the parameter is registered.
///
/// ```
/// use descent::{Shape, StateLayout};
///
/// let adam = StateLayout::new().step().elementwise("exp_avg", 0.0).elementwise("exp_avg_sq", 0.0);
/// assert_eq!(adam.names(), ["exp_avg", "exp_avg_sq"]);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateLayout {
    pub(crate) step: bool,
    pub(crate) eager: bool,
    /// Element-wise tensors first (they have the parameter's shape and go through the fused pass), then the others.
    pub(crate) tensors: Vec<TensorLayout>,
    pub(crate) elementwise: usize,
    pub(crate) scalars: Vec<(&'static str, f64)>,
    /// Compact tensors: name, storage type, shape (`None`: the parameter's).
    pub(crate) compact: Vec<(&'static str, CompactType, Option<Shape>)>,
}

/// One state tensor of a layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorLayout {
    pub(crate) name: &'static str,
    /// `None`: the parameter's shape.
    pub(crate) shape: Option<Shape>,
    pub(crate) initial: f64,
}

impl StateLayout {
    /// No state at all (plain SGD).
    pub fn new() -> Self {
        StateLayout::default()
    }

    /// A compact tensor (8-bit codes, their scales, bfloat16 values) of `shape` (`None`: the parameter's),
    /// starting at zero, which only a per-tensor stage updates.
    pub fn compact(mut self, name: &'static str, kind: CompactType, shape: Option<Shape>) -> Self {
        self.compact.push((name, kind, shape));
        self
    }

    /// The state counts steps: PyTorch's `state["step"]`, an `f32`.
    pub fn step(mut self) -> Self {
        self.step = true;
        self
    }

    /// The state is created when the parameter is registered, not at its first gradient (Adagrad).
    pub fn eager(mut self) -> Self {
        self.eager = true;
        self
    }

    /// A tensor of the parameter's shape, starting at `initial`, that the element-wise rule updates: the rule's
    /// `state` slice holds these in the order they are declared.
    pub fn elementwise(mut self, name: &'static str, initial: f64) -> Self {
        self.tensors.insert(self.elementwise, TensorLayout { name, shape: None, initial });
        self.elementwise += 1;
        self
    }

    /// A tensor of its own shape (Adafactor's row and column factors), starting at `initial`, for the per-tensor
    /// stage.
    pub fn tensor(mut self, name: &'static str, shape: impl Into<Shape>, initial: f64) -> Self {
        self.tensors.push(TensorLayout { name, shape: Some(shape.into()), initial });
        self
    }

    /// A named scalar (NAdam's `mu_product`), starting at `initial`.
    pub fn scalar(mut self, name: &'static str, initial: f64) -> Self {
        self.scalars.push((name, initial));
        self
    }

    /// Whether the state counts steps (`step`).
    pub fn counts_steps(&self) -> bool {
        self.step
    }

    /// The names of the scalars, in the order declared.
    pub fn scalar_names(&self) -> Vec<&'static str> {
        self.scalars.iter().map(|(name, _)| *name).collect()
    }

    /// The names of the state tensors, element-wise ones first, each in the order declared.
    pub fn names(&self) -> Vec<&'static str> {
        self.tensors.iter().map(|t| t.name).chain(self.compact.iter().map(|c| c.0)).collect()
    }

    /// Whether every state tensor has the parameter's shape and goes through the fused pass (no tensor of its
    /// own shape, no compact tensor).
    pub(crate) fn is_elementwise(&self) -> bool {
        self.tensors.len() == self.elementwise && self.compact.is_empty()
    }

    /// Whether the state has anything in it; a parameter whose layout is empty never gets state.
    pub(crate) fn is_empty(&self) -> bool {
        !self.step && self.tensors.is_empty() && self.scalars.is_empty() && self.compact.is_empty()
    }

    /// Checks that the fused pass can run this layout for a parameter of `shape`.
    pub(crate) fn check(&self, optimizer: &'static str, shape: &Shape) -> Result<(), Error> {
        if self.elementwise > MAX_ELEMENTWISE_TENSORS {
            return Err(Error::TooManyStateTensors {
                optimizer,
                count: self.elementwise,
                max: MAX_ELEMENTWISE_TENSORS,
            });
        }
        let mut names: Vec<&str> = self.names();
        names.extend(self.scalars.iter().map(|(n, _)| *n));
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(Error::DuplicateStateName { optimizer, name: pair[0].to_owned() });
        }
        for tensor in &self.tensors {
            let shape = tensor.shape.as_ref().unwrap_or(shape);
            if shape.checked_len().is_none() {
                return Err(Error::ShapeTooLarge { param: tensor.name.to_owned(), shape: shape.to_string() });
            }
        }
        Ok(())
    }

    /// Checks an optimizer-wide layout: no element-wise tensors, and shapes that fit in memory.
    pub(crate) fn check_global(&self, optimizer: &'static str) -> Result<(), Error> {
        if self.elementwise > 0 {
            return Err(Error::InvalidCombination {
                optimizer,
                reason: "optimizer-wide state cannot have element-wise tensors (they take a parameter's shape)",
            });
        }
        self.check(optimizer, &Shape::from(0))
    }

    /// Whether `state` has exactly this layout's entries, for a parameter of `shape` (without building a state).
    pub(crate) fn fits<T>(&self, state: &ParamState<T>, shape: &Shape) -> bool {
        self.step == state.step.is_some()
            && self.tensors.len() == state.tensors.len()
            && self
                .tensors
                .iter()
                .zip(&state.tensors)
                .all(|(l, t)| l.name == t.name && *l.shape.as_ref().unwrap_or(shape) == t.shape)
            && self.compact.len() == state.compact.len()
            && self.compact.iter().zip(&state.compact).all(|((name, kind, s), c)| {
                *name == c.name && *kind == c.data.kind() && *s.as_ref().unwrap_or(shape) == c.shape
            })
            && self.scalars.len() == state.scalars.len()
            && self.scalars.iter().zip(&state.scalars).all(|((a, _), (b, _))| a == b)
    }

    /// The layout in words, for errors: `[step, exp_avg, exp_avg_sq]`.
    pub(crate) fn describe(&self) -> String {
        describe(self.step, self.names().into_iter(), &self.scalars)
    }

    /// Fresh state for a parameter of `shape`.
    pub(crate) fn create<T: Float>(&self, shape: &Shape) -> ParamState<T> {
        ParamState {
            step: self.step.then_some(0.0),
            tensors: self
                .tensors
                .iter()
                .map(|t| {
                    let shape = t.shape.clone().unwrap_or_else(|| shape.clone());
                    let values = vec![T::from_f64(t.initial); shape.len()];
                    StateTensor { name: t.name, shape, values }
                })
                .collect(),
            elementwise: self.elementwise,
            scalars: self.scalars.clone(),
            compact: self
                .compact
                .iter()
                .map(|(name, kind, own)| {
                    let shape = own.clone().unwrap_or_else(|| shape.clone());
                    CompactTensor { name, data: kind.zeros(shape.len()), shape }
                })
                .collect(),
        }
    }
}

/// One named state tensor: its shape and values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct StateTensor<T> {
    pub(crate) name: &'static str,
    pub(crate) shape: Shape,
    pub(crate) values: Vec<T>,
}

impl<T> StateTensor<T> {
    /// PyTorch's name, e.g. `"exp_avg"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The tensor's shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The values, row-major.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// The values, to change in a per-tensor stage.
    pub fn values_mut(&mut self) -> &mut [T] {
        &mut self.values
    }
}

/// One parameter's optimizer state, under PyTorch's names: the step counter (if the optimizer counts steps), the
/// state tensors (`momentum_buffer`, `exp_avg`, `exp_avg_sq`, …) and named scalars (`mu_product`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamState<T> {
    pub(crate) step: Option<f32>,
    pub(crate) tensors: Vec<StateTensor<T>>,
    pub(crate) elementwise: usize,
    pub(crate) scalars: Vec<(&'static str, f64)>,
    pub(crate) compact: Vec<CompactTensor>,
}

impl<T> ParamState<T> {
    /// PyTorch's `state["step"]`: how many steps this parameter has taken, or `None` for optimizers that do not
    /// count (SGD).
    ///
    /// Like PyTorch's, the counter is an `f32`: it stops growing at 2²⁴ = 16,777,216 steps.
    pub fn step(&self) -> Option<f32> {
        self.step
    }

    /// The state tensor called `name`, if this state has one.
    pub fn get(&self, name: &str) -> Option<&[T]> {
        self.tensor(name).map(StateTensor::values)
    }

    /// The state tensor called `name`, with its shape.
    pub fn tensor(&self, name: &str) -> Option<&StateTensor<T>> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The state tensor called `name`, to change in a per-tensor stage.
    pub fn tensor_mut(&mut self, name: &str) -> Option<&mut StateTensor<T>> {
        self.tensors.iter_mut().find(|t| t.name == name)
    }

    /// Every state tensor with its name, element-wise ones first.
    pub fn tensors(&self) -> impl Iterator<Item = (&'static str, &[T])> {
        self.tensors.iter().map(|t| (t.name, t.values.as_slice()))
    }

    /// The names of the state tensors, element-wise ones first, compact ones last.
    pub fn names(&self) -> Vec<&'static str> {
        self.tensors.iter().map(|t| t.name).chain(self.compact.iter().map(|c| c.name)).collect()
    }

    /// The compact state tensors (8-bit codes and their scales, bfloat16 values), in the order of the layout.
    pub fn compact(&self) -> &[CompactTensor] {
        &self.compact
    }

    /// The memory of its tensors in bytes: the full-precision ones and the compact ones (codes, scales, bfloat16
    /// values).
    pub fn bytes(&self) -> usize {
        let full: usize = self.tensors.iter().map(|t| std::mem::size_of_val(t.values.as_slice())).sum();
        full + self.compact.iter().map(|c| c.data().len() * c.data().kind().size()).sum::<usize>()
    }

    /// The compact state tensors, to change in a per-tensor stage.
    pub fn compact_mut(&mut self) -> &mut [CompactTensor] {
        &mut self.compact
    }

    /// The named scalar `name`, if this state has one.
    pub fn scalar(&self, name: &str) -> Option<f64> {
        self.scalars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// Sets the named scalar `name` (in a per-tensor stage); `false` if the state has no such scalar.
    pub fn set_scalar(&mut self, name: &str, value: f64) -> bool {
        match self.scalars.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                *v = value;
                true
            }
            None => false,
        }
    }

    /// The state in words, for errors: `[step, exp_avg, exp_avg_sq]`.
    pub(crate) fn describe(&self) -> String {
        describe(self.step.is_some(), self.names().into_iter(), &self.scalars)
    }

    /// Every named scalar with its value, in the order of the layout.
    pub fn scalars(&self) -> &[(&'static str, f64)] {
        &self.scalars
    }
}

/// A state or a layout in words, for errors: `[step, exp_avg, exp_avg_sq]`.
fn describe<'a>(step: bool, tensors: impl Iterator<Item = &'a str>, scalars: &[(&'static str, f64)]) -> String {
    let names: Vec<&str> =
        step.then_some("step").into_iter().chain(tensors).chain(scalars.iter().map(|(name, _)| *name)).collect();
    format!("[{}]", names.join(", "))
}
