//! Hyperparameters read and written by name, through the rule's serde form (its field names are PyTorch's keys).

use serde_json::{Map, Value};

use crate::{Error, Rule};

/// Every hyperparameter of `hyper` as a JSON object with PyTorch's keys.
pub(crate) fn to_object<R: Rule>(hyper: &R) -> Map<String, Value> {
    match serde_json::to_value(hyper) {
        Ok(Value::Object(object)) => object,
        _ => panic!("{}: hyperparameters must serialize to an object of plain values", R::NAME),
    }
}

/// The hyperparameter `name` of `hyper`.
pub(crate) fn get<R: Rule>(hyper: &R, name: &str) -> Result<Value, Error> {
    let object = to_object(hyper);
    match object.get(name) {
        Some(value) => Ok(value.clone()),
        None => Err(unknown::<R>(name, &object)),
    }
}

/// `hyper` with the hyperparameters in `changes` set, validated.
pub(crate) fn with<R: Rule>(hyper: &R, changes: &Map<String, Value>) -> Result<R, Error> {
    let mut object = to_object(hyper);
    for (name, value) in changes {
        if !object.contains_key(name) {
            return Err(unknown::<R>(name, &object));
        }
        // Each key alone first, so that an error names the key.
        let mut alone = Map::new();
        alone.insert(name.clone(), value.clone());
        serde_json::from_value::<R>(Value::Object(alone)).map_err(|e| Error::HyperparameterValue {
            optimizer: R::NAME,
            name: name.clone(),
            message: serde_message(&e),
        })?;
        object.insert(name.clone(), value.clone());
    }
    let changed: R = serde_json::from_value(Value::Object(object)).map_err(|e| Error::HyperparameterValue {
        optimizer: R::NAME,
        name: String::new(),
        message: serde_message(&e),
    })?;
    changed.validate()?;
    Ok(changed)
}

fn unknown<R: Rule>(name: &str, object: &Map<String, Value>) -> Error {
    Error::UnknownHyperparameter {
        optimizer: R::NAME,
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
