//! The ingest engine: parsed events are fingerprinted, assigned to incidents
//! and written to the store in batches (one transaction each, see
//! `Store::ingest`). Every source — the demo world, `suture ingest`, later
//! followed files and the OTLP receiver — goes through [`Ingestor`], so
//! grouping and counting are the same whatever the input.

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::model::{ErrorEvent, Incident, Millis};
use crate::signals::detect::{self, Format};
use crate::signals::redact::Redactor;
use crate::signals::{Rejection, jsonl, otlp, sentry, sentry_fast};
use crate::store::{Batch, BatchIncident, EventKey, NONE, SAMPLES_PER_RELEASE, Store, StoreError, event_key};
use crate::triage::cluster;
use crate::triage::fingerprint::{Groupable, Grouper};
use crate::triage::rank;

/// Most events per store transaction: large enough to amortize the commit's
/// fsync, small enough to bound memory.
/// (About 6 MB of keys; each batch also refreshes and re-ranks the
/// incidents it touched, a fixed cost worth spreading.)
pub const BATCH: usize = 100_000;

/// Longest time events wait in memory before they are written, so an open
/// console sees new events quickly (following files, the receiver).
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// The same for a one-shot `suture ingest` of files: an open console still
/// sees a long ingest progress every second.
pub const BULK_FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Rejection reasons kept verbatim; beyond this they are only counted.
pub const KEPT_REASONS: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub ingested: usize,
    /// Events already in the store (same id), skipped.
    pub duplicates: usize,
    pub rejected: usize,
    /// Records that are not errors (OTLP logs below ERROR without an exception).
    pub skipped: usize,
    pub reasons: Vec<Rejection>,
    pub incidents: BTreeSet<String>,
}

impl Report {
    pub fn summary(&self) -> String {
        format!("{} ingested, {} rejected", self.ingested, self.rejected)
    }
}

type Fingerprint = [u8; 32];

/// Orders incidents and sets their scores (see `triage::rank`).
type RankFn<'a> = Box<dyn Fn(&mut [Incident], Millis, Option<Millis>) + 'a>;

/// Samples still wanted of one release (`None`: events without one).
type SamplesLeft = (Option<Box<str>>, u32);

/// The ingest engine. Events come in whole ([`Ingestor::push`]) or, for
/// Sentry lines, through the fast path ([`Ingestor::push_sentry_line`])
/// that parses only what grouping and counting need and parses an event
/// fully only when it is kept as a sample or starts an incident.
pub struct Ingestor<'a> {
    store: &'a mut Store,
    actor: String,
    at: Millis,
    grouper: Grouper,
    ranker: RankFn<'a>,
    batch: Batch,
    /// This batch's incidents by fingerprint, and its interned strings.
    by_fp: HashMap<Fingerprint, u32>,
    strings: HashMap<Box<str>, u32>,
    flag_sets: HashMap<Vec<u32>, u32>,
    /// Components → fingerprint, so the hash is computed once per group.
    fp_cache: HashMap<Box<str>, (Fingerprint, Option<usize>)>,
    /// Fingerprints whose incident the store has (written by an earlier flush).
    known: HashSet<Fingerprint>,
    /// Samples still wanted per fingerprint and release.
    samples_left: HashMap<Fingerprint, Vec<SamplesLeft>>,
    buf: String,
    /// Whether the store's message groups are in the grouper yet.
    groups_loaded: bool,
    report: Report,
    since_check: u32,
    last_flush: Instant,
    flush_every: Duration,
    clock: Option<fn() -> Millis>,
    /// Field names whose values are replaced by keyed hashes (`triage.redact_fields`).
    redact: Option<(Vec<String>, &'a Redactor)>,
}

impl<'a> Ingestor<'a> {
    pub fn new(store: &'a mut Store, actor: impl Into<String>, at: Millis) -> Ingestor<'a> {
        Ingestor {
            store,
            actor: actor.into(),
            at,
            grouper: Grouper::default(),
            ranker: Box::new(|incs: &mut [Incident], now, deploy| rank::rank(incs, now, deploy)),
            batch: Batch::default(),
            by_fp: HashMap::default(),
            strings: HashMap::default(),
            flag_sets: HashMap::default(),
            fp_cache: HashMap::default(),
            known: HashSet::default(),
            samples_left: HashMap::default(),
            buf: String::new(),
            groups_loaded: false,
            report: Report::default(),
            since_check: 0,
            last_flush: Instant::now(),
            flush_every: FLUSH_EVERY,
            clock: None,
            redact: None,
        }
    }

    /// Groups with the config's rules instead of the built-in grouping.
    pub fn with_grouper(mut self, grouper: Grouper) -> Ingestor<'a> {
        self.grouper = grouper;
        self.groups_loaded = false;
        self
    }

    /// Ranks with `ranker` (for example one that knows the SLOs).
    pub fn with_ranker(mut self, ranker: impl Fn(&mut [Incident], Millis, Option<Millis>) + 'a) -> Ingestor<'a> {
        self.ranker = Box::new(ranker);
        self
    }

    /// Writes pending events at least this often (default [`FLUSH_EVERY`]).
    pub fn with_flush_every(mut self, every: Duration) -> Ingestor<'a> {
        self.flush_every = every;
        self
    }

    /// Stamps each write with `clock()` instead of the time given to `new`
    /// (for long-running ingests: following, the receiver).
    pub fn with_clock(mut self, clock: fn() -> Millis) -> Ingestor<'a> {
        self.clock = Some(clock);
        self
    }

    /// Replaces the values of these fields (tag names, or `tenant`,
    /// `region`, `transaction`, `environment`) by keyed hashes, as the
    /// config's `triage.redact_fields` asks.
    pub fn with_redact_fields(mut self, fields: &[String], redactor: &'a Redactor) -> Ingestor<'a> {
        if !fields.is_empty() {
            self.redact = Some((fields.to_vec(), redactor));
        }
        self
    }

    fn redacted<'v>(&self, name: &str, value: Option<&'v str>) -> Option<std::borrow::Cow<'v, str>> {
        let value = value?;
        match &self.redact {
            Some((fields, r)) if fields.iter().any(|f| f == name) => Some(r.hash(name, value).into()),
            _ => Some(value.into()),
        }
    }

    fn redact_event(&self, ev: &mut ErrorEvent) {
        let Some((fields, r)) = &self.redact else { return };
        for (k, v) in ev.tags.iter_mut() {
            if fields.iter().any(|f| f == k) {
                *v = r.hash(k, v);
            }
        }
        for (name, value) in [
            ("tenant", &mut ev.tenant),
            ("region", &mut ev.region),
            ("transaction", &mut ev.transaction),
            ("environment", &mut ev.environment),
        ] {
            if let Some(v) = value.as_mut().filter(|_| fields.iter().any(|f| f == name)) {
                *v = r.hash(name, v);
            }
        }
    }

    pub fn report(&self) -> &Report {
        &self.report
    }

    pub fn reject(&mut self, r: Rejection) {
        self.report.rejected += 1;
        if self.report.reasons.len() < KEPT_REASONS {
            self.report.reasons.push(r);
        }
    }

    fn fingerprint(&mut self, e: &dyn Groupable) -> (Fingerprint, Option<usize>) {
        let rule = self.grouper.components_into(e, &mut self.buf);
        if let Some(hit) = self.fp_cache.get(self.buf.as_str()) {
            return *hit;
        }
        let fp = (self.grouper.hash(&self.buf, rule), rule);
        self.fp_cache.insert(self.buf.as_str().into(), fp);
        fp
    }

    fn intern(&mut self, s: Option<&str>) -> u32 {
        let Some(s) = s else { return NONE };
        if let Some(i) = self.strings.get(s) {
            return *i;
        }
        let i = self.batch.strings.len() as u32;
        self.batch.strings.push(s.to_string());
        self.strings.insert(s.into(), i);
        i
    }

    fn intern_flags<'f>(&mut self, flags: impl Iterator<Item = (&'f str, &'f str)>) -> u32 {
        let mut set: Vec<u32> = Vec::new();
        for (k, v) in flags {
            let s = format!("{k}={v}");
            set.push(self.intern(Some(&s)));
        }
        if set.is_empty() {
            return NONE;
        }
        if let Some(i) = self.flag_sets.get(&set) {
            return *i;
        }
        let i = self.batch.flag_sets.len() as u32;
        self.batch.flag_sets.push(set.clone());
        self.flag_sets.insert(set, i);
        i
    }

    /// Whether the next event of this fingerprint and release is kept whole;
    /// counts it as kept when it is.
    fn take_sample(&mut self, fp: &Fingerprint, release: Option<&str>) -> Result<bool, StoreError> {
        let per_release = self.samples_left.entry(*fp).or_default();
        let i = match per_release.iter().position(|(r, _)| r.as_deref() == release) {
            Some(i) => i,
            None => {
                let have = self.store.sample_count(&hex::encode(fp), release)?;
                per_release.push((release.map(Into::into), SAMPLES_PER_RELEASE.saturating_sub(have)));
                per_release.len() - 1
            }
        };
        let left = &mut per_release[i].1;
        if *left == 0 {
            return Ok(false);
        }
        *left -= 1;
        Ok(true)
    }

    /// The batch index of a fingerprint's incident; `full` is the whole
    /// event, needed when the incident may be new.
    fn incident_index(&mut self, fp: &Fingerprint, full: Option<&ErrorEvent>) -> u32 {
        if let Some(i) = self.by_fp.get(fp) {
            return *i;
        }
        let skeleton = match full {
            Some(ev) => cluster::skeleton_with(&self.grouper, ev),
            None => Incident { fingerprint: hex::encode(fp), ..Default::default() },
        };
        let i = self.batch.incidents.len() as u32;
        self.batch.incidents.push(BatchIncident { skeleton });
        self.by_fp.insert(*fp, i);
        i
    }

    /// Gives the grouper the message groups the store learned before.
    fn load_groups(&mut self) -> Result<(), StoreError> {
        if !self.groups_loaded {
            self.grouper.restore_groups(&self.store.message_groups()?);
            self.groups_loaded = true;
        }
        Ok(())
    }

    /// Adds a whole event (any source).
    pub fn push(&mut self, mut ev: ErrorEvent) -> Result<(), StoreError> {
        self.load_groups()?;
        self.redact_event(&mut ev);
        let (fp, _) = self.fingerprint(&ev);
        let inc = self.incident_index(&fp, Some(&ev));
        let key = EventKey {
            key: event_key(&ev.id),
            incident: inc,
            ts: ev.timestamp,
            user: ev.user.as_deref().and_then(crate::store::parse_user_key),
            tenant: self.intern(ev.tenant.as_deref()),
            region: self.intern(ev.region.as_deref()),
            release: self.intern(ev.release.as_deref()),
            service: self.intern(ev.service.as_deref()),
            flags: self.intern_flags(ev.flags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        };
        self.batch.events.push(key);
        if self.take_sample(&fp, ev.release.as_deref())? {
            self.batch.samples.push((inc, ev));
        }
        self.after_push()
    }

    /// Adds one Sentry event given as JSON text, by the fast path. A bad
    /// event is rejected with `location` and the reason.
    pub fn push_sentry_line(&mut self, line: &str, redactor: &Redactor, location: &dyn Fn() -> String) -> Result<(), StoreError> {
        self.load_groups()?;
        let view = match sentry_fast::parse_view(line, redactor) {
            Ok(v) => v,
            Err(reason) => {
                self.reject(Rejection { location: location(), reason });
                return Ok(());
            }
        };
        let (fp, _) = self.fingerprint(&view);
        let release = view.release.as_deref();
        let new_incident = !self.by_fp.contains_key(&fp) && !self.known.contains(&fp);
        let sample = self.take_sample(&fp, release)?;
        let full = if sample || new_incident {
            match sentry::parse_event(line, redactor) {
                Ok(mut ev) => {
                    self.redact_event(&mut ev);
                    Some(ev)
                }
                Err(reason) => {
                    self.reject(Rejection { location: location(), reason });
                    return Ok(());
                }
            }
        } else {
            None
        };
        let inc = self.incident_index(&fp, full.as_ref());
        let key = EventKey {
            key: event_key(&view.id),
            incident: inc,
            ts: view.timestamp,
            user: view.user,
            tenant: {
                let v = self.redacted("tenant", view.tenant.as_deref());
                self.intern(v.as_deref())
            },
            region: {
                let v = self.redacted("region", view.region.as_deref());
                self.intern(v.as_deref())
            },
            release: self.intern(release),
            service: self.intern(view.service.as_deref()),
            flags: if view.flags.is_empty() { NONE } else { self.intern_flags(view.flags.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))) },
        };
        self.batch.events.push(key);
        if let (true, Some(ev)) = (sample, full) {
            self.batch.samples.push((inc, ev));
        }
        self.after_push()
    }

    fn after_push(&mut self) -> Result<(), StoreError> {
        self.since_check += 1;
        if self.batch.events.len() >= BATCH || (self.since_check >= 256 && self.last_flush.elapsed() >= self.flush_every) {
            self.flush()?;
        }
        if self.since_check >= 256 {
            self.since_check = 0;
        }
        Ok(())
    }

    /// Writes what is pending (one transaction).
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.last_flush = Instant::now();
        if self.batch.is_empty() {
            return Ok(());
        }
        let at = self.clock.map_or(self.at, |now| now());
        self.batch.message_groups = self.grouper.changed_groups();
        let done = self.store.ingest_batch(&self.batch, &*self.ranker, &self.actor, at)?;
        let n = self.batch.events.len();
        self.report.ingested += done.added;
        self.report.duplicates += n - done.added;
        self.report.incidents.extend(done.touched);
        self.known.extend(self.by_fp.keys().copied());
        self.batch.clear();
        self.by_fp.clear();
        self.strings.clear();
        self.flag_sets.clear();
        Ok(())
    }

    pub fn finish(mut self) -> Result<Report, StoreError> {
        self.flush()?;
        Ok(std::mem::take(&mut self.report))
    }
}

/// Why a file could not be ingested at all (a bad record is a rejection, not this).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Longest line accepted; a longer one is rejected, not read into memory whole.
pub const MAX_LINE: usize = 8 << 20;

/// Ingests a Sentry JSON-lines file, streaming a line at a time. `progress`
/// is called with bytes read so far.
pub fn ingest_sentry_lines(
    path: &Path,
    redactor: &Redactor,
    ingestor: &mut Ingestor<'_>,
    progress: impl FnMut(u64),
) -> Result<(), IngestError> {
    ingest_lines(path, ingestor, progress, &mut |ing, line, location| ing.push_sentry_line(line, redactor, location))
}

/// What one line of a JSON-lines file is.
pub type LineHandler<'h> = dyn FnMut(&mut Ingestor<'_>, &str, &dyn Fn() -> String) -> Result<(), StoreError> + 'h;

/// The line handler for a line-based format, or `None` for document formats.
pub fn line_handler<'h>(format: Format, redactor: &'h Redactor) -> Option<Box<LineHandler<'h>>> {
    match format {
        Format::SentryLines => Some(Box::new(move |ing, line, location| ing.push_sentry_line(line, redactor, location))),
        Format::SutureLines => Some(Box::new(move |ing, line, location| match jsonl::parse_line(line, redactor) {
            Ok(ev) => ing.push(ev),
            Err(reason) => {
                ing.reject(Rejection { location: location(), reason });
                Ok(())
            }
        })),
        Format::OtlpLines => Some(Box::new(move |ing, line, location| {
            let mut result = Ok(());
            otlp::parse_request(line, redactor, &mut |o| push_otlp(ing, o, &location, &mut result));
            result
        })),
        _ => None,
    }
}

fn push_otlp(ing: &mut Ingestor<'_>, o: otlp::Outcome, at: &dyn Fn() -> String, result: &mut Result<(), StoreError>) {
    if result.is_err() {
        return;
    }
    match o {
        otlp::Outcome::Event(ev) => *result = ing.push(*ev),
        otlp::Outcome::Rejected(r) => ing.reject(Rejection { location: format!("{} {}", at(), r.location), reason: r.reason }),
        otlp::Outcome::Skipped => ing.report.skipped += 1,
    }
}

/// Longest single-document file read (a Sentry event document).
pub const MAX_DOCUMENT: u64 = 16 << 20;

/// Ingests a file of any supported format, told apart by its first bytes
/// (see `signals::detect`): Sentry events as JSON lines, a JSON array or one
/// document; OTLP/JSON logs as one (streamed) document or one request per
/// line; Suture's JSON lines.
pub fn ingest_path(
    path: &Path,
    redactor: &Redactor,
    ingestor: &mut Ingestor<'_>,
    mut progress: impl FnMut(u64),
) -> Result<Format, IngestError> {
    use std::io::Read;
    let io = |source| IngestError::Io { path: path.display().to_string(), source };
    let mut head = Vec::with_capacity(64 << 10);
    std::fs::File::open(path).map_err(io)?.take(64 << 10).read_to_end(&mut head).map_err(io)?;
    let format = detect::sniff(&head);
    if let Some(mut handler) = line_handler(format, redactor) {
        ingest_lines(path, ingestor, progress, &mut *handler)?;
        return Ok(format);
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let name = path.display().to_string();
    let mut read = 0u64;
    let counted = CountingReader { inner: file, read: &mut read, progress: &mut progress };
    let mut store_error: Result<(), StoreError> = Ok(());
    let outcome = match format {
        Format::OtlpDocument => {
            let at = || name.clone();
            otlp::stream_reader(counted, redactor, &mut |o| push_otlp(ingestor, o, &at, &mut store_error))
        }
        Format::SentryArray => sentry::parse_events_array(counted, redactor, &mut |r| {
            if store_error.is_err() {
                return;
            }
            match r {
                Ok(ev) => store_error = ingestor.push(ev),
                Err(rej) => ingestor.reject(Rejection { location: format!("{name} {}", rej.location), reason: rej.reason }),
            }
        }),
        Format::SentryEvent => {
            let mut text = String::new();
            match counted.take(MAX_DOCUMENT + 1).read_to_string(&mut text) {
                Err(e) => Err(format!("not UTF-8 text ({e})")),
                Ok(n) if n as u64 > MAX_DOCUMENT => Err(format!("a single event document over {} MiB", MAX_DOCUMENT >> 20)),
                Ok(_) => {
                    match sentry::parse_event(&text, redactor) {
                        Ok(ev) => store_error = ingestor.push(ev),
                        Err(reason) => ingestor.reject(Rejection { location: name.clone(), reason }),
                    }
                    Ok(())
                }
            }
        }
        _ => {
            return Err(IngestError::Format {
                path: name,
                reason: "not a format suture reads (Sentry event JSON or JSON lines, OTLP/JSON logs, Suture JSON lines; see the README)"
                    .into(),
            });
        }
    };
    store_error?;
    if let Err(reason) = outcome {
        // What came before the break was ingested; the rest of the file was not.
        ingestor.reject(Rejection { location: name, reason: format!("stopped reading: {reason}") });
    }
    progress(read);
    Ok(format)
}

struct CountingReader<'r, R, P: FnMut(u64)> {
    inner: R,
    read: &'r mut u64,
    progress: &'r mut P,
}

impl<R: std::io::Read, P: FnMut(u64)> std::io::Read for CountingReader<'_, R, P> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let before = *self.read >> 20;
        *self.read += n as u64;
        if *self.read >> 20 != before {
            (self.progress)(*self.read);
        }
        Ok(n)
    }
}

/// Streams a JSON-lines file a line at a time through `handler`.
pub fn ingest_lines(
    path: &Path,
    ingestor: &mut Ingestor<'_>,
    mut progress: impl FnMut(u64),
    handler: &mut LineHandler<'_>,
) -> Result<(), IngestError> {
    let io = |source| IngestError::Io { path: path.display().to_string(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut lines = LineReader::new(file, MAX_LINE);
    let mut read: u64 = 0;
    for lineno in 1.. {
        let Some((line, n)) = lines.next_line().map_err(io)? else { break };
        read += n as u64;
        if lineno % 1024 == 0 {
            progress(read);
        }
        ingest_line(ingestor, line, n, &|| format!("{}:{lineno}", path.display()), handler)?;
    }
    progress(read);
    Ok(())
}

/// One line (as read, `n` its full length before capping) through `handler`.
pub fn ingest_line(
    ingestor: &mut Ingestor<'_>,
    buf: &[u8],
    n: usize,
    location: &dyn Fn() -> String,
    handler: &mut LineHandler<'_>,
) -> Result<(), StoreError> {
    if n > MAX_LINE {
        ingestor.reject(Rejection { location: location(), reason: format!("line longer than {} MiB", MAX_LINE >> 20) });
        return Ok(());
    }
    let line = match std::str::from_utf8(buf) {
        Ok(l) => l.trim(),
        Err(e) => {
            ingestor.reject(Rejection { location: location(), reason: format!("not UTF-8 ({e})") });
            return Ok(());
        }
    };
    if line.is_empty() {
        return Ok(());
    }
    handler(ingestor, line, location)
}

/// Lines of a stream, read in large blocks and handed out in place (no
/// copy per line). A line longer than `cap` is consumed whole but handed out
/// empty, with its full length, so the caller can reject it without holding it.
pub struct LineReader<R> {
    r: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    cap: usize,
    eof: bool,
}

const BLOCK: usize = 1 << 20;

impl<R: std::io::Read> LineReader<R> {
    pub fn new(r: R, cap: usize) -> LineReader<R> {
        LineReader { r, buf: vec![0; BLOCK.min(cap.saturating_add(1)).max(64)], start: 0, end: 0, cap, eof: false }
    }

    /// The next line (with its newline, if any) and its full length in
    /// bytes; `None` at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<(&[u8], usize)>> {
        let mut skipped = 0usize;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let (from, to) = (self.start, self.start + i + 1);
                self.start = to;
                if skipped > 0 || to - from > self.cap {
                    return Ok(Some((&[], skipped + (to - from))));
                }
                return Ok(Some((&self.buf[from..to], to - from)));
            }
            if self.eof {
                let (from, to) = (self.start, self.end);
                self.start = to;
                return Ok(match (skipped, to - from) {
                    (0, 0) => None,
                    (0, n) if n <= self.cap => Some((&self.buf[from..to], n)),
                    (s, n) => Some((&[], s + n)),
                });
            }
            // No newline in what is buffered: make room and read more.
            let pending = self.end - self.start;
            if skipped > 0 || pending > self.cap {
                // Too long: drop what is buffered and keep reading to its end.
                skipped += pending;
                self.start = 0;
                self.end = 0;
            } else {
                self.buf.copy_within(self.start..self.end, 0);
                self.start = 0;
                self.end = pending;
                if self.end == self.buf.len() {
                    let grown = (self.buf.len() * 2).min(self.cap.saturating_add(1)).max(self.buf.len() + 1);
                    self.buf.resize(grown, 0);
                }
            }
            let n = loop {
                match self.r.read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.end += n;
            self.eof = n == 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_lines_are_consumed_whole_but_handed_out_empty() {
        let data = b"short\nmuch longer line here\nend";
        let mut r = LineReader::new(&data[..], 8);
        assert_eq!(r.next_line().unwrap(), Some((&b"short\n"[..], 6)));
        assert_eq!(r.next_line().unwrap(), Some((&b""[..], 22)));
        assert_eq!(r.next_line().unwrap(), Some((&b"end"[..], 3)));
        assert_eq!(r.next_line().unwrap(), None);
        assert_eq!(r.next_line().unwrap(), None);
    }

    /// A reader that hands out at most a few bytes per read.
    struct Trickle<'a>(&'a [u8], usize);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    proptest::proptest! {
        /// Whatever the line lengths, cap and read sizes: every line comes out
        /// once, in order, whole when it fits the cap and empty with its full
        /// length when it does not.
        #[test]
        fn line_reader_splits_like_split_inclusive(
            lines in proptest::collection::vec("[a-z]{0,300}", 0..20),
            trailing in proptest::bool::ANY,
            cap in 1usize..200,
            step in 1usize..97,
        ) {
            let mut text = lines.join("\n");
            if trailing && !text.is_empty() {
                text.push('\n');
            }
            let mut r = LineReader::new(Trickle(text.as_bytes(), step), cap);
            let mut got = Vec::new();
            while let Some((line, n)) = r.next_line().unwrap() {
                got.push((line.to_vec(), n));
            }
            let want: Vec<(Vec<u8>, usize)> = text
                .as_bytes()
                .split_inclusive(|b| *b == b'\n')
                .map(|l| (if l.len() > cap { Vec::new() } else { l.to_vec() }, l.len()))
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn configured_fields_are_hashed_on_both_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let line = |id: &str| {
            format!(
                r#"{{"event_id":"{id}","timestamp":1.5,"tags":{{"tenant":"acme-secret-co","order_ref":"PO-778"}},"exception":{{"values":[{{"type":"E","stacktrace":{{"frames":[{{"module":"m","function":"f","in_app":true}}]}}}}]}}}}"#
            )
        };
        std::fs::write(&path, format!("{}\n{}\n", line("a"), line("b"))).unwrap();
        let mut store = Store::open_in_memory().unwrap();
        let r = Redactor::new([9; 32]);
        let fields = vec!["tenant".to_string(), "order_ref".to_string()];
        let mut ing = Ingestor::new(&mut store, "t", 0).with_redact_fields(&fields, &r);
        ingest_sentry_lines(&path, &r, &mut ing, |_| {}).unwrap();
        ing.push(ErrorEvent {
            id: "c".into(),
            timestamp: 2,
            message: Some("m".into()),
            tenant: Some("acme-secret-co".into()),
            ..Default::default()
        })
        .unwrap();
        ing.finish().unwrap();
        let incs = store.incidents().unwrap();
        for inc in &incs {
            assert_eq!(inc.tenants, [r.hash("tenant", "acme-secret-co")]);
            for ev in store.samples(&inc.id).unwrap() {
                let json = serde_json::to_string(&ev).unwrap();
                assert!(!json.contains("acme-secret-co") && !json.contains("PO-778"), "{json}");
            }
        }
    }

    #[test]
    fn ingesting_twice_counts_duplicates_and_merges_incidents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let ev = |id: &str, t: &str, user: &str| {
            format!(
                r#"{{"event_id":"{id}","timestamp":"{t}","release":"shop@1","user":{{"id":"{user}"}},"exception":{{"values":[{{"type":"TypeError","value":"x","stacktrace":{{"frames":[{{"module":"app.a","function":"f","in_app":true,"lineno":3}}]}}}}]}}}}"#
            )
        };
        let lines = [
            ev("a", "2026-11-20T10:00:00Z", "u1"),
            ev("b", "2026-11-20T10:01:00Z", "u2"),
            "{broken".into(),
            String::new(),
            ev("c", "2026-11-20T10:02:00Z", "u1"),
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let mut store = Store::open_in_memory().unwrap();
        let r = Redactor::new([9; 32]);
        for round in 0..2 {
            let mut ing = Ingestor::new(&mut store, "test", 0);
            ingest_sentry_lines(&path, &r, &mut ing, |_| {}).unwrap();
            let report = ing.finish().unwrap();
            assert_eq!(report.rejected, 1);
            assert!(report.reasons[0].location.ends_with("e.jsonl:3"), "{:?}", report.reasons);
            assert_eq!((report.ingested, report.duplicates), if round == 0 { (3, 0) } else { (0, 3) });
        }
        let incs = store.incidents().unwrap();
        assert_eq!(incs.len(), 1);
        assert_eq!((incs[0].count, incs[0].users), (3, 2));
        assert_eq!(incs[0].rate, [1, 1, 1]);
        assert!(incs[0].score > 0.0, "ranked inside the ingest transaction");
    }

    /// Messages without a stack that differ in a word fall together, across
    /// ingests: the learned group outlives the process.
    #[test]
    fn message_shapes_learned_in_one_ingest_group_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let r = Redactor::new([9; 32]);
        let ev = |id: &str, msg: &str| format!(r#"{{"event_id":"{id}","timestamp":"2026-11-20T10:00:00Z","message":"{msg}"}}"#);
        let first = [ev("a", "session of user bob expired early"), ev("b", "session of user carol expired early")];
        let second = [ev("c", "session of user dave expired early"), ev("d", "queue flush failed for shard eu")];
        for (n, lines) in [first, second].iter().enumerate() {
            let mut store = Store::open(&path).unwrap();
            let mut ing = Ingestor::new(&mut store, "test", 0);
            for l in lines {
                ing.push_sentry_line(l, &r, &|| "t".into()).unwrap();
            }
            assert_eq!(ing.finish().unwrap().ingested, 2, "round {n}");
        }
        let store = Store::open(&path).unwrap();
        let mut counts: Vec<u64> = store.incidents().unwrap().iter().map(|i| i.count).collect();
        counts.sort();
        assert_eq!(counts, [1, 3], "three users' sessions are one incident; the queue is another");
        assert_eq!(
            store.message_groups().unwrap()[0],
            ("session of user bob expired early".to_string(), "session of user <*> expired early".to_string())
        );
    }
}
