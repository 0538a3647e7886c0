//! Hyperparameters read and written by name, through the rule's serde form (its field names are PyTorch's keys).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Error, Rule};

/// Hyperparameters read and written by name: every [`Rule`]'s, and those of the optimizers that are not rules
/// (L-BFGS).
pub(crate) trait Hyperparameters: Serialize + DeserializeOwned {
    /// The optimizer's class name.
    const CLASS: &'static str;

    /// Rejects invalid values.
    fn check(&self) -> Result<(), Error>;
}

impl<R: Rule> Hyperparameters for R {
    const CLASS: &'static str = R::NAME;

    fn check(&self) -> Result<(), Error> {
        self.validate()
    }
}

/// Every hyperparameter of `hyper` as a JSON object with PyTorch's keys.
pub(crate) fn to_object<H: Hyperparameters>(hyper: &H) -> Map<String, Value> {
    match serde_json::to_value(hyper) {
        Ok(Value::Object(object)) => object,
        _ => panic!("{}: hyperparameters must serialize to an object of plain values", H::CLASS),
    }
}

/// The hyperparameter `name` of `hyper`.
pub(crate) fn get<H: Hyperparameters>(hyper: &H, name: &str) -> Result<Value, Error> {
    let object = to_object(hyper);
    match object.get(name) {
        Some(value) => Ok(value.clone()),
        None => Err(unknown::<H>(name, &object)),
    }
}

/// `hyper` with the hyperparameters in `changes` set, validated.
pub(crate) fn with<H: Hyperparameters>(hyper: &H, changes: &Map<String, Value>) -> Result<H, Error> {
    let mut object = to_object(hyper);
    for (name, value) in changes {
        if !object.contains_key(name) {
            return Err(unknown::<H>(name, &object));
        }
        // Each key alone first, so that an error names the key.
        let mut alone = Map::new();
        alone.insert(name.clone(), value.clone());
        serde_json::from_value::<H>(Value::Object(alone)).map_err(|e| Error::HyperparameterValue {
            optimizer: H::CLASS,
            name: name.clone(),
            message: serde_message(&e),
        })?;
        object.insert(name.clone(), value.clone());
    }
    let changed: H = serde_json::from_value(Value::Object(object)).map_err(|e| Error::HyperparameterValue {
        optimizer: H::CLASS,
        name: String::new(),
        message: serde_message(&e),
    })?;
    changed.check()?;
    Ok(changed)
}

fn unknown<H: Hyperparameters>(name: &str, object: &Map<String, Value>) -> Error {
    Error::UnknownHyperparameter {
        optimizer: H::CLASS,
        name: name.to_owned(),
        known: object.keys().cloned().collect::<Vec<_>>().join(", "),
    }
}

/// serde_json's message without its position suffix, which means nothing for a hyperparameter.
pub(crate) fn serde_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}
