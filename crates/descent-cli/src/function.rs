//! Turning `--function`, `--start` and `--dim` into a surface and a start point.

use descent_landscape::{surfaces, ExpressionSurface, LandscapeError, Surface};

use crate::error::CliError;
use crate::limits;

/// A point on the command line, written `X,Y[,...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Point(pub Vec<f64>);

/// Parses a point written `X,Y[,...]`.
pub fn parse_point(text: &str) -> Result<Point, String> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            match part.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(format!("{part:?} is not a finite number (expected X,Y[,...], e.g. -1.5,2)")),
            }
        })
        .collect::<Result<_, _>>()
        .map(Point)
}

/// The surface `function` names, in the dimension of `start` (or `dim`, or two), and the start point: `start`, or
/// the surface's own.
pub fn resolve(
    function: &str,
    start: Option<Vec<f64>>,
    dim: Option<usize>,
) -> Result<(Box<dyn Surface>, Vec<f64>), CliError> {
    if let Some(start) = &start {
        if start.len() as u64 > limits::MAX_DIM {
            return Err(CliError::Usage(format!(
                "--start has {} coordinates, at most {}",
                start.len(),
                limits::MAX_DIM
            )));
        }
    }
    if let (Some(start), Some(dim)) = (&start, dim) {
        if start.len() != dim {
            return Err(CliError::Usage(format!("--start has {} coordinates but --dim is {dim}", start.len())));
        }
    }
    let dim = start.as_ref().map(Vec::len).or(dim).unwrap_or(2);
    let surface: Box<dyn Surface> = match surfaces::by_name(function, dim) {
        Ok(surface) => Box::new(surface),
        Err(unknown @ LandscapeError::UnknownSurface { .. }) => match ExpressionSurface::parse(function) {
            Ok(_) if dim != 2 => {
                return Err(CliError::Landscape(LandscapeError::Dimension {
                    surface: function.to_owned(),
                    expected: "2".to_owned(),
                    got: dim,
                }))
            }
            Ok(expression) => Box::new(expression),
            // A bare name that is neither a surface nor a variable was meant as a surface's name.
            Err(_) if is_name(function) => return Err(unknown.into()),
            Err(error) => return Err(error.into()),
        },
        Err(error) => return Err(error.into()),
    };
    let start = start.unwrap_or_else(|| surface.default_start());
    Ok((surface, start))
}

/// A bare name, such as a surface's, rather than an expression.
fn is_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
