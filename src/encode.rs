//! Small encodings shared by the HTTP clients.

/// Percent-encodes everything but RFC 3986's unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`), for one path segment or query component: `/`
/// becomes `%2F`, a space `%20`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_unreserved_characters_pass() {
        assert_eq!(super::percent_encode("a b&c/d~e_f.g-h"), "a%20b%26c%2Fd~e_f.g-h");
        assert_eq!(super::percent_encode("é"), "%C3%A9");
    }
}
