//! Formulas that users write as text: a loss surface in x and y, a learning-rate factor in `epoch`.

mod parser;
mod program;

use program::Program;

/// A formula given as text, such as `x^2 - y^2 + 0.1*sin(3*x)` or `0.95^epoch`, in one or two named variables.
///
/// The text is parsed once into a small program that computes the value and, by forward-mode differentiation, the
/// exact gradient (up to rounding) in time proportional to the formula's length.
///
/// - Operators: `+ - * /` and `^` (or `**`) with Python's precedence: `-x^2` is −(x²), `2^3^2` is 2⁹.
/// - Numbers: `3`, `0.5`, `.5`, `1e-3`, `2.5E+2`.
/// - Functions: `sin`, `cos`, `tan`, their inverses `asin`, `acos`, `atan`, the hyperbolic `sinh`, `cosh`, `tanh`
///   and their inverses `asinh`, `acosh`, `atanh`, `exp`, `ln` (or `log`), `log2`, `log10`, `sqrt`, `cbrt` and
///   `abs` (whose derivative at 0 is taken as 0, as PyTorch does).
/// - Constants: `PI` (`pi`, `π`) and `E`.
///
/// At most [`Self::MAX_LENGTH`] characters and [`Self::MAX_DEPTH`] levels of nesting are accepted.
///
/// ```
/// use descent::expression::Expression;
///
/// let saddle = Expression::parse("x^2 - y^2", &["x", "y"])?;
/// assert_eq!(saddle.gradient([1.0, 2.0]), (-3.0, [2.0, -4.0]));
/// let decay = Expression::parse("0.5^epoch", &["epoch"])?;
/// assert_eq!(decay.value(&[3.0]), 0.125);
/// assert_eq!(Expression::parse("0.5^step", &["epoch"]).unwrap_err(), "unknown variable `step` at character 5 (use epoch)");
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    text: String,
    program: Program,
}

impl Expression {
    /// The longest text accepted, in characters.
    pub const MAX_LENGTH: usize = parser::MAX_LENGTH;

    /// The deepest nesting accepted: parentheses, function calls, signs and powers each count one level.
    pub const MAX_DEPTH: usize = parser::MAX_DEPTH;

    /// Parses `text` as a formula in `variables` (one or two names, in coordinate order), or says what is wrong
    /// and where.
    pub fn parse(text: &str, variables: &'static [&'static str]) -> Result<Self, String> {
        assert!(matches!(variables.len(), 1 | 2), "an expression has one or two variables");
        Ok(Expression { text: text.to_owned(), program: parser::parse(text, variables)? })
    }

    /// The text it was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The value at `point` (one coordinate per variable).
    pub fn value(&self, point: &[f64]) -> f64 {
        self.program.evaluate(coordinates(point)).value
    }

    /// The value and the partial derivatives at `point` (the second is 0 for a formula in one variable).
    pub fn gradient(&self, point: [f64; 2]) -> (f64, [f64; 2]) {
        let dual = self.program.evaluate(point);
        (dual.value, dual.partials)
    }
}

fn coordinates(point: &[f64]) -> [f64; 2] {
    [point.first().copied().unwrap_or(0.0), point.get(1).copied().unwrap_or(0.0)]
}
