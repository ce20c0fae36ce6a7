//! ed25519 keys: one per person, one per install for its bots, and the team
//! keyring of public keys that verification trusts.
//!
//! - A person's private key is created on first use in
//!   `<config dir>/keys/<name>.ed25519` (hex seed, mode 0600, the directory
//!   0700). The install's bot key (`suture/templates`, `suture/llm:<model>`,
//!   `suture/deployer`, `suture/verifier` all sign with it) lives beside it as
//!   `suture-bot.ed25519`.
//! - The keyring (`<config dir>/keyring.toml`, or `identity.keyring` for a
//!   team's shared file) lists public keys by owner. A key created here is added
//!   to it when its owner is not listed; when the keyring already lists another
//!   key for that owner, signing is refused rather than quietly replacing it.
//! - A signature is stored as `<key id>:<signature hex>`; the key id is the
//!   first 16 hex digits of sha256 over the public key, so a verifier finds the
//!   key and checks it belongs to the entry's actor.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The keyring name of the install's bot key; every `suture/…` actor signs with it.
pub const BOT: &str = "suture/bot";

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a key file (expected 64 hex digits)")]
    BadKeyFile { path: PathBuf },
    #[error("{path}: line {line}: {message}")]
    BadKeyring { path: PathBuf, line: usize, message: String },
    #[error(
        "the keyring {keyring} holds another key for {name} ({listed}) than the one in {key} ({mine}); ask whoever keeps the keyring to list yours"
    )]
    Conflict { keyring: PathBuf, name: String, listed: String, key: PathBuf, mine: String },
    #[error("no key to sign as {0}")]
    NoKey(String),
}

/// Whether `actor` is one of Suture's own bots.
pub fn is_bot(actor: &str) -> bool {
    actor.starts_with("suture/")
}

/// First 16 hex digits of sha256 over the public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// A private key and the name it signs for.
#[derive(Clone)]
pub struct Key {
    pub owner: String,
    signing: SigningKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, {})", self.owner, self.id())
    }
}

impl Key {
    pub fn from_seed(owner: impl Into<String>, seed: [u8; 32]) -> Key {
        Key { owner: owner.into(), signing: SigningKey::from_bytes(&seed) }
    }

    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    pub fn id(&self) -> String {
        key_id(&self.public())
    }

    /// `<key id>:<signature hex>` over `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        format!("{}:{}", self.id(), hex::encode(self.signing.sign(message).to_bytes()))
    }

    /// The raw signature bytes (for DSSE, which carries the key id apart).
    pub fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

/// Loads the key in `path`, creating it (0600, in a 0700 directory) when absent.
pub fn load_or_create(owner: &str, path: &Path) -> Result<Key, KeyError> {
    let io = |source| KeyError::Io { path: path.to_path_buf(), source };
    match std::fs::File::open(path) {
        Ok(mut f) => {
            let mut text = String::new();
            f.read_to_string(&mut text).map_err(io)?;
            let seed: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| KeyError::BadKeyFile { path: path.to_path_buf() })?;
            Ok(Key::from_seed(owner, seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            std::fs::File::open("/dev/urandom").and_then(|mut r| r.read_exact(&mut seed)).map_err(io)?;
            if let Some(dir) = path.parent() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|source| KeyError::Io { path: dir.to_path_buf(), source })?;
            }
            // create_new: two processes racing to create the key do not
            // overwrite each other; the loser reads the winner's.
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
                Ok(mut f) => {
                    f.write_all(format!("{}\n", hex::encode(seed)).as_bytes()).and_then(|()| f.sync_all()).map_err(io)?;
                    Ok(Key::from_seed(owner, seed))
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(owner, path),
                Err(e) => Err(io(e)),
            }
        }
        Err(e) => Err(io(e)),
    }
}

/// The file a person's (or the bots') key lives in, under `keys_dir`.
pub fn key_path(keys_dir: &Path, owner: &str) -> PathBuf {
    let file: String = owner.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' }).collect();
    keys_dir.join(format!("{file}.ed25519"))
}

/// The team's public keys, by owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyring {
    /// owner → public keys (hex). An owner may have several (a rotated key
    /// still verifies the entries it signed).
    pub keys: BTreeMap<String, Vec<String>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringFile {
    #[serde(default)]
    key: Vec<KeyringEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringEntry {
    name: String,
    ed25519: String,
}

impl Keyring {
    /// Reads a keyring; a missing file is an empty keyring.
    pub fn load(path: &Path) -> Result<Keyring, KeyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Keyring::default()),
            Err(source) => return Err(KeyError::Io { path: path.to_path_buf(), source }),
        };
        Keyring::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Keyring, KeyError> {
        let bad = |offset: Option<std::ops::Range<usize>>, message: String| KeyError::BadKeyring {
            path: path.to_path_buf(),
            line: offset.map(|r| text[..r.start.min(text.len())].lines().count().max(1)).unwrap_or(1),
            message,
        };
        let file: KeyringFile = toml::from_str(text).map_err(|e| bad(e.span(), e.message().to_string()))?;
        let mut ring = Keyring::default();
        for k in file.key {
            let ok = hex::decode(&k.ed25519)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .is_some_and(|b| VerifyingKey::from_bytes(&b).is_ok());
            if !ok {
                let at = text.find(&k.ed25519).map(|s| s..s + 1);
                return Err(bad(at, format!("the key of {} is not an ed25519 public key (64 hex digits)", k.name)));
            }
            ring.keys.entry(k.name).or_default().push(k.ed25519.to_lowercase());
        }
        Ok(ring)
    }

    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Suture's team keyring: the public keys whose signatures the audit log and\n# attestations accept. One [[key]] per key; an owner may have several.\n",
        );
        for (name, keys) in &self.keys {
            for k in keys {
                out.push_str(&format!("\n[[key]]\nname = {}\ned25519 = \"{k}\"\n", toml::Value::String(name.clone())));
            }
        }
        out
    }

    /// The owner and public key with this id.
    pub fn find(&self, id: &str) -> Option<(&str, VerifyingKey)> {
        self.keys.iter().find_map(|(owner, keys)| {
            keys.iter().find_map(|k| {
                let bytes: [u8; 32] = hex::decode(k).ok()?.try_into().ok()?;
                let key = VerifyingKey::from_bytes(&bytes).ok()?;
                (key_id(&key) == id).then_some((owner.as_str(), key))
            })
        })
    }

    /// Adds `key` for its owner when the owner is not listed. Refuses when the
    /// owner is listed with other keys only.
    pub fn admit(&mut self, key: &Key, keyring: &Path, key_file: &Path) -> Result<bool, KeyError> {
        let mine = hex::encode(key.public().as_bytes());
        match self.keys.get(&key.owner) {
            Some(listed) if listed.contains(&mine) => Ok(false),
            Some(listed) => Err(KeyError::Conflict {
                keyring: keyring.to_path_buf(),
                name: key.owner.clone(),
                listed: listed.iter().map(|k| short(k)).collect::<Vec<_>>().join(", "),
                key: key_file.to_path_buf(),
                mine: short(&mine),
            }),
            None => {
                self.keys.insert(key.owner.clone(), vec![mine]);
                Ok(true)
            }
        }
    }
}

fn short(hex_key: &str) -> String {
    hex::decode(hex_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .map(|k| format!("key {}", key_id(&k)))
        .unwrap_or_else(|| "an unreadable key".into())
}

/// Checks `sig` (`<key id>:<hex>`) over `message` and that the key belongs to
/// `actor` (a bot's entries: the bot key). Says what is wrong otherwise.
pub fn check(keyring: &Keyring, actor: &str, message: &[u8], sig: &str) -> Result<String, String> {
    if sig.is_empty() {
        return Err("not signed".into());
    }
    let Some((id, hex_sig)) = sig.split_once(':') else { return Err("the signature is malformed".into()) };
    let Some((owner, key)) = keyring.find(id) else {
        return Err(format!("signed with key {id}, which the keyring does not hold"));
    };
    let expected = if is_bot(actor) { BOT } else { actor };
    if owner != expected {
        return Err(format!("signed with {owner}'s key {id}, not {actor}'s"));
    }
    let bytes: [u8; 64] =
        hex::decode(hex_sig).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| "the signature is malformed".to_string())?;
    key.verify_strict(message, &Signature::from_bytes(&bytes))
        .map_err(|_| format!("the signature does not verify with {owner}'s key {id}"))?;
    Ok(owner.to_string())
}

/// The keys a process signs with: the person at the keyboard's and the
/// install's bot key. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Signers {
    person: Option<Arc<Key>>,
    bot: Option<Arc<Key>>,
}

impl Signers {
    pub fn new(person: Option<Key>, bot: Option<Key>) -> Signers {
        Signers { person: person.map(Arc::new), bot: bot.map(Arc::new) }
    }

    /// The key `actor` signs with.
    pub fn key_for(&self, actor: &str) -> Result<&Key, KeyError> {
        let key = if is_bot(actor) { self.bot.as_deref() } else { self.person.as_deref().filter(|k| k.owner == actor) };
        key.ok_or_else(|| KeyError::NoKey(actor.to_string()))
    }

    pub fn person(&self) -> Option<&Key> {
        self.person.as_deref()
    }

    /// Loads (creating on first use) the person's and the bot's keys from
    /// `keys_dir` and makes sure the keyring at `keyring` lists them.
    pub fn open(person: &str, keys_dir: &Path, keyring: &Path) -> Result<Signers, KeyError> {
        let person_file = key_path(keys_dir, person);
        let bot_file = key_path(keys_dir, BOT);
        let me = load_or_create(person, &person_file)?;
        let bot = load_or_create(BOT, &bot_file)?;
        let mut ring = Keyring::load(keyring)?;
        let added = ring.admit(&me, keyring, &person_file)? | ring.admit(&bot, keyring, &bot_file)?;
        if added {
            write_atomically(keyring, ring.to_toml().as_bytes())?;
        }
        Ok(Signers::new(Some(me), Some(bot)))
    }
}

/// Temp file, fsync, rename: a reader never sees half a keyring.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(&dir.path().join("keys"), "bob");
        let a = load_or_create("bob", &path).unwrap();
        let b = load_or_create("bob", &path).unwrap();
        assert_eq!(a.id(), b.id());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(key_path(dir.path(), "suture/bot").file_name().unwrap(), "suture-bot.ed25519");
    }

    #[test]
    fn signatures_check_owner_and_content() {
        let bob = Key::from_seed("bob", [1; 32]);
        let eve = Key::from_seed("eve", [2; 32]);
        let bot = Key::from_seed(BOT, [3; 32]);
        let mut ring = Keyring::default();
        for k in [&bob, &eve, &bot] {
            ring.admit(k, Path::new("k"), Path::new("f")).unwrap();
        }
        let sig = bob.sign(b"hello");
        assert_eq!(check(&ring, "bob", b"hello", &sig), Ok("bob".into()));
        assert!(check(&ring, "bob", b"hellO", &sig).unwrap_err().contains("does not verify"));
        assert!(check(&ring, "eve", b"hello", &sig).unwrap_err().contains("not eve's"));
        assert!(check(&ring, "bob", b"hello", "").unwrap_err().contains("not signed"));
        assert_eq!(check(&ring, "suture/templates", b"x", &bot.sign(b"x")), Ok(BOT.into()));
        assert!(check(&ring, "suture/deployer", b"x", &bob.sign(b"x")).is_err());
        // A keyring without bob's key does not accept his signature.
        let mut swapped = ring.clone();
        swapped.keys.insert("bob".into(), vec![hex::encode(Key::from_seed("bob", [9; 32]).public().as_bytes())]);
        assert!(check(&swapped, "bob", b"hello", &sig).unwrap_err().contains("does not hold"));
    }

    #[test]
    fn keyring_round_trips_and_refuses_a_second_key() {
        let bob = Key::from_seed("bob", [1; 32]);
        let mut ring = Keyring::default();
        assert!(ring.admit(&bob, Path::new("k"), Path::new("f")).unwrap());
        assert!(!ring.admit(&bob, Path::new("k"), Path::new("f")).unwrap());
        let back = Keyring::parse(Path::new("k"), &ring.to_toml()).unwrap();
        assert_eq!(back, ring);
        let other = Key::from_seed("bob", [7; 32]);
        let err = ring.admit(&other, Path::new("ring.toml"), Path::new("bob.ed25519")).unwrap_err().to_string();
        assert!(err.contains("holds another key for bob"), "{err}");
        let err = Keyring::parse(Path::new("ring.toml"), "[[key]]\nname = \"x\"\ned25519 = \"zz\"\n").unwrap_err().to_string();
        assert!(err.contains("ring.toml: line 3") && err.contains("not an ed25519"), "{err}");
    }

    #[test]
    fn signers_open_registers_keys_once() {
        let dir = tempfile::tempdir().unwrap();
        let ring = dir.path().join("keyring.toml");
        let s = Signers::open("alice", &dir.path().join("keys"), &ring).unwrap();
        let r = Keyring::load(&ring).unwrap();
        assert_eq!(r.keys.len(), 2);
        assert!(s.key_for("alice").is_ok() && s.key_for("suture/deployer").is_ok());
        assert!(matches!(s.key_for("bob"), Err(KeyError::NoKey(_))));
        let again = Signers::open("alice", &dir.path().join("keys"), &ring).unwrap();
        assert_eq!(again.key_for("alice").unwrap().id(), s.key_for("alice").unwrap().id());
    }
}
