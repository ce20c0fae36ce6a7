use super::*;

fn sh(script: &str) -> Spec {
    Spec::new(vec!["sh".into(), "-c".into(), script.into()], std::env::temp_dir())
}

fn quiet(spec: &Spec) -> Outcome {
    run(spec, &mut |_, _| {})
}

#[test]
fn the_environment_is_scrubbed_pinned_and_then_the_specs() {
    // SAFETY: tests in this module read only variables they set themselves.
    unsafe {
        std::env::set_var("SUTURE_TEST_API_TOKEN", "hunter2");
        std::env::set_var("SUTURE_TEST_PLAIN", "visible");
    }
    let mut spec = sh("env");
    spec.pass.extend(["SUTURE_TEST_API_TOKEN".to_string(), "SUTURE_TEST_PLAIN".to_string()]);
    spec.env.insert("TZ".into(), "Europe/Paris".into());
    let out = quiet(&spec);
    let env = out.text(Stream::Stdout);
    assert!(out.succeeded(), "{}", out.status());
    assert!(!env.contains("hunter2"), "a secret-looking name never passes, even allow-listed");
    assert!(env.contains("SUTURE_TEST_PLAIN=visible"));
    assert!(env.contains("PYTHONHASHSEED=0") && env.contains("LC_ALL=C"));
    assert!(env.contains("TZ=Europe/Paris"), "the spec's env wins over the pinned values");
    assert!(!env.contains("HOME="), "nothing else passes");
}

#[test]
fn an_infinite_loop_is_killed_at_the_timeout() {
    let mut spec = sh("while :; do :; done");
    spec.limits.timeout = Duration::from_millis(300);
    let out = quiet(&spec);
    assert!(out.timed_out);
    assert_eq!(out.signal, Some(libc::SIGKILL));
    assert!(out.status().contains("timeout"), "{}", out.status());
}

#[test]
fn what_the_command_leaves_running_is_killed_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = sh("(sleep 30; echo late > late.txt) & echo started");
    spec.cwd = dir.path().into();
    spec.limits.timeout = Duration::from_secs(20);
    let out = quiet(&spec);
    assert!(out.succeeded() && !out.timed_out, "{}", out.status());
    assert!(out.duration < Duration::from_secs(20), "the background sleep held the run open");
    assert_eq!(out.text(Stream::Stdout), "started\n");
}

#[test]
fn output_past_the_cap_is_drained_counted_and_marked() {
    let mut spec = sh("head -c 1000000000 /dev/zero; echo done >&2");
    spec.limits.output_bytes = 4096;
    let mut seen = 0u64;
    let out = run(&spec, &mut |s, b| {
        if s == Stream::Stdout {
            seen += b.len() as u64
        }
    });
    assert!(out.succeeded(), "{}", out.status());
    assert_eq!(out.stdout.len(), 4096);
    assert_eq!(out.dropped[0], 1_000_000_000 - 4096);
    assert_eq!(seen, 1_000_000_000, "everything is streamed live");
    assert!(out.status().contains("stdout truncated, 999995904 bytes dropped"), "{}", out.status());
    assert!(out.text(Stream::Stdout).ends_with("[… 999995904 more bytes not kept]\n"));
    assert_eq!(out.text(Stream::Stderr), "done\n");
}

#[test]
fn binary_output_is_kept_as_bytes_and_shown_lossily() {
    let out = quiet(&sh("printf '\\377\\376ok\\000'"));
    assert_eq!(out.stdout, b"\xff\xfeok\0");
    assert_eq!(out.text(Stream::Stdout), "\u{fffd}\u{fffd}ok\0");
}

#[test]
fn a_missing_command_or_directory_is_a_clear_start_error() {
    let out = quiet(&Spec::new(vec!["suture-no-such-command".into()], std::env::temp_dir()));
    assert_eq!(out.status(), "could not start: suture-no-such-command: command not found");
    let out = quiet(&Spec::new(vec!["true".into()], "/nonexistent/suture"));
    assert!(out.status().contains("/nonexistent/suture does not exist"), "{}", out.status());
    assert_eq!(quiet(&Spec::new(vec![], std::env::temp_dir())).status(), "could not start: the command is empty");
}

#[test]
fn the_network_is_unreachable_when_isolated_and_the_result_says_how() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2); print('connected')\"");
    let mut spec = sh(&script);
    let isolated = quiet(&spec);
    eprintln!("network: {:?}", isolated.network);
    match &isolated.network {
        Network::Isolated => {
            assert!(!isolated.succeeded(), "connected from an isolated run: {}", isolated.text(Stream::Stdout));
        }
        Network::Shared(why) => assert!(!why.is_empty()),
        Network::Allowed => panic!("isolation was asked for"),
    }
    spec.network = true;
    let open = quiet(&spec);
    assert_eq!(open.network, Network::Allowed);
    assert!(open.succeeded(), "{} {}", open.status(), open.text(Stream::Stderr));
}

#[test]
fn the_isolated_network_has_its_own_working_loopback() {
    // A test suite that starts a local server must still work.
    let script = "python3 -c \"import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\nc = socket.create_connection(s.getsockname(), timeout=2); print('loopback ok')\"";
    let out = quiet(&sh(script));
    assert!(out.succeeded(), "{} {}", out.status(), out.text(Stream::Stderr));
    assert!(out.text(Stream::Stdout).contains("loopback ok"));
}

#[test]
fn forking_stops_at_the_process_limit() {
    // Linear, not exponential: bounded at 200 processes even if no limit held.
    let script = "import os, time\nkids = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n    except OSError:\n        print('refused after', kids, flush=True)\n        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n    kids += 1\n";
    let mut spec = Spec::new(vec!["python3".into(), "-c".into(), script.into()], std::env::temp_dir());
    spec.limits.processes = 24;
    spec.limits.timeout = Duration::from_secs(20);
    let out = quiet(&spec);
    eprintln!("process limit: {}; {}", out.process_limit, out.text(Stream::Stdout).trim());
    let enforced = out.process_limit.starts_with("cgroup") || unsafe { libc::getuid() } != 0;
    if enforced {
        assert!(out.text(Stream::Stdout).contains("refused after"), "{} / {}", out.status(), out.text(Stream::Stderr));
    } else {
        // Root without a pids cgroup: only the timeout bounds it, and the result says so.
        assert_eq!(out.process_limit, "rlimit");
    }
    assert!(!out.timed_out, "the parent ends by itself once forks are refused");
}
