//! The Unleash admin API as a flag backend.
//!
//! Unleash turns a flag on or off per environment; who gets it once it is
//! on is up to the flag's strategies, which Suture leaves alone. So this
//! backend reads and sets one environment's `enabled` (`POST
//! …/features/{key}/environments/{env}/on` or `/off`), reads it back to make
//! sure it took, and watches it by polling. Giving a segment its own setting
//! belongs to a strategy constraint in Unleash, and a set with a segment
//! says so.
//!
//! What a real unleash-server (7.5.1) does, and this client relies on:
//! - `Authorization: <token>` (a `Bearer ` prefix is accepted too); a wrong
//!   token is 401 `UnauthorizedError`, a missing one 401
//!   `AuthenticationRequired`.
//! - Creating a flag (`POST …/projects/{project}/features`) needs
//!   `Content-Type: application/json` (else 415), answers 201, and 409
//!   `NameExistsError` when the name is taken, which counts as done here.
//! - `GET …/features/{key}` lists `environments` with `name` and
//!   `enabled`; 404 when there is no such flag.
//! - `/on` and `/off` answer 200 with an empty body, can be repeated, and
//!   need no strategy (Unleash adds a default one); an unknown environment
//!   is 404 `NotFoundError`.
//!
//! The token goes out as a header marked sensitive, is never in `Debug`,
//! and is redacted from anything the server says back.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::Value;

use super::{
    BoxFut, Capabilities, Change, Flag, FlagBackend, FlagError, Probe, Probed, Segment, Setting, inert, path_segment, poll_changes,
    read_body, server_message, status_error, transport_error,
};

/// What a flag Suture creates says about itself in Unleash.
const DESCRIPTION: &str = "Created by Suture.";

/// A client for one project and environment of an Unleash server's admin
/// API. Cloning shares the connection pool.
#[derive(Clone)]
pub struct UnleashAdmin {
    inner: Arc<Inner>,
}

struct Inner {
    /// Checked, without a trailing slash.
    base: String,
    project: String,
    environment: String,
    /// The token as it may appear in a server's reply, for redaction.
    secret: String,
    /// The `Authorization` header, marked sensitive.
    authorization: HeaderValue,
    client: reqwest::Client,
}

/// A reply, read whole.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl fmt::Debug for UnleashAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnleashAdmin")
            .field("base", &self.inner.base)
            .field("project", &self.inner.project)
            .field("environment", &self.inner.environment)
            .finish_non_exhaustive()
    }
}

impl UnleashAdmin {
    /// A client for `project` and `environment` of the Unleash server at
    /// `base_url` (http or https, no credentials in it), authenticating with
    /// an admin (or project-scoped) API `token`, using `client` for the
    /// requests.
    pub fn new(
        base_url: &str,
        token: String,
        project: &str,
        environment: &str,
        client: reqwest::Client,
    ) -> Result<UnleashAdmin, FlagError> {
        let base = super::base_url(base_url, "Unleash")?;
        let invalid = |place: &str, message: &str| FlagError::Invalid {
            place: format!("Unleash {place}"),
            line: None,
            column: None,
            message: message.to_owned(),
        };
        let token = token.trim();
        let secret = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        if secret.is_empty() {
            return Err(invalid("token", "is empty"));
        }
        let mut authorization = HeaderValue::from_str(token).map_err(|_| invalid("token", "has characters an HTTP header cannot carry"))?;
        authorization.set_sensitive(true);
        let (project, environment) = (project.trim(), environment.trim());
        if project.is_empty() {
            return Err(invalid("project", "is empty; the default project is called default"));
        }
        if environment.is_empty() {
            return Err(invalid("environment", "is empty, e.g. production"));
        }
        let inner = Inner {
            base,
            project: project.to_owned(),
            environment: environment.to_owned(),
            secret: secret.to_owned(),
            authorization,
            client,
        };
        Ok(UnleashAdmin { inner: Arc::new(inner) })
    }

    /// Checks that the server is up (`GET /health` says `GOOD`).
    pub async fn health(&self) -> Result<(), FlagError> {
        self.inner.health().await
    }

    /// Creates the flag `key` in the project with the Unleash flag type
    /// `kind` (`kill-switch`, `release`, `operational`, …); a flag that is
    /// already there counts as created. A new flag is off in every
    /// environment.
    pub async fn create_feature(&self, key: &str, kind: &str) -> Result<(), FlagError> {
        self.inner.create_feature(key, kind).await
    }

    /// The flag's environments and whether it is on in each, in Unleash's
    /// order.
    pub async fn environments(&self, key: &str) -> Result<Vec<(String, bool)>, FlagError> {
        self.inner.environments(key).await
    }
}

impl Inner {
    fn name(&self) -> String {
        format!("unleash {} project {} env {}", self.base, self.project, self.environment)
    }

    fn project_place(&self) -> String {
        format!("Unleash {} project {}", self.base, self.project)
    }

    fn environment_place(&self) -> String {
        format!("Unleash {} project {} environment {}", self.base, self.project, self.environment)
    }

    fn features_url(&self) -> String {
        format!("{}/api/admin/projects/{}/features", self.base, path_segment(&self.project))
    }

    fn feature_url(&self, key: &str) -> String {
        format!("{}/{}", self.features_url(), path_segment(key))
    }

    fn toggle_url(&self, key: &str, on: bool) -> String {
        format!("{}/environments/{}/{}", self.feature_url(key), path_segment(&self.environment), on_off(on))
    }

    /// Sends the request with the token and reads the reply.
    async fn send(&self, request: reqwest::RequestBuilder, url: &str) -> Result<Reply, FlagError> {
        let request = request.header(AUTHORIZATION, self.authorization.clone()).header(ACCEPT, "application/json");
        let mut response = request.send().await.map_err(|e| transport_error(url, &e, &self.secret))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_body(&mut response, url, &self.secret).await?;
        Ok(Reply { status, headers, body })
    }

    /// 401/403 are [`FlagError::Unauthorized`], 429
    /// [`FlagError::RateLimited`], anything else [`FlagError::Http`] with
    /// the server's message.
    fn failure(&self, url: &str, reply: &Reply) -> FlagError {
        status_error(url, reply.status, &reply.headers, &reply.body, &self.secret)
    }

    /// A 200 reply's JSON.
    fn json(&self, url: &str, reply: &Reply) -> Result<Value, FlagError> {
        serde_json::from_slice(&reply.body).map_err(|e| FlagError::Http {
            url: url.to_owned(),
            status: Some(reply.status),
            message: format!("the reply is not JSON ({e}): {}", server_message(&reply.body, &self.secret)),
        })
    }

    async fn health(&self) -> Result<(), FlagError> {
        let url = format!("{}/health", self.base);
        let reply = self.send(self.client.get(&url), &url).await?;
        if reply.status != 200 {
            return Err(self.failure(&url, &reply));
        }
        let json = self.json(&url, &reply)?;
        match json.get("health").and_then(Value::as_str) {
            Some("GOOD") => Ok(()),
            Some(other) => Err(FlagError::Http { url, status: Some(200), message: format!("the server's health is {}", inert(other)) }),
            None => Err(FlagError::Http { url, status: Some(200), message: "the reply does not say the server's health".to_owned() }),
        }
    }

    async fn create_feature(&self, key: &str, kind: &str) -> Result<(), FlagError> {
        let url = self.features_url();
        let body = serde_json::json!({ "name": key, "type": kind, "description": DESCRIPTION });
        let reply = self.send(self.client.post(&url).json(&body), &url).await?;
        match reply.status {
            200..=299 => Ok(()),
            // NameExistsError: the flag is there already.
            409 => Ok(()),
            404 => Err(FlagError::NotFound {
                key: key.to_owned(),
                place: format!("{} (Unleash said: {})", self.project_place(), server_message(&reply.body, &self.secret)),
            }),
            400 => Err(FlagError::Invalid { place: url, line: None, column: None, message: server_message(&reply.body, &self.secret) }),
            _ => Err(self.failure(&url, &reply)),
        }
    }

    async fn environments(&self, key: &str) -> Result<Vec<(String, bool)>, FlagError> {
        let url = self.feature_url(key);
        let reply = self.send(self.client.get(&url), &url).await?;
        match reply.status {
            200 => {}
            404 => return Err(FlagError::NotFound { key: key.to_owned(), place: self.project_place() }),
            _ => return Err(self.failure(&url, &reply)),
        }
        let json = self.json(&url, &reply)?;
        let malformed = |what: &str| FlagError::Http { url: url.clone(), status: Some(200), message: format!("the flag's reply {what}") };
        let Some(list) = json.get("environments").and_then(Value::as_array) else {
            return Err(malformed("has no \"environments\" list"));
        };
        list.iter()
            .map(|environment| {
                let name = environment.get("name").and_then(Value::as_str)?;
                let enabled = environment.get("enabled").and_then(Value::as_bool)?;
                Some((name.to_owned(), enabled))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| malformed("has an environment without a name or without enabled true/false"))
    }

    /// The flag in the chosen environment.
    async fn read(&self, key: &str) -> Result<Flag, FlagError> {
        let environments = self.environments(key).await?;
        let Some(&(_, enabled)) = environments.iter().find(|(name, _)| *name == self.environment) else {
            let names: Vec<&str> = environments.iter().map(|(name, _)| name.as_str()).collect();
            let place = format!("{} (the flag is in {})", self.environment_place(), names.join(", "));
            return Err(FlagError::NotFound { key: key.to_owned(), place });
        };
        Ok(Flag { key: key.to_owned(), enabled, value: Value::Bool(enabled), variant: None, segments: Vec::new(), etag: None })
    }

    /// Turns the flag on or off in the chosen environment; the status of
    /// Unleash's (empty) answer.
    async fn toggle(&self, key: &str, on: bool) -> Result<u16, FlagError> {
        let url = self.toggle_url(key, on);
        // The body is empty for Unleash; JSON keeps any content-type check happy.
        let reply = self.send(self.client.post(&url).json(&serde_json::json!({})), &url).await?;
        match reply.status {
            status @ 200..=299 => Ok(status),
            404 => Err(FlagError::NotFound {
                key: key.to_owned(),
                place: format!("{} (Unleash said: {})", self.environment_place(), server_message(&reply.body, &self.secret)),
            }),
            _ => Err(self.failure(&url, &reply)),
        }
    }

    async fn set(&self, key: &str, setting: &Setting, segment: Option<&Segment>) -> Result<Change, FlagError> {
        if let Some(segment) = segment {
            let message = format!(
                "Unleash cannot give the segment {segment} its own setting from here; add a strategy constraint \
                 ({} IN {}) to the flag's strategy in the {} environment in Unleash",
                segment.attribute,
                segment.values.join(", "),
                self.environment
            );
            return Err(FlagError::Unsupported { backend: self.name(), message });
        }
        let on = match setting {
            Setting::Enabled(on) => *on,
            Setting::Variant(_) | Setting::Value(_) => {
                let message = "Unleash toggles a flag per environment; use enabled or disabled".to_owned();
                return Err(FlagError::Unsupported { backend: self.name(), message });
            }
        };
        let before = self.read(key).await?;
        let status = self.toggle(key, on).await?;
        let after = self.read(key).await?;
        if after.enabled != on {
            return Err(FlagError::Http {
                url: self.toggle_url(key, on),
                status: Some(status),
                message: format!(
                    "Unleash says {key} is {} in {} after it was turned {}",
                    on_off(after.enabled),
                    self.environment,
                    on_off(on)
                ),
            });
        }
        let detail = format!("environment {}: {} → {}", self.environment, on_off(before.enabled), on_off(on));
        Ok(Change { key: key.to_owned(), before: Some(before), after, backend: self.name(), detail })
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

impl FlagBackend for UnleashAdmin {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { read: true, set: true, watch: true, segments: false }
    }

    fn read<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Flag, FlagError>> {
        Box::pin(self.inner.read(key))
    }

    fn set<'a>(&'a self, key: &'a str, setting: &'a Setting, segment: Option<&'a Segment>) -> BoxFut<'a, Result<Change, FlagError>> {
        Box::pin(self.inner.set(key, setting, segment))
    }

    fn watch(&self, key: String, every: Duration) -> BoxStream<'static, Result<Flag, FlagError>> {
        let inner = Arc::clone(&self.inner);
        let probe: Probe = Box::new(move || -> BoxFut<'static, Probed> {
            let inner = Arc::clone(&inner);
            let key = key.clone();
            Box::pin(async move { Some(inner.read(&key).await) })
        });
        poll_changes(every, probe)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use futures::StreamExt;
    use serde_json::json;

    use super::*;

    const TOKEN: &str = "*:*.suture-test-admin-token";

    /// A loopback Unleash admin API: flag → environment → enabled. A flag
    /// called `stuck` ignores toggles.
    #[derive(Default)]
    struct Mock {
        features: Mutex<BTreeMap<String, BTreeMap<String, bool>>>,
    }

    fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
        headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
    }

    /// Unleash's 401 replies, for a missing or a wrong token.
    fn refused(headers: &HeaderMap) -> Option<Response> {
        let Some(given) = header_text(headers, "authorization") else {
            let reply = json!({ "name": "AuthenticationRequired", "message": "You must log in to use Unleash. Your request had no authorization header." });
            return Some((StatusCode::UNAUTHORIZED, Json(reply)).into_response());
        };
        if given == TOKEN || given.strip_prefix("Bearer ") == Some(TOKEN) {
            return None;
        }
        let reply = json!({
            "id": "5f8b7c1e-0000-4000-8000-000000000000",
            "name": "UnauthorizedError",
            "message": "You must log in to use Unleash.",
            "details": [{ "message": "You must log in to use Unleash." }],
        });
        Some((StatusCode::UNAUTHORIZED, Json(reply)).into_response())
    }

    fn not_found(message: String) -> Response {
        let reply = json!({ "id": "x", "name": "NotFoundError", "message": message, "details": [{ "message": message }] });
        (StatusCode::NOT_FOUND, Json(reply)).into_response()
    }

    async fn health() -> Json<Value> {
        Json(json!({ "health": "GOOD" }))
    }

    async fn create(State(mock): State<Arc<Mock>>, Path(project): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
        if let Some(refusal) = refused(&headers) {
            return refusal;
        }
        if project != "default" {
            return not_found(format!("Could not find project with id {project}"));
        }
        if !header_text(&headers, "content-type").is_some_and(|kind| kind.starts_with("application/json")) {
            return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
        }
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let Some(name) = request["name"].as_str() else {
            return (StatusCode::BAD_REQUEST, Json(json!({ "name": "BadDataError", "message": "\"name\" is required" }))).into_response();
        };
        let mut features = mock.features.lock().unwrap();
        if features.contains_key(name) {
            let reply = json!({ "name": "NameExistsError", "message": format!("There already exists a feature flag named {name}") });
            return (StatusCode::CONFLICT, Json(reply)).into_response();
        }
        features.insert(name.to_owned(), BTreeMap::from([("development".to_owned(), false), ("production".to_owned(), false)]));
        (StatusCode::CREATED, Json(json!({ "name": name, "type": request["type"], "project": project }))).into_response()
    }

    async fn feature(State(mock): State<Arc<Mock>>, Path((project, key)): Path<(String, String)>, headers: HeaderMap) -> Response {
        if let Some(refusal) = refused(&headers) {
            return refusal;
        }
        let features = mock.features.lock().unwrap();
        let Some(environments) = features.get(&key).filter(|_| project == "default") else {
            return not_found(format!("Could not find feature flag with name {key}"));
        };
        let environments: Vec<Value> = environments
            .iter()
            .enumerate()
            .map(|(order, (name, enabled))| json!({ "name": name, "enabled": enabled, "type": name, "sortOrder": order, "strategies": [] }))
            .collect();
        Json(json!({ "name": key, "project": project, "environments": environments })).into_response()
    }

    async fn toggle(
        State(mock): State<Arc<Mock>>,
        Path((project, key, environment, action)): Path<(String, String, String, String)>,
        headers: HeaderMap,
    ) -> Response {
        if let Some(refusal) = refused(&headers) {
            return refusal;
        }
        let mut features = mock.features.lock().unwrap();
        let Some(environments) = features.get_mut(&key).filter(|_| project == "default") else {
            return not_found(format!("Could not find feature flag with name {key}"));
        };
        let Some(enabled) = environments.get_mut(&environment) else {
            return not_found(format!("Could not find environment {environment}"));
        };
        match action.as_str() {
            "on" | "off" if key == "stuck" => {}
            "on" => *enabled = true,
            "off" => *enabled = false,
            _ => return StatusCode::NOT_FOUND.into_response(),
        }
        StatusCode::OK.into_response()
    }

    async fn serve() -> String {
        let app = Router::new()
            .route("/health", get(health))
            .route("/api/admin/projects/{project}/features", post(create))
            .route("/api/admin/projects/{project}/features/{key}", get(feature))
            .route("/api/admin/projects/{project}/features/{key}/environments/{environment}/{action}", post(toggle))
            .with_state(Arc::new(Mock::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn admin(base: &str, token: &str, project: &str, environment: &str) -> UnleashAdmin {
        UnleashAdmin::new(base, token.to_owned(), project, environment, reqwest::Client::new()).unwrap()
    }

    #[tokio::test]
    async fn creates_a_flag_once_and_lists_its_environments() {
        let base = serve().await;
        let unleash = admin(&base, TOKEN, "default", "production");
        unleash.health().await.unwrap();
        unleash.create_feature("suture.kill.checkout", "kill-switch").await.unwrap();
        unleash.create_feature("suture.kill.checkout", "kill-switch").await.unwrap();
        let environments = unleash.environments("suture.kill.checkout").await.unwrap();
        assert_eq!(environments, [("development".to_owned(), false), ("production".to_owned(), false)]);
        let error = unleash.environments("nope").await.unwrap_err();
        assert!(matches!(error, FlagError::NotFound { .. }), "{error:?}");
        assert!(error.to_string().contains("project default"), "{error}");
    }

    #[tokio::test]
    async fn set_turns_one_environment_on_and_off() {
        let base = serve().await;
        let unleash = admin(&base, &format!("Bearer {TOKEN}"), "default", "production");
        assert_eq!(unleash.name(), format!("unleash {base} project default env production"));
        unleash.create_feature("suture.kill.checkout", "kill-switch").await.unwrap();

        let change = unleash.set("suture.kill.checkout", &Setting::Enabled(true), None).await.unwrap();
        assert_eq!(change.detail, "environment production: off → on");
        assert!(!change.before.unwrap().enabled);
        assert_eq!((change.after.enabled, change.after.value), (true, json!(true)));
        let environments = unleash.environments("suture.kill.checkout").await.unwrap();
        assert_eq!(environments, [("development".to_owned(), false), ("production".to_owned(), true)]);

        let mut watch = unleash.watch("suture.kill.checkout".to_owned(), Duration::from_millis(20));
        assert!(watch.next().await.unwrap().unwrap().enabled);

        let change = unleash.set("suture.kill.checkout", &Setting::Enabled(false), None).await.unwrap();
        assert_eq!(change.detail, "environment production: on → off");
        assert!(!unleash.read("suture.kill.checkout").await.unwrap().enabled);
        assert!(!watch.next().await.unwrap().unwrap().enabled);
    }

    #[tokio::test]
    async fn variants_values_and_segments_are_unsupported() {
        let base = serve().await;
        let unleash = admin(&base, TOKEN, "default", "production");
        assert!(!unleash.capabilities().segments);
        for setting in [Setting::Variant("on".to_owned()), Setting::Value(json!(true))] {
            let error = unleash.set("x", &setting, None).await.unwrap_err();
            assert!(matches!(error, FlagError::Unsupported { .. }), "{error:?}");
            assert!(error.to_string().contains("Unleash toggles a flag per environment; use enabled or disabled"), "{error}");
        }
        let segment: Segment = "tenant=acme".parse().unwrap();
        let error = unleash.set("x", &Setting::Enabled(true), Some(&segment)).await.unwrap_err();
        assert!(matches!(error, FlagError::Unsupported { .. }), "{error:?}");
        assert!(error.to_string().contains("strategy constraint (tenant IN acme)"), "{error}");
    }

    #[tokio::test]
    async fn a_wrong_token_is_unauthorized_and_never_shown() {
        let base = serve().await;
        let secret = "*:*.wrong-secret-token";
        let unleash = admin(&base, secret, "default", "production");
        let error = unleash.environments("x").await.unwrap_err();
        assert!(matches!(error, FlagError::Unauthorized { status: 401, .. }), "{error:?}");
        let shown = error.to_string();
        assert!(shown.contains("You must log in to use Unleash.") && !shown.contains("wrong-secret"), "{shown}");
        assert!(!format!("{unleash:?}").contains("wrong-secret"));
        let error = unleash.create_feature("x", "release").await.unwrap_err();
        assert!(matches!(error, FlagError::Unauthorized { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn unknown_environments_flags_and_projects_are_named() {
        let base = serve().await;
        admin(&base, TOKEN, "default", "production").create_feature("k", "release").await.unwrap();

        let staging = admin(&base, TOKEN, "default", "staging");
        let error = staging.read("k").await.unwrap_err();
        assert!(matches!(error, FlagError::NotFound { .. }), "{error:?}");
        let shown = error.to_string();
        assert!(shown.contains("environment staging") && shown.contains("development, production"), "{shown}");
        let error = staging.inner.toggle("k", true).await.unwrap_err();
        assert!(error.to_string().contains("Could not find environment staging"), "{error}");
        let error = staging.set("k", &Setting::Enabled(true), None).await.unwrap_err();
        assert!(matches!(error, FlagError::NotFound { .. }), "{error:?}");

        let elsewhere = admin(&base, TOKEN, "shop", "production");
        let error = elsewhere.create_feature("k", "release").await.unwrap_err();
        assert!(error.to_string().contains("project shop") && error.to_string().contains("Could not find project"), "{error}");
    }

    #[tokio::test]
    async fn creates_are_sent_as_json_which_unleash_insists_on() {
        let base = serve().await;
        let url = format!("{base}/api/admin/projects/default/features");
        let bare = reqwest::Client::new().post(url).header("authorization", TOKEN).body(r#"{"name":"raw"}"#).send().await.unwrap();
        assert_eq!(bare.status().as_u16(), 415);
        let unleash = admin(&base, TOKEN, "default", "production");
        unleash.create_feature("raw", "release").await.unwrap();
        assert_eq!(unleash.environments("raw").await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_toggle_that_does_not_take_is_an_error() {
        let base = serve().await;
        let unleash = admin(&base, TOKEN, "default", "production");
        unleash.create_feature("stuck", "release").await.unwrap();
        let error = unleash.set("stuck", &Setting::Enabled(true), None).await.unwrap_err();
        assert!(matches!(error, FlagError::Http { status: Some(200), .. }), "{error:?}");
        assert!(error.to_string().contains("Unleash says stuck is off in production after it was turned on"), "{error}");
    }

    #[test]
    fn odd_setups_are_refused_without_showing_the_token() {
        let client = reqwest::Client::new;
        assert!(UnleashAdmin::new("http://u:4242", " ".to_owned(), "default", "production", client()).is_err());
        assert!(UnleashAdmin::new("ftp://u:4242", TOKEN.to_owned(), "default", "production", client()).is_err());
        assert!(UnleashAdmin::new("http://u:4242", TOKEN.to_owned(), "", "production", client()).is_err());
        assert!(UnleashAdmin::new("http://u:4242", TOKEN.to_owned(), "default", " ", client()).is_err());
        let error = UnleashAdmin::new("http://u:4242", "sec\nret".to_owned(), "default", "production", client()).unwrap_err();
        assert!(!error.to_string().contains("sec"), "{error}");
    }
}
