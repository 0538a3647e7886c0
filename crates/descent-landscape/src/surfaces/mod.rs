//! The built-in surfaces, one per file: the standard test functions of optimization, with exact gradients and
//! their known critical points.

mod ackley;
mod beale;
mod booth;
mod branin;
mod goldstein_price;
mod himmelblau;
mod monkey_saddle;
mod quadratic;
mod rastrigin;
mod rosenbrock;
mod saddle;
mod six_hump_camel;
mod sphere;
mod styblinski_tang;

use crate::error::short;
use crate::{CriticalKind, CriticalPoint, Domain, LandscapeError, Surface};

/// A built-in surface's definition.
#[derive(Debug)]
pub struct Builtin {
    /// The name users pass to `--function`.
    pub name: &'static str,
    /// What the surface shows, in a few words.
    pub summary: &'static str,
    /// The formula, in n dimensions where the surface has them.
    pub formula: &'static str,
    /// The formula in two dimensions, where it reads differently.
    pub formula_2d: Option<&'static str>,
    /// The dimensions it is defined in.
    pub dims: Dims,
    value: fn(&[f64]) -> f64,
    gradient: fn(&[f64], &mut [f64]),
    critical_points: fn(usize) -> Vec<CriticalPoint>,
    /// The region to draw.
    pub domain: Domain,
    start: fn(usize) -> Vec<f64>,
}

/// The dimensions a surface is defined in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dims {
    /// Only two.
    Two,
    /// Any number from `min` up.
    AtLeast(usize),
}

impl Dims {
    fn accepts(self, dim: usize) -> bool {
        match self {
            Dims::Two => dim == 2,
            Dims::AtLeast(min) => dim >= min,
        }
    }

    /// In words: `2` or `>= 1`.
    pub fn describe(self) -> String {
        match self {
            Dims::Two => "2".to_owned(),
            Dims::AtLeast(min) => format!(">= {min}"),
        }
    }
}

/// Every built-in surface.
pub fn all() -> [&'static Builtin; 14] {
    [
        &sphere::SPHERE,
        &quadratic::QUADRATIC,
        &rosenbrock::ROSENBROCK,
        &beale::BEALE,
        &himmelblau::HIMMELBLAU,
        &rastrigin::RASTRIGIN,
        &ackley::ACKLEY,
        &goldstein_price::GOLDSTEIN_PRICE,
        &booth::BOOTH,
        &six_hump_camel::SIX_HUMP_CAMEL,
        &styblinski_tang::STYBLINSKI_TANG,
        &saddle::SADDLE,
        &monkey_saddle::MONKEY_SADDLE,
        &branin::BRANIN,
    ]
}

/// The built-in surface called `name` in `dim` dimensions.
pub fn by_name(name: &str, dim: usize) -> Result<BuiltinSurface, LandscapeError> {
    let normalized = name.to_ascii_lowercase().replace('-', "_");
    let Some(def) = all().into_iter().find(|b| b.name == normalized) else {
        let known: Vec<&str> = all().iter().map(|b| b.name).collect();
        // A typo's distance: one edit in a short name, two in a longer one.
        let limit = if normalized.chars().count() <= 4 { 1 } else { 2 };
        let suggestion = known
            .iter()
            .map(|&candidate| (strsim::levenshtein(&normalized, candidate), candidate))
            .filter(|&(distance, _)| distance <= limit)
            .min_by_key(|&(distance, _)| distance)
            .map(|(_, candidate)| candidate.to_owned());
        return Err(LandscapeError::UnknownSurface { name: short(name), suggestion, known: known.join(", ") });
    };
    if !def.dims.accepts(dim) {
        return Err(LandscapeError::Dimension {
            surface: def.name.to_owned(),
            expected: def.dims.describe(),
            got: dim,
        });
    }
    Ok(BuiltinSurface { def, dim })
}

/// A built-in surface in a given dimension.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinSurface {
    def: &'static Builtin,
    dim: usize,
}

impl BuiltinSurface {
    /// The definition.
    pub fn definition(&self) -> &'static Builtin {
        self.def
    }
}

impl Surface for BuiltinSurface {
    fn name(&self) -> &str {
        self.def.name
    }

    fn formula(&self) -> String {
        match (self.dim, self.def.formula_2d) {
            (2, Some(plane)) => plane.to_owned(),
            _ => self.def.formula.to_owned(),
        }
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn value(&self, theta: &[f64]) -> f64 {
        (self.def.value)(theta)
    }

    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        (self.def.gradient)(theta, grad)
    }

    fn critical_points(&self) -> Vec<CriticalPoint> {
        (self.def.critical_points)(self.dim)
    }

    fn domain(&self) -> Domain {
        self.def.domain
    }

    fn default_start(&self) -> Vec<f64> {
        (self.def.start)(self.dim)
    }
}

/// A critical point in two dimensions.
fn point2(x: f64, y: f64, value: f64, kind: CriticalKind) -> CriticalPoint {
    CriticalPoint { point: vec![x, y], value, kind }
}

/// The same critical point at the origin of any dimension, for sums of one-coordinate terms.
fn at_origin(dim: usize, kind: CriticalKind) -> Vec<CriticalPoint> {
    vec![CriticalPoint { point: vec![0.0; dim], value: 0.0, kind }]
}

/// A start point of `dim` coordinates that repeats `pattern`.
fn repeat(pattern: &[f64], dim: usize) -> Vec<f64> {
    pattern.iter().copied().cycle().take(dim).collect()
}
