//! What a training run's optimizer is: one optimizer for every parameter, or a hybrid such as
//! `muon(lr=0.02) + adamw(lr=1e-3)`, whose first optimizer takes the hidden weight matrices and whose second takes
//! the rest.

use std::fmt;

use descent::Spec;
use serde_json::{json, Value};

/// An optimizer for a whole model, with the label it is shown under.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// The name shown.
    pub label: String,
    /// The optimizer of the hidden layers' weight matrices, in a hybrid.
    pub hidden: Option<Spec>,
    /// The optimizer of every other parameter (of every parameter, without a hybrid).
    pub rest: Spec,
}

impl ModelSpec {
    /// `label` for `spec` alone.
    pub fn single(label: &str, spec: Spec) -> Self {
        ModelSpec { label: label.to_owned(), hidden: None, rest: spec }
    }

    /// Reads `SPEC` or `SPEC + SPEC`, for clap; the text is the label.
    pub fn parse(text: &str) -> Result<ModelSpec, String> {
        let parts = split_top_level(text);
        let label = text.trim().to_owned();
        match parts.as_slice() {
            [one] => Ok(ModelSpec { label, hidden: None, rest: parse_spec(one)? }),
            [hidden, rest] => Ok(ModelSpec { label, hidden: Some(parse_spec(hidden)?), rest: parse_spec(rest)? }),
            _ => Err(format!(
                "a hybrid has two optimizers, HIDDEN + REST (e.g. 'muon(lr=0.02) + adamw(lr=1e-3)'), not {}",
                parts.len()
            )),
        }
    }

    /// Whether `descent train` steps the optimizer through a closure that evaluates the batch's loss.
    pub fn needs_closure(&self) -> bool {
        self.rest.needs_closure() || self.hidden.as_ref().is_some_and(Spec::needs_closure)
    }

    /// Every hyperparameter, as a JSON object (two, under `hidden` and `rest`, for a hybrid).
    pub fn hyperparameters(&self) -> Value {
        match &self.hidden {
            None => self.rest.hyperparameters(),
            Some(hidden) => json!({"hidden": hidden.hyperparameters(), "rest": self.rest.hyperparameters()}),
        }
    }
}

impl fmt::Display for ModelSpec {
    /// The spec, or `HIDDEN + REST`, as [`Spec`]'s display writes them (the alternate form lists every key).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(hidden) = &self.hidden {
            if f.alternate() {
                write!(f, "{hidden:#} + ")?;
            } else {
                write!(f, "{hidden} + ")?;
            }
        }
        if f.alternate() {
            write!(f, "{:#}", self.rest)
        } else {
            write!(f, "{}", self.rest)
        }
    }
}

/// Reads one optimizer spec, with the error as text.
fn parse_spec(text: &str) -> Result<Spec, String> {
    text.parse().map_err(|e: descent::SpecError| e.to_string())
}

/// `text` cut at every `+` outside parentheses, brackets and quotes.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut depth, mut quote, mut start) = (0_i32, None, 0);
    let mut parts = Vec::new();
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, '+') if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hybrid_is_two_specs_joined_by_a_plus() {
        let spec = ModelSpec::parse("muon(lr=0.02, adjust_lr_fn=\"match_rms_adamw\") + adamw(lr=1e+3)").unwrap();
        assert_eq!(spec.hidden.as_ref().unwrap().name(), "muon");
        assert_eq!(spec.rest.lr(), 1e3);
        assert_eq!(spec.to_string(), "muon(lr=0.02, adjust_lr_fn=\"match_rms_adamw\") + adamw(lr=1000.0)");
        assert_eq!(ModelSpec::parse(" adam ").unwrap(), ModelSpec::single("adam", "adam".parse().unwrap()));
        assert!(ModelSpec::parse("adam + sgd + muon").unwrap_err().contains("two optimizers"));
        assert!(ModelSpec::parse("adam + ").unwrap_err().contains("malformed"));
    }
}
