//! Writing CSV the way RFC 4180 reads it: a field is quoted only when it holds a comma, quote or
//! line break, inner quotes are doubled, and records end in CRLF.

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
