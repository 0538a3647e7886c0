//! `GET /api/catalog`: the optimizers with their hyperparameters (defaults and the ranges the page's controls
//! span), the surfaces with their critical points, the schedulers, the palette and the bounds.

use descent::optim::ARTICLE;
use descent::schedule::schedulers;
use descent_landscape::{surfaces, CriticalPoint, Surface};
use serde_json::{json, Value};

use super::{
    MAX_BODY_BYTES, MAX_MAP_SIDE, MAX_OPTIMIZERS, MAX_SPEC_CHARS, MAX_STATE_STEPS, MAX_STEPS, MAX_TOTAL_STEPS,
};
use crate::plot::PALETTE;

/// The range a control spans: from `min` to `max`, evenly in the value or in its logarithm.
struct Range {
    min: f64,
    max: f64,
    log: bool,
}

/// The range of the hyperparameter `key` whose default is `defaults` (one number, or several): by the meaning of its
/// name where it is a known one, else from 0 (or the lowest default, if negative) to twice the largest magnitude
/// (at least 1).
fn range(key: &str, defaults: &[f64]) -> Range {
    let lowest = defaults.iter().copied().fold(0.0, f64::min);
    let largest = defaults.iter().map(|v| 2.0 * v.abs()).fold(1.0, f64::max);
    let (min, max, log) = match key {
        "lr" => (1e-5, 10.0, true),
        "momentum" | "dampening" | "rho" | "betas" => (0.0, 0.9999, false),
        "eps" => (1e-12, 1.0, true),
        "weight_decay" | "lr_decay" | "initial_accumulator_value" => (0.0, 1.0, false),
        "momentum_decay" => (1e-5, 0.1, true),
        "lambd" => (1e-6, 1.0, true),
        "t0" => (1.0, 1e6, true),
        "step_sizes" => (1e-8, 100.0, true),
        "etas" => (0.0, 2.0, false),
        "tolerance_grad" | "tolerance_change" => (1e-12, 1e-2, true),
        "max_iter" | "history_size" => (1.0, 100.0, false),
        "ns_steps" => (1.0, 10.0, false),
        "beta2_decay" => (-1.0, 0.0, false),
        _ => (lowest, largest, false),
    };
    Range { min, max, log }
}

/// One hyperparameter: its name, default and, for numbers and pairs of numbers, the range of its control.
fn hyperparameter(key: &str, default: &Value) -> Value {
    let numbers: Vec<f64> = match default {
        Value::Number(n) => n.as_f64().into_iter().collect(),
        Value::Array(items) => items.iter().map_while(Value::as_f64).collect(),
        _ => Vec::new(),
    };
    let kind = match default {
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_u64() || n.is_i64() => "int",
        Value::Number(_) => "number",
        Value::Array(items) if numbers.len() == items.len() => "numbers",
        _ => "text",
    };
    let mut entry = json!({"name": key, "default": default, "kind": kind});
    if !numbers.is_empty() {
        let Range { min, max, log } = range(key, &numbers);
        entry["min"] = json!(min);
        entry["max"] = json!(max);
        entry["scale"] = json!(if log { "log" } else { "linear" });
    }
    entry
}

fn critical_point(point: &CriticalPoint) -> Value {
    json!({"point": point.point, "value": point.value, "kind": point.kind.label()})
}

/// A surface as the page draws it: name, formula, domain, start and critical points.
pub fn surface(surface: &dyn Surface) -> Value {
    let domain = surface.domain();
    json!({
        "name": surface.name(),
        "formula": surface.formula(),
        "domain": {"x": [domain.x.0, domain.x.1], "y": [domain.y.0, domain.y.1]},
        "start": surface.default_start(),
        "critical_points": surface.critical_points().iter().map(critical_point).collect::<Vec<_>>(),
    })
}

/// The catalog.
pub fn catalog() -> Value {
    let optimizers: Vec<Value> = descent::catalog()
        .iter()
        .map(|entry| {
            let defaults = entry.defaults();
            let hyperparameters = defaults.hyperparameters();
            let controls: Vec<Value> = hyperparameters
                .as_object()
                .map(|object| object.iter().map(|(key, value)| hyperparameter(key, value)).collect())
                .unwrap_or_default();
            json!({
                "name": entry.name(),
                "aliases": entry.alias_names(),
                "summary": entry.summary(),
                "class": defaults.class(),
                "torch": entry.torch_class(),
                "hyperparameters": controls,
            })
        })
        .collect();
    let surfaces: Vec<Value> = surfaces::all()
        .iter()
        .map(|definition| {
            let built = surfaces::by_name(definition.name, 2).expect("every surface is defined in two dimensions");
            let mut entry = surface(&built);
            entry["summary"] = json!(definition.summary);
            entry["formula"] = json!(definition.formula_2d.unwrap_or(definition.formula));
            entry
        })
        .collect();
    let schedulers: Vec<Value> = schedulers()
        .iter()
        .map(|entry| json!({"name": entry.class(), "aliases": entry.aliases(), "summary": entry.summary()}))
        .collect();
    let palette: Vec<String> = PALETTE.iter().map(|c| format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)).collect();
    json!({
        "optimizers": optimizers,
        "article": ARTICLE.iter().map(|(_, spec)| spec).collect::<Vec<_>>(),
        "surfaces": surfaces,
        "schedulers": schedulers,
        "palette": palette,
        "limits": {
            "body_bytes": MAX_BODY_BYTES,
            "steps": MAX_STEPS,
            "optimizers": MAX_OPTIMIZERS,
            "total_steps": MAX_TOTAL_STEPS,
            "state_steps": MAX_STATE_STEPS,
            "spec_chars": MAX_SPEC_CHARS,
            "expression_chars": descent_landscape::ExpressionSurface::MAX_LENGTH,
            "map_side": MAX_MAP_SIDE,
        },
    })
}
