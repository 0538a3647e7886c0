//! Surfaces that users write as expressions in x and y, differentiated exactly (symbolically).

use exmex::prelude::*;

use crate::{CriticalPoint, Domain, LandscapeError, Surface};

/// A surface J(x, y) given as text, such as `x^2 - y^2 + 0.1*sin(3*x)`.
///
/// The expression is parsed and differentiated symbolically (by `exmex`), so the gradient is exact up to
/// rounding; nothing is known of its critical points. Operators: `+ - * / ^`, `sin`, `cos`, `tan`, `exp`, `ln`
/// (`log`), `sqrt`, `abs`, the hyperbolic and inverse functions, and the constants `PI` (`π`) and `E`.
#[derive(Debug, Clone)]
pub struct ExpressionSurface {
    text: String,
    value: FlatEx<f64>,
    /// The partial derivative by x and by y (`None` where the expression does not use the variable).
    partials: [Option<FlatEx<f64>>; 2],
    /// For each variable of the expression, in its order, the coordinate it reads (0 for x, 1 for y).
    coordinates: Vec<usize>,
    domain: Domain,
}

impl ExpressionSurface {
    /// The variables an expression may use.
    pub const VARIABLES: [&'static str; 2] = ["x", "y"];

    /// Parses and differentiates `text`; the plot domain is [−2, 2]².
    pub fn parse(text: &str) -> Result<Self, LandscapeError> {
        let error = |message: String| LandscapeError::Expression { text: text.to_owned(), message };
        let value = FlatEx::<f64>::parse(text).map_err(|e| error(e.to_string()))?;
        let mut coordinates = Vec::new();
        for name in value.var_names() {
            match Self::VARIABLES.iter().position(|v| v == name) {
                Some(coordinate) => coordinates.push(coordinate),
                None => return Err(error(format!("unknown variable `{name}` (use x and y)"))),
            }
        }
        let mut partials = [None, None];
        for (index, &coordinate) in coordinates.iter().enumerate() {
            let partial = value.clone().partial(index).map_err(|e| error(format!("cannot differentiate: {e}")))?;
            partials[coordinate] = Some(partial);
        }
        Ok(ExpressionSurface { text: text.to_owned(), value, partials, coordinates, domain: Domain::square(-2.0, 2.0) })
    }

    /// The same surface drawn over `domain`.
    pub fn with_domain(self, domain: Domain) -> Self {
        ExpressionSurface { domain, ..self }
    }

    fn variables(&self, theta: &[f64]) -> Vec<f64> {
        self.coordinates.iter().map(|&c| theta[c]).collect()
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
        self.value.eval(&self.variables(theta)).unwrap_or(f64::NAN)
    }

    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        let variables = self.variables(theta);
        for (g, partial) in grad.iter_mut().zip(&self.partials) {
            *g = partial.as_ref().map_or(0.0, |p| p.eval(&variables).unwrap_or(f64::NAN));
        }
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
