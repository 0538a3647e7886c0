//! The errors descent reports.

use thiserror::Error;

/// Everything that can go wrong when building or stepping an optimizer.
///
/// Every error is detected before any parameter or state value is written: an operation that returns an error has
/// changed nothing.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Error {
    /// A hyperparameter outside its valid range (or not finite).
    #[error("{optimizer}: invalid {name} = {value} (expected {expected})")]
    InvalidHyperparameter {
        /// The optimizer, e.g. `"Adam"`.
        optimizer: &'static str,
        /// PyTorch's name of the hyperparameter, e.g. `"betas[0]"`.
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// The accepted range, in words.
        expected: &'static str,
    },

    /// Hyperparameters that are valid one by one but not together.
    #[error("{optimizer}: {reason}")]
    InvalidCombination {
        /// The optimizer, e.g. `"SGD"`.
        optimizer: &'static str,
        /// What is wrong.
        reason: &'static str,
    },

    /// An optimizer needs at least one parameter.
    #[error("optimizer got an empty parameter list")]
    EmptyParameterList,

    /// Two parameters registered under one name.
    #[error("parameter name {0:?} is used twice")]
    DuplicateParameterName(String),

    /// A step was given a different number of parameters (or gradients) than the optimizer has.
    #[error("expected {expected} {what}, got {got}")]
    CountMismatch {
        /// `"parameters"` or `"gradients"`.
        what: &'static str,
        /// How many the optimizer has.
        expected: usize,
        /// How many were given.
        got: usize,
    },

    /// A parameter's length differs from the length it was registered with (and its state has).
    #[error("parameter {param}: has {got} elements, but was registered with {expected}")]
    ParameterLengthMismatch {
        /// The parameter's name, or its position.
        param: String,
        /// The registered length.
        expected: usize,
        /// The length given.
        got: usize,
    },

    /// A gradient's length differs from its parameter's.
    #[error("parameter {param}: gradient has {got} elements, parameter has {expected}")]
    GradientLengthMismatch {
        /// The parameter's name, or its position.
        param: String,
        /// The parameter's length.
        expected: usize,
        /// The gradient's length.
        got: usize,
    },

    /// A parameter position past the last parameter.
    #[error("no parameter at position {position} (the optimizer has {count})")]
    NoSuchParameter {
        /// The position asked for.
        position: usize,
        /// How many parameters there are.
        count: usize,
    },

    /// A parameter group index past the last group.
    #[error("no parameter group {index} (the optimizer has {count})")]
    NoSuchGroup {
        /// The index asked for.
        index: usize,
        /// How many groups there are.
        count: usize,
    },

    /// New hyperparameters for a group would need state tensors its parameters do not have (or the reverse).
    #[error("{optimizer}: these hyperparameters change the state tensors ({from} to {to}) of parameters that already have state")]
    StateLayoutChange {
        /// The optimizer.
        optimizer: &'static str,
        /// The state tensors the parameters have.
        from: String,
        /// The state tensors the new hyperparameters need.
        to: String,
    },
}
