//! The errors of loss landscapes.

use thiserror::Error;

/// Everything that can go wrong choosing a surface or running an optimizer on it.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LandscapeError {
    /// A surface name that is not built in.
    #[error(
        "unknown function {name:?} ({}built in: {known}; or an expression in x and y, e.g. 'x^2 - y^2')",
        .suggestion.as_ref().map(|s| format!("did you mean {s:?}? ")).unwrap_or_default()
    )]
    UnknownSurface {
        /// The name given (its first 60 characters, if longer).
        name: String,
        /// The built-in name closest to it, if one is close (a typo's distance).
        suggestion: Option<String>,
        /// The built-in names.
        known: String,
    },

    /// A point with the wrong number of coordinates for the surface.
    #[error("{surface} is defined in {expected} dimensions, got a point with {got}")]
    Dimension {
        /// The surface.
        surface: String,
        /// The dimensions it accepts.
        expected: String,
        /// The coordinates given.
        got: usize,
    },

    /// An expression that does not parse, or uses another variable than x and y.
    #[error("expression {text:?}: {message}")]
    Expression {
        /// The expression (its first 60 characters, if longer).
        text: String,
        /// What is wrong.
        message: String,
    },

    /// A noise level that is negative or not finite.
    #[error("invalid noise sigma = {0} (expected a finite number >= 0)")]
    Noise(f64),

    /// A run of zero steps.
    #[error("steps must be at least 1")]
    ZeroSteps,

    /// A start point with a non-finite coordinate.
    #[error("start point {0:?} has a coordinate that is not finite")]
    Start(Vec<f64>),

    /// A run still going at its deadline.
    #[error("the run took too long: stopped after {steps} steps at its time limit (fewer steps or optimizers)")]
    Deadline {
        /// The steps taken by then.
        steps: usize,
    },

    /// The optimizer rejected its hyperparameters.
    #[error(transparent)]
    Optimizer(#[from] descent::Error),
}

impl LandscapeError {
    /// The error of the expression `text`, whose echo is cut to its first 60 characters.
    pub(crate) fn expression(text: &str, message: String) -> Self {
        LandscapeError::Expression { text: short(text), message }
    }
}

/// `text`, cut to its first 60 characters for an error to echo.
pub(crate) fn short(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
