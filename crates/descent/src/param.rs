//! How parameters are registered with an optimizer: their names, shapes and groups.

use crate::Error;

/// The shape of a parameter or a state tensor: its size along each dimension (`[]` for a scalar, `[n]` for a
/// vector, `[rows, cols]` for a matrix), in row-major order as PyTorch lays tensors out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// The sizes along each dimension.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// The number of dimensions (0 for a scalar).
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The number of elements, or `None` if it does not fit in a `usize`.
    pub fn checked_len(&self) -> Option<usize> {
        self.0.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }

    /// The number of elements (the caller knows it fits: every shape an optimizer holds has been checked).
    pub(crate) fn len(&self) -> usize {
        self.checked_len().expect("shapes are checked when registered")
    }
}

impl From<usize> for Shape {
    fn from(len: usize) -> Self {
        Shape(vec![len])
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(dims: [usize; N]) -> Self {
        Shape(dims.to_vec())
    }
}

impl From<Vec<usize>> for Shape {
    fn from(dims: Vec<usize>) -> Self {
        Shape(dims)
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dims: Vec<String> = self.0.iter().map(usize::to_string).collect();
        write!(f, "[{}]", dims.join(", "))
    }
}

/// A parameter the optimizer will update: its shape, and optionally a name to find its state by.
///
/// The caller keeps the values, as a flat slice in row-major order; the optimizer needs the shape to create state,
/// to check every step's slices, and for the rules that work on whole matrices (Muon, Adafactor). It identifies the
/// parameter by its position across all groups, as PyTorch's `state_dict` does, or by its name.
///
/// ```
/// use descent::Param;
///
/// assert_eq!(Param::new(3).len(), 3); // a vector
/// assert_eq!(Param::named("w", [4, 3]).len(), 12); // a 4×3 matrix
/// assert_eq!(Param::vector(5).shape().dims(), [5]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub(crate) name: Option<String>,
    pub(crate) shape: Shape,
}

impl Param {
    /// An unnamed parameter of the given shape: a length (`Param::new(3)`) or dimensions (`Param::new([4, 3])`).
    pub fn new(shape: impl Into<Shape>) -> Self {
        Param { name: None, shape: shape.into() }
    }

    /// An unnamed vector of `len` elements.
    pub fn vector(len: usize) -> Self {
        Param::new(len)
    }

    /// A parameter of the given shape called `name` (unique within the optimizer).
    pub fn named(name: impl Into<String>, shape: impl Into<Shape>) -> Self {
        Param { name: Some(name.into()), shape: shape.into() }
    }

    /// The parameter's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The parameter's shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The number of elements.
    ///
    /// # Panics
    /// If the shape's element count overflows a `usize` (an optimizer refuses such a parameter when it is
    /// registered).
    pub fn len(&self) -> usize {
        self.shape.len()
    }

    /// Whether the parameter has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How errors name the parameter at `position`: its name, or its position.
    pub fn label(&self, position: usize) -> String {
        match &self.name {
            Some(name) => format!("{name:?}"),
            None => format!("#{position}"),
        }
    }

    /// Refuses a shape whose element count does not fit in memory's address space.
    pub(crate) fn check(&self, position: usize) -> Result<(), Error> {
        match self.shape.checked_len() {
            Some(_) => Ok(()),
            None => Err(Error::ShapeTooLarge { param: self.label(position), shape: self.shape.to_string() }),
        }
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
