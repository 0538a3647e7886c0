//! Optimizers named at run time: `adam`, or `name(key=value, ...)` with PyTorch's names and Python's value syntax.

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::{
    Adadelta, Adagrad, Adam, AdamW, DynOptimizer, Error, FlatOptimizer, Float, LookaheadNesterov, LookaheadOptimizer,
    Optimizer, Param, RmsProp, Rule, Sgd,
};

/// An optimizer and its hyperparameters, chosen at run time.
///
/// Parsed from the form users write on command lines and in configuration: a name, optionally followed by
/// hyperparameters in PyTorch's names and Python's syntax. Unset keys take PyTorch's defaults.
///
/// ```
/// use descent::{Adam, Sgd, Spec};
///
/// let spec: Spec = "adam(lr=1e-3, betas=(0.9, 0.99), amsgrad=True)".parse()?;
/// assert_eq!(spec, Spec::Adam(Adam { betas: (0.9, 0.99), amsgrad: true, ..Adam::default() }));
/// assert_eq!(spec.to_string(), "adam(betas=(0.9, 0.99), amsgrad=True)");
///
/// let nesterov: Spec = "nesterov(lr=0.01)".parse()?;
/// assert_eq!(nesterov, Spec::Sgd(Sgd { lr: 0.01, momentum: 0.9, nesterov: true, ..Sgd::default() }));
///
/// let err = "adam(lr=0.1, beta=0.9)".parse::<Spec>().unwrap_err();
/// assert_eq!(err.to_string(), "adam: unknown key `beta` (accepted: lr, betas, eps, weight_decay, amsgrad, \
///     maximize, decoupled_weight_decay)");
/// # Ok::<(), descent::SpecError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spec {
    /// [`Sgd`]: plain, Momentum or Nesterov.
    Sgd(Sgd),
    /// [`Adagrad`].
    Adagrad(Adagrad),
    /// [`RmsProp`].
    RmsProp(RmsProp),
    /// [`Adadelta`].
    Adadelta(Adadelta),
    /// [`Adam`].
    Adam(Adam),
    /// [`AdamW`].
    AdamW(AdamW),
    /// [`LookaheadNesterov`]: needs a gradient closure, so it runs only through [`Spec::build_flat`].
    LookaheadNesterov(LookaheadNesterov),
}

/// One name users can write, with what it stands for.
#[derive(Debug, Clone, Copy)]
pub struct CatalogEntry {
    /// The name, as written in a spec.
    pub name: &'static str,
    /// Other names accepted for it.
    pub aliases: &'static [&'static str],
    /// What it is, in a line.
    pub summary: &'static str,
    /// The hyperparameters it stands for when no keys are given.
    pub defaults: Spec,
}

/// Every optimizer name a spec accepts.
pub fn catalog() -> [CatalogEntry; 9] {
    let momentum = Sgd { momentum: 0.9, ..Sgd::default() };
    [
        entry("sgd", &[], "stochastic gradient descent (torch.optim.SGD)", Spec::Sgd(Sgd::default())),
        entry("momentum", &[], "SGD with momentum 0.9 (torch.optim.SGD)", Spec::Sgd(momentum)),
        entry(
            "nesterov",
            &[],
            "SGD with Nesterov momentum 0.9, PyTorch's reformulation (torch.optim.SGD)",
            Spec::Sgd(Sgd { nesterov: true, ..momentum }),
        ),
        entry("adagrad", &[], "AdaGrad (torch.optim.Adagrad)", Spec::Adagrad(Adagrad::default())),
        entry("rmsprop", &[], "RMSprop (torch.optim.RMSprop)", Spec::RmsProp(RmsProp::default())),
        entry("adadelta", &[], "AdaDelta (torch.optim.Adadelta)", Spec::Adadelta(Adadelta::default())),
        entry("adam", &[], "Adam (torch.optim.Adam)", Spec::Adam(Adam::default())),
        entry("adamw", &[], "AdamW, decoupled weight decay (torch.optim.AdamW)", Spec::AdamW(AdamW::default())),
        entry(
            "lookahead_nesterov",
            &["nag"],
            "Nesterov momentum evaluated at the look-ahead point θ + γ·v, the article's form",
            Spec::LookaheadNesterov(LookaheadNesterov::default()),
        ),
    ]
}

fn entry(name: &'static str, aliases: &'static [&'static str], summary: &'static str, defaults: Spec) -> CatalogEntry {
    CatalogEntry { name, aliases, summary, defaults }
}

/// Why a spec was not accepted.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SpecError {
    /// The text does not have the form `name` or `name(key=value, ...)`.
    #[error("malformed optimizer spec {spec:?}: {message} at column {column}")]
    Syntax {
        /// The spec as given.
        spec: String,
        /// What is wrong.
        message: String,
        /// Where, counting characters from 1.
        column: usize,
    },

    /// A name no optimizer has.
    #[error("unknown optimizer {name:?} (known: {known})")]
    UnknownOptimizer {
        /// The name given.
        name: String,
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
    /// The optimizer's canonical name in specs (`"sgd"`, `"adam"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Spec::Sgd(_) => "sgd",
            Spec::Adagrad(_) => "adagrad",
            Spec::RmsProp(_) => "rmsprop",
            Spec::Adadelta(_) => "adadelta",
            Spec::Adam(_) => "adam",
            Spec::AdamW(_) => "adamw",
            Spec::LookaheadNesterov(_) => "lookahead_nesterov",
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            Spec::Sgd(h) => h.lr,
            Spec::Adagrad(h) => h.lr,
            Spec::RmsProp(h) => h.lr,
            Spec::Adadelta(h) => h.lr,
            Spec::Adam(h) => h.lr,
            Spec::AdamW(h) => h.lr,
            Spec::LookaheadNesterov(h) => h.lr,
        }
    }

    /// The same optimizer with learning rate `lr` (not validated until built).
    pub fn with_lr(mut self, lr: f64) -> Spec {
        match &mut self {
            Spec::Sgd(h) => h.lr = lr,
            Spec::Adagrad(h) => h.lr = lr,
            Spec::RmsProp(h) => h.lr = lr,
            Spec::Adadelta(h) => h.lr = lr,
            Spec::Adam(h) => h.lr = lr,
            Spec::AdamW(h) => h.lr = lr,
            Spec::LookaheadNesterov(h) => h.lr = lr,
        }
        self
    }

    /// Checks the hyperparameters with the optimizer's rules.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Spec::Sgd(h) => h.validate(),
            Spec::Adagrad(h) => h.validate(),
            Spec::RmsProp(h) => h.validate(),
            Spec::Adadelta(h) => h.validate(),
            Spec::Adam(h) => h.validate(),
            Spec::AdamW(h) => h.validate(),
            Spec::LookaheadNesterov(h) => h.validate(),
        }
    }

    /// Every hyperparameter, defaults included, as a JSON object with PyTorch's keys.
    pub fn hyperparameters(&self) -> Value {
        let value = match self {
            Spec::Sgd(h) => serde_json::to_value(h),
            Spec::Adagrad(h) => serde_json::to_value(h),
            Spec::RmsProp(h) => serde_json::to_value(h),
            Spec::Adadelta(h) => serde_json::to_value(h),
            Spec::Adam(h) => serde_json::to_value(h),
            Spec::AdamW(h) => serde_json::to_value(h),
            Spec::LookaheadNesterov(h) => serde_json::to_value(h),
        };
        value.expect("hyperparameters are plain numbers and flags")
    }

    /// An optimizer of `params` in one group. The look-ahead Nesterov cannot run this way (it needs a gradient
    /// closure): use [`Spec::build_flat`] for it.
    pub fn build<T: Float>(&self, params: impl IntoIterator<Item = Param>) -> Result<Box<dyn DynOptimizer<T>>, Error> {
        fn boxed<R: Rule, T: Float>(
            hyper: R,
            params: impl IntoIterator<Item = Param>,
        ) -> Result<Box<dyn DynOptimizer<T>>, Error> {
            Ok(Box::new(Optimizer::<R, T>::new(hyper, params)?))
        }
        match *self {
            Spec::Sgd(h) => boxed(h, params),
            Spec::Adagrad(h) => boxed(h, params),
            Spec::RmsProp(h) => boxed(h, params),
            Spec::Adadelta(h) => boxed(h, params),
            Spec::Adam(h) => boxed(h, params),
            Spec::AdamW(h) => boxed(h, params),
            Spec::LookaheadNesterov(_) => Err(Error::InvalidCombination {
                optimizer: LookaheadNesterov::NAME,
                reason: "needs the gradient at a look-ahead point, so it runs only with a gradient closure",
            }),
        }
    }

    /// An optimizer of one parameter vector of `len` elements that asks for its gradient through a closure.
    pub fn build_flat<T: Float>(&self, len: usize) -> Result<FlatOptimizer<T>, Error> {
        match *self {
            Spec::Sgd(h) => FlatOptimizer::at_params(h, len),
            Spec::Adagrad(h) => FlatOptimizer::at_params(h, len),
            Spec::RmsProp(h) => FlatOptimizer::at_params(h, len),
            Spec::Adadelta(h) => FlatOptimizer::at_params(h, len),
            Spec::Adam(h) => FlatOptimizer::at_params(h, len),
            Spec::AdamW(h) => FlatOptimizer::at_params(h, len),
            Spec::LookaheadNesterov(h) => Ok(FlatOptimizer::lookahead(LookaheadOptimizer::new(h, len)?)),
        }
    }

    fn with_hyperparameters<H: DeserializeOwned>(
        optimizer: &str,
        defaults: &impl Serialize,
        keys: &[(String, Value)],
    ) -> Result<H, SpecError> {
        let hyper_error = |message: String| SpecError::Hyperparameter { optimizer: optimizer.to_owned(), message };
        let Value::Object(mut object) = serde_json::to_value(defaults).expect("hyperparameters serialize") else {
            unreachable!("hyperparameters are a struct")
        };
        let accepted: Vec<String> = object.keys().cloned().collect();
        for (key, value) in keys {
            if !object.contains_key(key) {
                return Err(hyper_error(format!("unknown key `{key}` (accepted: {})", accepted.join(", "))));
            }
            // Deserialize each key alone first, so that an error names the key.
            let mut alone: Map<String, Value> = Map::new();
            alone.insert(key.clone(), value.clone());
            serde_json::from_value::<H>(Value::Object(alone))
                .map_err(|e| hyper_error(format!("{key}: {}", serde_message(&e))))?;
            object.insert(key.clone(), value.clone());
        }
        serde_json::from_value(Value::Object(object)).map_err(|e| hyper_error(serde_message(&e)))
    }
}

/// serde_json's message without its position suffix, which means nothing for a spec.
fn serde_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}

impl FromStr for Spec {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Spec, SpecError> {
        let (name, keys) = syntax::parse(text)?;
        let normalized = name.to_ascii_lowercase().replace('-', "_");
        let catalog = catalog();
        let Some(entry) = catalog.iter().find(|e| e.name == normalized || e.aliases.contains(&normalized.as_str()))
        else {
            let known: Vec<&str> = catalog.iter().map(|e| e.name).collect();
            return Err(SpecError::UnknownOptimizer { name, known: known.join(", ") });
        };
        let spec = match entry.defaults {
            Spec::Sgd(d) => Spec::Sgd(Spec::with_hyperparameters(&name, &d, &keys)?),
            Spec::Adagrad(d) => Spec::Adagrad(Spec::with_hyperparameters(&name, &d, &keys)?),
            Spec::RmsProp(d) => Spec::RmsProp(Spec::with_hyperparameters(&name, &d, &keys)?),
            Spec::Adadelta(d) => Spec::Adadelta(Spec::with_hyperparameters(&name, &d, &keys)?),
            Spec::Adam(d) => Spec::Adam(Spec::with_hyperparameters(&name, &d, &keys)?),
            Spec::AdamW(d) => Spec::AdamW(Spec::with_hyperparameters(&name, &d, &keys)?),
            Spec::LookaheadNesterov(d) => Spec::LookaheadNesterov(Spec::with_hyperparameters(&name, &d, &keys)?),
        };
        spec.validate()?;
        Ok(spec)
    }
}

impl fmt::Display for Spec {
    /// The canonical name followed by the hyperparameters that differ from PyTorch's defaults, in Python's syntax:
    /// text that parses back to the same spec. The alternate form (`{:#}`) lists every hyperparameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let defaults = catalog().iter().find(|e| e.name == self.name()).expect("every spec has an entry").defaults;
        let (Value::Object(ours), Value::Object(theirs)) = (self.hyperparameters(), defaults.hyperparameters()) else {
            unreachable!("hyperparameters are a struct")
        };
        let changed: Vec<String> = ours
            .iter()
            .filter(|(key, value)| f.alternate() || theirs.get(*key) != Some(value))
            .map(|(key, value)| format!("{key}={}", python(value)))
            .collect();
        if changed.is_empty() {
            write!(f, "{}", self.name())
        } else {
            write!(f, "{}({})", self.name(), changed.join(", "))
        }
    }
}

/// A hyperparameter value in Python's syntax.
fn python(value: &Value) -> String {
    match value {
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => format!("{:?}", n.as_f64().expect("hyperparameters are floats")),
        Value::Array(items) => format!("({})", items.iter().map(python).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

mod syntax {
    //! The grammar of a spec:
    //!
    //! ```text
    //! spec  := name [ "(" [ key "=" value { "," key "=" value } [","] ] ")" ]
    //! value := number | True | False | true | false | "(" value { "," value } [","] ")" | "[" … "]"
    //! ```

    use serde_json::{Number, Value};

    use super::SpecError;

    pub(super) fn parse(text: &str) -> Result<(String, Vec<(String, Value)>), SpecError> {
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
            SpecError::Syntax { spec: self.text.to_owned(), message: message.to_owned(), column: self.at + 1 }
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
            let name = self.name("an optimizer name")?;
            let mut keys: Vec<(String, Value)> = Vec::new();
            if !self.eat('(') {
                return Ok((name, keys));
            }
            while !self.eat(')') {
                let key = self.name("a hyperparameter name")?;
                if keys.iter().any(|(k, _)| *k == key) {
                    return Err(self.error(&format!("`{key}` is given twice")));
                }
                if !self.eat('=') {
                    return Err(self.error(&format!("expected `=` after `{key}`")));
                }
                let value = self.value()?;
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

        fn value(&mut self) -> Result<Value, SpecError> {
            for (open, close) in [('(', ')'), ('[', ']')] {
                if self.eat(open) {
                    let mut items = Vec::new();
                    while !self.eat(close) {
                        items.push(self.value()?);
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
            let word = self.word();
            match word.as_str() {
                "" => Err(self.error("expected a value")),
                "True" | "true" => Ok(Value::Bool(true)),
                "False" | "false" => Ok(Value::Bool(false)),
                _ => match word.parse::<f64>() {
                    Ok(v) => Number::from_f64(v)
                        .map(Value::Number)
                        .ok_or_else(|| self.error(&format!("{word} is not finite"))),
                    Err(_) => Err(self.error(&format!("`{word}` is not a number or a boolean"))),
                },
            }
        }
    }
}
