//! Numbers and text for people: fixed notation where it fits, and lines that fit a terminal.

/// A number as people write it: fixed notation with four significant digits where that fits (0.05, 13.9,
/// 12345), scientific notation for the very small and very large (2.1e-7).
pub fn human(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 || !value.is_finite() {
        return format!("{}", if value == 0.0 { 0.0 } else { value });
    }
    if (1e-3..1e5).contains(&magnitude) {
        let decimals = (3 - magnitude.log10().floor() as i32).clamp(0, 6) as usize;
        let text = format!("{value:.decimals$}");
        if text.contains('.') {
            return text.trim_end_matches('0').trim_end_matches('.').to_owned();
        }
        return text;
    }
    let text = format!("{value:.2e}");
    let (mantissa, exponent) = text.split_once('e').expect("scientific notation");
    format!("{}e{exponent}", mantissa.trim_end_matches('0').trim_end_matches('.'))
}

/// `text` broken at spaces into lines of at most `width` characters (a longer word stands alone), the first
/// indented by `indent` spaces and the others by `continuation`.
pub fn wrap(text: &str, width: usize, indent: usize, continuation: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = " ".repeat(indent);
    let mut empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut line, " ".repeat(continuation)));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(line);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::{human, wrap};

    #[test]
    fn numbers_read_as_people_write_them() {
        let cases = [
            (0.05, "0.05"),
            (12.93, "12.93"),
            (-64.2, "-64.2"),
            (0.0034381, "0.003438"),
            (12345.0, "12345"),
            (2.1e-7, "2.1e-7"),
            (-1.66e10, "-1.66e10"),
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
        ];
        for (value, text) in cases {
            assert_eq!(human(value), text, "{value}");
        }
    }

    #[test]
    fn lines_break_at_spaces() {
        assert_eq!(wrap("a bb ccc dddd", 8, 2, 4), "  a bb\n    ccc\n    dddd");
        assert_eq!(wrap("short", 80, 6, 8), "      short");
    }
}
