//! Java `.properties` text as `java.util.Properties.load` reads it: `#` and
//! `!` comments, `key=value`, `key: value` or `key value`, a trailing
//! backslash continuing a line, and backslash escapes (`\t`, `\n`, `\uXXXX`).

/// The `(key, value)` pairs of `text`, in order. Never fails: as in Java,
/// a line with a key alone has an empty value and a malformed `\u` escape
/// is kept as written.
pub(crate) fn parse(text: &str) -> Vec<(String, String)> {
    logical_lines(text)
        .into_iter()
        .filter_map(|line| split(&line))
        .collect()
}

/// Natural lines joined where one ends in an odd number of backslashes;
/// blank and comment lines dropped.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending: Option<String> = None;
    for natural in text.lines() {
        let trimmed = natural.trim_start();
        if pending.is_none() && (trimmed.is_empty() || trimmed.starts_with(['#', '!'])) {
            continue;
        }
        let trailing = trimmed.chars().rev().take_while(|&c| c == '\\').count();
        let continues = trailing % 2 == 1;
        let body = if continues {
            &trimmed[..trimmed.len() - 1]
        } else {
            trimmed
        };
        let mut line = pending.take().unwrap_or_default();
        line.push_str(body);
        if continues {
            pending = Some(line);
        } else {
            lines.push(line);
        }
    }
    lines.extend(pending);
    lines
}

/// One logical line into its unescaped key and value.
fn split(line: &str) -> Option<(String, String)> {
    let chars: Vec<char> = line.chars().collect();
    let mut end = 0;
    while end < chars.len() && !matches!(chars[end], '=' | ':' | ' ' | '\t' | '\x0c') {
        // An escaped separator belongs to the key.
        end += if chars[end] == '\\' { 2 } else { 1 };
    }
    let end = end.min(chars.len());
    let mut start = end;
    while start < chars.len() && matches!(chars[start], ' ' | '\t' | '\x0c') {
        start += 1;
    }
    if start < chars.len() && matches!(chars[start], '=' | ':') {
        start += 1;
        while start < chars.len() && matches!(chars[start], ' ' | '\t' | '\x0c') {
            start += 1;
        }
    }
    let key = unescape(&chars[..end]);
    (!key.is_empty()).then(|| (key, unescape(&chars[start..])))
}

fn unescape(chars: &[char]) -> String {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' || i == chars.len() {
            out.push(c);
            continue;
        }
        let escaped = chars[i];
        i += 1;
        match escaped {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            'u' => {
                let hex: String = chars[i..chars.len().min(i + 4)].iter().collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) if hex.len() == 4 => {
                        out.push(decoded);
                        i += 4;
                    }
                    _ => out.push_str("\\u"),
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
    }

    fn owned(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn separators_comments_and_blank_lines() {
        let text = "# a comment\n! another\n\nbootstrap.servers=a:1,b:2\nacks : all\n  linger.ms 5\nclient.id\n";
        assert_eq!(
            pairs(text),
            owned(&[
                ("bootstrap.servers", "a:1,b:2"),
                ("acks", "all"),
                ("linger.ms", "5"),
                ("client.id", ""),
            ])
        );
    }

    #[test]
    fn continuations_and_escapes() {
        let text = "bootstrap.servers=a:1,\\\n    b:2\nkey\\=with\\:separators = tab\\there \\u0041\\u00e9\npath=C:\\\\kafka\\\\ca.pem\nbad=\\u12\n";
        assert_eq!(
            pairs(text),
            owned(&[
                ("bootstrap.servers", "a:1,b:2"),
                ("key=with:separators", "tab\there Aé"),
                ("path", "C:\\kafka\\ca.pem"),
                ("bad", "\\u12"),
            ])
        );
    }

    #[test]
    fn crlf_and_a_dangling_continuation_are_read() {
        assert_eq!(
            pairs("acks=all\r\nlinger.ms=\\"),
            owned(&[("acks", "all"), ("linger.ms", "")])
        );
    }
}
