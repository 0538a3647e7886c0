//! Every scheduler declared once, with its names: specs, listings and docs read this list.

use serde_json::{Map, Value};

use super::base::{Chainable, Formula, Schedule};
use super::plateau::Plateau;
use super::{
    constant, cosine, cyclic, exponential, lambda, linear, multi_step, multiplicative, one_cycle, plateau, polynomial,
    step, swa, warm_restarts, wsd,
};
use crate::hyper::{serde_message, Hyperparameters};
use crate::Error;

/// How an entry builds its scheduler from PyTorch's arguments.
type Make = fn(&Map<String, Value>) -> Result<Box<dyn Schedule>, Error>;

/// A scheduler's registration: its PyTorch class name, the short names users may write, and how to build it.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleEntry {
    class: &'static str,
    aliases: &'static [&'static str],
    summary: &'static str,
    watches_metric: bool,
    make: Make,
}

/// Every scheduler, in the order of `torch.optim.lr_scheduler`'s documentation, then SWALR and WSD.
const ENTRIES: &[ScheduleEntry] = &[
    lambda::ENTRY,
    multiplicative::ENTRY,
    step::ENTRY,
    multi_step::ENTRY,
    constant::ENTRY,
    linear::ENTRY,
    exponential::ENTRY,
    polynomial::ENTRY,
    cosine::ENTRY,
    plateau::ENTRY,
    cyclic::ENTRY,
    one_cycle::ENTRY,
    warm_restarts::ENTRY,
    swa::ENTRY,
    wsd::ENTRY,
];

/// Every scheduler a [`ScheduleSpec`](super::ScheduleSpec) may name.
pub fn schedulers() -> &'static [ScheduleEntry] {
    ENTRIES
}

/// The hyperparameters in `keys`, read as PyTorch's arguments and checked.
fn read<H: Hyperparameters>(keys: &Map<String, Value>) -> Result<H, Error> {
    let hyper: H = serde_json::from_value(Value::Object(keys.clone())).map_err(|e| Error::HyperparameterValue {
        optimizer: H::CLASS,
        name: String::new(),
        message: serde_message(&e),
    })?;
    hyper.check()?;
    Ok(hyper)
}

fn make_chainable<F: Formula>(keys: &Map<String, Value>) -> Result<Box<dyn Schedule>, Error> {
    Ok(Box::new(Chainable::new(read::<F>(keys)?)))
}

fn make_plateau(keys: &Map<String, Value>) -> Result<Box<dyn Schedule>, Error> {
    Ok(Box::new(Plateau::new(read(keys)?)))
}

impl ScheduleEntry {
    /// The entry of a scheduler built on PyTorch's `LRScheduler`.
    pub(crate) const fn chainable<F: Formula>(aliases: &'static [&'static str], summary: &'static str) -> Self {
        ScheduleEntry { class: F::CLASS, aliases, summary, watches_metric: false, make: make_chainable::<F> }
    }

    /// The entry of ReduceLROnPlateau, which steps on a metric.
    pub(crate) const fn watching<H: Hyperparameters>(aliases: &'static [&'static str], summary: &'static str) -> Self {
        ScheduleEntry { class: H::CLASS, aliases, summary, watches_metric: true, make: make_plateau }
    }

    /// PyTorch's class name, e.g. `"CosineAnnealingLR"`.
    pub fn class(&self) -> &'static str {
        self.class
    }

    /// The short names, e.g. `["cosine", "cos"]`.
    pub fn aliases(&self) -> &'static [&'static str] {
        self.aliases
    }

    /// One line on what it does.
    pub fn summary(&self) -> &'static str {
        self.summary
    }

    /// Whether it steps on a metric (ReduceLROnPlateau).
    pub fn watches_metric(&self) -> bool {
        self.watches_metric
    }

    pub(crate) fn make(&self, keys: &Map<String, Value>) -> Result<Box<dyn Schedule>, Error> {
        (self.make)(keys)
    }

    /// The entry that `name` names: a class name or an alias, in any case.
    pub(crate) fn find(name: &str) -> Option<&'static ScheduleEntry> {
        let name = name.to_ascii_lowercase();
        ENTRIES.iter().find(|e| e.class.to_ascii_lowercase() == name || e.aliases.contains(&name.as_str()))
    }

    /// The known name closest to `name`, if one is within a typo's distance.
    pub(crate) fn closest(name: &str) -> Option<&'static str> {
        let name = name.to_ascii_lowercase();
        let limit = if name.chars().count() <= 4 { 1 } else { 2 };
        ENTRIES
            .iter()
            .flat_map(|e| std::iter::once(e.class).chain(e.aliases.iter().copied()))
            .map(|candidate| (strsim::levenshtein(&name, &candidate.to_ascii_lowercase()), candidate))
            .filter(|&(distance, _)| distance <= limit)
            .min_by_key(|&(distance, _)| distance)
            .map(|(_, candidate)| candidate)
    }
}
