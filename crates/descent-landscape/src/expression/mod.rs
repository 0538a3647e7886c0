//! Surfaces that users write as expressions in x and y, with exact gradients.

mod parser;
mod program;

use crate::{CriticalPoint, Domain, LandscapeError, Surface};

use program::Program;

/// A surface J(x, y) given as text, such as `x^2 - y^2 + 0.1*sin(3*x)`.
///
/// The expression is parsed once into a small program that computes the value and, by forward-mode
/// differentiation, the exact gradient (up to rounding) in time proportional to the expression's length; nothing
/// is known of its critical points.
///
/// - Operators: `+ - * /` and `^` (or `**`) with Python's precedence: `-x^2` is −(x²), `2^3^2` is 2⁹.
/// - Numbers: `3`, `0.5`, `.5`, `1e-3`, `2.5E+2`.
/// - Functions: `sin`, `cos`, `tan`, their inverses `asin`, `acos`, `atan`, the hyperbolic `sinh`, `cosh`, `tanh`
///   and their inverses `asinh`, `acosh`, `atanh`, `exp`, `ln` (or `log`), `log2`, `log10`, `sqrt`, `cbrt` and
///   `abs` (whose derivative at 0 is taken as 0, as PyTorch does).
/// - Constants: `PI` (`pi`, `π`) and `E`.
///
/// At most [`Self::MAX_LENGTH`] characters and [`Self::MAX_DEPTH`] levels of nesting are accepted.
#[derive(Debug, Clone)]
pub struct ExpressionSurface {
    text: String,
    program: Program,
    domain: Domain,
}

impl ExpressionSurface {
    /// The longest expression accepted, in characters.
    pub const MAX_LENGTH: usize = parser::MAX_LENGTH;

    /// The deepest nesting accepted: parentheses, function calls, signs and powers each count one level.
    pub const MAX_DEPTH: usize = parser::MAX_DEPTH;

    /// Parses `text`; the plot domain is [−2, 2]².
    pub fn parse(text: &str) -> Result<Self, LandscapeError> {
        let program = parser::parse(text).map_err(|message| LandscapeError::expression(text, message))?;
        Ok(ExpressionSurface { text: text.to_owned(), program, domain: Domain::square(-2.0, 2.0) })
    }

    /// The same surface drawn over `domain`.
    pub fn with_domain(self, domain: Domain) -> Self {
        ExpressionSurface { domain, ..self }
    }
}

impl Surface for ExpressionSurface {
    fn name(&self) -> &str {
        &self.text
    }

    fn formula(&self) -> String {
        self.text.clone()
    }

    fn dim(&self) -> usize {
        2
    }

    fn value(&self, theta: &[f64]) -> f64 {
        self.program.evaluate([theta[0], theta[1]]).value
    }

    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        grad.copy_from_slice(&self.program.evaluate([theta[0], theta[1]]).partials);
    }

    fn critical_points(&self) -> Vec<CriticalPoint> {
        Vec::new()
    }

    fn domain(&self) -> Domain {
        self.domain
    }

    fn default_start(&self) -> Vec<f64> {
        vec![-1.5, 1.5]
    }
}
