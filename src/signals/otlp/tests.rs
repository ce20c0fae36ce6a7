use proptest::prelude::*;

use super::*;

fn r() -> Redactor {
    Redactor::new([9; 32])
}

fn from_request(json: &str) -> Vec<Outcome> {
    let mut out = Vec::new();
    parse_request(json, &r(), &mut |o| out.push(o));
    out
}

fn from_stream(json: &str) -> (Vec<Outcome>, Result<(), String>) {
    let mut out = Vec::new();
    let res = stream_reader(json.as_bytes(), &r(), &mut |o| out.push(o));
    (out, res)
}

/// Both entry points agree on a well-formed document.
fn both(json: &str) -> Vec<Outcome> {
    let a = from_request(json);
    let (b, res) = from_stream(json);
    assert_eq!(res, Ok(()));
    assert_eq!(a, b);
    a
}

fn event(o: &Outcome) -> &ErrorEvent {
    match o {
        Outcome::Event(ev) => ev,
        other => panic!("not an event: {other:?}"),
    }
}

fn rejection(o: &Outcome) -> &Rejection {
    match o {
        Outcome::Rejected(r) => r,
        other => panic!("not a rejection: {other:?}"),
    }
}

fn doc(records: &str) -> String {
    format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"shop"}}}}]}},
           "scopeLogs":[{{"scope":{{"name":"s"}},"logRecords":[{records}]}}]}}]}}"#
    )
}

const EXC: &str = r#"{"timeUnixNano":"1795133046716521284","severityNumber":17,"attributes":[
    {"key":"exception.type","value":{"stringValue":"ValueError"}},{"key":"exception.message","value":{"stringValue":"bad"}}]}"#;

#[test]
fn the_demo_file_parses_the_same_both_ways() {
    let path = format!("{}/fixtures/demo/events/otlp-logs.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let streamed = {
        let mut out = Vec::new();
        stream_reader(std::fs::File::open(&path).unwrap(), &r(), &mut |o| out.push(o)).unwrap();
        out
    };
    let whole = from_request(&text);
    assert_eq!(whole.len(), 600);
    assert_eq!(whole, streamed);
    let events: Vec<&ErrorEvent> = whole.iter().map(event).collect();
    let ids: std::collections::HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 600, "derived ids are distinct");
    let ev = events[0];
    assert_eq!(ev.id.len(), 32);
    assert_eq!(ev.timestamp, 1_795_133_046_716);
    assert_eq!((ev.service.as_deref(), ev.environment.as_deref()), (Some("shop"), Some("production")));
    assert_eq!(ev.release.as_deref(), Some("shop@a1f3c9e27b5d4f80a6c2e1b9d7f0c3a5e8b4d2f1"), "name@version, as Sentry names releases");
    assert_eq!((ev.tenant.as_deref(), ev.region.as_deref()), (Some("umbrella"), Some("us-east-1")));
    assert_eq!(ev.transaction.as_deref(), Some("/orders/quote"));
    assert_eq!(ev.user, Some(r().hash("user", "u-00599")));
    assert_eq!(ev.level, Level::Error);
    assert_eq!(ev.message, None, "the body repeats the exception");
    assert_eq!(ev.title(), "TypeError: 'NoneType' object is not subscriptable");
    let frames = &ev.primary_exception().unwrap().frames;
    assert_eq!(frames.len(), 7, "three server entry frames, then the service's four");
    let last = frames.last().unwrap();
    assert_eq!((last.function.as_deref(), last.lineno), (Some("apply_discount"), Some(32)));
    assert_eq!(last.context_line.as_deref(), Some("return amount - amount * discount[\"percent\"] // 100"));
    assert_eq!(ev.tag("trace_id"), Some("4d32b4657fddfd1a88ccb897e603b1e8"));
    // Re-reading gives the same ids, so a second ingest finds duplicates.
    assert_eq!(event(&from_request(&text)[0]).id, ev.id);
}

#[test]
fn scope_logs_before_resource_are_held_until_the_resource_arrives() {
    let json = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{EXC},{EXC}]}}],
            "resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"late"}}}},
                                      {{"key":"deployment.environment.name","value":{{"stringValue":"staging"}}}},
                                      {{"key":"host.name","value":{{"stringValue":"web-1"}}}},
                                      {{"key":"telemetry.sdk.name","value":{{"stringValue":"opentelemetry"}}}}]}}}},
           {{"scopeLogs":[{{"logRecords":[{EXC}]}}]}}]}}"#
    );
    let out = both(&json);
    assert_eq!(out.len(), 3);
    for o in &out[..2] {
        let ev = event(o);
        assert_eq!((ev.service.as_deref(), ev.environment.as_deref(), ev.tag("host.name")), (Some("late"), Some("staging"), Some("web-1")));
        assert_eq!(ev.tag("telemetry.sdk.name"), None);
    }
    assert_eq!(event(&out[2]).service, None, "a resource without attributes");
}

#[test]
fn bad_records_are_rejected_by_location_and_the_rest_go_on() {
    let json = format!(
        r#"{{"resourceLogs":[{{"resource":{{}},"scopeLogs":[{{"logRecords":[]}},{{"logRecords":[
            {EXC},
            {{"severityNumber":17,"body":{{"stringValue":"no time"}}}},
            {{"timeUnixNano":"soon","severityNumber":17,"body":{{"stringValue":"m"}}}},
            {{"timeUnixNano":"1","severityNumber":"loud","body":{{"stringValue":"m"}}}},
            {{"timeUnixNano":"1","severityNumber":99,"body":{{"stringValue":"m"}}}},
            {{"timeUnixNano":"1","attributes":{{"key":"exception.type"}}}},
            {{"timeUnixNano":"1","attributes":[{{"key":"exception.type","value":{{"stringValue":5}}}}]}},
            "not a record",
            {EXC}]}}]}},
           {{"resource":{{"attributes":"nope"}},"scopeLogs":[{{"logRecords":[{EXC}]}}]}}]}}"#
    );
    let out = both(&json);
    assert_eq!(out.len(), 10);
    event(&out[0]);
    event(&out[8]);
    let reasons: Vec<(String, String)> = out[1..8].iter().map(rejection).map(|r| (r.location.clone(), r.reason.clone())).collect();
    assert_eq!(reasons[0].0, "resourceLogs[0].scopeLogs[1].logRecords[1]");
    assert!(reasons[0].1.contains("missing timeUnixNano"), "{reasons:?}");
    assert!(reasons[1].1.contains("not a number of nanoseconds"), "{reasons:?}");
    assert!(reasons[2].1.contains("not a severity"), "{reasons:?}");
    assert!(reasons[3].1.contains("out of range"), "{reasons:?}");
    assert_eq!(reasons[6].0, "resourceLogs[0].scopeLogs[1].logRecords[7]");
    let bad_resource = rejection(&out[9]);
    assert_eq!(bad_resource.location, "resourceLogs[1].scopeLogs[0].logRecords[0]");
    assert!(bad_resource.reason.starts_with("resource: "), "{bad_resource:?}");
}

#[test]
fn info_logs_are_skipped_and_error_logs_with_a_body_are_message_events() {
    let out = both(&doc(r#"{"timeUnixNano":"1000000","severityNumber":9,"body":{"stringValue":"started"}},
           {"timeUnixNano":"2000000","severityNumber":17,"body":{"stringValue":""}},
           {"observedTimeUnixNano":3000000,"severityText":"ERROR","body":{"stringValue":"db down for ann@example.com"}},
           {"timeUnixNano":"0","observedTimeUnixNano":"4000000","severityNumber":"SEVERITY_NUMBER_FATAL","body":{"kvlistValue":{"values":[{"key":"a","value":{"intValue":"1"}}]}}},
           {"timeUnixNano":5000000,"severityNumber":13,"attributes":[{"key":"exception.message","value":{"stringValue":"slow"}}]}"#));
    assert_eq!((&out[0], &out[1]), (&Outcome::Skipped, &Outcome::Skipped));
    let ev = event(&out[2]);
    assert_eq!((ev.timestamp, ev.level), (3, Level::Error));
    assert!(ev.exceptions.is_empty());
    let msg = ev.message.as_deref().unwrap();
    assert!(msg.starts_with("db down for [email:") && !msg.contains("ann@"), "{msg}");
    let ev = event(&out[3]);
    assert_eq!((ev.timestamp, ev.level, ev.message.as_deref()), (4, Level::Fatal, Some(r#"{"a":"1"}"#)));
    let ev = event(&out[4]);
    assert_eq!((ev.level, ev.title()), (Level::Warning, "Error: slow".to_string()));
}

#[test]
fn attribute_values_of_every_kind_become_tags_and_known_keys_map_to_fields() {
    let out = both(&doc(r#"{"timeUnixNano":"1","traceId":"0AF7651916CD43DD8448EB211C80319C","spanId":"","attributes":[
            {"key":"exception.type","value":{"stringValue":"java.lang.IllegalStateException"}},
            {"key":"exception.escaped","value":{"boolValue":true}},
            {"key":"event.id","value":{"stringValue":"evt-1"}},
            {"key":"user.id","value":{"stringValue":"u-1"}},
            {"key":"tenant.id","value":{"stringValue":"acme"}},
            {"key":"cloud.region","value":{"stringValue":"eu-west-1"}},
            {"key":"http.route","value":{"stringValue":"/orders/{id}"}},
            {"key":"feature_flag.key","value":{"stringValue":"new-cart"}},
            {"key":"feature_flag.result.variant","value":{"stringValue":"on"}},
            {"key":"s","value":{"stringValue":"x"}},
            {"key":"i1","value":{"intValue":"42"}},
            {"key":"i2","value":{"intValue":-7}},
            {"key":"b","value":{"boolValue":false}},
            {"key":"d","value":{"doubleValue":1.5}},
            {"key":"nan","value":{"doubleValue":"NaN"}},
            {"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"a"},{"boolValue":true}]}}},
            {"key":"kv","value":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}},
            {"key":"bytes","value":{"bytesValue":"aGk="}},
            {"key":"empty","value":{}},
            {"key":"none"},
            {"key":"secret","value":{"stringValue":"Bearer abcdefghijklmnop"}}]}"#));
    let ev = event(&out[0]);
    assert_eq!(ev.id, "evt-1");
    let e = ev.primary_exception().unwrap();
    assert_eq!((e.kind.as_str(), e.module.as_deref(), e.handled), ("IllegalStateException", Some("java.lang"), Some(false)));
    assert_eq!(ev.user, Some(r().hash("user", "u-1")));
    assert_eq!(
        (ev.tenant.as_deref(), ev.region.as_deref(), ev.transaction.as_deref()),
        (Some("acme"), Some("eu-west-1"), Some("/orders/{id}"))
    );
    assert_eq!(ev.flags, [("new-cart".to_string(), "on".to_string())]);
    let tags: Vec<(&str, &str)> = ev.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        &tags[..9],
        [
            ("arr", r#"["a",true]"#),
            ("b", "false"),
            ("bytes", "aGk="),
            ("d", "1.5"),
            ("i1", "42"),
            ("i2", "-7"),
            ("kv", r#"{"k":"v"}"#),
            ("nan", "NaN"),
            ("s", "x"),
        ]
    );
    assert!(ev.tag("secret").unwrap().starts_with("Bearer [token:"));
    assert_eq!(ev.tag("trace_id"), Some("0af7651916cd43dd8448eb211c80319c"));
    assert_eq!((ev.tag("span_id"), ev.tag("empty"), ev.tag("none")), (None, None, None));
}

#[test]
fn a_stack_trace_attribute_becomes_frames_and_a_chain() {
    let stack = std::fs::read_to_string(format!("{}/fixtures/stacks/java_caused_by.txt", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let record = serde_json::json!({"timeUnixNano": "1", "attributes": [
        {"key": "exception.stacktrace", "value": {"stringValue": stack}},
        {"key": "exception.message", "value": {"stringValue": "mail ann@example.com"}}]});
    let out = both(&doc(&record.to_string()));
    let ev = event(&out[0]);
    assert_eq!(ev.exceptions.len(), 4);
    assert_eq!(ev.exceptions[0].kind, "NullPointerException");
    let top = ev.primary_exception().unwrap();
    assert_eq!(top.kind, "InvocationTargetException");
    assert!(top.value.starts_with("mail [email:"), "{}", top.value);
}

#[test]
fn broken_documents() {
    for json in ["", "nope", "[]", r#"{"resourceLogs":{}}"#, r#"{"resourceLogs":[{"scopeLogs":{}}]}"#, r#"{"resourceLogs":[]} x"#] {
        let out = from_request(json);
        assert_eq!(out.len(), 1, "{json:?}");
        assert_eq!(rejection(&out[0]).location, "request");
        assert!(from_stream(json).1.is_err(), "{json:?}");
    }
    // Truncated: the request is one rejection; the stream keeps what it read.
    let full = doc(&[EXC, EXC, EXC].join(","));
    let cut = &full[..full.rfind(EXC).unwrap() + 20];
    assert_eq!(from_request(cut).len(), 1);
    let (out, res) = from_stream(cut);
    assert_eq!(out.len(), 2);
    assert!(res.unwrap_err().contains("EOF"));
    // Empty and unknown parts are fine.
    assert!(both(r#"{"resourceLogs":[],"other":{"x":[1,2,{}]}}"#).is_empty());
    assert!(both("{}").is_empty());
}

#[test]
fn snake_case_field_names_are_accepted() {
    let json = r#"{"resource_logs":[{"resource":{"attributes":[{"key":"service.name","value":{"string_value":"s"}}]},
        "scope_logs":[{"log_records":[{"time_unix_nano":"5000000","severity_number":17,"body":{"string_value":"m"}}]}]}]}"#;
    let ev = both(json).into_iter().next().unwrap();
    assert_eq!((event(&ev).service.as_deref(), event(&ev).timestamp), (Some("s"), 5));
}

#[test]
fn deep_nesting_is_rejected_without_overflowing_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(from_request(&deep).len(), 1);
    assert!(from_stream(&deep).1.is_err());
    let deep_obj = format!("{}{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    assert_eq!(from_request(&deep_obj).len(), 1);
    // Inside an ignored field of the request: skipped without recursion.
    let ignored = format!(r#"{{"x":{}{},"resourceLogs":[]}}"#, "[".repeat(100_000), "]".repeat(100_000));
    let _ = from_request(&ignored);
    let _ = from_stream(&ignored);
    // Inside a record: that record is rejected, the others are kept.
    let nested_value = format!(
        r#"{{"timeUnixNano":"1","attributes":[{{"key":"x","value":{}{}}}]}}"#,
        r#"{"arrayValue":{"values":["#.repeat(50_000),
        "]}}".repeat(50_000)
    );
    let out = both(&doc(&format!("{nested_value},{EXC}")));
    assert!(rejection(&out[0]).reason.contains("recursion limit"), "{:?}", out[0]);
    event(&out[1]);
}

#[test]
fn nul_bytes_and_escape_sequences_are_data() {
    let out = both(&doc(r#"{"timeUnixNano":"1","severityNumber":17,"body":{"stringValue":"a\u0000b \u001b[2J\u001b]0;pwned\u0007"},
            "attributes":[{"key":"k\u0000","value":{"stringValue":"\u0000"}}]}"#));
    let ev = event(&out[0]);
    assert_eq!(ev.message.as_deref(), Some("a\0b \u{1b}[2J\u{1b}]0;pwned\u{7}"));
    assert_eq!(ev.tag("k\0"), Some("\0"));
    let shown = crate::tui::widgets::text::inert(&ev.title()).into_owned();
    assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
    // A raw NUL byte outside a string is not JSON.
    assert_eq!(from_request("{\"resourceLogs\":[]\u{0}}").len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = from_request(&String::from_utf8_lossy(&bytes));
        let mut n = 0;
        let _ = stream_reader(bytes.as_slice(), &r(), &mut |_| n += 1);
    }

    /// Valid documents with arbitrary strings and numbers agree between the
    /// two entry points and never panic.
    #[test]
    fn arbitrary_field_values(
        kind in any::<String>(),
        message in any::<String>(),
        stack in any::<String>(),
        key in any::<String>(),
        value in any::<String>(),
        time in any::<u64>(),
        severity in any::<i64>(),
        as_number in any::<bool>(),
    ) {
        let time = if as_number { serde_json::json!(time) } else { serde_json::json!(time.to_string()) };
        let record = serde_json::json!({"timeUnixNano": time, "severityNumber": severity, "body": {"stringValue": message},
            "attributes": [{"key": "exception.type", "value": {"stringValue": kind}},
                           {"key": "exception.stacktrace", "value": {"stringValue": stack}},
                           {"key": key, "value": {"stringValue": value}}]});
        let out = both(&doc(&record.to_string()));
        prop_assert_eq!(out.len(), 1);
    }
}
