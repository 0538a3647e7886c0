//! Surfaces that users write as expressions in x and y, with exact gradients.

use descent::expression::Expression;

use crate::{CriticalPoint, Domain, LandscapeError, Surface};

/// A surface J(x, y) given as text, such as `x^2 - y^2 + 0.1*sin(3*x)`.
///
/// The text is an [`Expression`] in x and y: parsed once, then evaluated with its exact gradient by forward-mode
/// differentiation. Nothing is known of its critical points.
#[derive(Debug, Clone)]
pub struct ExpressionSurface {
    text: String,
    expression: Expression,
    domain: Domain,
}

impl ExpressionSurface {
    /// The longest expression accepted, in characters.
    pub const MAX_LENGTH: usize = Expression::MAX_LENGTH;

    /// The deepest nesting accepted: parentheses, function calls, signs and powers each count one level.
    pub const MAX_DEPTH: usize = Expression::MAX_DEPTH;

    /// Parses `text`; the plot domain is [−2, 2]².
    pub fn parse(text: &str) -> Result<Self, LandscapeError> {
        let expression =
            Expression::parse(text, &["x", "y"]).map_err(|message| LandscapeError::expression(text, message))?;
        Ok(ExpressionSurface { text: text.to_owned(), expression, domain: Domain::square(-2.0, 2.0) })
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
        self.expression.value(theta)
    }

    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        grad.copy_from_slice(&self.expression.gradient([theta[0], theta[1]]).1);
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
