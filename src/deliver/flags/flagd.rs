//! A flagd flag-definition file as a flag backend: the embedded default.
//!
//! flagd (and the demo service's `app/flags.py`) watch their flag file and
//! read it again when it changes, so writing the file atomically *is* the
//! management API: no daemon to call, no credentials, and a kill switch takes
//! effect the next time the reader looks (the demo looks five times a
//! second).
//!
//! Reading parses the whole file with serde_json and checks the flag asked
//! for against flagd's shape; a mistake is reported with the member
//! (`flags.x.variants must be an object`) and its line and column.
//!
//! Writing is a read-modify-write under an exclusive `flock` on a sibling
//! lock file (`.flags.json.lock`), so two writers (two consoles, or the canary
//! controller throwing a kill switch) cannot lose each other's change. The
//! change itself is a minimal textual edit, not a re-serialisation: a small
//! scanner finds the byte span of the member to change and the new text is
//! spliced in. The `$schema`, members Suture does not know, the key order,
//! the formatting and the numbers outside the edited value stay byte for
//! byte as they were (serde_json without `preserve_order` would reorder every
//! key). The result is parsed again and compared with the intended document
//! before it replaces the file (a temp file in the same directory, fsync,
//! rename, fsync of the directory), so a reader sees the old file or the new
//! one, never half of one, and a mistake in the scanner never reaches the
//! service. A file someone broke by hand is refused and left alone.
//!
//! A segment's variant is a JsonLogic rule wrapped around whatever targeting
//! the flag had:
//! `{"if": [{"in": [{"var": "tenant"}, ["acme"]]}, "off", <previous targeting, or the default variant>]}`.
//! It uses only `if`, `in` and `var`, which flagd and the demo's evaluator
//! both understand. Setting the same segment again changes its rule instead
//! of nesting another one.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures::stream::BoxStream;
use serde_json::{Map, Value};

use super::{BoxFut, Capabilities, Change, Flag, FlagBackend, FlagError, Probe, Probed, Segment, SegmentRule, Setting, poll_changes};

/// How long a write waits for another writer's lock, unless told otherwise.
const LOCK_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause between two tries at the lock.
const LOCK_RETRY: Duration = Duration::from_millis(5);
/// The `$schema` a new file gets.
const SCHEMA: &str = "https://flagd.dev/schema/v0/flags.json";
/// The deepest nesting the scanner follows. serde_json, which has already
/// parsed the text when the scanner runs, stops at 128.
const MAX_DEPTH: usize = 256;

/// Tells apart the temp files one process writes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A flagd flag-definition file, read, set and watched in place.
#[derive(Debug, Clone)]
pub struct FlagdFile {
    path: PathBuf,
    lock_timeout: Duration,
}

/// The file as read: its text, what it parses to, and its permissions (which
/// a rewrite keeps).
struct Document {
    text: String,
    json: Value,
    permissions: Option<Permissions>,
}

/// Where a write goes: the file (a symlink resolved, so the link stays a
/// link), its directory, its name there, and the lock file next to it.
struct Target {
    file: PathBuf,
    dir: PathBuf,
    name: OsString,
    lock: PathBuf,
}

/// An exclusive `flock` on the lock file; closing the descriptor (dropping
/// this) releases it.
struct Lock {
    _file: File,
}

/// A write worked out but not yet made.
struct Plan {
    /// The flag before; `None` when the write creates it.
    before: Option<Flag>,
    edits: Vec<Edit>,
    /// What the whole file must parse to after the edits.
    expected: Value,
    detail: String,
}

/// How a set names the variant it wants.
#[derive(Clone, Copy)]
enum Pick<'a> {
    Name(&'a str),
    Value(&'a Value),
}

impl FlagdFile {
    /// The file at `path`. Nothing is read until asked, and a missing file
    /// is fine: [`FlagdFile::set_or_create_boolean`] creates it.
    pub fn new(path: impl AsRef<Path>) -> FlagdFile {
        FlagdFile { path: path.as_ref().to_path_buf(), lock_timeout: LOCK_TIMEOUT }
    }

    /// How long a write waits for another writer's lock before it gives up
    /// with [`FlagError::Conflict`] (2 s unless set).
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> FlagdFile {
        self.lock_timeout = timeout;
        self
    }

    /// The flag file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets a boolean flag's default variant to the variant whose value is
    /// `value`, creating the flag (and the file) as
    /// `{"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"|"off"}`
    /// when it is missing. Throwing (`true`) also enables a disabled flag,
    /// since a kill switch is thrown only when it is `ENABLED` and its
    /// default variant is `true`. Synchronous and quick: the canary
    /// controller throws kill switches with it.
    pub fn set_or_create_boolean(&self, key: &str, value: bool) -> Result<Change, FlagError> {
        self.check_key(key)?;
        let target = self.target()?;
        let _lock = self.lock(&target)?;
        let Some(doc) = self.load()? else {
            let text = new_file_text(key, value);
            let expected = serde_json::json!({ "$schema": SCHEMA, "flags": { key: boolean_flag(value) } });
            let after = self.commit(&target, None, &text, &expected, key)?;
            return Ok(self.change(key, None, after, format!("created {key} with default variant {}", on_off(value))));
        };
        let root = self.scan(&doc.text, key)?;
        let mut expected = doc.json.clone();
        let created = format!("created {key} with default variant {}", on_off(value));
        let plan = match self.flags_of(&doc)? {
            None => {
                let flags = format!("{{ {}: {} }}", json_string(key), boolean_flag_text(value, None));
                let inserted = expected
                    .as_object_mut()
                    .map(|object| object.insert("flags".to_owned(), serde_json::json!({ key: boolean_flag(value) })));
                if inserted.is_none() {
                    return Err(self.refused(key, "the file is not a JSON object"));
                }
                Plan { before: None, edits: vec![add_member(&doc.text, &root, "flags", &flags)], expected, detail: created }
            }
            Some(flags) => match flags.get(key) {
                None => {
                    let flags_node =
                        root.member("flags").map(|m| &m.value).ok_or_else(|| self.refused(key, "cannot find \"flags\" in the text"))?;
                    let inserted = expected
                        .get_mut("flags")
                        .and_then(Value::as_object_mut)
                        .map(|flags| flags.insert(key.to_owned(), boolean_flag(value)));
                    if inserted.is_none() {
                        return Err(self.refused(key, "\"flags\" is not an object"));
                    }
                    Plan { before: None, edits: vec![add_flag(&doc.text, flags_node, key, value)], expected, detail: created }
                }
                Some(flag) => {
                    let before = self.read_flag(&doc.text, key, flag)?;
                    let variants = self.variants_of(key, flag)?;
                    let wanted = Value::Bool(value);
                    let variant = self.pick_variant(&doc.text, key, variants, Pick::Value(&wanted), before.variant.as_deref())?;
                    let node = self.flag_node(&root, key)?;
                    let mut edits = Vec::new();
                    let mut parts = Vec::new();
                    if value && !before.enabled {
                        edits.push(set_member(&doc.text, node, "state", "\"ENABLED\""));
                        self.expect(&mut expected, key, "state", Value::String("ENABLED".to_owned()))?;
                        parts.push("state DISABLED → ENABLED".to_owned());
                    }
                    edits.push(set_member(&doc.text, node, "defaultVariant", &json_string(&variant)));
                    self.expect(&mut expected, key, "defaultVariant", Value::String(variant.clone()))?;
                    parts.push(format!("default variant {} → {variant}", before.variant.as_deref().unwrap_or("(none)")));
                    Plan { before: Some(before), edits, expected, detail: parts.join(", ") }
                }
            },
        };
        self.finish(&target, &doc, key, plan)
    }

    /// Reads one flag, synchronously (the async [`FlagBackend::read`] runs
    /// this on the blocking pool).
    pub fn read_sync(&self, key: &str) -> Result<Flag, FlagError> {
        let doc = self.load()?.ok_or_else(|| self.not_found(key, true))?;
        let flags = self.flags_of(&doc)?.ok_or_else(|| self.no_flags(&doc))?;
        let flag = flags.get(key).ok_or_else(|| self.not_found(key, false))?;
        self.read_flag(&doc.text, key, flag)
    }

    /// Sets one flag, synchronously (the async [`FlagBackend::set`] runs this
    /// on the blocking pool): [`Setting::Enabled`] sets `state`,
    /// [`Setting::Variant`] and [`Setting::Value`] choose the default variant,
    /// or with a `segment`, the variant that segment gets while everyone else
    /// keeps what they had.
    pub fn set_sync(&self, key: &str, setting: &Setting, segment: Option<&Segment>) -> Result<Change, FlagError> {
        if let (Setting::Enabled(on), Some(_)) = (setting, segment) {
            let message = if *on {
                "flagd cannot enable a flag for a segment only; enable it for everyone, or choose a variant for the segment, e.g. on"
            } else {
                "flagd cannot disable a flag for a segment; choose a variant, e.g. off"
            };
            return Err(FlagError::Unsupported { backend: self.name(), message: message.to_owned() });
        }
        self.check_key(key)?;
        let target = self.target()?;
        let _lock = self.lock(&target)?;
        let doc = self.load()?.ok_or_else(|| self.not_found(key, true))?;
        let flags = self.flags_of(&doc)?.ok_or_else(|| self.not_found(key, false))?;
        let flag = flags.get(key).ok_or_else(|| self.not_found(key, false))?;
        let before = self.read_flag(&doc.text, key, flag)?;
        let root = self.scan(&doc.text, key)?;
        let node = self.flag_node(&root, key)?;
        let mut expected = doc.json.clone();
        let pick = match setting {
            Setting::Enabled(on) => {
                let state = state_name(*on);
                self.expect(&mut expected, key, "state", Value::String(state.to_owned()))?;
                let edit = set_member(&doc.text, node, "state", &json_string(state));
                let detail = format!("state {} → {state}", state_name(before.enabled));
                return self.finish(&target, &doc, key, Plan { before: Some(before), edits: vec![edit], expected, detail });
            }
            Setting::Variant(name) => Pick::Name(name),
            Setting::Value(value) => Pick::Value(value),
        };
        let variants = self.variants_of(key, flag)?;
        let variant = self.pick_variant(&doc.text, key, variants, pick, before.variant.as_deref())?;
        let (edit, detail) = match segment {
            None => {
                self.expect(&mut expected, key, "defaultVariant", Value::String(variant.clone()))?;
                let mut detail = format!("default variant {} → {variant}", before.variant.as_deref().unwrap_or("(none)"));
                if !before.enabled {
                    detail.push_str(" (the flag is DISABLED: it serves the code's default until it is enabled)");
                }
                (set_member(&doc.text, node, "defaultVariant", &json_string(&variant)), detail)
            }
            Some(segment) => {
                let targeting = segment_targeting(&doc.text, node, before.variant.as_deref(), segment, &variant)
                    .ok_or_else(|| self.refused(key, "cannot find my way around its targeting"))?;
                let parsed: Value = serde_json::from_str(&targeting)
                    .map_err(|e| self.refused(key, &format!("the new targeting would not be valid JSON ({e})")))?;
                let first = segment_rules(&parsed).into_iter().next();
                if !first.is_some_and(|rule| rule.segment.same_as(segment) && rule.variant == variant) {
                    return Err(self.refused(key, "the new targeting would not give the segment its variant first"));
                }
                self.expect(&mut expected, key, "targeting", parsed)?;
                let detail = format!("{} in [{}] → {variant} (others unchanged)", segment.attribute, segment.values.join(", "));
                (set_member(&doc.text, node, "targeting", &targeting), detail)
            }
        };
        self.finish(&target, &doc, key, Plan { before: Some(before), edits: vec![edit], expected, detail })
    }

    // --- reading ---------------------------------------------------------

    /// The file, or `None` when there is none.
    fn load(&self) -> Result<Option<Document>, FlagError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FlagError::Io { path: self.path.clone(), message: format!("cannot read the flag file: {e}") }),
        };
        let permissions = fs::metadata(&self.path).ok().map(|meta| meta.permissions());
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = String::from_utf8_lossy(e.as_bytes().get(..e.utf8_error().valid_up_to()).unwrap_or_default()).into_owned();
            let (line, column) = line_col(&valid, valid.len());
            FlagError::Invalid { place: self.place(), line: Some(line), column: Some(column), message: "is not UTF-8 text".to_owned() }
        })?;
        let json = serde_json::from_str::<Value>(&text).map_err(|e| {
            let full = e.to_string();
            let position = format!(" at line {} column {}", e.line(), e.column());
            let message = full.strip_suffix(&position).unwrap_or(&full);
            FlagError::Invalid {
                place: self.place(),
                line: Some(e.line()),
                column: Some(e.column()),
                message: format!("not valid JSON: {message}"),
            }
        })?;
        Ok(Some(Document { text, json, permissions }))
    }

    /// The `flags` object; `None` when the file has none.
    fn flags_of<'d>(&self, doc: &'d Document) -> Result<Option<&'d Map<String, Value>>, FlagError> {
        let Some(root) = doc.json.as_object() else {
            let message = "must be a JSON object with a \"flags\" object, e.g. {\"flags\": {}}".to_owned();
            return Err(self.invalid_at(&doc.text, &[], message));
        };
        match root.get("flags") {
            None => Ok(None),
            Some(Value::Object(flags)) => Ok(Some(flags)),
            Some(_) => Err(self.invalid_at(&doc.text, &["flags"], "flags must be an object".to_owned())),
        }
    }

    /// A flag's JSON as a [`Flag`], checked against flagd's shape.
    fn read_flag(&self, text: &str, key: &str, flag: &Value) -> Result<Flag, FlagError> {
        let wrong = |member: Option<&str>, message: String| {
            let mut path = vec!["flags", key];
            path.extend(member);
            self.invalid_at(text, &path, message)
        };
        let Some(object) = flag.as_object() else {
            return Err(wrong(None, format!("flags.{key} must be an object")));
        };
        let enabled = match object.get("state").and_then(Value::as_str) {
            Some("ENABLED") => true,
            Some("DISABLED") => false,
            _ => return Err(wrong(Some("state"), format!("flags.{key}.state must be \"ENABLED\" or \"DISABLED\""))),
        };
        let Some(variants) = object.get("variants").and_then(Value::as_object) else {
            return Err(wrong(Some("variants"), format!("flags.{key}.variants must be an object")));
        };
        let mut kinds = variants.iter().map(|(name, value)| (name, json_kind(value)));
        let Some((first_name, first_kind)) = kinds.next() else {
            return Err(wrong(Some("variants"), format!("flags.{key}.variants must name at least one variant")));
        };
        if let Some((name, kind)) = kinds.find(|(_, kind)| *kind != first_kind) {
            let message = format!("flags.{key}.variants mix types: {first_name} is {first_kind}, {name} is {kind}; flagd needs one type");
            return Err(wrong(Some("variants"), message));
        }
        let variant = match object.get("defaultVariant") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) if variants.contains_key(name) => Some(name.clone()),
            Some(Value::String(name)) => {
                let names: Vec<&str> = variants.keys().map(String::as_str).collect();
                let message = format!("flags.{key}.defaultVariant {name:?} is not one of its variants ({})", names.join(", "));
                return Err(wrong(Some("defaultVariant"), message));
            }
            Some(_) => return Err(wrong(Some("defaultVariant"), format!("flags.{key}.defaultVariant must be a variant's name"))),
        };
        let segments = match object.get("targeting") {
            None | Some(Value::Null) => Vec::new(),
            Some(targeting @ Value::Object(_)) => segment_rules(targeting),
            Some(_) => return Err(wrong(Some("targeting"), format!("flags.{key}.targeting must be an object (JsonLogic)"))),
        };
        let value = variant.as_ref().and_then(|name| variants.get(name)).cloned().unwrap_or(Value::Null);
        Ok(Flag { key: key.to_owned(), enabled, value, variant, segments, etag: Some(fingerprint(flag)) })
    }

    /// A flag's variants (already checked by [`FlagdFile::read_flag`]).
    fn variants_of<'v>(&self, key: &str, flag: &'v Value) -> Result<&'v Map<String, Value>, FlagError> {
        flag.get("variants").and_then(Value::as_object).ok_or_else(|| self.refused(key, "its variants are not an object"))
    }

    /// The variant a set means: by name (or, failing that, a name that is
    /// exactly one variant's string value), or by value, preferring the
    /// current default variant when it has that value.
    fn pick_variant(
        &self,
        text: &str,
        key: &str,
        variants: &Map<String, Value>,
        pick: Pick<'_>,
        current: Option<&str>,
    ) -> Result<String, FlagError> {
        let listing = || variants.iter().map(|(name, value)| format!("{name} = {value}")).collect::<Vec<_>>().join(", ");
        let here = ["flags", key, "variants"];
        match pick {
            Pick::Name(name) => {
                if variants.contains_key(name) {
                    return Ok(name.to_owned());
                }
                let by_value: Vec<&str> =
                    variants.iter().filter(|(_, value)| value.as_str() == Some(name)).map(|(variant, _)| variant.as_str()).collect();
                match by_value.as_slice() {
                    [only] => Ok(String::from(*only)),
                    _ => Err(self.invalid_at(text, &here, format!("flags.{key} has no variant {name:?}; its variants are {}", listing()))),
                }
            }
            Pick::Value(wanted) => {
                if let Some(current) = current
                    && variants.get(current).is_some_and(|value| same_value(value, wanted))
                {
                    return Ok(current.to_owned());
                }
                let matching: Vec<&str> =
                    variants.iter().filter(|(_, value)| same_value(value, wanted)).map(|(variant, _)| variant.as_str()).collect();
                match matching.as_slice() {
                    [only] => Ok(String::from(*only)),
                    [] => Err(self.invalid_at(
                        text,
                        &here,
                        format!("flags.{key} has no variant with the value {wanted}; its variants are {}", listing()),
                    )),
                    several => Err(self.invalid_at(
                        text,
                        &here,
                        format!("flags.{key} has several variants with the value {wanted} ({}); name the one you mean", several.join(", ")),
                    )),
                }
            }
        }
    }

    // --- writing ---------------------------------------------------------

    /// Makes the planned write, unless it would change nothing.
    fn finish(&self, target: &Target, doc: &Document, key: &str, plan: Plan) -> Result<Change, FlagError> {
        if plan.expected == doc.json
            && let Some(before) = plan.before
        {
            // Nothing to change: the file (and its mtime) stay as they are.
            let after = before.clone();
            return Ok(self.change(key, Some(before), after, format!("{} (already so; file unchanged)", plan.detail)));
        }
        let text = apply(&doc.text, plan.edits).ok_or_else(|| self.refused(key, "an edit fell outside the text"))?;
        let after = self.commit(target, Some(doc), &text, &plan.expected, key)?;
        Ok(self.change(key, plan.before, after, plan.detail))
    }

    /// Checks that `text` parses to `expected` and reads right, then writes
    /// it; returns the flag as it now is.
    fn commit(&self, target: &Target, doc: Option<&Document>, text: &str, expected: &Value, key: &str) -> Result<Flag, FlagError> {
        let parsed: Value =
            serde_json::from_str(text).map_err(|e| self.refused(key, &format!("the edited file would not be valid JSON ({e})")))?;
        if parsed != *expected {
            return Err(self.refused(key, "the edit would change more than intended"));
        }
        let flag = parsed.get("flags").and_then(|flags| flags.get(key)).ok_or_else(|| self.refused(key, "the flag would be missing"))?;
        let after = self.read_flag(text, key, flag)?;
        self.write_atomically(target, text, doc.and_then(|doc| doc.permissions.clone()))?;
        Ok(after)
    }

    /// Replaces the file with `text`: a temp file in the same directory,
    /// written, synced and renamed over the file, then the directory synced.
    fn write_atomically(&self, target: &Target, text: &str, permissions: Option<Permissions>) -> Result<(), FlagError> {
        let count = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = OsString::from(".");
        temp_name.push(&target.name);
        temp_name.push(format!(".tmp-{}-{count}", std::process::id()));
        let temp = target.dir.join(temp_name);
        if let Err(e) = write_temp(&temp, text, permissions).and_then(|()| fs::rename(&temp, &target.file)) {
            // The temp file may be there (a failed write or rename) or not.
            let _ = fs::remove_file(&temp);
            return Err(FlagError::Io {
                path: target.file.clone(),
                message: format!("cannot write the flag file (via {}): {e}", temp.display()),
            });
        }
        // The new file is in place and readers see it; a failed directory
        // sync only weakens durability across a crash, so it is not an error.
        if let Err(e) = File::open(&target.dir).and_then(|dir| dir.sync_all()) {
            tracing::warn!(dir = %target.dir.display(), error = %e, "flag file written, but syncing its directory failed");
        }
        Ok(())
    }

    /// Where writes go, with a symlink resolved.
    fn target(&self) -> Result<Target, FlagError> {
        let file = match fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(&self.path)
                .map_err(|e| FlagError::Io { path: self.path.clone(), message: format!("cannot follow the symlink: {e}") })?,
            _ => self.path.clone(),
        };
        let Some(name) = file.file_name().map(ToOwned::to_owned) else {
            return Err(FlagError::Io { path: self.path.clone(), message: "does not name a file".to_owned() });
        };
        let dir = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut lock_name = OsString::from(".");
        lock_name.push(&name);
        lock_name.push(".lock");
        let lock = dir.join(lock_name);
        Ok(Target { file, dir, name, lock })
    }

    /// Takes the exclusive lock, retrying every [`LOCK_RETRY`] until the
    /// lock timeout.
    fn lock(&self, target: &Target) -> Result<Lock, FlagError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&target.lock)
            .map_err(|e| FlagError::Io { path: target.lock.clone(), message: format!("cannot open the lock file: {e}") })?;
        let deadline = Instant::now() + self.lock_timeout;
        loop {
            // SAFETY: `file` owns an open descriptor for the whole call, and
            // flock only takes its number.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Lock { _file: file });
            }
            let error = std::io::Error::last_os_error();
            let code = error.raw_os_error();
            if code != Some(libc::EWOULDBLOCK) && code != Some(libc::EINTR) {
                return Err(FlagError::Io { path: target.lock.clone(), message: format!("cannot lock: {error}") });
            }
            if Instant::now() >= deadline {
                return Err(FlagError::Conflict {
                    place: target.lock.display().to_string(),
                    message: format!(
                        "another writer has held the flag file's lock for over {} ms; try again",
                        self.lock_timeout.as_millis()
                    ),
                });
            }
            std::thread::sleep(LOCK_RETRY);
        }
    }

    // --- small helpers ---------------------------------------------------

    /// The file's path for messages.
    fn place(&self) -> String {
        self.path.display().to_string()
    }

    fn change(&self, key: &str, before: Option<Flag>, after: Flag, detail: String) -> Change {
        Change { key: key.to_owned(), before, after, backend: self.name(), detail }
    }

    fn check_key(&self, key: &str) -> Result<(), FlagError> {
        if key.trim().is_empty() {
            return Err(FlagError::Invalid {
                place: self.place(),
                line: None,
                column: None,
                message: "a flag key must not be empty".to_owned(),
            });
        }
        Ok(())
    }

    fn not_found(&self, key: &str, no_file: bool) -> FlagError {
        let place = if no_file { format!("{} (the file does not exist)", self.place()) } else { self.place() };
        FlagError::NotFound { key: key.to_owned(), place }
    }

    fn no_flags(&self, doc: &Document) -> FlagError {
        self.invalid_at(&doc.text, &[], "has no \"flags\" object; a flagd file looks like {\"flags\": {…}}".to_owned())
    }

    /// An edit that went wrong inside Suture: refused before the file is
    /// touched.
    fn refused(&self, key: &str, why: &str) -> FlagError {
        FlagError::Invalid {
            place: self.place(),
            line: None,
            column: None,
            message: format!("refusing to write flags.{key}: {why}; the file was left as it was (a bug in Suture, please report it)"),
        }
    }

    /// A shape error placed at the member `path` leads to (or as far along
    /// it as the text goes).
    fn invalid_at(&self, text: &str, path: &[&str], message: String) -> FlagError {
        let (line, column) = match locate(text, path) {
            Some(offset) => {
                let (line, column) = line_col(text, offset);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        FlagError::Invalid { place: self.place(), line, column, message }
    }

    fn scan(&self, text: &str, key: &str) -> Result<Node, FlagError> {
        scan(text).map_err(|e| self.refused(key, &format!("cannot scan the file ({e})")))
    }

    fn flag_node<'n>(&self, root: &'n Node, key: &str) -> Result<&'n Node, FlagError> {
        root.member("flags")
            .and_then(|flags| flags.value.member(key))
            .map(|member| &member.value)
            .ok_or_else(|| self.refused(key, "cannot find the flag in the text"))
    }

    /// Sets `flags.<key>.<member>` in the document a write must produce.
    fn expect(&self, doc: &mut Value, key: &str, member: &str, value: Value) -> Result<(), FlagError> {
        let flag = doc.get_mut("flags").and_then(|flags| flags.get_mut(key)).and_then(Value::as_object_mut);
        let Some(flag) = flag else {
            return Err(self.refused(key, "the flag is not an object"));
        };
        flag.insert(member.to_owned(), value);
        Ok(())
    }
}

/// Creates `temp` (it must not exist), writes `text`, sets `permissions` and
/// syncs it.
fn write_temp(temp: &Path, text: &str, permissions: Option<Permissions>) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(temp)?;
    file.write_all(text.as_bytes())?;
    if let Some(permissions) = permissions {
        file.set_permissions(permissions)?;
    }
    file.sync_all()
}

impl FlagBackend for FlagdFile {
    fn name(&self) -> String {
        format!("flagd file {}", self.path.display())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { read: true, set: true, watch: true, segments: true }
    }

    fn read<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Flag, FlagError>> {
        let file = self.clone();
        let key = key.to_owned();
        Box::pin(blocking(self.path.clone(), move || file.read_sync(&key)))
    }

    fn set<'a>(&'a self, key: &'a str, setting: &'a Setting, segment: Option<&'a Segment>) -> BoxFut<'a, Result<Change, FlagError>> {
        let file = self.clone();
        let key = key.to_owned();
        let setting = setting.clone();
        let segment = segment.cloned();
        Box::pin(blocking(self.path.clone(), move || file.set_sync(&key, &setting, segment.as_ref())))
    }

    /// Polls the file's modification time, length and inode every `every`
    /// (a `stat`), and reads the flag again only when one of them changed.
    fn watch(&self, key: String, every: Duration) -> BoxStream<'static, Result<Flag, FlagError>> {
        let file = self.clone();
        let mut last: Option<Stamp> = None;
        let probe: Probe = Box::new(move || -> BoxFut<'static, Probed> {
            let now = stamp(&file.path);
            if last.as_ref() == Some(&now) {
                return Box::pin(async { None });
            }
            last = Some(now);
            let file = file.clone();
            let key = key.clone();
            Box::pin(async move { Some(blocking(file.path.clone(), move || file.read_sync(&key)).await) })
        });
        poll_changes(every, probe)
    }
}

/// What a watch compares between polls: modification time, length and
/// inode (an atomic write makes a new inode even within one mtime tick);
/// `None` when the file cannot be looked at.
type Stamp = Option<(Option<SystemTime>, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    fs::metadata(path).ok().map(|meta| (meta.modified().ok(), meta.len(), meta.ino()))
}

/// Runs file work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(path: PathBuf, work: impl FnOnce() -> Result<T, FlagError> + Send + 'static) -> Result<T, FlagError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => Err(FlagError::Io { path, message: format!("the flag file task failed: {e}") }),
    }
}

// --- flag content ------------------------------------------------------------

fn on_off(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

fn state_name(enabled: bool) -> &'static str {
    if enabled { "ENABLED" } else { "DISABLED" }
}

/// A boolean flag as Suture creates it.
fn boolean_flag(on: bool) -> Value {
    serde_json::json!({ "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": on_off(on) })
}

/// [`boolean_flag`] as text: on one line, or laid out over several when
/// given `(closing brace's indent, members' indent, newline)`.
fn boolean_flag_text(on: bool, layout: Option<(&str, &str, &str)>) -> String {
    let default = format!("\"defaultVariant\": \"{}\"", on_off(on));
    let members = ["\"state\": \"ENABLED\"", "\"variants\": { \"on\": true, \"off\": false }", default.as_str()];
    match layout {
        Some((outer, inner, newline)) => {
            let separator = format!(",{newline}{inner}");
            format!("{{{newline}{inner}{}{newline}{outer}}}", members.join(separator.as_str()))
        }
        None => format!("{{ {} }}", members.join(", ")),
    }
}

/// A new flag file holding one boolean flag.
fn new_file_text(key: &str, on: bool) -> String {
    format!(
        "{{\n  \"$schema\": {},\n  \"flags\": {{\n    {}: {}\n  }}\n}}\n",
        json_string(SCHEMA),
        json_string(key),
        boolean_flag_text(on, Some(("    ", "      ", "\n")))
    )
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Equal JSON, with numbers compared by value (`20` is `20.0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64().zip(y.as_f64()).is_some_and(|(x, y)| x == y),
        _ => a == b,
    }
}

/// A short, stable tag for a flag's definition (FNV-1a over its canonical
/// JSON, whose keys serde_json sorts).
fn fingerprint(flag: &Value) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in flag.to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

// --- segment rules -------------------------------------------------------------

/// The segment rules at the top of a targeting rule, in the order they
/// apply: `{"if": [{"in": [{"var": attr}, [values]]}, "variant", else]}`,
/// following the else branch while it is another such rule.
fn segment_rules(targeting: &Value) -> Vec<SegmentRule> {
    let mut rules = Vec::new();
    let mut node = targeting;
    while let Some((condition, then, rest)) = if_args(node) {
        let Some(rule) = segment_rule(condition, then) else { break };
        rules.push(rule);
        node = rest;
    }
    rules
}

/// `(condition, then, else)` of a three-argument JsonLogic `if`.
fn if_args(node: &Value) -> Option<(&Value, &Value, &Value)> {
    let object = node.as_object()?;
    if object.len() != 1 {
        return None;
    }
    match object.get("if")?.as_array()?.as_slice() {
        [condition, then, rest] => Some((condition, then, rest)),
        _ => None,
    }
}

/// The rule when `condition` is `{"in": [{"var": attr}, ["v1", …]]}` and
/// `then` names a variant.
fn segment_rule(condition: &Value, then: &Value) -> Option<SegmentRule> {
    let variant = then.as_str()?;
    let object = condition.as_object()?;
    if object.len() != 1 {
        return None;
    }
    let [var, list] = object.get("in")?.as_array()?.as_slice() else { return None };
    let var = var.as_object()?;
    if var.len() != 1 {
        return None;
    }
    let attribute = match var.get("var")? {
        Value::String(attribute) => attribute,
        Value::Array(path) => match path.as_slice() {
            [Value::String(attribute)] => attribute,
            _ => return None,
        },
        _ => return None,
    };
    let values: Vec<String> = list.as_array()?.iter().map(|value| value.as_str().map(str::to_owned)).collect::<Option<_>>()?;
    if attribute.is_empty() || values.is_empty() {
        return None;
    }
    Some(SegmentRule { segment: Segment { attribute: attribute.clone(), values }, variant: variant.to_owned() })
}

/// One segment rule of a targeting rule, as spans of the file's text.
struct Link {
    /// The whole `{"if": …}` object.
    node: Range<usize>,
    /// Its variant.
    then: Range<usize>,
    /// Its else branch.
    rest: Range<usize>,
    segment: Segment,
}

/// [`segment_rules`] over the scanned text, with the spans an edit needs.
fn segment_chain(text: &str, targeting: &Node) -> Vec<Link> {
    let parse = |node: &Node| slice(text, node.span()).and_then(|part| serde_json::from_str::<Value>(part).ok());
    let mut links = Vec::new();
    let mut node = targeting;
    while let Some((condition, then, rest)) = node.if_args() {
        let (Some(condition_value), Some(then_value)) = (parse(condition), parse(then)) else { break };
        let Some(rule) = segment_rule(&condition_value, &then_value) else { break };
        links.push(Link { node: node.span(), then: then.span(), rest: rest.span(), segment: rule.segment });
        node = rest;
    }
    links
}

/// The flag's new `targeting` text: `segment` gets `variant`, everyone else
/// what they had. A rule for the same segment among the leading segment
/// rules is changed in place when it comes first, and otherwise taken out
/// and put first (so earlier, overlapping rules cannot shadow it); no rule
/// for it means a new one around the previous targeting (or, without any,
/// the default variant). `None` if a span falls outside the text.
fn segment_targeting(text: &str, flag: &Node, default_variant: Option<&str>, segment: &Segment, variant: &str) -> Option<String> {
    let wrap = |rest: &str| {
        let values: Vec<String> = segment.values.iter().map(String::as_str).map(json_string).collect();
        format!(
            "{{\"if\": [{{\"in\": [{{\"var\": {}}}, [{}]]}}, {}, {rest}]}}",
            json_string(&segment.attribute),
            values.join(", "),
            json_string(variant)
        )
    };
    let current = flag.member("targeting").map(|member| &member.value).filter(|node| !node.members().is_empty());
    let Some(current) = current else {
        return Some(wrap(&default_variant.map_or_else(|| "null".to_owned(), json_string)));
    };
    let whole = slice(text, current.span())?;
    let chain = segment_chain(text, current);
    match chain.iter().position(|link| link.segment.same_as(segment)) {
        None => Some(wrap(whole)),
        Some(0) => {
            let link = chain.first()?;
            splice(whole, current.start, link.then.clone(), &json_string(variant))
        }
        Some(index) => {
            let link = chain.get(index)?;
            let rest = slice(text, link.rest.clone())?;
            let without = splice(whole, current.start, link.node.clone(), rest)?;
            Some(wrap(&without))
        }
    }
}

// --- text edits ----------------------------------------------------------------

/// Replace bytes `start..end` of the text with `text`.
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

impl Edit {
    fn insert(at: usize, text: String) -> Edit {
        Edit { start: at, end: at, text }
    }
}

/// `text` with the (non-overlapping) edits made; `None` if one falls outside
/// it, overlaps another or splits a character.
fn apply(text: &str, mut edits: Vec<Edit>) -> Option<String> {
    edits.sort_by_key(|edit| edit.start);
    let mut out = String::with_capacity(text.len() + edits.iter().map(|edit| edit.text.len()).sum::<usize>());
    let mut at = 0;
    for edit in edits {
        out.push_str(text.get(at..edit.start)?);
        out.push_str(&edit.text);
        at = edit.end;
    }
    out.push_str(text.get(at..)?);
    Some(out)
}

/// `whole` (which starts at byte `base` of the file) with the file span
/// `span` replaced by `new`.
fn splice(whole: &str, base: usize, span: Range<usize>, new: &str) -> Option<String> {
    let start = span.start.checked_sub(base)?;
    let end = span.end.checked_sub(base)?;
    Some(format!("{}{new}{}", whole.get(..start)?, whole.get(end..)?))
}

fn slice(text: &str, span: Range<usize>) -> Option<&str> {
    text.get(span)
}

/// An edit giving `object` the member `name` with the value `value` (JSON
/// text): the value is replaced when the member is there, else the member
/// is added.
fn set_member(text: &str, object: &Node, name: &str, value: &str) -> Edit {
    match object.member(name) {
        Some(member) => Edit { start: member.value.start, end: member.value.end, text: value.to_owned() },
        None => add_member(text, object, name, value),
    }
}

/// An edit adding the member `name` as the last of `object`, on a line of
/// its own indented like the member before it when that one is on its own
/// line, else after it on the same line.
fn add_member(text: &str, object: &Node, name: &str, value: &str) -> Edit {
    let newline = newline(text);
    let name = json_string(name);
    match object.members().last() {
        Some(last) => match indent_before(text, last.name_start) {
            Some(indent) => Edit::insert(last.value.end, format!(",{newline}{indent}{name}: {value}")),
            None => Edit::insert(last.value.end, format!(", {name}: {value}")),
        },
        None => Edit { start: object.start, end: object.end, text: format!("{{ {name}: {value} }}") },
    }
}

/// An edit adding a boolean flag as the last member of `flags`, laid out
/// like the flag before it.
fn add_flag(text: &str, flags: &Node, key: &str, on: bool) -> Edit {
    let newline = newline(text);
    let name = json_string(key);
    let Some(last) = flags.members().last() else {
        // `{}`: becomes an object over several lines.
        let outer = line_indent(text, flags.start);
        let indent = format!("{outer}  ");
        let inner = format!("{indent}  ");
        let flag = boolean_flag_text(on, Some((indent.as_str(), inner.as_str(), newline)));
        return Edit { start: flags.start, end: flags.end, text: format!("{{{newline}{indent}{name}: {flag}{newline}{outer}}}") };
    };
    let Some(indent) = indent_before(text, last.name_start) else {
        return Edit::insert(last.value.end, format!(", {name}: {}", boolean_flag_text(on, None)));
    };
    let spread = slice(text, last.value.span()).is_some_and(|flag| flag.contains('\n'));
    let flag = if spread {
        let inner = last
            .value
            .members()
            .first()
            .and_then(|member| indent_before(text, member.name_start))
            .map_or_else(|| format!("{indent}  "), str::to_owned);
        boolean_flag_text(on, Some((indent, inner.as_str(), newline)))
    } else {
        boolean_flag_text(on, None)
    };
    Edit::insert(last.value.end, format!(",{newline}{indent}{name}: {flag}"))
}

/// The file's line ending.
fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// The whitespace before byte `at` on its line, when nothing else is there.
fn indent_before(text: &str, at: usize) -> Option<&str> {
    let before = text.get(..at)?;
    let line = before.get(before.rfind('\n').map_or(0, |newline| newline + 1)..)?;
    line.chars().all(|c| c == ' ' || c == '\t').then_some(line)
}

/// The leading whitespace of the line byte `at` is on.
fn line_indent(text: &str, at: usize) -> &str {
    let before = text.get(..at).unwrap_or_default();
    let line = before.get(before.rfind('\n').map_or(0, |newline| newline + 1)..).unwrap_or_default();
    let width = line.len() - line.trim_start_matches([' ', '\t']).len();
    line.get(..width).unwrap_or_default()
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    (line, column)
}

/// The byte offset of the value `path` leads to, or of the last one on the
/// way that exists; `None` if the text does not scan.
fn locate(text: &str, path: &[&str]) -> Option<usize> {
    let root = scan(text).ok()?;
    let mut node = &root;
    for name in path {
        match node.member(name) {
            Some(member) => node = &member.value,
            None => break,
        }
    }
    Some(node.start)
}

// --- the scanner ---------------------------------------------------------------

/// Where a JSON value sits in the text: bytes `start..end`, and its parts.
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Object(Vec<Member>),
    Array(Vec<Node>),
    /// A string, number, `true`, `false` or `null`.
    Scalar,
}

/// An object member: its decoded name, where the name starts, its value.
#[derive(Debug)]
struct Member {
    name: String,
    name_start: usize,
    value: Node,
}

impl Node {
    fn span(&self) -> Range<usize> {
        self.start..self.end
    }

    fn members(&self) -> &[Member] {
        match &self.kind {
            Kind::Object(members) => members,
            _ => &[],
        }
    }

    fn elements(&self) -> &[Node] {
        match &self.kind {
            Kind::Array(elements) => elements,
            _ => &[],
        }
    }

    /// The member called `name`; the last one if the name repeats, as
    /// serde_json (and so the parsed document) takes the last.
    fn member(&self, name: &str) -> Option<&Member> {
        self.members().iter().rev().find(|member| member.name == name)
    }

    /// [`if_args`] over the scanned text.
    fn if_args(&self) -> Option<(&Node, &Node, &Node)> {
        let [member] = self.members() else { return None };
        if member.name != "if" {
            return None;
        }
        match member.value.elements() {
            [condition, then, rest] => Some((condition, then, rest)),
            _ => None,
        }
    }
}

/// Scans a JSON text into [`Node`]s. It expects text serde_json has already
/// accepted, but checks enough never to go wrong on anything else.
fn scan(text: &str) -> Result<Node, String> {
    let mut scanner = Scanner { text, at: 0 };
    scanner.skip_space();
    let root = scanner.value(0)?;
    scanner.skip_space();
    if scanner.at != text.len() {
        return Err(format!("unexpected text at byte {}", scanner.at));
    }
    Ok(root)
}

struct Scanner<'t> {
    text: &'t str,
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", char::from(byte), self.at))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} at byte {}", self.at));
        }
        let start = self.at;
        let kind = match self.peek() {
            Some(b'{') => Kind::Object(self.object(depth)?),
            Some(b'[') => Kind::Array(self.array(depth)?),
            Some(b'"') => {
                self.string()?;
                Kind::Scalar
            }
            Some(_) => {
                while let Some(byte) = self.peek() {
                    if matches!(byte, b',' | b':' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.at += 1;
                }
                if self.at == start {
                    return Err(format!("expected a value at byte {start}"));
                }
                Kind::Scalar
            }
            None => return Err("the text ends where a value should be".to_owned()),
        };
        Ok(Node { start, end: self.at, kind })
    }

    fn object(&mut self, depth: usize) -> Result<Vec<Member>, String> {
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(members);
        }
        loop {
            self.skip_space();
            let name_start = self.at;
            self.string()?;
            let literal = self.text.get(name_start..self.at).ok_or_else(|| format!("a broken name at byte {name_start}"))?;
            let name: String = serde_json::from_str(literal).map_err(|e| format!("a broken name at byte {name_start}: {e}"))?;
            self.skip_space();
            self.expect(b':')?;
            self.skip_space();
            let value = self.value(depth + 1)?;
            members.push(Member { name, name_start, value });
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(members);
                }
                _ => return Err(format!("expected ',' or '}}' at byte {}", self.at)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Vec<Node>, String> {
        self.expect(b'[')?;
        let mut elements = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(elements);
        }
        loop {
            self.skip_space();
            elements.push(self.value(depth + 1)?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(elements);
                }
                _ => return Err(format!("expected ',' or ']' at byte {}", self.at)),
            }
        }
    }

    /// Skips a string literal: escapes (`\"`, `\\`, `\u…`) and multi-byte
    /// characters (whose bytes are never `"` or `\`) included.
    fn string(&mut self) -> Result<(), String> {
        let start = self.at;
        self.expect(b'"')?;
        loop {
            match self.peek() {
                Some(b'\\') => self.at += 2,
                Some(b'"') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(_) => self.at += 1,
                None => return Err(format!("a string at byte {start} does not end")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use futures::StreamExt;
    use serde_json::json;

    use super::*;

    const DEMO: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo/service/flags/flags.json"));

    const RICH: &str = r#"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "x-owner": {"team": "shop", "pager": "+1 555 0100"},
  "flags": {
    "checkout-v2": {
      "state": "ENABLED",
      "variants": {"on": true, "off": false},
      "defaultVariant": "off",
      "metadata": {"ticket": "SHOP-42", "ratio": 1.50, "note": "keep \"quoted\" text, é"}
    },
    "zeta": {"state": "DISABLED", "variants": {"a": "x", "b": "y"}, "defaultVariant": "a"}
  },
  "metadata": {"version": "7"}
}
"#;

    fn file_with(text: &str) -> (tempfile::TempDir, FlagdFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flags.json");
        fs::write(&path, text).unwrap();
        (dir, FlagdFile::new(path))
    }

    fn flag_json(path: &Path, key: &str) -> Value {
        let doc: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        doc["flags"][key].clone()
    }

    /// Python's truthiness, as the demo's evaluator uses it.
    fn truthy(value: &Value) -> bool {
        match value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        }
    }

    /// JsonLogic's if, in, ==, != and var, as `app/flags.py` evaluates them.
    fn logic(rule: &Value, context: &Value) -> Value {
        let Some(object) = rule.as_object() else { return rule.clone() };
        let (op, args) = object.iter().next().unwrap();
        let arg = |i: usize| logic(&args[i], context);
        match op.as_str() {
            "var" => {
                let name = args.as_str().or_else(|| args[0].as_str()).unwrap();
                context.get(name).cloned().unwrap_or(Value::Null)
            }
            "if" => {
                if truthy(&arg(0)) {
                    arg(1)
                } else {
                    arg(2)
                }
            }
            "in" => {
                let (needle, hay) = (arg(0), arg(1));
                Value::Bool(hay.as_array().is_some_and(|hay| hay.contains(&needle)))
            }
            "==" => Value::Bool(arg(0) == arg(1)),
            "!=" => Value::Bool(arg(0) != arg(1)),
            other => panic!("the demo cannot evaluate {other}"),
        }
    }

    /// What the demo service gets for `flag` and `context`.
    fn evaluate(flag: &Value, context: &Value) -> Value {
        if flag["state"] != "ENABLED" {
            return Value::Null;
        }
        let mut variant = flag["defaultVariant"].clone();
        if let Some(targeting) = flag.get("targeting").filter(|t| truthy(t)) {
            let chosen = logic(targeting, context);
            if truthy(&chosen) {
                variant = chosen;
            }
        }
        flag["variants"][variant.as_str().unwrap()].clone()
    }

    fn for_tenant(flag: &Value, tenant: &str) -> Value {
        evaluate(flag, &json!({ "tenant": tenant }))
    }

    #[test]
    fn sets_the_default_variant_state_and_value_and_keeps_permissions() {
        let (_dir, file) = file_with(DEMO);
        fs::set_permissions(file.path(), Permissions::from_mode(0o640)).unwrap();
        let change = file.set_sync("new-checkout-ui", &Setting::Variant("off".to_owned()), None).unwrap();
        assert_eq!(change.detail, "default variant on → off");
        assert_eq!(change.before.as_ref().unwrap().value, json!(true));
        assert_eq!(change.after.value, json!(false));
        assert_eq!(change.backend, format!("flagd file {}", file.path().display()));
        assert_eq!(file.read_sync("new-checkout-ui").unwrap(), change.after);
        assert_eq!(fs::metadata(file.path()).unwrap().permissions().mode() & 0o777, 0o640);

        let change = file.set_sync("new-checkout-ui", &Setting::Enabled(false), None).unwrap();
        assert_eq!(change.detail, "state ENABLED → DISABLED");
        assert!(!file.read_sync("new-checkout-ui").unwrap().enabled);

        let change = file.set_sync("max-page-size", &Setting::Value(json!(20)), None).unwrap();
        assert!(change.detail.starts_with("default variant large → small"), "{}", change.detail);
        assert_eq!(file.read_sync("max-page-size").unwrap().value, json!(20));

        // A string variant chosen by its value's name.
        let change = file.set_sync("search-backend", &Setting::parse("vector"), None).unwrap();
        assert_eq!(change.detail, "default variant classic → vector");

        let again = file.set_sync("search-backend", &Setting::Variant("vector".to_owned()), None).unwrap();
        assert!(again.detail.ends_with("(already so; file unchanged)"), "{}", again.detail);

        let error = file.set_sync("max-page-size", &Setting::Variant("huge".to_owned()), None).unwrap_err();
        let shown = error.to_string();
        assert!(shown.contains("no variant \"huge\"") && shown.contains("large = 50") && shown.contains("small = 20"), "{shown}");
        let error = file.set_sync("max-page-size", &Setting::Value(json!(7)), None).unwrap_err();
        assert!(error.to_string().contains("no variant with the value 7"), "{error}");
        let error = file.set_sync("nope", &Setting::Enabled(true), None).unwrap_err();
        assert!(matches!(error, FlagError::NotFound { .. }), "{error:?}");
    }

    #[test]
    fn kill_switches_are_created_thrown_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let file = FlagdFile::new(dir.path().join("flags.json"));
        assert!(matches!(file.read_sync("suture.kill.checkout"), Err(FlagError::NotFound { .. })));
        assert!(matches!(file.set_sync("suture.kill.checkout", &Setting::Enabled(true), None), Err(FlagError::NotFound { .. })));

        let change = file.set_or_create_boolean("suture.kill.checkout", false).unwrap();
        assert!(change.before.is_none());
        assert_eq!(change.detail, "created suture.kill.checkout with default variant off");
        let created: Value = serde_json::from_str(&fs::read_to_string(file.path()).unwrap()).unwrap();
        assert_eq!(created["$schema"], SCHEMA);
        assert_eq!(evaluate(&flag_json(file.path(), "suture.kill.checkout"), &json!({})), json!(false));

        let change = file.set_or_create_boolean("suture.kill.checkout", true).unwrap();
        assert_eq!(change.detail, "default variant off → on");
        let flag = file.read_sync("suture.kill.checkout").unwrap();
        assert!(flag.enabled && flag.value == json!(true));
        assert_eq!(evaluate(&flag_json(file.path(), "suture.kill.checkout"), &json!({})), json!(true));

        // A second switch goes in after the first, laid out like it.
        file.set_or_create_boolean("suture.kill.search", true).unwrap();
        let text = fs::read_to_string(file.path()).unwrap();
        assert!(text.contains("\n    \"suture.kill.search\": {\n      \"state\": \"ENABLED\",\n"), "{text}");

        let change = file.set_or_create_boolean("suture.kill.checkout", false).unwrap();
        assert_eq!(change.detail, "default variant on → off");
        assert_eq!(file.read_sync("suture.kill.checkout").unwrap().value, json!(false));
        assert_eq!(file.read_sync("suture.kill.search").unwrap().value, json!(true));

        // Throwing a disabled switch enables it too.
        file.set_sync("suture.kill.checkout", &Setting::Enabled(false), None).unwrap();
        let change = file.set_or_create_boolean("suture.kill.checkout", true).unwrap();
        assert_eq!(change.detail, "state DISABLED → ENABLED, default variant off → on");
        assert_eq!(evaluate(&flag_json(file.path(), "suture.kill.checkout"), &json!({})), json!(true));

        // Not a boolean flag: refused, named.
        let (_dir, demo) = file_with(DEMO);
        let error = demo.set_or_create_boolean("search-backend", true).unwrap_err();
        assert!(error.to_string().contains("no variant with the value true"), "{error}");
    }

    #[test]
    fn a_file_without_flags_gets_them() {
        let (_dir, file) = file_with("{\"$schema\": \"x\"}\n");
        assert!(file.read_sync("a").unwrap_err().to_string().contains("has no \"flags\" object"));
        file.set_or_create_boolean("suture.kill.a", true).unwrap();
        assert_eq!(
            fs::read_to_string(file.path()).unwrap().lines().next().unwrap(),
            r#"{"$schema": "x", "flags": { "suture.kill.a": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on" } }}"#
        );
        assert_eq!(file.read_sync("suture.kill.a").unwrap().value, json!(true));
    }

    #[test]
    fn unknown_fields_and_formatting_survive_byte_for_byte() {
        let (_dir, file) = file_with(RICH);
        file.set_sync("checkout-v2", &Setting::Variant("on".to_owned()), None).unwrap();
        let after = fs::read_to_string(file.path()).unwrap();
        assert_eq!(after, RICH.replacen(r#""defaultVariant": "off""#, r#""defaultVariant": "on""#, 1));

        // A member that is not there (targeting) goes in after the last one;
        // everything before and after the insertion point is untouched.
        let segment: Segment = "tenant=acme".parse().unwrap();
        file.set_sync("checkout-v2", &Setting::Variant("off".to_owned()), Some(&segment)).unwrap();
        let edited = fs::read_to_string(file.path()).unwrap();
        let at = after.find(r#"text, é"}"#).unwrap() + r#"text, é"}"#.len();
        assert!(edited.starts_with(&after[..at]), "{edited}");
        assert!(edited.ends_with(&after[at..]), "{edited}");
        let inserted = &edited[at..edited.len() - (after.len() - at)];
        assert_eq!(inserted, ",\n      \"targeting\": {\"if\": [{\"in\": [{\"var\": \"tenant\"}, [\"acme\"]]}, \"off\", \"on\"]}");

        // The one-line flag keeps its line.
        file.set_sync("zeta", &Setting::Value(json!("y")), None).unwrap();
        let last = fs::read_to_string(file.path()).unwrap();
        assert_eq!(last, edited.replacen(r#""defaultVariant": "a"}"#, r#""defaultVariant": "b"}"#, 1));
    }

    #[test]
    fn segment_rules_are_written_reapplied_in_place_and_evaluated() {
        let (_dir, file) = file_with(DEMO);
        let acme_globex: Segment = "tenant=acme,globex".parse().unwrap();
        let change = file.set_sync("new-checkout-ui", &Setting::Variant("off".to_owned()), Some(&acme_globex)).unwrap();
        assert_eq!(change.detail, "tenant in [acme, globex] → off (others unchanged)");
        assert_eq!(change.after.segments, vec![SegmentRule { segment: acme_globex.clone(), variant: "off".to_owned() }]);
        assert_eq!(change.after.variant.as_deref(), Some("on"));
        let flag = flag_json(file.path(), "new-checkout-ui");
        assert_eq!(for_tenant(&flag, "acme"), json!(false));
        assert_eq!(for_tenant(&flag, "globex"), json!(false));
        assert_eq!(for_tenant(&flag, "initech"), json!(true));
        assert_eq!(evaluate(&flag, &json!({})), json!(true));

        // The same segment (values in another order) again: replaced, not nested.
        let reordered: Segment = "tenant=globex,acme".parse().unwrap();
        file.set_sync("new-checkout-ui", &Setting::Value(json!(true)), Some(&reordered)).unwrap();
        let flag = flag_json(file.path(), "new-checkout-ui");
        assert_eq!(flag["targeting"].to_string().matches("\"if\"").count(), 1, "{}", flag["targeting"]);
        assert_eq!(for_tenant(&flag, "acme"), json!(true));
        assert_eq!(file.read_sync("new-checkout-ui").unwrap().segments[0].variant, "on");

        // Disabling for a segment is not something flagd can do.
        let error = file.set_sync("new-checkout-ui", &Setting::Enabled(false), Some(&reordered)).unwrap_err();
        assert!(matches!(error, FlagError::Unsupported { .. }), "{error:?}");
        assert!(error.to_string().contains("flagd cannot disable a flag for a segment; choose a variant, e.g. off"), "{error}");
    }

    #[test]
    fn the_demo_file_gets_a_segment_rule_for_legacy_tax_rounding() {
        let (_dir, file) = file_with(DEMO);
        let key = "legacy-tax-rounding";
        let flag = flag_json(file.path(), key);
        assert_eq!((for_tenant(&flag, "acme"), for_tenant(&flag, "umbrella")), (json!(true), json!(false)));
        let before = file.read_sync(key).unwrap();
        assert_eq!(before.segments.len(), 1);
        assert_eq!(before.segments[0].segment.to_string(), "tenant=acme,globex,stark");

        let acme: Segment = "tenant=acme".parse().unwrap();
        let change = file.set_sync(key, &Setting::Variant("off".to_owned()), Some(&acme)).unwrap();
        assert_eq!(change.detail, "tenant in [acme] → off (others unchanged)");
        let flag = flag_json(file.path(), key);
        assert_eq!(for_tenant(&flag, "acme"), json!(false));
        assert_eq!(for_tenant(&flag, "globex"), json!(true));
        assert_eq!(for_tenant(&flag, "umbrella"), json!(false));

        let umbrella: Segment = "tenant=umbrella".parse().unwrap();
        file.set_sync(key, &Setting::Value(json!(true)), Some(&umbrella)).unwrap();
        let flag = flag_json(file.path(), key);
        assert_eq!(for_tenant(&flag, "umbrella"), json!(true));
        assert_eq!(for_tenant(&flag, "acme"), json!(false));
        assert_eq!(for_tenant(&flag, "stark"), json!(true));
        assert_eq!(for_tenant(&flag, "initech"), json!(false));
        let rules: Vec<String> = file.read_sync(key).unwrap().segments.iter().map(|r| format!("{}→{}", r.segment, r.variant)).collect();
        assert_eq!(rules, ["tenant=umbrella→on", "tenant=acme→off", "tenant=acme,globex,stark→on"]);

        // acme again, now second in line: taken out and put first, no nesting.
        file.set_sync(key, &Setting::Variant("on".to_owned()), Some(&acme)).unwrap();
        let flag = flag_json(file.path(), key);
        assert_eq!(flag["targeting"].to_string().matches("\"if\"").count(), 3, "{}", flag["targeting"]);
        assert_eq!(for_tenant(&flag, "acme"), json!(true));
        assert_eq!(for_tenant(&flag, "umbrella"), json!(true));
        assert_eq!(for_tenant(&flag, "initech"), json!(false));

        // The other flags are untouched, byte for byte.
        let text = fs::read_to_string(file.path()).unwrap();
        let tail = &DEMO[DEMO.find("    \"new-checkout-ui\"").unwrap()..];
        assert!(text.ends_with(tail), "{text}");
    }

    #[test]
    fn invalid_json_is_refused_with_its_place_and_left_alone() {
        let broken = "{\n  \"flags\": {\n    \"a\": {\"state\": \"ENABLED\",, }\n  }\n}\n";
        let (_dir, file) = file_with(broken);
        for error in [
            file.set_sync("a", &Setting::Enabled(false), None).unwrap_err(),
            file.set_or_create_boolean("suture.kill.a", true).unwrap_err(),
            file.read_sync("a").unwrap_err(),
        ] {
            assert!(matches!(error, FlagError::Invalid { line: Some(3), column: Some(_), .. }), "{error:?}");
            let shown = error.to_string();
            assert!(shown.starts_with(&format!("{}:3:", file.path().display())) && shown.contains("not valid JSON"), "{shown}");
        }
        assert_eq!(fs::read(file.path()).unwrap(), broken.as_bytes());
    }

    #[test]
    fn shape_errors_name_the_member_and_its_line() {
        let text = "{\n  \"flags\": {\n    \"x\": {\n      \"state\": \"ENABLED\",\n      \"variants\": [true, false],\n      \"defaultVariant\": \"on\"\n    }\n  }\n}\n";
        let (_dir, file) = file_with(text);
        let error = file.read_sync("x").unwrap_err();
        assert_eq!(error.to_string(), format!("{}:5:19: flags.x.variants must be an object", file.path().display()));
        let (_dir, file) = file_with(r#"{"flags": {"x": {"state": "ON", "variants": {"on": true}}}}"#);
        assert!(file.read_sync("x").unwrap_err().to_string().contains("flags.x.state must be \"ENABLED\" or \"DISABLED\""));
        let (_dir, file) = file_with(r#"{"flags": {"x": {"state": "ENABLED", "variants": {"on": true, "off": "no"}}}}"#);
        assert!(file.read_sync("x").unwrap_err().to_string().contains("mix types"));
        let (_dir, file) = file_with(r#"{"flags": {"x": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "off"}}}"#);
        assert!(file.read_sync("x").unwrap_err().to_string().contains("defaultVariant \"off\" is not one of its variants (on)"));
    }

    #[test]
    fn two_writers_lose_nothing() {
        let (_dir, file) = file_with("{\"flags\": {}}\n");
        std::thread::scope(|scope| {
            for writer in 0..2 {
                let file = &file;
                scope.spawn(move || {
                    for i in 0..20 {
                        file.set_or_create_boolean(&format!("suture.kill.w{writer}-{i}"), i % 2 == 0).unwrap();
                    }
                });
            }
        });
        let doc: Value = serde_json::from_str(&fs::read_to_string(file.path()).unwrap()).unwrap();
        assert_eq!(doc["flags"].as_object().unwrap().len(), 40);
        for writer in 0..2 {
            for i in 0..20 {
                assert_eq!(file.read_sync(&format!("suture.kill.w{writer}-{i}")).unwrap().value, json!(i % 2 == 0));
            }
        }
        let leftovers: Vec<_> = fs::read_dir(file.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_held_lock_is_a_conflict_after_the_timeout() {
        let (dir, file) = file_with(DEMO);
        let file = file.with_lock_timeout(Duration::from_millis(100));
        let lock_path = dir.path().join(".flags.json.lock");
        let held = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&lock_path).unwrap();
        // SAFETY: `held` is open for the whole test.
        assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
        let started = Instant::now();
        let error = file.set_or_create_boolean("suture.kill.x", true).unwrap_err();
        let waited = started.elapsed();
        assert!(matches!(error, FlagError::Conflict { .. }), "{error:?}");
        assert!(error.to_string().contains(&lock_path.display().to_string()), "{error}");
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(2), "{waited:?}");
        assert_eq!(fs::read_to_string(file.path()).unwrap(), DEMO);
        drop(held);
        file.set_or_create_boolean("suture.kill.x", true).unwrap();
    }

    async fn next(stream: &mut BoxStream<'static, Result<Flag, FlagError>>) -> Result<Flag, FlagError> {
        tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("the watch yields in time").expect("the watch goes on")
    }

    #[tokio::test]
    async fn watch_yields_the_flag_its_changes_and_a_broken_file() {
        let (_dir, file) = file_with(DEMO);
        let mut stream = file.watch("new-checkout-ui".to_owned(), Duration::from_millis(20));
        assert_eq!(next(&mut stream).await.unwrap().value, json!(true));
        let change = file.set("new-checkout-ui", &Setting::Variant("off".to_owned()), None).await.unwrap();
        assert_eq!(change.detail, "default variant on → off");
        assert_eq!(next(&mut stream).await.unwrap().value, json!(false));
        fs::write(file.path(), "{ broken").unwrap();
        assert!(matches!(next(&mut stream).await, Err(FlagError::Invalid { .. })));
        fs::write(file.path(), DEMO).unwrap();
        assert_eq!(next(&mut stream).await.unwrap().value, json!(true));
        assert_eq!(file.read("new-checkout-ui").await.unwrap().value, json!(true));
    }

    #[test]
    fn the_scanner_finds_spans_through_escapes_and_unicode() {
        let text = r#"{"a\"b": ["x", {"c": "é\\"}], "n": -1.5e3, "a\"b": null}"#;
        let root = scan(text).unwrap();
        let member = root.member("a\"b").unwrap();
        assert_eq!(&text[member.value.span()], "null");
        let n = root.member("n").unwrap();
        assert_eq!(&text[n.value.span()], "-1.5e3");
        assert!(scan("{\"a\": [1, 2}").is_err());
        assert!(scan("\"open").is_err());
        assert_eq!(line_col("ab\ncé\nd", 6), (2, 3));
    }
}
