//! Template repair: time to the first verified patch for each demo bug, and
//! to the end of the search, with the demo's settings (kill switches, the
//! flag file, two candidates at a time, the whole gauntlet per candidate).
//!
//!     cargo bench --bench repair
//!
//! Goal: the first verified patch in under 20 s for each bug on this machine.

use std::path::PathBuf;
use std::time::Duration;

use suture::config::{PolicyCfg, ProposeCfg};
use suture::policy::Policy;
use suture::propose::search::{self, Job};
use suture::repro::runner::{Options, load_specs};
use suture::verify::{Plan, service};

fn main() {
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let specs = load_specs(&demo.join("repros")).expect("demo specs");
    let cfg = service::demo_cfg(&demo).expect("demo gauntlet");
    let propose: ProposeCfg = toml::from_str(&std::fs::read_to_string(demo.join("propose.toml")).unwrap()).unwrap();
    let policy = Policy::new(&PolicyCfg::default(), &demo).unwrap();
    let under = std::env::temp_dir().join(format!("suture-bench-repair-{}", std::process::id()));
    std::fs::create_dir_all(&under).unwrap();
    println!("{:<24} {:>14} {:>10} {:>9} {:>9}", "bug", "first verified", "search", "verified", "tried");
    let service = demo.join("service");
    let mut worst = Duration::ZERO;
    for spec in &specs {
        let plan = Plan { spec: spec.clone(), cfg: cfg.clone(), opts: Options::default() };
        let job = Job::templates(&service, &under, plan, &policy, &propose);
        let found = search::run(&job, &|_| {}).expect("search");
        let first = found.first_verified_ms.map(Duration::from_millis);
        worst = worst.max(first.unwrap_or(Duration::MAX));
        println!(
            "{:<24} {:>14} {:>9.1}s {:>9} {:>9}",
            spec.id,
            first.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or_else(|| "none".into()),
            found.elapsed_ms as f64 / 1000.0,
            found.verified.len(),
            found.tried.iter().filter(|t| t.stage != search::Stage::NotTried).count()
        );
    }
    let _ = std::fs::remove_dir_all(&under);
    println!("slowest first verified patch: {:.1}s (goal: under 20 s each)", worst.as_secs_f64());
}
