//! Optimizers named at run time: `adam`, or `name(key=value, ...)` with PyTorch's names and Python's value syntax.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::registry::AnyRule;
use crate::{DynOptimizer, Error, FlatOptimizer, Float, Param, Registry, Rule, Shape, StateLayout};

/// An optimizer and its hyperparameters, chosen at run time: any [`Rule`], built in or not.
///
/// Parsed from the form users write on command lines and in configuration: a name from the [`Registry`],
/// optionally followed by hyperparameters in PyTorch's names and Python's syntax. Unset keys take the entry's
/// defaults (PyTorch's).
///
/// ```
/// use descent::{Adam, Sgd, Spec};
///
/// let spec: Spec = "adam(lr=1e-3, betas=(0.9, 0.99), amsgrad=True)".parse()?;
/// assert_eq!(spec.rule::<Adam>(), Some(&Adam { betas: (0.9, 0.99), amsgrad: true, ..Adam::default() }));
/// assert_eq!(spec.to_string(), "adam(betas=(0.9, 0.99), amsgrad=True)");
///
/// let nesterov: Spec = "nesterov(lr=0.01)".parse()?;
/// assert_eq!(nesterov.rule::<Sgd>(), Some(&Sgd { lr: 0.01, momentum: 0.9, nesterov: true, ..Sgd::default() }));
///
/// let err = "adam(lr=0.1, beta=0.9)".parse::<Spec>().unwrap_err();
/// assert_eq!(err.to_string(), "adam: unknown key `beta` (accepted: lr, betas, eps, weight_decay, amsgrad, \
///     maximize, decoupled_weight_decay, state)");
/// # Ok::<(), descent::SpecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Spec {
    name: &'static str,
    rule: Arc<dyn AnyRule>,
    defaults: Arc<dyn AnyRule>,
}

impl PartialEq for Spec {
    fn eq(&self, other: &Spec) -> bool {
        self.name == other.name && self.rule.same(&*other.rule)
    }
}

/// Every built-in optimizer name a spec accepts ([`Registry::builtin`]'s entries).
pub fn catalog() -> &'static [crate::Entry] {
    Registry::builtin().entries()
}

/// Why a spec was not accepted.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SpecError {
    /// The text does not have the form `name` or `name(key=value, ...)`.
    #[error("malformed optimizer spec {spec:?}: {message} at column {column}")]
    Syntax {
        /// The spec as given (its first 60 characters, if longer).
        spec: String,
        /// What is wrong.
        message: String,
        /// Where, counting characters from 1.
        column: usize,
    },

    /// A name no optimizer has.
    #[error(
        "unknown optimizer {name:?} ({}known: {known})",
        .suggestion.as_ref().map(|s| format!("did you mean {s:?}? ")).unwrap_or_default()
    )]
    UnknownOptimizer {
        /// The name given.
        name: String,
        /// The known name closest to it, if one is close (a typo's distance).
        suggestion: Option<String>,
        /// The names accepted.
        known: String,
    },

    /// A learning-rate schedule whose text does not have the form `name(key=value, ...)`, or whose composition
    /// (`A * B`, `A until N then B`) is malformed.
    #[error("malformed schedule {spec:?}: {message}")]
    ScheduleSyntax {
        /// The schedule as given (its first 60 characters, if longer).
        spec: String,
        /// What is wrong, and where.
        message: String,
    },

    /// A name no scheduler has.
    #[error(
        "unknown scheduler {name:?} ({}known: {known})",
        .suggestion.as_ref().map(|s| format!("did you mean {s:?}? ")).unwrap_or_default()
    )]
    UnknownScheduler {
        /// The name given.
        name: String,
        /// The known name closest to it, if one is close.
        suggestion: Option<String>,
        /// The names accepted.
        known: String,
    },

    /// A key the optimizer does not have, a key given twice, or a value of the wrong kind.
    #[error("{optimizer}: {message}")]
    Hyperparameter {
        /// The optimizer's name as given.
        optimizer: String,
        /// What is wrong.
        message: String,
    },

    /// Hyperparameters that the optimizer rejects.
    #[error(transparent)]
    Invalid(#[from] Error),
}

impl Spec {
    pub(crate) fn named(name: &'static str, rule: Arc<dyn AnyRule>) -> Spec {
        Spec { name, defaults: rule.clone(), rule }
    }

    /// The spec of `rule`: named after the first built-in entry of its type (`Sgd` is `sgd`), or after its
    /// [`Rule::NAME`] for a rule the built-in registry does not know.
    pub fn from_rule<R: Rule>(rule: R) -> Spec {
        match Registry::builtin().first_of::<R>() {
            Some(entry) => Spec { rule: Arc::new(rule), ..entry.defaults().clone() },
            None => Spec { name: R::NAME, rule: Arc::new(rule), defaults: Arc::new(R::default()) },
        }
    }

    /// The name in specs (`"sgd"`, `"momentum"`, `"adam"`, …): the registry entry it was made from.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The rule's class name, e.g. `"Adam"`.
    pub fn class(&self) -> &'static str {
        self.rule.class()
    }

    /// The Rust type of the rule: specs of one kind share an optimizer.
    pub(crate) fn kind(&self) -> std::any::TypeId {
        self.rule.as_any().type_id()
    }

    /// The name of the rule's Rust type, e.g. `"Adam"` (`"Sgd"` for `sgd`, `momentum` and `nesterov`).
    pub fn type_name(&self) -> &'static str {
        self.rule.type_name()
    }

    /// The hyperparameters, if the rule is an `R` (a [`Rule`], or [`Lbfgs`](crate::Lbfgs)).
    pub fn rule<R: std::any::Any>(&self) -> Option<&R> {
        self.rule.as_any().downcast_ref()
    }

    /// The learning rate (NaN for a rule without one).
    pub fn lr(&self) -> f64 {
        self.rule.hyperparameters().get("lr").and_then(Value::as_f64).unwrap_or(f64::NAN)
    }

    /// The same optimizer with learning rate `lr`, validated.
    pub fn with_lr(&self, lr: f64) -> Result<Spec, Error> {
        let value = serde_json::Number::from_f64(lr).map(Value::Number).ok_or(Error::InvalidHyperparameter {
            optimizer: self.class(),
            name: "lr",
            value: lr,
            expected: "a finite number >= 0",
        })?;
        self.with("lr", value)
    }

    /// The same optimizer with hyperparameter `key` set to `value` (PyTorch's key, a JSON value), validated.
    pub fn with(&self, key: &str, value: Value) -> Result<Spec, Error> {
        let mut changes = Map::new();
        changes.insert(key.to_owned(), value);
        Ok(Spec { rule: self.rule.with(&changes)?, ..self.clone() })
    }

    /// The same optimizer with the changes written in `keys` (`"lr=0.01, weight_decay=0"`, the inside of a spec's
    /// parentheses), validated.
    ///
    /// ```
    /// let spec: descent::Spec = "adamw(lr=0.01)".parse()?;
    /// assert_eq!(spec.with_keys("weight_decay=0, betas=(0.9, 0.95)")?.to_string(),
    ///            "adamw(lr=0.01, betas=(0.9, 0.95), weight_decay=0.0)");
    /// # Ok::<(), descent::SpecError>(())
    /// ```
    pub fn with_keys(&self, keys: &str) -> Result<Spec, SpecError> {
        let (_, keys) = syntax::parse(&format!("{}({keys})", self.name))?;
        let changes: Map<String, Value> = keys.into_iter().collect();
        self.rule.with(&changes).map(|rule| Spec { rule, ..self.clone() }).map_err(|e| hyper_error(self.name, e))
    }

    /// The state a parameter of `shape` gets with these hyperparameters (or why it cannot be optimized).
    pub fn layout(&self, shape: &Shape) -> Result<StateLayout, Error> {
        self.rule.layout(shape)
    }

    /// Whether a parameter of `shape` can be stepped in pieces, each piece as a parameter of its own with its own
    /// state, to the same result bit for bit: each value's update depends only on its own value, gradient and state
    /// and on scalars every piece shares (no global or per-tensor stage that reads the parameter, no state of
    /// another shape, no compact state, no look-ahead). SGD, Adam, RMSprop and the other element-wise rules can;
    /// Muon, SOAP, Adafactor, 8-bit state cannot. A sharded optimizer splits such parameters across ranks.
    pub fn splits(&self, shape: &Shape) -> bool {
        self.rule.splits(shape)
    }

    /// Whether the rule evaluates the gradient at a look-ahead point, and so steps only with a closure.
    pub fn looks_ahead(&self) -> bool {
        self.rule.looks_ahead()
    }

    /// Whether the optimizer steps only with a closure: a look-ahead rule, or L-BFGS.
    pub fn needs_closure(&self) -> bool {
        self.rule.needs_closure()
    }

    /// The names of the state the optimizer keeps for all parameters together (L-BFGS's history), if any.
    pub fn shared_state(&self) -> Vec<&'static str> {
        self.rule.shared_state()
    }

    /// Whether the rule has a global stage, and so needs every gradient of a step at once.
    pub fn needs_all_gradients(&self) -> bool {
        self.rule.needs_all_gradients()
    }

    /// Checks the hyperparameters with the optimizer's rules.
    pub fn validate(&self) -> Result<(), Error> {
        self.rule.validate()
    }

    /// Every hyperparameter, defaults included, as a JSON object with PyTorch's keys.
    pub fn hyperparameters(&self) -> Value {
        Value::Object(self.rule.hyperparameters())
    }

    /// An optimizer of `params` in one group.
    pub fn build<T: Float>(&self, params: impl IntoIterator<Item = Param>) -> Result<Box<dyn DynOptimizer<T>>, Error> {
        Spec::build_groups([(self.clone(), params.into_iter().collect())])
    }

    /// An optimizer with one group per `(spec, params)` pair, each with its own hyperparameters (`adamw` and
    /// `adamw(weight_decay=0)`, say). Groups of different optimizers (`muon` for the hidden weight matrices, `adamw`
    /// for the rest) give a [`Composite`](crate::Composite) that steps them all.
    pub fn build_groups<T: Float>(
        groups: impl IntoIterator<Item = (Spec, Vec<Param>)>,
    ) -> Result<Box<dyn DynOptimizer<T>>, Error> {
        let groups: Vec<(Spec, Vec<Param>)> = groups.into_iter().collect();
        let Some((first, _)) = groups.first() else { return Err(Error::EmptyParameterList) };
        if groups.iter().any(|(spec, _)| spec.kind() != first.kind()) {
            return Ok(Box::new(crate::Composite::new(groups)?));
        }
        let built = first.rule.build(T::NAME, &groups)?;
        Ok(*built.downcast::<Box<dyn DynOptimizer<T>>>().expect("f32 and f64 are the element types"))
    }

    /// An optimizer of one parameter vector of `len` elements that asks for its gradient through a closure.
    pub fn build_flat<T: Float>(&self, len: usize) -> Result<FlatOptimizer<T>, Error> {
        Ok(FlatOptimizer::new(self.build([Param::vector(len)])?, len))
    }
}

/// Reads a spec with the names of `registry`.
pub(crate) fn parse(registry: &Registry, text: &str) -> Result<Spec, SpecError> {
    let (name, keys) = syntax::parse(text)?;
    let Some(entry) = registry.find(&name) else {
        let known: Vec<&str> = registry.entries().iter().map(|e| e.name()).collect();
        let suggestion = registry.closest(&name).map(str::to_owned);
        return Err(SpecError::UnknownOptimizer { name: short(&name), suggestion, known: known.join(", ") });
    };
    let changes: Map<String, Value> = keys.into_iter().collect();
    let defaults = entry.defaults();
    match defaults.rule.with(&changes) {
        Ok(rule) => Ok(Spec { rule, ..defaults.clone() }),
        Err(error) => Err(hyper_error(&name, error)),
    }
}

/// `text`, cut to its first 60 characters for an error to echo.
pub(crate) fn short(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A hyperparameter error as a spec error that names the optimizer as the user wrote it.
pub(crate) fn hyper_error(optimizer: &str, error: Error) -> SpecError {
    let message = |message: String| SpecError::Hyperparameter { optimizer: short(optimizer), message };
    match error {
        Error::UnknownHyperparameter { name: key, known, .. } => {
            message(format!("unknown key `{}` (accepted: {known})", short(&key)))
        }
        Error::HyperparameterValue { name: key, message: m, .. } if key.is_empty() => message(m),
        Error::HyperparameterValue { name: key, message: m, .. } => message(format!("{key}: {m}")),
        other => SpecError::Invalid(other),
    }
}

impl FromStr for Spec {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Spec, SpecError> {
        Registry::builtin().parse(text)
    }
}

impl fmt::Display for Spec {
    /// The name followed by the hyperparameters that differ from the entry's defaults, in Python's syntax: text
    /// that parses back to the same spec. The alternate form (`{:#}`) lists every hyperparameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ours, theirs) = (self.rule.hyperparameters(), self.defaults.hyperparameters());
        let changed: Vec<String> = ours
            .iter()
            .filter(|(key, value)| f.alternate() || theirs.get(*key) != Some(value))
            .map(|(key, value)| format!("{key}={}", python(value)))
            .collect();
        if changed.is_empty() {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}({})", self.name, changed.join(", "))
        }
    }
}

/// A hyperparameter value in Python's syntax.
pub(crate) fn python(value: &Value) -> String {
    match value {
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => match n.as_f64() {
            Some(v) if n.is_f64() => format!("{v:?}"),
            _ => n.to_string(),
        },
        Value::Array(items) => format!("({})", items.iter().map(python).collect::<Vec<_>>().join(", ")),
        Value::String(s) => format!("{s:?}"),
        Value::Null => "None".to_owned(),
        other => other.to_string(),
    }
}

pub(crate) mod syntax {
    //! The grammar of a spec:
    //!
    //! ```text
    //! spec  := name [ "(" [ key "=" value { "," key "=" value } [","] ] ")" ]
    //! value := number | True | False | true | false | None | "string" | 'string'
    //!        | "(" value { "," value } [","] ")" | "[" … "]"      (nested at most 8 deep)
    //! ```

    use serde_json::{Number, Value};

    use super::{short, SpecError};

    /// How deep tuples and lists may nest: hyperparameters use two levels at most.
    const MAX_DEPTH: usize = 8;

    /// The longest spec accepted, in characters.
    const MAX_LENGTH: usize = 4096;

    pub(crate) fn parse(text: &str) -> Result<(String, Vec<(String, Value)>), SpecError> {
        let length = text.chars().count();
        if length > MAX_LENGTH {
            let message = format!("too long: {length} characters (at most {MAX_LENGTH})");
            return Err(SpecError::Syntax { spec: short(text), message, column: 1 });
        }
        let mut parser = Parser { text, chars: text.char_indices().collect(), at: 0 };
        let parsed = parser.spec()?;
        parser.skip_space();
        if parser.at < parser.chars.len() {
            return Err(parser.error("unexpected text after the spec"));
        }
        Ok(parsed)
    }

    struct Parser<'a> {
        text: &'a str,
        chars: Vec<(usize, char)>,
        at: usize,
    }

    impl Parser<'_> {
        fn error(&self, message: &str) -> SpecError {
            SpecError::Syntax { spec: short(self.text), message: message.to_owned(), column: self.at + 1 }
        }

        fn peek(&self) -> Option<char> {
            self.chars.get(self.at).map(|&(_, c)| c)
        }

        fn skip_space(&mut self) {
            while self.peek().is_some_and(char::is_whitespace) {
                self.at += 1;
            }
        }

        fn eat(&mut self, c: char) -> bool {
            self.skip_space();
            let found = self.peek() == Some(c);
            if found {
                self.at += 1;
            }
            found
        }

        /// A run of characters that may form a name or a number.
        fn word(&mut self) -> String {
            self.skip_space();
            let start = self.at;
            while self.peek().is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '+' | '.')) {
                self.at += 1;
            }
            self.chars[start..self.at].iter().map(|&(_, c)| c).collect()
        }

        fn name(&mut self, what: &str) -> Result<String, SpecError> {
            let word = self.word();
            if word.starts_with(|c: char| c.is_alphabetic() || c == '_') {
                Ok(word)
            } else {
                Err(self.error(&format!("expected {what}")))
            }
        }

        fn spec(&mut self) -> Result<(String, Vec<(String, Value)>), SpecError> {
            let name = self.name("a name")?;
            let mut keys: Vec<(String, Value)> = Vec::new();
            if !self.eat('(') {
                return Ok((name, keys));
            }
            while !self.eat(')') {
                let key = self.name("a hyperparameter name")?;
                if keys.iter().any(|(k, _)| *k == key) {
                    return Err(self.error(&format!("`{}` is given twice", short(&key))));
                }
                if !self.eat('=') {
                    return Err(self.error(&format!("expected `=` after `{}`", short(&key))));
                }
                let value = self.value(0)?;
                keys.push((key, value));
                if !self.eat(',') {
                    if self.eat(')') {
                        break;
                    }
                    return Err(self.error("expected `,` or `)`"));
                }
            }
            Ok((name, keys))
        }

        fn value(&mut self, depth: usize) -> Result<Value, SpecError> {
            for (open, close) in [('(', ')'), ('[', ']')] {
                if self.eat(open) {
                    if depth == MAX_DEPTH {
                        return Err(self.error(&format!("values nest more than {MAX_DEPTH} deep")));
                    }
                    let mut items = Vec::new();
                    while !self.eat(close) {
                        items.push(self.value(depth + 1)?);
                        if !self.eat(',') {
                            if self.eat(close) {
                                break;
                            }
                            return Err(self.error(&format!("expected `,` or `{close}`")));
                        }
                    }
                    return Ok(Value::Array(items));
                }
            }
            for quote in ['"', '\''] {
                if self.eat(quote) {
                    let start = self.at;
                    while self.peek().is_some_and(|c| c != quote) {
                        self.at += 1;
                    }
                    let text: String = self.chars[start..self.at].iter().map(|&(_, c)| c).collect();
                    if !self.eat(quote) {
                        return Err(self.error("unclosed string"));
                    }
                    return Ok(Value::String(text));
                }
            }
            let word = self.word();
            match word.as_str() {
                "" => Err(self.error("expected a value")),
                "None" => Ok(Value::Null),
                "True" | "true" => Ok(Value::Bool(true)),
                "False" | "false" => Ok(Value::Bool(false)),
                // Integers stay integers, for counts (`max_iter=5`); floats take them too.
                _ if word.parse::<i64>().is_ok() => Ok(Value::Number(word.parse::<i64>().expect("checked").into())),
                _ => match word.parse::<f64>() {
                    Ok(v) => Number::from_f64(v)
                        .map(Value::Number)
                        .ok_or_else(|| self.error(&format!("{} is not finite", short(&word)))),
                    Err(_) => Err(self.error(&format!("`{}` is not a number or a boolean", short(&word)))),
                },
            }
        }
    }
}
