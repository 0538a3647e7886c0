//! Expressions: values against Rust's own arithmetic, gradients against closed forms and finite differences,
//! errors for every kind of bad input, and bounded time and depth for hostile ones.

use std::time::{Duration, Instant};

use descent_landscape::{ExpressionSurface, LandscapeError, Surface};
use proptest::prelude::*;

fn parse(text: &str) -> ExpressionSurface {
    ExpressionSurface::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn value(text: &str, x: f64, y: f64) -> f64 {
    parse(text).value(&[x, y])
}

fn gradient(text: &str, x: f64, y: f64) -> [f64; 2] {
    let mut g = [0.0; 2];
    parse(text).gradient(&[x, y], &mut g);
    g
}

fn message(text: &str) -> String {
    match ExpressionSurface::parse(text) {
        Err(LandscapeError::Expression { message, .. }) => message,
        other => panic!("{text:?} gave {other:?}"),
    }
}

#[test]
fn precedence_and_numbers_follow_python() {
    let cases: [(&str, f64); 14] = [
        ("-x^2", -9.0),
        ("2^3^2", 512.0),
        ("2**3**2", 512.0),
        ("2^-1", 0.5),
        ("2^-x^2", 2f64.powf(-9.0)),
        ("-2^2", -4.0),
        ("(-2)^2", 4.0),
        ("1 - 2 - 3", -4.0),
        ("8 / 4 / 2", 1.0),
        ("1 + 2 * 3", 7.0),
        ("1e-3*x", 3e-3),
        ("2.5E+2 + .5", 250.5),
        ("--x", 3.0),
        ("x-y", 1.0),
    ];
    for (text, expected) in cases {
        assert_eq!(value(text, 3.0, 2.0), expected, "{text}");
    }
    assert_eq!(value("PI + pi + π + E", 0.0, 0.0), 3.0 * std::f64::consts::PI + std::f64::consts::E);
}

#[test]
fn gradients_equal_their_closed_forms() {
    let (x, y) = (0.7, -1.3);
    let cases: [(&str, [f64; 2]); 8] = [
        ("x^2 - y^2", [2.0 * x, -2.0 * y]),
        ("x*y^3", [y.powi(3), 3.0 * x * y * y]),
        ("exp(x*y)", [y * (x * y).exp(), x * (x * y).exp()]),
        ("sin(x)/y", [x.cos() / y, -x.sin() / (y * y)]),
        ("x^y", [y * x.powf(y - 1.0), x.powf(y) * x.ln()]),
        ("2^x", [2f64.powf(x) * 2f64.ln(), 0.0]),
        ("abs(y) + abs(x)", [1.0, -1.0]),
        ("sqrt(x^2 + y^2)", [x / x.hypot(y), y / x.hypot(y)]),
    ];
    for (text, expected) in cases {
        let g = gradient(text, x, y);
        for (a, b) in g.iter().zip(expected) {
            assert!((a - b).abs() <= 4.0 * f64::EPSILON * b.abs().max(1.0), "{text}: {g:?} vs {expected:?}");
        }
    }
    // The subgradient at the kink is 0, as PyTorch's `abs` gives; a negative base with a constant exponent stays
    // finite.
    assert_eq!(gradient("abs(x)", 0.0, 0.0), [0.0, 0.0]);
    assert_eq!(gradient("x^2 + y^3", -2.0, -1.0), [-4.0, 3.0]);
    // A variable the expression does not read has a zero partial, even where the other's is infinite.
    assert_eq!(gradient("y^2 + sqrt(x)", 0.0, 3.0), [f64::INFINITY, 6.0]);
    assert_eq!(gradient("sqrt(y)", 2.0, 0.0)[0], 0.0);
}

#[test]
fn every_function_has_its_value_and_derivative() {
    let h = 1e-6;
    type Case = (&'static str, fn(f64) -> f64, f64);
    let cases: [Case; 20] = [
        ("sin", f64::sin, 0.4),
        ("cos", f64::cos, 0.4),
        ("tan", f64::tan, 0.4),
        ("asin", f64::asin, 0.4),
        ("acos", f64::acos, 0.4),
        ("atan", f64::atan, 0.4),
        ("sinh", f64::sinh, 0.4),
        ("cosh", f64::cosh, 0.4),
        ("tanh", f64::tanh, 0.4),
        ("asinh", f64::asinh, 0.4),
        ("acosh", f64::acosh, 1.4),
        ("atanh", f64::atanh, 0.4),
        ("exp", f64::exp, 0.4),
        ("ln", f64::ln, 0.4),
        ("log", f64::ln, 0.4),
        ("log2", f64::log2, 0.4),
        ("log10", f64::log10, 0.4),
        ("sqrt", f64::sqrt, 0.4),
        ("cbrt", f64::cbrt, 0.4),
        ("abs", f64::abs, -0.4),
    ];
    for (name, f, x) in cases {
        let text = format!("{name}(x)");
        assert_eq!(value(&text, x, 0.0), f(x), "{text}");
        let slope = gradient(&text, x, 0.0)[0];
        let difference = (f(x + h) - f(x - h)) / (2.0 * h);
        assert!((slope - difference).abs() < 1e-8, "{text}: {slope} vs {difference}");
    }
}

#[test]
fn long_sums_and_deep_nests_within_the_limits_are_fast_and_exact() {
    let sum = vec!["x"; 1000].join("+");
    let started = Instant::now();
    assert_eq!(value(&sum, 2.0, 0.0), 2000.0);
    assert_eq!(gradient(&sum, 2.0, 0.0), [1000.0, 0.0]);
    let polynomial: String = (1..=150).map(|k| format!("+{k}*x^{}", k % 7)).collect();
    let expected: f64 = (1..=150).map(|k| f64::from(k) * 1.5f64.powi(k % 7)).sum();
    assert!((value(&polynomial, 1.5, 0.0) - expected).abs() < 1e-9 * expected);
    let depth = ExpressionSurface::MAX_DEPTH / 2;
    let nested = format!("{}x{}", "sin(".repeat(depth), ")".repeat(depth));
    let mut expected = 0.3f64;
    for _ in 0..depth {
        expected = expected.sin();
    }
    assert_eq!(value(&nested, 0.3, 0.0), expected);
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[test]
fn hostile_expressions_are_refused_at_once() {
    let started = Instant::now();
    let too_long = format!("x{}", "+x".repeat(ExpressionSurface::MAX_LENGTH));
    assert!(message(&too_long).starts_with("too long"), "{}", message(&too_long));
    for depth in [200, 10_000] {
        let nested = format!("{}x{}", "sin(".repeat(depth), ")".repeat(depth));
        let text = &nested[..nested.len().min(ExpressionSurface::MAX_LENGTH)];
        assert!(message(text).contains("nested too deeply"), "{}", message(text));
        let parentheses = format!("{}x{}", "(".repeat(depth), ")".repeat(depth));
        let text = &parentheses[..parentheses.len().min(ExpressionSurface::MAX_LENGTH)];
        assert!(message(text).contains("nested too deeply"), "{}", message(text));
        let signs = format!("{}x", "-".repeat(depth.min(ExpressionSurface::MAX_LENGTH - 1)));
        assert!(message(&signs).contains("nested too deeply"), "{}", message(&signs));
    }
    let tower = vec!["x"; 100].join("^");
    assert!(message(&tower).contains("too many powers"), "{}", message(&tower));
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[test]
fn bad_expressions_say_what_and_where() {
    let cases = [
        ("", "the expression is empty"),
        ("   ", "the expression is empty"),
        ("x +", "expected a value at the end (character 4)"),
        ("x y", "expected an operator before `y` at character 3"),
        ("2x", "expected an operator before `x` at character 2"),
        ("(x + y", "the `(` at character 1 is never closed"),
        ("x + y)", "unmatched `)` at character 6"),
        ("x + z", "unknown variable `z` at character 5 (use x and y)"),
        ("sin x", "`sin` at character 1 needs its argument in parentheses: sin(x)"),
        ("x # y", "unexpected character '#' at character 3"),
        ("1.2.3", "expected an operator before the number 0.3 at character 4"),
        ("*x", "expected a value at character 1, found `*`"),
        ("(x y)", "expected an operator or `)` before `y` at character 4"),
    ];
    for (text, expected) in cases {
        assert_eq!(message(text), expected, "{text:?}");
    }
    assert!(message("foo(x)").starts_with("unknown function `foo` at character 1 (known: sin, cos,"));
    // The echo of a long expression is cut, and newlines are escaped: the error is one line.
    let long = format!("x\n{}", "+x".repeat(100));
    let error = ExpressionSurface::parse(&format!("{long} +")).unwrap_err().to_string();
    assert!(!error.contains('\n') && error.len() < 200, "{error}");
}

/// An expression tree, written out as text and evaluated by Rust's arithmetic: an independent reference.
#[derive(Debug, Clone)]
enum Tree {
    X,
    Y,
    Number(f64),
    Negate(Box<Tree>),
    Binary(char, Box<Tree>, Box<Tree>),
    Call(&'static str, Box<Tree>),
}

impl Tree {
    fn text(&self) -> String {
        match self {
            Tree::X => "x".into(),
            Tree::Y => "y".into(),
            Tree::Number(v) => format!("{v:e}"),
            Tree::Negate(a) => format!("-({})", a.text()),
            Tree::Binary(op, a, b) => format!("({}) {op} ({})", a.text(), b.text()),
            Tree::Call(name, a) => format!("{name}({})", a.text()),
        }
    }

    fn value(&self, x: f64, y: f64) -> f64 {
        match self {
            Tree::X => x,
            Tree::Y => y,
            Tree::Number(v) => *v,
            Tree::Negate(a) => -a.value(x, y),
            Tree::Binary(op, a, b) => {
                let (a, b) = (a.value(x, y), b.value(x, y));
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    _ => a / b,
                }
            }
            Tree::Call(name, a) => {
                let a = a.value(x, y);
                match *name {
                    "sin" => a.sin(),
                    "cos" => a.cos(),
                    "atan" => a.atan(),
                    _ => a.tanh(),
                }
            }
        }
    }
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![Just(Tree::X), Just(Tree::Y), (-3.0..3.0f64).prop_map(Tree::Number)];
    leaf.prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| Tree::Negate(Box::new(a))),
            (prop::sample::select(vec!['+', '-', '*']), inner.clone(), inner.clone())
                .prop_map(|(op, a, b)| Tree::Binary(op, Box::new(a), Box::new(b))),
            (prop::sample::select(vec!["sin", "cos", "atan", "tanh"]), inner)
                .prop_map(|(name, a)| Tree::Call(name, Box::new(a))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_expressions_evaluate_as_rust_does(tree in tree(), x in -2.0..2.0f64, y in -2.0..2.0f64) {
        let surface = ExpressionSurface::parse(&tree.text()).unwrap();
        prop_assert_eq!(surface.value(&[x, y]), tree.value(x, y), "{}", tree.text());
        let mut g = [0.0; 2];
        surface.gradient(&[x, y], &mut g);
        for i in 0..2 {
            let h = 1e-6;
            let (mut up, mut down) = ([x, y], [x, y]);
            up[i] += h;
            down[i] -= h;
            let difference = (tree.value(up[0], up[1]) - tree.value(down[0], down[1])) / (2.0 * h);
            prop_assert!((g[i] - difference).abs() <= 1e-5 * difference.abs().max(1.0),
                "{}: ∂{} {} vs {}", tree.text(), i, g[i], difference);
        }
    }

    #[test]
    fn random_text_is_parsed_or_refused_quickly(text in "[xy0-9.e()+*/^ -]{0,300}|(sin\\(|\\(|-|x\\^){0,3000}") {
        let started = Instant::now();
        if let Ok(surface) = ExpressionSurface::parse(&text) {
            let _ = surface.value(&[0.5, -0.5]);
        }
        prop_assert!(started.elapsed() < Duration::from_millis(200), "{text:?} took {:?}", started.elapsed());
    }
}
