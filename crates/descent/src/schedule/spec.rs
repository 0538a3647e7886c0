//! Schedules named at run time: `CosineAnnealingLR(T_max=100)`, composed with `*` and `until … then`.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::base::{Schedule, View};
use super::{Chain, ScheduleEntry, Sequence};
use crate::spec::{hyper_error, python, short, syntax};
use crate::{Error, SpecError};

/// A learning-rate schedule, chosen at run time, in PyTorch's names and Python's value syntax.
///
/// - One scheduler: its class name (any case) or a short alias, with PyTorch's arguments:
///   `CosineAnnealingLR(T_max=100, eta_min=1e-4)`, `step(step_size=30)`, `MultiStepLR(milestones=[30, 80])`,
///   `OneCycleLR(max_lr=0.1, total_steps=500)`, `LambdaLR(lr_lambda="0.95^epoch")`.
/// - `A * B`: PyTorch's `ChainedScheduler([A, B])`: both step every epoch, so their factors multiply.
/// - `A until 5 then B until 20 then C`: PyTorch's `SequentialLR([A, B, C], milestones=[5, 20])`: A runs for
///   epochs 0–4, B takes over at epoch 5 (its own epoch 0), C at 20. Each part of a sequence is one scheduler; a
///   chain may hold a sequence in parentheses: `(A until 5 then B) * C`.
///
/// ReduceLROnPlateau, which steps on a metric, stands alone.
///
/// ```
/// use descent::schedule::ScheduleSpec;
///
/// let spec: ScheduleSpec = "warmup(start_factor=0.1, total_iters=5) until 5 then cosine(T_max=95)".parse()?;
/// assert_eq!(spec.to_string(), "LinearLR(start_factor=0.1, total_iters=5) until 5 then CosineAnnealingLR(T_max=95)");
/// let err = "cosine(T_max=0)".parse::<ScheduleSpec>().unwrap_err();
/// assert_eq!(err.to_string(), "CosineAnnealingLR: T_max must be a positive integer");
/// # Ok::<(), descent::SpecError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    node: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    One { class: &'static str, keys: Map<String, Value> },
    Chain(Vec<Node>),
    Sequence { parts: Vec<Node>, milestones: Vec<u64> },
}

impl ScheduleSpec {
    /// Whether it steps on a metric (ReduceLROnPlateau).
    pub fn watches_metric(&self) -> bool {
        matches!(&self.node, Node::One { class, .. } if entry(class).watches_metric())
    }

    /// Builds the scheduler on `groups` as PyTorch's constructors would, in the order the text names them.
    pub(crate) fn build(&self, groups: &mut [View]) -> Result<Box<dyn Schedule>, Error> {
        self.node.build(groups)
    }
}

fn entry(class: &str) -> &'static ScheduleEntry {
    ScheduleEntry::find(class).expect("a parsed spec names a registered scheduler")
}

impl Node {
    fn build(&self, groups: &mut [View]) -> Result<Box<dyn Schedule>, Error> {
        let mut schedule: Box<dyn Schedule> = match self {
            Node::One { class, keys } => entry(class).make(keys)?,
            Node::Chain(parts) => {
                Box::new(Chain { parts: parts.iter().map(|p| p.build(groups)).collect::<Result<_, _>>()? })
            }
            Node::Sequence { parts, milestones } => Box::new(Sequence {
                parts: parts.iter().map(|p| p.build(groups)).collect::<Result<_, _>>()?,
                milestones: milestones.clone(),
                last_epoch: -1,
            }),
        };
        schedule.start(groups)?;
        Ok(schedule)
    }

    fn watches_metric(&self) -> bool {
        matches!(self, Node::One { class, .. } if entry(class).watches_metric())
    }
}

impl FromStr for ScheduleSpec {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Self, SpecError> {
        let node = parse_sequence(text.trim(), text)?;
        Ok(ScheduleSpec { node })
    }
}

fn malformed(text: &str, message: impl Into<String>) -> SpecError {
    SpecError::ScheduleSyntax { spec: short(text), message: message.into() }
}

/// The pieces of `text` between top-level separators (outside brackets and quotes): `*`, or the words `until` and
/// `then`.
fn split_top(text: &str, separator: &dyn Fn(&str, usize) -> Option<usize>) -> Result<Vec<(usize, usize)>, String> {
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let c = text[at..].chars().next().expect("in bounds");
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unmatched `{c}` at column {}", at + 1));
                }
            }
            (None, _) if depth == 0 => {
                if let Some(length) = separator(text, at) {
                    pieces.push((start, at));
                    start = at + length;
                    at = start;
                    continue;
                }
            }
            _ => {}
        }
        at += c.len_utf8();
    }
    if quote.is_some() {
        return Err("unclosed string".to_owned());
    }
    if depth > 0 {
        return Err("unclosed `(` or `[`".to_owned());
    }
    pieces.push((start, text.len()));
    Ok(pieces)
}

/// The length of the word `word` at `at`, if it stands there alone.
fn word_at(text: &str, at: usize, word: &str) -> Option<usize> {
    let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
    let before = text[..at].chars().next_back();
    (text[at..].starts_with(word) && boundary(before) && boundary(text[at + word.len()..].chars().next()))
        .then_some(word.len())
}

/// `A until N then B …`, or a chain.
fn parse_sequence(text: &str, whole: &str) -> Result<Node, SpecError> {
    let separator = |t: &str, at: usize| word_at(t, at, "until").or_else(|| word_at(t, at, "then"));
    let pieces = split_top(text, &separator).map_err(|m| malformed(whole, m))?;
    if pieces.len() == 1 {
        return parse_chain(text, whole);
    }
    // The pieces alternate: scheduler, milestone, scheduler, milestone, …, scheduler.
    if pieces.len() % 2 == 0 {
        return Err(malformed(whole, "write a sequence as `A until N then B`"));
    }
    let mut parts = Vec::new();
    let mut milestones: Vec<u64> = Vec::new();
    for (i, &(start, end)) in pieces.iter().enumerate() {
        let piece = text[start..end].trim();
        if i % 2 == 1 {
            let milestone = piece.parse::<u64>().map_err(|_| {
                malformed(whole, format!("expected an epoch number after `until`, found {:?}", short(piece)))
            })?;
            let separator_after = &text[end..];
            if !separator_after.starts_with("then") {
                return Err(malformed(whole, "write a sequence as `A until N then B`"));
            }
            if milestones.last().is_some_and(|&last| milestone <= last) || milestone == 0 {
                return Err(malformed(
                    whole,
                    format!("milestones must be increasing and positive, got {milestone} after {:?}", milestones),
                ));
            }
            milestones.push(milestone);
        } else {
            if i + 1 < pieces.len() && !text[end..].starts_with("until") {
                return Err(malformed(whole, "write a sequence as `A until N then B`"));
            }
            let node = parse_chain(piece, whole)?;
            match node {
                Node::One { .. } if node.watches_metric() => {
                    return Err(malformed(
                        whole,
                        "ReduceLROnPlateau steps on a metric and cannot be part of a sequence",
                    ));
                }
                Node::One { .. } => parts.push(node),
                _ => return Err(malformed(whole, "each part of a sequence is one scheduler")),
            }
        }
    }
    Ok(Node::Sequence { parts, milestones })
}

/// `A * B * …`, or one scheduler, or a parenthesized sequence.
fn parse_chain(text: &str, whole: &str) -> Result<Node, SpecError> {
    let star = |t: &str, at: usize| t[at..].starts_with('*').then_some(1);
    let pieces = split_top(text, &star).map_err(|m| malformed(whole, m))?;
    if pieces.len() == 1 {
        return parse_one(text, whole);
    }
    let mut parts = Vec::new();
    for (start, end) in pieces {
        let node = parse_one(text[start..end].trim(), whole)?;
        if node.watches_metric() {
            return Err(malformed(whole, "ReduceLROnPlateau steps on a metric and cannot be chained"));
        }
        parts.push(node);
    }
    Ok(Node::Chain(parts))
}

/// One scheduler, or a parenthesized sequence.
fn parse_one(text: &str, whole: &str) -> Result<Node, SpecError> {
    if let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        return match parse_sequence(inner.trim(), whole)? {
            sequence @ Node::Sequence { .. } => Ok(sequence),
            _ => Err(malformed(whole, "parentheses hold a sequence: `(A until N then B)`")),
        };
    }
    let (name, keys) = syntax::parse(text).map_err(|e| match e {
        SpecError::Syntax { message, column, .. } => {
            malformed(whole, format!("{message} at column {column} of {:?}", short(text)))
        }
        other => other,
    })?;
    let Some(entry) = ScheduleEntry::find(&name) else {
        let known: Vec<&str> = super::schedulers().iter().map(|e| e.class()).collect();
        return Err(SpecError::UnknownScheduler {
            name: short(&name),
            suggestion: ScheduleEntry::closest(&name).map(str::to_owned),
            known: known.join(", "),
        });
    };
    let keys: Map<String, Value> = keys.into_iter().collect();
    entry.make(&keys).map_err(|e| hyper_error(entry.class(), e))?;
    Ok(Node::One { class: entry.class(), keys })
}

impl fmt::Display for ScheduleSpec {
    /// The class names with the arguments as given, in the composition syntax: text that parses back to the same
    /// schedule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.node)
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::One { class, keys } if keys.is_empty() => write!(f, "{class}"),
            Node::One { class, keys } => {
                let keys: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={}", python_list(v))).collect();
                write!(f, "{class}({})", keys.join(", "))
            }
            Node::Chain(parts) => {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|p| if matches!(p, Node::Sequence { .. }) { format!("({p})") } else { p.to_string() })
                    .collect();
                write!(f, "{}", parts.join(" * "))
            }
            Node::Sequence { parts, milestones } => {
                write!(f, "{}", parts[0])?;
                for (part, milestone) in parts[1..].iter().zip(milestones) {
                    write!(f, " until {milestone} then {part}")?;
                }
                Ok(())
            }
        }
    }
}

/// A value in Python's syntax, lists as lists.
fn python_list(value: &Value) -> String {
    match value {
        Value::Array(items) => format!("[{}]", items.iter().map(python_list).collect::<Vec<_>>().join(", ")),
        other => python(other),
    }
}
