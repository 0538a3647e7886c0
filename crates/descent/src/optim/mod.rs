//! The optimizers, one per file: hyperparameters with PyTorch's names and defaults, validation, the update rule,
//! and the optimizer's registration.
//!
//! Adding an optimizer takes its file and one line in the registration list below (`REGISTRATIONS`, in this
//! module's source).

use crate::registry::Registry;

pub mod adadelta;
pub mod adafactor;
pub mod adagrad;
pub mod adam;
pub mod adamax;
pub mod adamw;
pub mod adamw_schedule_free;
pub mod ademamix;
pub mod asgd;
pub mod lbfgs;
pub mod lion;
pub mod lookahead_nesterov;
pub mod mars;
pub mod muon;
pub mod nadam;
pub mod prodigy;
pub mod radam;
pub mod rmsprop;
pub mod rprop;
pub(crate) mod schedule_free;
pub mod sgd;
pub mod sgd_schedule_free;
pub mod soap;
pub mod sparse_adam;

/// Every built-in optimizer's registration, in the order listings show them.
pub(crate) const REGISTRATIONS: &[fn(&mut Registry)] = &[
    sgd::register,
    adagrad::register,
    rmsprop::register,
    adadelta::register,
    adam::register,
    adamw::register,
    nadam::register,
    radam::register,
    adamax::register,
    asgd::register,
    rprop::register,
    adafactor::register,
    muon::register,
    sparse_adam::register,
    lbfgs::register,
    lookahead_nesterov::register,
    lion::register,
    ademamix::register,
    mars::register,
    adamw_schedule_free::register,
    sgd_schedule_free::register,
    prodigy::register,
    soap::register,
];

/// The seven optimizers of the article, in its order, as (label, spec): the set the command races, draws and
/// trains when none are named.
pub const ARTICLE: [(&str, &str); 7] = [
    ("SGD", "sgd"),
    ("Momentum", "momentum"),
    ("Nesterov", "nesterov"),
    ("AdaGrad", "adagrad"),
    ("RMSprop", "rmsprop"),
    ("AdaDelta", "adadelta"),
    ("Adam", "adam"),
];
