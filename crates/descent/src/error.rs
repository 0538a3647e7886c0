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

    /// A parameter whose shape the optimizer cannot optimize (Muon on a vector).
    #[error("{optimizer} optimizes only {expected}, not a parameter of shape {shape}")]
    UnsupportedShape {
        /// The optimizer.
        optimizer: &'static str,
        /// The parameter's shape.
        shape: crate::Shape,
        /// The shapes it takes, in words.
        expected: &'static str,
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

    /// New hyperparameters for a group would need state its parameters do not have (or the reverse).
    #[error("{optimizer}: these hyperparameters change the state ({from} to {to}) of parameter {param}, which already has state")]
    StateLayoutChange {
        /// The optimizer.
        optimizer: &'static str,
        /// The parameter's name, or its position.
        param: String,
        /// The state tensors the parameters have.
        from: String,
        /// The state tensors the new hyperparameters need.
        to: String,
    },

    /// A shape whose element count overflows.
    #[error("parameter {param}: shape {shape} has more elements than memory can address")]
    ShapeTooLarge {
        /// The parameter (or state tensor).
        param: String,
        /// The shape.
        shape: String,
    },

    /// A state layout with more element-wise tensors than the fused pass takes.
    #[error("{optimizer}: the state layout has {count} element-wise tensors, at most {max} are supported")]
    TooManyStateTensors {
        /// The optimizer.
        optimizer: &'static str,
        /// How many the layout asks for.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// A state layout that names two entries alike.
    #[error("{optimizer}: the state layout names {name:?} twice")]
    DuplicateStateName {
        /// The optimizer.
        optimizer: &'static str,
        /// The name.
        name: String,
    },

    /// A sparse gradient names a row the parameter does not have.
    #[error("parameter {param}: row {index} of a sparse gradient is past its {rows} rows")]
    RowOutOfRange {
        /// The parameter.
        param: String,
        /// The row given.
        index: usize,
        /// The rows it has.
        rows: usize,
    },

    /// An optimizer that asks for its gradients itself (at a look-ahead point, or along a line search) was stepped
    /// with a gradient.
    #[error(
        "{optimizer} asks for its gradients itself (at a look-ahead point or along a line search), so it steps only \
         with a closure (step_with_closure)"
    )]
    NeedsClosure {
        /// The optimizer.
        optimizer: &'static str,
    },

    /// A rule with a global stage was stepped one parameter at a time.
    #[error("{optimizer} needs every gradient of a step at once (a global stage), so it cannot step one parameter at a time")]
    NeedsAllGradients {
        /// The optimizer.
        optimizer: &'static str,
    },

    /// A hyperparameter name the optimizer does not have.
    #[error("{optimizer}: no hyperparameter {name:?} (known: {known})")]
    UnknownHyperparameter {
        /// The optimizer.
        optimizer: &'static str,
        /// The name asked for.
        name: String,
        /// The names it has.
        known: String,
    },

    /// A hyperparameter value of the wrong kind (a list where a number belongs, say).
    #[error("{optimizer}: {name}: {message}")]
    HyperparameterValue {
        /// The optimizer.
        optimizer: &'static str,
        /// The hyperparameter (empty when the whole set is at fault).
        name: String,
        /// What is wrong.
        message: String,
    },

    /// Groups of one optimizer with rules of different types.
    #[error("one optimizer cannot mix {first} and {other} groups")]
    MixedOptimizers {
        /// The optimizer's rule.
        first: &'static str,
        /// The other rule.
        other: &'static str,
    },

    /// A registry entry whose name or alias is taken.
    #[error("an optimizer is registered as {0:?} already")]
    DuplicateOptimizerName(String),

    /// Clipping by norm met a NaN or infinite norm, with `error_if_nonfinite`.
    #[error("the total {norm_type}-norm of the gradients is {norm}, so they cannot be clipped (error_if_nonfinite)")]
    NonFiniteGradientNorm {
        /// The p of the norm.
        norm_type: f64,
        /// The norm.
        norm: f64,
    },

    /// A state dict or checkpoint that does not fit this optimizer (another kind, other parameters, other shapes).
    #[error("cannot load the state: {0}")]
    StateMismatch(String),

    /// A learning-rate scheduler's argument that PyTorch refuses, or a scheduler that cannot drive these groups.
    #[error("{scheduler}: {message}")]
    InvalidSchedule {
        /// PyTorch's class name, e.g. `"OneCycleLR"`.
        scheduler: &'static str,
        /// What is wrong.
        message: String,
    },

    /// A scheduler stepped past the end of its schedule (OneCycleLR after `total_steps`).
    #[error("{scheduler}: tried to step {step} times, but the schedule has {total} steps (total_steps)")]
    ScheduleEnded {
        /// PyTorch's class name.
        scheduler: &'static str,
        /// The step asked for.
        step: i64,
        /// The steps the schedule has.
        total: u64,
    },

    /// ReduceLROnPlateau stepped without the metric it watches, or another scheduler given one.
    #[error("{scheduler}: {message}")]
    Metric {
        /// PyTorch's class name.
        scheduler: &'static str,
        /// What is wrong.
        message: &'static str,
    },

    /// A checkpoint file that is corrupt, truncated or not a descent checkpoint.
    #[error("bad checkpoint: {0}")]
    Checkpoint(String),

    /// A variable of an element type descent does not optimize (the candle adapter's f16, say).
    #[error(
        "descent optimizes f32, f64 and bf16 (through f32 master weights) variables, not {dtype} (variable {name:?})"
    )]
    UnsupportedType {
        /// The variable.
        name: String,
        /// Its element type.
        dtype: String,
    },

    /// A file that cannot be read or written.
    #[error("{0}")]
    Io(String),
}
