//! How parameters are registered with an optimizer: their names, lengths and groups.

/// A parameter the optimizer will update: its length, and optionally a name to find its state by.
///
/// The caller keeps the values; the optimizer only needs the length (to create state and to check every step's
/// slices) and identifies the parameter by its position across all groups, as PyTorch's `state_dict` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub(crate) name: Option<String>,
    pub(crate) len: usize,
}

impl Param {
    /// An unnamed parameter of `len` elements.
    pub fn new(len: usize) -> Self {
        Param { name: None, len }
    }

    /// A parameter of `len` elements called `name` (unique within the optimizer).
    pub fn named(name: impl Into<String>, len: usize) -> Self {
        Param { name: Some(name.into()), len }
    }

    /// The parameter's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the parameter has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Parameters that share hyperparameters (PyTorch's `param_groups` entry).
#[derive(Debug, Clone, PartialEq)]
pub struct Group<R> {
    /// The hyperparameters of every parameter in the group.
    pub hyper: R,
    /// The parameters, in order.
    pub params: Vec<Param>,
}

impl<R> Group<R> {
    /// A group of `params` with hyperparameters `hyper`.
    pub fn new(hyper: R, params: impl IntoIterator<Item = Param>) -> Self {
        Group { hyper, params: params.into_iter().collect() }
    }
}
