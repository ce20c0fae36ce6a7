//! Ingest at scale: 1,000,000 generated Sentry-format events of about 1.3 KB
//! each, read from a file, parsed, redacted, fingerprinted, clustered and
//! written to an on-disk store — the whole of `suture ingest` — against the
//! ceiling measured in the same run: `serde_json` deserializing the same lines
//! into borrowed typed structs holding only the fields a grouper needs.
//!
//!     taskset -c 0 cargo bench --bench ingest_1m
//!
//! The events are Python errors as the Sentry SDK sends them (six frames,
//! three of them library code, tags, user, release), without source context
//! lines so they come to about 1.3 KB; one in ten is a log message without a
//! stack. The ceiling and the ingest alternate for three rounds and the
//! medians are compared.
//!
//! `SUTURE_BENCH_EVENTS=200000` makes a smaller file for a quick look. The
//! file is generated once (deterministically, seeded) under `target/bench-data/`.
//! Peak memory is the process's high-water mark (`VmHWM`); the ceiling pass
//! streams, so the mark is the end-to-end ingest's.

use std::borrow::Cow;
use std::hint::black_box;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;
use suture::ingest::{Ingestor, ingest_sentry_lines};
use suture::signals::redact::Redactor;
use suture::store::Store;

/// splitmix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const MODULES: &[&str] = &[
    "app.pricing",
    "app.checkout",
    "app.catalog",
    "app.inventory",
    "app.tax",
    "app.reports",
    "app.pagination",
    "app.search",
    "app.accounts",
    "app.shipping",
];
const FUNCS: &[&str] =
    &["quote", "apply_discount", "subtotal", "reserve", "release", "render", "paginate", "lookup", "charge", "refund", "rate", "rollup"];
const TYPES: &[&str] = &["TypeError", "KeyError", "IndexError", "ValueError", "AttributeError", "ZeroDivisionError"];
const TENANTS: &[&str] = &["acme", "globex", "initech", "umbrella", "hooli", "vandelay"];
const REGIONS: &[&str] = &["eu-west-1", "us-east-1", "ap-south-1"];
const ROUTES: &[&str] = &["POST /orders/quote", "POST /orders/checkout", "GET /products", "GET /reports/daily", "PUT /cart"];
const RELEASES: &[&str] = &["shop@a1f3c9e", "shop@9c4e0d7"];

fn generate(path: &Path, n: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap())?;
    let tmp = path.with_extension("tmp");
    let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
    let mut rng = Rng(7);
    let start: i64 = 1_795_132_800_000; // 2026-11-20T00:00:00Z
    for i in 0..n {
        let ts = start + (i as i64 * 86_400_000 / n as i64);
        let release = if (i as f64) < n as f64 * 0.7 { RELEASES[0] } else { RELEASES[1] };
        let shift = if release == RELEASES[0] { 0 } else { 3 };
        let user = rng.below(50_000);
        let ip = format!("10.{}.{}.{}", rng.below(256), rng.below(256), 1 + rng.below(254));
        let head = format!(
            r#"{{"event_id":"{:016x}{:016x}","timestamp":{}.{:03},"platform":"python","level":"error","logger":"shop.app","transaction":"{}","release":"{}","environment":"production","tags":{{"tenant":"{}","region":"{}"}},"user":{{"id":"u-{user:05}","email":"user{user}@example.com","ip_address":"{ip}"}}"#,
            rng.next(),
            i,
            ts / 1000,
            ts % 1000,
            rng.pick(ROUTES),
            release,
            rng.pick(TENANTS),
            rng.pick(REGIONS),
        );
        out.write_all(head.as_bytes())?;
        if rng.below(10) == 0 {
            // A log-style event without a stack: varying numbers and addresses.
            let msg = match rng.below(3) {
                0 => format!("timeout after {} ms talking to {ip}", rng.below(30_000)),
                1 => format!("connection refused by db-{}:5432 after {} retries", rng.below(9), rng.below(5)),
                _ => format!("cache miss storm: {} keys evicted in {} ms", rng.below(100_000), rng.below(999)),
            };
            write!(
                out,
                r#","message":{{"formatted":"{msg}"}},"contexts":{{"runtime":{{"name":"CPython","version":"3.11.7"}},"os":{{"name":"Linux"}},"trace":{{"trace_id":"{:016x}{:016x}","span_id":"{:016x}"}}}},"extra":{{"sys.argv":["/srv/shop/app/server.py","--port","8080"],"queue_depth":{}}}}}"#,
                rng.next(),
                rng.next(),
                rng.next(),
                rng.below(500),
            )?;
            writeln!(out)?;
            continue;
        }
        // 40 distinct failures: a type and two or three in-app frames.
        let sig = rng.below(40) as usize;
        let kind = TYPES[sig % TYPES.len()];
        let m1 = MODULES[sig % MODULES.len()];
        let m2 = MODULES[(sig / 3) % MODULES.len()];
        let f1 = FUNCS[sig % FUNCS.len()];
        let f2 = FUNCS[(sig * 7 + 3) % FUNCS.len()];
        let value = match kind {
            "KeyError" => format!("'sku-{}'", rng.below(10_000)),
            "IndexError" => "list index out of range".to_string(),
            "TypeError" => "'NoneType' object is not subscriptable".to_string(),
            "ValueError" => format!("invalid literal for int() with base 10: '{}x'", rng.below(1000)),
            "AttributeError" => "'NoneType' object has no attribute 'price'".to_string(),
            _ => "division by zero".to_string(),
        };
        let frame = |module: &str, func: &str, line: u64, in_app: bool, ctx: &str| {
            let file = module.replace('.', "/");
            let base = if in_app { "/srv/shop" } else { "/usr/lib/python3.11" };
            format!(
                r#"{{"filename":"{file}.py","abs_path":"{base}/{file}.py","module":"{module}","function":"{func}","lineno":{line},"in_app":{in_app}{ctx}}}"#
            )
        };
        let frames = [
            frame("threading", "_bootstrap_inner", 1045, false, ""),
            frame("socketserver", "process_request_thread", 691, false, ""),
            frame("http.server", "handle_one_request", 424, false, ""),
            frame("app.server", "_serve", 28 + shift, true, ""),
            frame(m2, f2, 60 + shift + sig as u64, true, ""),
            frame(m1, f1, 30 + shift + sig as u64, true, ""),
        ];
        write!(
            out,
            r#","exception":{{"values":[{{"type":"{kind}","value":"{}","module":"builtins","mechanism":{{"type":"generic","handled":false}},"stacktrace":{{"frames":[{}]}}}}]}}}}"#,
            value.replace('"', "\\\""),
            frames.join(","),
        )?;
        writeln!(out)?;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(tmp, path)
}

/// Borrowed text (serde's `Option<Cow<str>>` would allocate every string).
struct Text<'a>(#[allow(dead_code)] Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text<'a>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

// The ceiling: only what a grouper reads, borrowed.
#[derive(Deserialize)]
#[allow(dead_code)] // deserialized to measure the ceiling, never read
struct CEvent<'a> {
    #[serde(borrow)]
    message: Option<CMessage<'a>>,
    #[serde(borrow)]
    exception: Option<CExceptions<'a>>,
}
#[derive(Deserialize)]
#[allow(dead_code)] // deserialized to measure the ceiling, never read
struct CMessage<'a> {
    #[serde(borrow)]
    formatted: Option<Text<'a>>,
}
#[derive(Deserialize)]
#[allow(dead_code)] // deserialized to measure the ceiling, never read
struct CExceptions<'a> {
    #[serde(borrow)]
    values: Vec<CException<'a>>,
}
#[derive(Deserialize)]
#[allow(dead_code)] // deserialized to measure the ceiling, never read
struct CException<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    value: Option<Text<'a>>,
    #[serde(borrow)]
    stacktrace: Option<CStack<'a>>,
}
#[derive(Deserialize)]
#[allow(dead_code)] // deserialized to measure the ceiling, never read
struct CStack<'a> {
    #[serde(borrow)]
    frames: Vec<CFrame<'a>>,
}
#[derive(Deserialize)]
#[allow(dead_code)] // deserialized to measure the ceiling, never read
struct CFrame<'a> {
    #[serde(borrow)]
    filename: Option<Text<'a>>,
    #[serde(borrow)]
    module: Option<Text<'a>>,
    #[serde(borrow)]
    function: Option<Text<'a>>,
    in_app: Option<bool>,
}

fn ceiling(path: &Path) -> (usize, f64) {
    let mut r = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path).unwrap());
    let mut line = String::new();
    let mut n = 0;
    let t = Instant::now();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let ev: CEvent = serde_json::from_str(line.trim_end()).expect("generated events parse");
        black_box(&ev);
        n += 1;
    }
    (n, t.elapsed().as_secs_f64())
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    let n: usize = std::env::var("SUTURE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join(format!("bench-data/sentry-{n}.jsonl"));
    if !path.exists() {
        eprintln!("generating {n} events into {}", path.display());
        generate(&path, n).expect("writing the bench events");
    }
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("{n} events, {:.0} MB, {:.2} KB/event ({})", bytes as f64 / 1e6, bytes as f64 / n as f64 / 1e3, path.display());

    // Warm the page cache so every pass reads from memory. Then the ceiling
    // and the ingest alternate, SUTURE_BENCH_ROUNDS times (default 3), and
    // the medians are compared: one pass of either varies by ±10% here.
    let _ = ceiling(&path);
    let rounds: usize = std::env::var("SUTURE_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let (mut ceilings, mut rates) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..rounds {
        let (cn, cs) = ceiling(&path);
        ceilings.push(cn as f64 / cs);
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("bench.db")).unwrap();
        let redactor = Redactor::new([1; 32]);
        let t = Instant::now();
        // As `suture ingest FILE` sets it up.
        let mut ing = Ingestor::new(&mut store, "bench", 0).with_flush_every(suture::ingest::BULK_FLUSH_EVERY);
        if let Some(ms) = std::env::var("SUTURE_BENCH_FLUSH_MS").ok().and_then(|v| v.parse().ok()) {
            ing = ing.with_flush_every(std::time::Duration::from_millis(ms));
        }
        ingest_sentry_lines(&path, &redactor, &mut ing, |_| {}).unwrap();
        let report = ing.finish().unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(report.ingested, n, "every generated event is ingested: {:?}", report.reasons.first());
        rates.push(report.ingested as f64 / secs);
        let db = std::fs::metadata(dir.path().join("bench.db")).map(|m| m.len()).unwrap_or(0);
        last = Some((store.incidents().unwrap().len(), db));
    }
    let median = |xs: &mut Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let list = |xs: &[f64]| xs.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
    println!(
        "ceiling (serde_json, borrowed typed grouper fields): {:>9.0} events/s (median of {})",
        median(&mut ceilings.clone()),
        list(&ceilings)
    );
    println!(
        "suture ingest end to end (parse, redact, fingerprint, cluster, store): {:>9.0} events/s (median of {})",
        median(&mut rates.clone()),
        list(&rates)
    );
    println!("  ratio to ceiling: {:.2}x", median(&mut rates) / median(&mut ceilings));
    let (incidents, db) = last.expect("at least one round");
    println!("  incidents: {incidents}");
    println!("  peak memory (VmHWM): {:.0} MB", peak_rss_mb());
    println!("  store size: {:.0} MB", db as f64 / 1e6);
    // Where the time goes, stage by stage (same file, in memory).
    if std::env::var_os("SUTURE_BENCH_STAGES").is_some() {
        let text = std::fs::read_to_string(&path).unwrap();
        let redactor = Redactor::new([1; 32]);
        let t = Instant::now();
        let events: Vec<_> = text.lines().filter_map(|l| suture::signals::sentry::parse_event(l, &redactor).ok()).collect();
        let parse = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for e in &events {
            black_box(suture::triage::cluster::skeleton(e));
        }
        let fp = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for l in text.lines() {
            black_box(suture::signals::sentry_fast::parse_view(l, &redactor).ok());
        }
        let view = t.elapsed().as_secs_f64();
        let grouper = suture::triage::fingerprint::Grouper::default();
        let mut buf = String::new();
        let t = Instant::now();
        for l in text.lines() {
            let v = suture::signals::sentry_fast::parse_view(l, &redactor).unwrap();
            black_box(grouper.components_into(&v, &mut buf));
            black_box(suture::store::event_key(&v.id));
        }
        let view_fp = t.elapsed().as_secs_f64();
        println!("  stage: view {:>9.0} events/s, view+components+key {:>9.0} events/s", n as f64 / view, n as f64 / view_fp);
        println!("  stage: parse+redact {:>9.0} events/s, skeleton {:>9.0} events/s", n as f64 / parse, n as f64 / fp);
    }
}
