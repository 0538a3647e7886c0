//! Reading an expression: tokens, then a recursive-descent parser with a bounded depth that emits a postfix
//! [`Program`].
//!
//! The grammar is the usual one, with Python's precedence: `+ -` bind loosest, then `* /`, then unary `-`, then
//! `^` (or `**`), which groups to the right (`2^3^2` is 2^9, and `-x^2` is −(x²)).

use super::program::{Binary, Op, Program, CONSTANTS, FUNCTIONS};

/// The longest expression accepted, in characters.
pub(crate) const MAX_LENGTH: usize = 4096;

/// The deepest nesting accepted: parentheses, function calls, signs and powers, each counts one level.
pub(crate) const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Operator(Binary),
    Open,
    Close,
}

/// A token and the position (in characters, from 1) where it starts.
#[derive(Debug, Clone, PartialEq)]
struct Located {
    token: Token,
    at: usize,
}

/// Parses `text` into a program in `variables` (at most two, in coordinate order), or says what is wrong and where.
pub(crate) fn parse(text: &str, variables: &'static [&'static str]) -> Result<Program, String> {
    let length = text.chars().count();
    if length > MAX_LENGTH {
        return Err(format!("too long: {length} characters (at most {MAX_LENGTH})"));
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("the expression is empty".to_owned());
    }
    let mut parser = Parser { tokens, next: 0, depth: 0, ops: Vec::new(), end: length + 1, variables };
    parser.sum()?;
    if let Some(extra) = parser.tokens.get(parser.next) {
        return Err(match extra.token {
            Token::Close => format!("unmatched `)` at character {}", extra.at),
            _ => format!("expected an operator before {} at character {}", describe(&extra.token), extra.at),
        });
    }
    Ok(Program::new(parser.ops))
}

fn tokenize(text: &str) -> Result<Vec<Located>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i + 1;
        let token = match c {
            _ if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '+' => Token::Operator(Binary::Add),
            '-' => Token::Operator(Binary::Subtract),
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                Token::Operator(Binary::Power)
            }
            '*' => Token::Operator(Binary::Multiply),
            '/' => Token::Operator(Binary::Divide),
            '^' => Token::Operator(Binary::Power),
            '(' => Token::Open,
            ')' => Token::Close,
            _ if c.is_ascii_digit() || c == '.' => {
                let end = number_end(&chars, i);
                let literal: String = chars[i..end].iter().collect();
                let value = literal.parse::<f64>().map_err(|_| format!("bad number `{literal}` at character {at}"))?;
                tokens.push(Located { token: Token::Number(value), at });
                i = end;
                continue;
            }
            _ if c.is_alphabetic() || c == '_' => {
                let end =
                    (i..chars.len()).find(|&j| !(chars[j].is_alphanumeric() || chars[j] == '_')).unwrap_or(chars.len());
                tokens.push(Located { token: Token::Name(chars[i..end].iter().collect()), at });
                i = end;
                continue;
            }
            _ => return Err(format!("unexpected character {c:?} at character {at}")),
        };
        tokens.push(Located { token, at });
        i += 1;
    }
    Ok(tokens)
}

/// Where a number starting at `start` ends: digits, a point, digits, and an exponent (`1.5e-3`).
fn number_end(chars: &[char], start: usize) -> usize {
    let digits = |from: usize| (from..chars.len()).find(|&j| !chars[j].is_ascii_digit()).unwrap_or(chars.len());
    let mut end = digits(start);
    if chars.get(end) == Some(&'.') {
        end = digits(end + 1);
    }
    if matches!(chars.get(end), Some('e' | 'E')) {
        let sign = usize::from(matches!(chars.get(end + 1), Some('+' | '-')));
        if chars.get(end + 1 + sign).is_some_and(char::is_ascii_digit) {
            end = digits(end + 1 + sign);
        }
    }
    end
}

fn describe(token: &Token) -> String {
    match token {
        Token::Number(v) => format!("the number {v}"),
        Token::Name(name) => format!("`{name}`"),
        Token::Operator(op) => format!("`{}`", symbol(*op)),
        Token::Open => "`(`".to_owned(),
        Token::Close => "`)`".to_owned(),
    }
}

fn symbol(op: Binary) -> char {
    match op {
        Binary::Add => '+',
        Binary::Subtract => '-',
        Binary::Multiply => '*',
        Binary::Divide => '/',
        Binary::Power => '^',
    }
}

struct Parser {
    tokens: Vec<Located>,
    next: usize,
    depth: usize,
    ops: Vec<Op>,
    /// The position just past the text, for "expected … at the end".
    end: usize,
    /// The variables' names, in coordinate order.
    variables: &'static [&'static str],
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|l| &l.token)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |l| l.at)
    }

    /// Takes the next token if it is one of `operators`.
    fn take_operator(&mut self, operators: &[Binary]) -> Option<Binary> {
        match self.peek() {
            Some(Token::Operator(op)) if operators.contains(op) => {
                let op = *op;
                self.next += 1;
                Some(op)
            }
            _ => None,
        }
    }

    /// Runs `parse` one level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested(&mut self, parse: fn(&mut Self) -> Result<(), String>) -> Result<(), String> {
        if self.depth == MAX_DEPTH {
            return Err(format!("nested too deeply at character {} (at most {MAX_DEPTH} levels)", self.position()));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    /// sum := product (('+' | '-') product)*
    fn sum(&mut self) -> Result<(), String> {
        self.product()?;
        while let Some(op) = self.take_operator(&[Binary::Add, Binary::Subtract]) {
            self.product()?;
            self.ops.push(Op::Binary(op));
        }
        Ok(())
    }

    /// product := signed (('*' | '/') signed)*
    fn product(&mut self) -> Result<(), String> {
        self.signed()?;
        while let Some(op) = self.take_operator(&[Binary::Multiply, Binary::Divide]) {
            self.signed()?;
            self.ops.push(Op::Binary(op));
        }
        Ok(())
    }

    /// signed := ('-' | '+') signed | power
    fn signed(&mut self) -> Result<(), String> {
        match self.take_operator(&[Binary::Add, Binary::Subtract]) {
            Some(Binary::Subtract) => {
                self.nested(Self::signed)?;
                self.ops.push(Op::Negate);
                Ok(())
            }
            Some(_) => self.nested(Self::signed),
            None => self.power(),
        }
    }

    /// power := atom ('^' (atom | signed))*, grouped to the right.
    fn power(&mut self) -> Result<(), String> {
        self.atom()?;
        let mut powers = 0;
        while self.take_operator(&[Binary::Power]).is_some() {
            powers += 1;
            if powers > MAX_DEPTH {
                return Err(format!("too many powers in a row at character {} (at most {MAX_DEPTH})", self.position()));
            }
            if matches!(self.peek(), Some(Token::Operator(Binary::Add | Binary::Subtract))) {
                // A signed exponent takes the rest of the chain: 2^-x^2 is 2^(−(x²)).
                self.nested(Self::signed)?;
                break;
            }
            self.atom()?;
        }
        self.ops.extend((0..powers).map(|_| Op::Binary(Binary::Power)));
        Ok(())
    }

    /// atom := number | constant | variable | function '(' sum ')' | '(' sum ')'
    fn atom(&mut self) -> Result<(), String> {
        let at = self.position();
        let Some(token) = self.peek().cloned() else {
            return Err(format!("expected a value at the end (character {at})"));
        };
        self.next += 1;
        match token {
            Token::Number(v) => self.ops.push(Op::Number(v)),
            Token::Open => self.parenthesized(at)?,
            Token::Name(name) => {
                if let Some(c) = self.variables.iter().position(|v| *v == name) {
                    self.ops.push(Op::Variable(c));
                } else if let Some(&(_, v)) = CONSTANTS.iter().find(|(n, _)| *n == name) {
                    self.ops.push(Op::Number(v));
                } else if let Some(&(_, function)) = FUNCTIONS.iter().find(|(n, _)| *n == name) {
                    if self.peek() != Some(&Token::Open) {
                        return Err(format!("`{name}` at character {at} needs its argument in parentheses: {name}(x)"));
                    }
                    self.next += 1;
                    self.parenthesized(at)?;
                    self.ops.push(Op::Call(function));
                } else if self.peek() == Some(&Token::Open) {
                    let known: Vec<&str> = FUNCTIONS.iter().map(|(n, _)| *n).collect();
                    return Err(format!("unknown function `{name}` at character {at} (known: {})", known.join(", ")));
                } else {
                    return Err(format!(
                        "unknown variable `{name}` at character {at} (use {})",
                        self.variables.join(" and ")
                    ));
                }
            }
            other => return Err(format!("expected a value at character {at}, found {}", describe(&other))),
        }
        Ok(())
    }

    /// The rest of `( sum )`, whose `(` was at `open`.
    fn parenthesized(&mut self, open: usize) -> Result<(), String> {
        self.nested(Self::sum)?;
        match self.peek() {
            Some(Token::Close) => {}
            None => return Err(format!("the `(` at character {open} is never closed")),
            Some(other) => {
                return Err(format!(
                    "expected an operator or `)` before {} at character {}",
                    describe(other),
                    self.position()
                ))
            }
        }
        self.next += 1;
        Ok(())
    }
}
