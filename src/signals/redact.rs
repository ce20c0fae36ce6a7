//! Redaction: identifiers of people become deterministic keyed hashes
//! (HMAC-SHA256 with a per-install key), so the same user still correlates
//! across events while the raw value never reaches the store.

use sha2::{Digest, Sha256};

pub struct Redactor {
    key: [u8; 32],
}

impl Redactor {
    pub fn new(key: [u8; 32]) -> Redactor {
        Redactor { key }
    }

    /// Loads the install's key from `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &std::path::Path) -> std::io::Result<Redactor> {
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                Ok(Redactor { key })
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
                Ok(Redactor { key })
            }
            Err(e) => Err(e),
        }
    }

    /// `kind:` + the first 16 hex digits of HMAC(key, kind || 0 || value).
    pub fn hash(&self, kind: &str, value: &str) -> String {
        let mut msg = Vec::with_capacity(kind.len() + 1 + value.len());
        msg.extend_from_slice(kind.as_bytes());
        msg.push(0);
        msg.extend_from_slice(value.as_bytes());
        let mac = hmac_sha256(&self.key, &msg);
        format!("{kind}:{}", &hex::encode(mac)[..16])
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
