//! The optimizers, one per file: hyperparameters with PyTorch's names and defaults, validation, and the
//! element-wise update rule.

pub mod adadelta;
pub mod adagrad;
pub mod adam;
pub mod adamw;
pub mod lookahead_nesterov;
pub mod rmsprop;
pub mod sgd;
