use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn defaults_load_with_nothing_else() {
    let l = load(&Sources::default()).unwrap();
    assert_eq!(l.config, Config::default());
    assert_eq!(l.origin("ui.theme"), Source::BuiltIn);
}

#[test]
fn layers_override_in_order_and_remember_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let user = write(dir.path(), "user.toml", "[ui]\ntheme = \"light\"\nframe_ms = 20\npoll_ms = 100\n");
    let project = write(dir.path(), "project.toml", "[ui]\nframe_ms = 30\n[keys]\nquit = [\"x\"]\n");
    let sources = Sources {
        user: Some(user.clone()),
        project: Some(project.clone()),
        project_required: true,
        env: vec![
            ("SUTURE_UI__POLL_MS".into(), "400".into()),
            ("SUTURE_UI__THEME".into(), "high-contrast".into()),
            ("HOME".into(), "/x".into()),
        ],
        flags: vec![FlagOverride { flag: "--read-only".into(), key: "ui.read_only".into(), value: Value::Boolean(true) }],
    };
    let l = load(&sources).unwrap();
    assert_eq!(l.config.ui.theme, "high-contrast");
    assert_eq!(l.config.ui.frame_ms, 30);
    assert_eq!(l.config.ui.poll_ms, 400);
    assert!(l.config.ui.read_only);
    assert_eq!(l.config.keys["quit"], ["x"]);
    assert_eq!(l.origin("ui.theme"), Source::Env("SUTURE_UI__THEME".into()));
    assert_eq!(l.origin("ui.frame_ms"), Source::Project(project));
    assert_eq!(l.origin("ui.read_only"), Source::Flag("--read-only".into()));
    assert_eq!(l.origin("ui.color"), Source::BuiltIn);
    let shown = l.show();
    assert!(shown.contains("theme = \"high-contrast\"  # environment SUTURE_UI__THEME"), "{shown}");
    assert!(shown.contains("frame_ms = 30  # project file"), "{shown}");
    assert!(shown.contains("[keys]\nquit = [\"x\"]"), "{shown}");
    let _ = user;
}

#[test]
fn a_misspelt_key_names_file_line_and_key() {
    let err = parse_layer("suture.toml", "# comment\n[ui]\ntheme = \"dark\"\ncolour = \"none\"\n").unwrap_err();
    let ConfigError::Invalid { file, line, key, message, .. } = &err else { panic!("{err}") };
    assert_eq!((file.as_str(), *line, key.as_str()), ("suture.toml", 4, "ui.colour"));
    assert!(message.contains("unknown field `colour`"), "{message}");
    assert!(err.to_string().starts_with("suture.toml:4:1: `ui.colour`:"), "{err}");
}

#[test]
fn an_unknown_table_and_a_wrong_type_are_named() {
    let err = parse_layer("a.toml", "[uii]\ntheme = \"x\"\n").unwrap_err();
    assert!(matches!(&err, ConfigError::Invalid { line: 1, key, .. } if key == "uii"), "{err}");
    let err = parse_layer("a.toml", "[ui]\n\nread_only = \"yes\"\n").unwrap_err();
    let ConfigError::Invalid { line, key, message, .. } = &err else { panic!("{err}") };
    assert_eq!((*line, key.as_str()), (3, "ui.read_only"));
    assert!(message.contains("bool"), "{message}");
    let err = parse_layer("a.toml", "[ui]\ncolor = \"sepia\"\n").unwrap_err();
    assert!(matches!(&err, ConfigError::Invalid { line: 2, key, .. } if key == "ui.color"), "{err}");
}

#[test]
fn a_syntax_error_names_the_line() {
    let err = parse_layer("a.toml", "[ui]\ntheme = \n").unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { line: 2, .. }), "{err}");
}

#[test]
fn environment_and_flag_errors_name_their_source() {
    let sources = Sources { env: vec![("SUTURE_UI__THEMES".into(), "x".into())], ..Default::default() };
    let err = load(&sources).unwrap_err();
    assert!(err.to_string().starts_with("environment SUTURE_UI__THEMES:"), "{err}");
    let sources = Sources { env: vec![("SUTURE_UI__FRAME_MS".into(), "fast".into())], ..Default::default() };
    assert!(matches!(load(&sources), Err(ConfigError::Env { .. })));
    let sources = Sources { env: vec![("SUTURE_LOG".into(), "debug".into()), ("SUTURE_CONFIG".into(), "x".into())], ..Default::default() };
    assert!(load(&sources).is_ok(), "the CLI's own variables are not keys");
}

#[test]
fn a_missing_explicit_config_is_an_error_but_a_missing_default_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let mut sources = Sources { project: Some(missing.clone()), ..Default::default() };
    assert!(load(&sources).is_ok());
    sources.project_required = true;
    assert!(matches!(load(&sources), Err(ConfigError::Read { .. })));
}
