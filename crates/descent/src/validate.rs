//! Hyperparameter checks shared by the optimizers, with PyTorch's rules and messages that name the bad value.

use crate::Error;

/// A finite value `>= 0` (learning rates, epsilons, weight decay, momentum, …).
pub(crate) fn non_negative(optimizer: &'static str, name: &'static str, value: f64) -> Result<(), Error> {
    check(optimizer, name, value, value >= 0.0, "a finite number >= 0")
}

/// A finite value `> 0` (SparseAdam's and Prodigy's rates, epsilons, Prodigy's d₀).
pub(crate) fn positive(optimizer: &'static str, name: &'static str, value: f64) -> Result<(), Error> {
    check(optimizer, name, value, value > 0.0, "a finite number > 0")
}

/// A finite value `>= 1` (Prodigy's growth rate).
pub(crate) fn at_least_one(optimizer: &'static str, name: &'static str, value: f64) -> Result<(), Error> {
    check(optimizer, name, value, value >= 1.0, "a finite number >= 1")
}

/// A value in `[0, 1)` (Adam's betas).
pub(crate) fn unit_open(optimizer: &'static str, name: &'static str, value: f64) -> Result<(), Error> {
    check(optimizer, name, value, (0.0..1.0).contains(&value), "0 <= value < 1")
}

/// A value in `(0, 1)` (Schedule-Free's momentum, which it divides by).
pub(crate) fn unit_exclusive(optimizer: &'static str, name: &'static str, value: f64) -> Result<(), Error> {
    check(optimizer, name, value, value > 0.0 && value < 1.0, "0 < value < 1")
}

/// A value in `[0, 1]` (Adadelta's rho).
pub(crate) fn unit_closed(optimizer: &'static str, name: &'static str, value: f64) -> Result<(), Error> {
    check(optimizer, name, value, (0.0..=1.0).contains(&value), "0 <= value <= 1")
}

/// The checks of the Adam family: `lr`, `eps` and `weight_decay` finite and `>= 0`, both betas in `[0, 1)`.
pub(crate) fn adam_family(
    optimizer: &'static str,
    lr: f64,
    eps: f64,
    betas: (f64, f64),
    weight_decay: f64,
) -> Result<(), Error> {
    non_negative(optimizer, "lr", lr)?;
    non_negative(optimizer, "eps", eps)?;
    unit_open(optimizer, "betas[0]", betas.0)?;
    unit_open(optimizer, "betas[1]", betas.1)?;
    non_negative(optimizer, "weight_decay", weight_decay)
}

/// Any finite value (SGD's dampening, which PyTorch does not restrict).
pub(crate) fn finite(optimizer: &'static str, name: &'static str, value: f64) -> Result<(), Error> {
    check(optimizer, name, value, true, "a finite number")
}

fn check(
    optimizer: &'static str,
    name: &'static str,
    value: f64,
    in_range: bool,
    expected: &'static str,
) -> Result<(), Error> {
    if in_range && value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter { optimizer, name, value, expected })
    }
}
