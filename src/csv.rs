//! Writing CSV the way RFC 4180 reads it: a field is quoted only when it holds a comma, quote or
//! line break, inner quotes are doubled, and records end in CRLF. Free text goes through
//! [`text`] first, so that no spreadsheet runs it as a formula.

use std::borrow::Cow;

/// Free text as a spreadsheet will read it safely: a value that would start a formula (`=`, `+`,
/// `-`, `@`, a tab or a carriage return) gets a leading apostrophe, which spreadsheets show as
/// text. Numbers are written without it.
pub fn text(value: &str) -> Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// Appends one field.
pub fn field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// Appends one record: the fields, comma-separated, and the line end.
pub fn record<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, text) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, text);
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_would_be_a_formula_is_defused() {
        for formula in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(text(formula).starts_with('\''), "{formula}");
        }
        assert_eq!(text("laptop"), "laptop");
        assert_eq!(text("gpt-5"), "gpt-5");
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let mut out = String::new();
        record(
            &mut out,
            ["plain", "a,b", "say \"hi\"", "two\nlines", "", "=1+1"],
        );
        assert_eq!(
            out,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,=1+1\r\n"
        );
    }
}
