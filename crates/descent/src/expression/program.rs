//! A parsed expression as a postfix program, evaluated with its exact gradient by forward-mode differentiation.
//!
//! Each value carries its partial derivatives by x and by y (a dual number), so the gradient costs a small constant
//! factor more than the value, whatever the expression's length: nothing is differentiated symbolically, and
//! nothing grows.

use std::f64::consts::{LN_10, LN_2};

/// A value with its partial derivatives by x and by y.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dual {
    /// The value.
    pub value: f64,
    /// ∂/∂x and ∂/∂y.
    pub partials: [f64; 2],
}

impl Dual {
    fn constant(value: f64) -> Self {
        Dual { value, partials: [0.0; 2] }
    }

    fn variable(value: f64, coordinate: usize) -> Self {
        let mut partials = [0.0; 2];
        partials[coordinate] = 1.0;
        Dual { value, partials }
    }

    /// `f(self)`, where `slope` is f′ at `self.value` (the chain rule).
    fn chain(self, value: f64, slope: f64) -> Self {
        Dual { value, partials: self.partials.map(|d| if d == 0.0 { 0.0 } else { slope * d }) }
    }
}

/// A function of one argument that an expression may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Exp,
    Ln,
    Log2,
    Log10,
    Sqrt,
    Cbrt,
    Abs,
}

/// The names an expression calls the functions by.
pub(crate) const FUNCTIONS: &[(&str, Function)] = &[
    ("sin", Function::Sin),
    ("cos", Function::Cos),
    ("tan", Function::Tan),
    ("asin", Function::Asin),
    ("acos", Function::Acos),
    ("atan", Function::Atan),
    ("sinh", Function::Sinh),
    ("cosh", Function::Cosh),
    ("tanh", Function::Tanh),
    ("asinh", Function::Asinh),
    ("acosh", Function::Acosh),
    ("atanh", Function::Atanh),
    ("exp", Function::Exp),
    ("ln", Function::Ln),
    ("log", Function::Ln),
    ("log2", Function::Log2),
    ("log10", Function::Log10),
    ("sqrt", Function::Sqrt),
    ("cbrt", Function::Cbrt),
    ("abs", Function::Abs),
];

/// The names an expression calls the constants by.
pub(crate) const CONSTANTS: &[(&str, f64)] = &[
    ("PI", std::f64::consts::PI),
    ("pi", std::f64::consts::PI),
    ("π", std::f64::consts::PI),
    ("E", std::f64::consts::E),
];

impl Function {
    /// The function and its derivative at `u`.
    fn apply(self, u: Dual) -> Dual {
        let x = u.value;
        let (value, slope) = match self {
            Function::Sin => (x.sin(), x.cos()),
            Function::Cos => (x.cos(), -x.sin()),
            Function::Tan => {
                let t = x.tan();
                (t, 1.0 + t * t)
            }
            Function::Asin => (x.asin(), 1.0 / (1.0 - x * x).sqrt()),
            Function::Acos => (x.acos(), -1.0 / (1.0 - x * x).sqrt()),
            Function::Atan => (x.atan(), 1.0 / (1.0 + x * x)),
            Function::Sinh => (x.sinh(), x.cosh()),
            Function::Cosh => (x.cosh(), x.sinh()),
            Function::Tanh => {
                let t = x.tanh();
                (t, 1.0 - t * t)
            }
            Function::Asinh => (x.asinh(), 1.0 / (x * x + 1.0).sqrt()),
            Function::Acosh => (x.acosh(), 1.0 / (x * x - 1.0).sqrt()),
            Function::Atanh => (x.atanh(), 1.0 / (1.0 - x * x)),
            Function::Exp => {
                let e = x.exp();
                (e, e)
            }
            Function::Ln => (x.ln(), 1.0 / x),
            Function::Log2 => (x.log2(), 1.0 / (x * LN_2)),
            Function::Log10 => (x.log10(), 1.0 / (x * LN_10)),
            Function::Sqrt => {
                let r = x.sqrt();
                (r, 0.5 / r)
            }
            Function::Cbrt => {
                let r = x.cbrt();
                (r, 1.0 / (3.0 * r * r))
            }
            // The subgradient 0 at the kink, as PyTorch's `abs` backward gives.
            Function::Abs => (x.abs(), if x == 0.0 { 0.0 } else { x.signum() }),
        };
        u.chain(value, slope)
    }
}

/// One instruction of a postfix program.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    /// Push a number.
    Number(f64),
    /// Push a coordinate (0 for x, 1 for y).
    Variable(usize),
    /// Negate the top.
    Negate,
    /// Replace the top two, a and b, by a ∘ b.
    Binary(Binary),
    /// Apply a function to the top.
    Call(Function),
}

/// An operator between two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binary {
    Add,
    Subtract,
    Multiply,
    Divide,
    Power,
}

/// A postfix program that leaves one value on the stack.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Program {
    ops: Vec<Op>,
    /// The deepest the stack gets, so that evaluation allocates once.
    depth: usize,
}

impl Program {
    /// The program of `ops`, which the parser has checked to leave exactly one value.
    pub(crate) fn new(ops: Vec<Op>) -> Self {
        let mut height = 0usize;
        let mut depth = 0;
        for op in &ops {
            match op {
                Op::Number(_) | Op::Variable(_) => height += 1,
                Op::Negate | Op::Call(_) => {}
                Op::Binary(_) => height -= 1,
            }
            depth = depth.max(height);
        }
        debug_assert_eq!(height, 1, "a program leaves one value");
        Program { ops, depth }
    }

    /// The value and gradient at (x, y).
    pub(crate) fn evaluate(&self, point: [f64; 2]) -> Dual {
        let mut stack: Vec<Dual> = Vec::with_capacity(self.depth);
        for &op in &self.ops {
            let result = match op {
                Op::Number(v) => Dual::constant(v),
                Op::Variable(c) => Dual::variable(point[c], c),
                Op::Negate => {
                    let a = pop(&mut stack);
                    Dual { value: -a.value, partials: a.partials.map(|d| -d) }
                }
                Op::Call(function) => function.apply(pop(&mut stack)),
                Op::Binary(operator) => {
                    let b = pop(&mut stack);
                    let a = pop(&mut stack);
                    operator.apply(a, b)
                }
            };
            stack.push(result);
        }
        pop(&mut stack)
    }
}

fn pop(stack: &mut Vec<Dual>) -> Dual {
    stack.pop().expect("the parser emits only balanced programs")
}

impl Binary {
    /// `a ∘ b` and its derivative (the sum, product, quotient and power rules).
    fn apply(self, a: Dual, b: Dual) -> Dual {
        let each = |f: &dyn Fn(f64, f64) -> f64| [f(a.partials[0], b.partials[0]), f(a.partials[1], b.partials[1])];
        match self {
            Binary::Add => Dual { value: a.value + b.value, partials: each(&|da, db| da + db) },
            Binary::Subtract => Dual { value: a.value - b.value, partials: each(&|da, db| da - db) },
            Binary::Multiply => {
                Dual { value: a.value * b.value, partials: each(&|da, db| da * b.value + a.value * db) }
            }
            Binary::Divide => {
                let value = a.value / b.value;
                Dual { value, partials: each(&|da, db| (da - value * db) / b.value) }
            }
            Binary::Power => {
                let value = a.value.powf(b.value);
                // d(a^b) = b·a^(b−1)·da + a^b·ln(a)·db, each term only where its differential is not zero, so
                // that a constant exponent of a negative base (x^2 at x < 0) never meets ln(a).
                let by_base = |da: f64| if da == 0.0 { 0.0 } else { b.value * a.value.powf(b.value - 1.0) * da };
                let by_exponent = |db: f64| if db == 0.0 { 0.0 } else { value * a.value.ln() * db };
                Dual { value, partials: each(&|da, db| by_base(da) + by_exponent(db)) }
            }
        }
    }
}
