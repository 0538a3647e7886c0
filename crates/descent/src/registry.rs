//! The registry: every optimizer declared once, with its names, summary and defaults. Spec parsing and printing,
//! listings, benchmarks, adapters and docs all read it.

use std::any::Any;
use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::{DynOptimizer, Error, Group, Optimizer, Param, Rule, Shape, Spec, StateLayout};

/// A rule behind a trait object: what a [`Spec`] holds, so that any [`Rule`], built in or not, runs wherever a
/// spec is accepted.
pub(crate) trait AnyRule: Debug + Send + Sync {
    /// The rule's class name ([`Rule::NAME`]).
    fn class(&self) -> &'static str;
    /// The Rust type's name, without its path.
    fn type_name(&self) -> &'static str;
    fn as_any(&self) -> &dyn Any;
    fn hyperparameters(&self) -> Map<String, Value>;
    /// The same rule with `changes` applied, validated.
    fn with(&self, changes: &Map<String, Value>) -> Result<Arc<dyn AnyRule>, Error>;
    fn validate(&self) -> Result<(), Error>;
    fn looks_ahead(&self) -> bool;
    /// Whether it steps only with a closure (a look-ahead rule, L-BFGS).
    fn needs_closure(&self) -> bool;
    fn needs_all_gradients(&self) -> bool;
    /// The names of the state it keeps for all parameters together.
    fn shared_state(&self) -> Vec<&'static str>;
    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error>;
    /// Whether a parameter of `shape` can be stepped in pieces ([`Spec::splits`]).
    fn splits(&self, shape: &Shape) -> bool;
    fn same(&self, other: &dyn AnyRule) -> bool;
    /// A `Box<Box<dyn DynOptimizer<T>>>` for `T` named `dtype`, over `groups` (whose rules must all be this one's
    /// type).
    fn build(&self, dtype: &str, groups: &[(Spec, Vec<Param>)]) -> Result<Box<dyn Any>, Error>;
}

/// The methods of [`AnyRule`] that only read and write hyperparameters, the same for every optimizer: used inside
/// each `impl AnyRule` block.
macro_rules! hyperparameter_methods {
    () => {
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }

        fn hyperparameters(&self) -> serde_json::Map<String, serde_json::Value> {
            $crate::hyper::to_object(self)
        }

        fn with(
            &self,
            changes: &serde_json::Map<String, serde_json::Value>,
        ) -> Result<std::sync::Arc<dyn $crate::registry::AnyRule>, $crate::Error> {
            Ok(std::sync::Arc::new($crate::hyper::with(self, changes)?))
        }

        fn validate(&self) -> Result<(), $crate::Error> {
            $crate::hyper::Hyperparameters::check(self)
        }

        fn same(&self, other: &dyn $crate::registry::AnyRule) -> bool {
            other.as_any().downcast_ref::<Self>() == Some(self)
        }
    };
}
pub(crate) use hyperparameter_methods;

impl<R: Rule> AnyRule for R {
    fn class(&self) -> &'static str {
        R::NAME
    }

    fn type_name(&self) -> &'static str {
        let name = std::any::type_name::<R>();
        name.rsplit("::").next().unwrap_or(name)
    }

    hyperparameter_methods!();

    fn looks_ahead(&self) -> bool {
        R::LOOKS_AHEAD
    }

    fn needs_closure(&self) -> bool {
        R::LOOKS_AHEAD
    }

    fn needs_all_gradients(&self) -> bool {
        R::GLOBAL_STAGE
    }

    fn shared_state(&self) -> Vec<&'static str> {
        let layout = Rule::global_layout(self).unwrap_or_default();
        let mut names = layout.names();
        names.extend(layout.scalar_names());
        names
    }

    fn layout(&self, shape: &Shape) -> Result<StateLayout, Error> {
        Rule::layout(self, shape)
    }

    fn splits(&self, shape: &Shape) -> bool {
        let element_by_element = !R::GLOBAL_STAGE
            && !R::LOOKS_AHEAD
            && (!R::TENSOR_STAGE || R::SCALAR_TENSOR_STAGE)
            && !self.steps_in_tensor_stage();
        element_by_element && Rule::layout(self, shape).is_ok_and(|layout| layout.is_elementwise())
    }

    fn build(&self, dtype: &str, groups: &[(Spec, Vec<Param>)]) -> Result<Box<dyn Any>, Error> {
        let groups = groups
            .iter()
            .map(|(spec, params)| match spec.rule::<R>() {
                Some(hyper) => Ok(Group::new(hyper.clone(), params.iter().cloned())),
                None => Err(Error::MixedOptimizers { first: R::NAME, other: spec.class() }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match dtype {
            "f32" => Box::new(Box::new(Optimizer::<R, f32>::with_groups(groups)?) as Box<dyn DynOptimizer<f32>>),
            _ => Box::new(Box::new(Optimizer::<R, f64>::with_groups(groups)?) as Box<dyn DynOptimizer<f64>>),
        })
    }
}

/// One name users can write, with what it stands for: an optimizer's registration.
///
/// ```
/// use descent::{Entry, Sgd};
///
/// let entry = Entry::new("heavy_ball", "SGD with momentum 0.99", Sgd { momentum: 0.99, ..Sgd::default() })
///     .aliases(&["hb"]);
/// assert_eq!(entry.defaults().to_string(), "heavy_ball");
/// ```
#[derive(Debug, Clone)]
pub struct Entry {
    name: &'static str,
    aliases: &'static [&'static str],
    summary: &'static str,
    torch: Option<&'static str>,
    defaults: Spec,
}

impl Entry {
    /// An entry called `name` (lower case, as written in specs) whose unset keys take the values of `defaults`.
    pub fn new<R: Rule>(name: &'static str, summary: &'static str, defaults: R) -> Self {
        Entry { name, aliases: &[], summary, torch: None, defaults: Spec::named(name, Arc::new(defaults)) }
    }

    /// An entry for an optimizer that is not a [`Rule`] (L-BFGS).
    pub(crate) fn of(name: &'static str, summary: &'static str, defaults: Arc<dyn AnyRule>) -> Self {
        Entry { name, aliases: &[], summary, torch: None, defaults: Spec::named(name, defaults) }
    }

    /// Other names accepted for it.
    pub fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// The PyTorch class it matches, e.g. `"torch.optim.Adam"`.
    pub fn torch(mut self, class: &'static str) -> Self {
        self.torch = Some(class);
        self
    }

    /// The name, as written in a spec.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The other names accepted for it.
    pub fn alias_names(&self) -> &'static [&'static str] {
        self.aliases
    }

    /// What it is, in a line.
    pub fn summary(&self) -> &'static str {
        self.summary
    }

    /// The PyTorch class it matches, if any.
    pub fn torch_class(&self) -> Option<&'static str> {
        self.torch
    }

    /// The hyperparameters it stands for when no keys are given.
    pub fn defaults(&self) -> &Spec {
        &self.defaults
    }

    fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }
}

/// The optimizers a spec can name: the built-in ones ([`Registry::builtin`]), to which users can add their own.
///
/// ```
/// use descent::{Entry, Registry, Sgd};
///
/// let mut registry = Registry::builtin().clone();
/// registry.add(Entry::new("heavy_ball", "SGD with momentum 0.99", Sgd { momentum: 0.99, ..Sgd::default() }))?;
/// let spec = registry.parse("heavy_ball(lr=0.1)")?;
/// assert_eq!(spec.rule::<Sgd>(), Some(&Sgd { lr: 0.1, momentum: 0.99, ..Sgd::default() }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// A registry with no optimizers.
    pub fn empty() -> Self {
        Registry::default()
    }

    /// Every optimizer descent ships, in the order `descent list` shows them.
    pub fn builtin() -> &'static Registry {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let mut registry = Registry::empty();
            for register in crate::optim::REGISTRATIONS {
                register(&mut registry);
            }
            registry
        })
    }

    /// Adds an entry; a name or alias that is taken already is an error.
    pub fn add(&mut self, entry: Entry) -> Result<(), Error> {
        for name in std::iter::once(entry.name).chain(entry.aliases.iter().copied()) {
            if self.find(name).is_some() {
                return Err(Error::DuplicateOptimizerName(name.to_owned()));
            }
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Every entry, in registration order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry called `name` (or with that alias), written as in a spec: case and `-`/`_` do not matter.
    pub fn find(&self, name: &str) -> Option<&Entry> {
        let normalized = name.to_ascii_lowercase().replace('-', "_");
        self.entries.iter().find(|e| e.answers_to(&normalized))
    }

    /// The name or alias closest to `name`, if it is within a typo's distance (two edits, one for short names).
    pub fn closest(&self, name: &str) -> Option<&'static str> {
        let normalized = name.to_ascii_lowercase().replace('-', "_");
        let limit = if normalized.chars().count() <= 4 { 1 } else { 2 };
        self.entries
            .iter()
            .flat_map(|e| std::iter::once(e.name).chain(e.aliases.iter().copied()))
            .map(|candidate| (strsim::levenshtein(&normalized, candidate), candidate))
            .filter(|&(distance, _)| distance <= limit)
            .min_by_key(|&(distance, _)| distance)
            .map(|(_, candidate)| candidate)
    }

    /// The first entry whose defaults have rule type `R`: the name a spec built from an `R` is printed with.
    pub(crate) fn first_of<R: Rule>(&self) -> Option<&Entry> {
        self.entries.iter().find(|e| e.defaults.rule::<R>().is_some())
    }

    /// Reads a spec: `name` or `name(key=value, ...)`; see [`Spec`].
    pub fn parse(&self, text: &str) -> Result<Spec, crate::SpecError> {
        crate::spec::parse(self, text)
    }
}
