//! Redaction: identifiers of people and secrets become deterministic keyed
//! hashes (HMAC-SHA256 with a per-install key), so the same user still
//! correlates across events while the raw value never reaches the store.
//!
//! Free text (messages, exception values, tag values) is scrubbed of e-mail
//! addresses, bearer tokens, API-key-like strings, IP addresses and card
//! numbers (13-19 digits passing the Luhn check). A replacement reads
//! `[kind:0123456789abcdef]`; triage treats it as a placeholder, so scrubbed
//! messages still group together. Source lines in stack frames are code, not
//! data, and are left as they are.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::{Captures, Regex};
use sha2::{Digest, Sha256};

fn patterns() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"(?P<bearer>(?i:bearer|token)\s+)(?P<btok>[A-Za-z0-9\-._~+/]{8,}=*)",
            r"|(?P<email>[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})",
            r"|(?P<key>\b(?:(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}|sk-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|xox[baprs]-[A-Za-z0-9\-]{10,})\b)",
            r"|(?P<card>\b(?:\d[ \-]?){12,18}\d\b)",
            r"|(?P<ip>\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b)",
            r"|(?P<ip6>\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b)",
            r"|(?P<long>\b[A-Za-z0-9_\-]{24,}\b)",
        ))
        .expect("the redaction patterns are valid")
    })
}

/// Luhn checksum, for telling card numbers from other long numbers.
pub fn luhn(digits: &str) -> bool {
    let ds: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&ds.len()) {
        return false;
    }
    let sum: u32 = ds.iter().rev().enumerate().map(|(i, &d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }).sum();
    sum.is_multiple_of(10)
}

/// A long token looks like a key when it mixes upper case, lower case and
/// digits; plain words, lower-case hex (commit SHAs) and numbers stay.
fn key_like(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_uppercase()) && s.chars().any(|c| c.is_ascii_lowercase()) && s.chars().any(|c| c.is_ascii_digit())
}

#[derive(Clone)]
pub struct Redactor {
    /// HMAC's inner and outer hash states after the padded key block, so a
    /// hash of a short value costs two compressions, not four.
    inner: Sha256,
    outer: Sha256,
}

/// Cheap test whether `text` could hold anything [`Redactor::scrub`] replaces,
/// from what each pattern needs: an `@` (e-mail), 13 digits (card), three
/// dots and four digits (IPv4), seven colons (IPv6), the word bearer/token,
/// or a run of 14 or more key characters that mixes upper case, lower case
/// and digits (long keys) or holds a known key prefix. Most exception values
/// and tag values (request ids, UUIDs, hex SHAs included) skip the regex.
fn may_hold_secrets(text: &str) -> bool {
    let bytes = text.as_bytes();
    let (mut digits, mut dots, mut colons) = (0, 0, 0);
    // Digits in a row, single spaces or dashes allowed between (a card number).
    let (mut card, mut longest_card, mut prev_sep) = (0, 0, false);
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'@' => return true,
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            b':' => colons += 1,
            _ => {}
        }
        if b.is_ascii_digit() {
            card += 1;
            longest_card = longest_card.max(card);
            prev_sep = false;
        } else if (b == b' ' || b == b'-') && card > 0 && !prev_sep {
            prev_sep = true;
        } else {
            card = 0;
            prev_sep = false;
        }
        if !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            if key_run(&bytes[start..i]) {
                return true;
            }
            start = i + 1;
        }
    }
    if key_run(&bytes[start..]) || longest_card >= 13 || (dots >= 3 && digits >= 4) || colons >= 7 {
        return true;
    }
    // "bearer" / "token", any case, looked for only where a b or t starts.
    bytes.iter().enumerate().any(|(i, c)| {
        let rest = &bytes[i..];
        match c {
            b'b' | b'B' => rest.len() >= 6 && rest[..6].eq_ignore_ascii_case(b"bearer"),
            b't' | b'T' => rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"token"),
            _ => false,
        }
    })
}

/// A run of key characters that one of the key patterns could match.
fn key_run(run: &[u8]) -> bool {
    if run.len() < 14 {
        return false;
    }
    let has = |f: fn(&u8) -> bool| run.iter().any(f);
    if has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase) && has(u8::is_ascii_digit) {
        return true;
    }
    const PREFIXES: [&[u8]; 7] = [b"sk_", b"pk_", b"rk_", b"sk-", b"gh", b"AKIA", b"xox"];
    PREFIXES.iter().any(|p| run.windows(p.len()).any(|w| w == *p))
}

impl Redactor {
    pub fn new(key: [u8; 32]) -> Redactor {
        let mut k = [0u8; 64];
        k[..32].copy_from_slice(&key);
        let mut inner = Sha256::new();
        inner.update(k.map(|b| b ^ 0x36));
        let mut outer = Sha256::new();
        outer.update(k.map(|b| b ^ 0x5c));
        Redactor { inner, outer }
    }

    /// Loads the install's key from `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &std::path::Path) -> std::io::Result<Redactor> {
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                Ok(Redactor::new(key))
            }
            Ok(_) => {
                Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: redaction key must be 32 bytes", path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_key()?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                write_private(path, &key)?;
                Ok(Redactor::new(key))
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces personal data and secrets in free text by keyed hashes.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !may_hold_secrets(text) {
            return Cow::Borrowed(text);
        }
        self.scrub_regex(text)
    }

    fn scrub_regex<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let re = patterns();
        if !re.is_match(text) {
            return Cow::Borrowed(text);
        }
        re.replace_all(text, |c: &Captures| {
            let whole = &c[0];
            if let (Some(prefix), Some(tok)) = (c.name("bearer"), c.name("btok")) {
                return format!("{}[{}]", prefix.as_str(), self.hash("token", tok.as_str()));
            }
            let kind = if c.name("email").is_some() {
                "email"
            } else if c.name("key").is_some() {
                "secret"
            } else if c.name("card").is_some() {
                if !luhn(whole) {
                    return whole.to_string();
                }
                "card"
            } else if c.name("ip").is_some() || c.name("ip6").is_some() {
                "ip"
            } else if key_like(whole) {
                "secret"
            } else {
                return whole.to_string();
            };
            format!("[{}]", self.hash(kind, whole))
        })
    }

    /// `kind:` + the first 16 hex digits of HMAC(key, kind || 0 || value).
    pub fn hash(&self, kind: &str, value: &str) -> String {
        format!("{kind}:{:016x}", self.hash64(kind, value))
    }

    /// The same keyed hash as [`Redactor::hash`], as the number its 16 hex
    /// digits spell (the ingest fast path keeps numbers, not strings).
    pub fn hash64(&self, kind: &str, value: &str) -> u64 {
        let mut inner = self.inner.clone();
        inner.update(kind.as_bytes());
        inner.update([0]);
        inner.update(value.as_bytes());
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        let mac = outer.finalize();
        u64::from_be_bytes(mac[..8].try_into().expect("a sha256 digest has 32 bytes"))
    }

    /// A deterministic event id for records that carry none: 32 hex digits of
    /// HMAC(key, "event-id" || parts), each part length-prefixed. Keyed rather
    /// than a plain SHA-256 because the parts are raw content (messages, stack
    /// text) that may hold personal data: a plain hash stored as the id would
    /// let anyone holding the store confirm a guessed e-mail address offline.
    /// The same content gets the same id on the same install, so ingesting a
    /// file twice finds the duplicates.
    pub fn derived_id(&self, parts: &[&str]) -> String {
        let mut inner = self.inner.clone();
        inner.update(b"event-id");
        for p in parts {
            inner.update((p.len() as u64).to_le_bytes());
            inner.update(p.as_bytes());
        }
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        hex::encode(outer.finalize())[..32].to_string()
    }
}

fn random_key() -> std::io::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// HMAC (RFC 2104) over SHA-256.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_hash_is_the_hmac_of_kind_nul_value() {
        let r = Redactor::new([3; 32]);
        let mac = hmac_sha256(&[3; 32], b"user\0u-17");
        assert_eq!(r.hash("user", "u-17"), format!("user:{}", &hex::encode(mac)[..16]));
        assert_eq!(r.hash64("user", "u-17"), u64::from_be_bytes(mac[..8].try_into().unwrap()));
    }

    proptest::proptest! {
        /// The prefilter only skips text the patterns would leave alone.
        #[test]
        fn the_prefilter_agrees_with_the_patterns(
            s in "([a-zA-Z0-9 .:@_-]{0,12}|sk_live_[a-z0-9]{8}|AKIA[A-Z0-9]{16}|[0-9]{4}[ -]?|[Bb]earer |token |[0-9]{1,3}\\.){0,8}"
        ) {
            let r = Redactor::new([1; 32]);
            if !may_hold_secrets(&s) {
                proptest::prop_assert_eq!(r.scrub_regex(&s), s.as_str());
            }
        }
    }

    #[test]
    fn the_prefilter_never_hides_a_pattern() {
        let r = Redactor::new([3; 32]);
        for text in [
            "a@b.io",
            "Bearer abcdefgh1",
            "token abcdefghij",
            "xoxb-abcdefghij",
            "10.0.0.1",
            "fe80:0:0:0:0:0:0:1",
            "4111 1111 1111 1111",
            "key AKIAABCDEFGHIJKLMNOP",
            "x sk_live_abcdefgh12",
            "ghp_abcdefghijklmnopqrstuvwx",
            "k=Ab3dEf6hIj9kLm2nOp5qRs8t",
        ] {
            assert!(may_hold_secrets(text), "{text}");
            assert_ne!(r.scrub(text), text, "{text}");
        }
        for clean in [
            "'NoneType' object is not subscriptable",
            "5171ed6d-2ed9-4d19-b649-d6089fb47a23",
            "a1f3c9e27b5d4f80a6c2e1b9d7f0c3a5e8b4d2f1",
            "order 1234-5678 x 90123",
        ] {
            assert!(!may_hold_secrets(clean), "{clean}");
        }
    }

    #[test]
    fn derived_ids_are_keyed_deterministic_and_respect_part_boundaries() {
        let a = Redactor::new([1; 32]);
        let id = a.derived_id(&["ab", "c"]);
        assert_eq!(id.len(), 32);
        assert_eq!(id, a.derived_id(&["ab", "c"]));
        assert_ne!(id, a.derived_id(&["a", "bc"]));
        assert_ne!(id, Redactor::new([2; 32]).derived_id(&["ab", "c"]));
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn hashes_are_keyed_deterministic_and_kind_separated() {
        let a = Redactor::new([1; 32]);
        let b = Redactor::new([2; 32]);
        assert_eq!(a.hash("user", "ann@example.com"), a.hash("user", "ann@example.com"));
        assert_ne!(a.hash("user", "ann@example.com"), b.hash("user", "ann@example.com"));
        assert_ne!(a.hash("user", "x"), a.hash("ip", "x"));
        assert!(!a.hash("user", "ann@example.com").contains("ann"));
    }

    #[test]
    fn free_text_is_scrubbed_of_people_and_secrets() {
        let r = Redactor::new([3; 32]);
        let text = "user ann.lee@mail.example.org from 203.0.113.9 sent Authorization: Bearer abcDEF123456ghi \
                    card 4111 1111 1111 1111 key sk_live_4eC39HqLyjWDarjtT1zdp7dc aws AKIAIOSFODNN7EXAMPLE \
                    v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334 token Zx9Qw8Er7Ty6Ui5Op4As3Df2";
        let out = r.scrub(text);
        for raw in ["ann.lee", "203.0.113.9", "abcDEF123456ghi", "4111 1111", "sk_live_4eC3", "AKIAIOSFODNN7", "2001:0db8", "Zx9Qw8Er7"] {
            assert!(!out.contains(raw), "{raw} survived: {out}");
        }
        assert!(out.contains("[email:") && out.contains("[ip:") && out.contains("Bearer [token:") && out.contains("[card:"), "{out}");
        assert_eq!(r.scrub(text), out, "deterministic");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let r = Redactor::new([3; 32]);
        for text in [
            "'NoneType' object is not subscriptable",
            "list index out of range",
            "release 9c4e7b1d2a8f6e3c5b0d9a7f4e2c1b8d6a3f5e09 order 1234567890123",
            "timeout after 3001 ms",
            "KeyError: 'EU-LEGACY' in checkout_legacy_tax_for_region_handlers",
        ] {
            assert!(matches!(r.scrub(text), Cow::Borrowed(_)) || r.scrub(text) == text, "{text} -> {}", r.scrub(text));
        }
        assert!(luhn("4111111111111111"));
        assert!(!luhn("4111111111111112"));
        assert!(!luhn("1234"));
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/redact.key");
        let a = Redactor::load_or_create(&path).unwrap();
        let b = Redactor::load_or_create(&path).unwrap();
        assert_eq!(a.hash("u", "x"), b.hash("u", "x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
