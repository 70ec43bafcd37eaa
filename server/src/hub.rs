//! Many licenses per node, and which node serves which (issue 24).
//!
//! A node ([`Node`]) serves any number of licenses, each its own engine with its own lock,
//! timer task and (with storage) writer thread, so that licenses never wait for each other.
//! The routes look up the license a request is for:
//!
//! * the `license_id` query parameter, which every v0.5 customer URL carries (and the server's
//!   own agent URLs too, e.g. `ws://ADDR/agent/v0.5/rtm/ws?license_id=1`);
//! * without it, an agent's token: v0.5 agent URLs carry no license, the token says whose it
//!   is (tokens are unique across a node's licenses). Over RTM the token comes with `login`,
//!   so the license is chosen then.
//! * A node with only its default license (the one the top-level configuration describes, as
//!   before this module existed) serves every request with it, whatever the `license_id`.
//!
//! With `--postgres` a license another node owns is answered with where it lives: a `307`
//! redirect to the same path on the owner for the Web API, and for RTM the answer to the first
//! request is an error of type `misdirected_request` (v3.x's name, status 421 on the Web API),
//! whose `data.url` is the WebSocket URL on the owner, after which the connection closes. A
//! WebSocket cannot be redirected once upgraded, and a transparent proxy would double the
//! traffic and tie clients to a node that may itself die; this way any node can be given to
//! clients, and a client makes one extra connection per login. A license between owners
//! (its owner died and the lease has not expired yet, or a node is restoring it) is
//! `service_unavailable` (503, `Retry-After: 1`).
//!
//! `GET /admin/licenses` lists the licenses and `POST /admin/licenses` creates one (body: a
//! [`LicenseSpec`]), with `Authorization: Bearer ADMIN_TOKEN` (`CHATIO_ADMIN_TOKEN` or the
//! config file's `admin_token`; without one the admin API answers 404).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Extension, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chatio::wire::Api;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::LicenseSpec;
use crate::listen::Ticket;
use crate::metrics::Metrics;
use crate::web::{json_response, parse_api};
use crate::{Config, Durability, LicenseRun, MAX_MESSAGE, Running, Server, Shared, VERSION};

/// The error type of a request sent to a node that does not serve its license (v3.x's name).
pub const MISDIRECTED_REQUEST: &str = "misdirected_request";

/// The environment variable with the administrator's token.
pub const ADMIN_TOKEN_ENV: &str = "CHATIO_ADMIN_TOKEN";

/// The query string of v0.5 URLs.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct LicenseQuery {
    #[serde(default)]
    license_id: Option<String>,
}

/// Where a request goes.
pub(crate) enum Route {
    /// A license served here.
    Here(Arc<Shared>),
    /// Another node serves it: its address (`host:port`).
    There(String),
    /// Nobody serves it right now (its owner died and the lease has not expired, or a node is
    /// restoring it): try again in a moment.
    Moving(String),
    /// No such license (or no license can be told): an error type and message.
    Refused(&'static str, String),
    /// An agent's RTM connection without `license_id`: the license is chosen by the token of
    /// its `login`.
    AtLogin,
}

/// The licenses of one node.
pub struct Hub {
    pub(crate) metrics: Arc<Metrics>,
    /// Read by every request, written only when a license comes or goes.
    licenses: RwLock<HashMap<String, LicenseRun>>,
    /// The license that takes requests without `license_id` (the top-level configuration's).
    default: Option<String>,
    /// What a license created here is made of, besides its own agents and license.
    template: Config,
    /// `--data`: each license other than the default one in `DIR/licenses/ID/`.
    data: Option<Durability>,
    admin_token: Option<String>,
    pub(crate) pg: Option<Arc<crate::pg::Cluster>>,
    stop: watch::Receiver<bool>,
    /// Becomes `true` once every license has finished (and with `--postgres` its lease was
    /// given up): the lease keeper renews until then, so that a slow shutdown keeps its leases
    /// for its last commits.
    pub(crate) finished: watch::Sender<bool>,
}

impl Hub {
    fn shared(&self, id: &str) -> Option<Arc<Shared>> {
        self.runs()
            .get(id)
            .filter(|run| !run.shared.is_lost())
            .map(|run| Arc::clone(&run.shared))
    }

    fn runs(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, LicenseRun>> {
        self.licenses.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn runs_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, LicenseRun>> {
        self.licenses
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The ids of the licenses served here.
    pub(crate) fn served(&self) -> Vec<String> {
        self.runs()
            .iter()
            .filter(|(_, run)| !run.shared.is_lost())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether the node is what it was before it had many licenses: its default license
    /// alone, no database of leases. It then serves every request with it, whatever the
    /// `license_id` (which it used to accept and ignore).
    fn single(&self) -> bool {
        self.pg.is_none() && self.default.is_some() && self.runs().len() == 1
    }

    fn by_token(&self, token: &str) -> Option<Arc<Shared>> {
        let token = crate::strip_bearer(token);
        self.runs()
            .values()
            .find(|run| !run.shared.is_lost() && run.shared.agent_tokens.contains_key(token))
            .map(|run| Arc::clone(&run.shared))
    }

    /// Which license a request is for, and where it is served.
    pub(crate) async fn route(
        &self,
        api: Api,
        license_id: Option<&str>,
        token: Option<&str>,
        rtm: bool,
    ) -> Route {
        if self.single()
            && let Some(shared) = self.default.as_deref().and_then(|d| self.shared(d))
        {
            return Route::Here(shared);
        }
        let id = match (license_id, api, token) {
            (Some(id), _, _) => id.to_string(),
            (None, Api::Agent, Some(token)) => {
                if let Some(shared) = self.by_token(token) {
                    return Route::Here(shared);
                }
                let found = match &self.pg {
                    Some(pg) => pg.license_of_token(crate::strip_bearer(token)).await,
                    None => Ok(None),
                };
                match found {
                    Ok(Some(id)) => id,
                    Ok(None) => match self.default.as_deref().and_then(|d| self.shared(d)) {
                        // It refuses the token as it always did (and counts the failure).
                        Some(shared) => return Route::Here(shared),
                        None => {
                            return Route::Refused(
                                "authentication",
                                "unknown agent token".to_string(),
                            );
                        }
                    },
                    Err(e) => return Route::Moving(e),
                }
            }
            (None, Api::Agent, None) if rtm => return Route::AtLogin,
            (None, _, _) => match &self.default {
                Some(id) => id.clone(),
                None => {
                    return Route::Refused(
                        "validation",
                        "license_id is required: this server has many licenses (add \
                         ?license_id=ID to the URL)"
                            .to_string(),
                    );
                }
            },
        };
        if let Some(shared) = self.shared(&id) {
            return Route::Here(shared);
        }
        match &self.pg {
            Some(pg) => match pg.locate(&id).await {
                Ok(crate::pg::Location::Owner(address)) if address != pg.address() => {
                    Route::There(address)
                }
                Ok(crate::pg::Location::Owner(_)) | Ok(crate::pg::Location::Unowned) => {
                    Route::Moving(format!("license {id} is moving to another node"))
                }
                Ok(crate::pg::Location::Unknown) => {
                    Route::Refused("not_found", format!("no license {id}"))
                }
                Err(e) => Route::Moving(e),
            },
            None => Route::Refused("not_found", format!("no license {id} on this server")),
        }
    }

    /// What licenses are made of here.
    pub(crate) fn template_config(&self) -> Config {
        self.template.clone()
    }

    /// Becomes `true` when the node shuts down.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// Removes the licenses lost since the last call (a failed write) and returns their ids.
    pub(crate) fn take_lost(&self) -> Vec<String> {
        let lost: Vec<(String, LicenseRun)> = {
            let mut runs = self.runs_mut();
            let ids: Vec<String> = runs
                .iter()
                .filter(|(_, run)| run.shared.is_lost())
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| runs.remove(&id).map(|run| (id, run)))
                .collect()
        };
        lost.into_iter()
            .map(|(id, run)| {
                self.metrics
                    .licenses_lost
                    .with_label_values(&["write_failed"])
                    .inc();
                tokio::spawn(run.finish());
                id
            })
            .collect()
    }

    /// Takes one license out of service here (the last by id), for handing it over: its run,
    /// to finish.
    pub(crate) fn take_one(&self) -> Option<(String, LicenseRun)> {
        let mut runs = self.runs_mut();
        let id = runs
            .iter()
            .filter(|(_, run)| !run.shared.is_lost())
            .map(|(id, _)| id.clone())
            .max()?;
        runs.remove(&id).map(|run| (id, run))
    }

    /// Stops serving license `id` here at once (see [`Shared::lose`]).
    pub(crate) fn lose(&self, id: &str, why: &str) {
        let run = self.runs_mut().remove(id);
        if let Some(run) = run {
            self.metrics
                .licenses_lost
                .with_label_values(&["lease_lost"])
                .inc();
            run.shared.lose(why);
            tokio::spawn(run.finish());
        }
    }

    /// Starts serving `server` as license `id`.
    pub(crate) fn insert(&self, id: String, server: Server) {
        let run = server.launch(id.clone(), Arc::clone(&self.metrics), self.stop.clone());
        let old = self.runs_mut().insert(id, run);
        if let Some(old) = old {
            // A lost license restored again: the old run is over already.
            tokio::spawn(old.finish());
        }
    }

    /// Stops every license: see [`Running::finish`].
    pub(crate) async fn finish(&self) {
        let runs: Vec<(String, LicenseRun)> = self.runs_mut().drain().collect();
        let mut ids = Vec::new();
        let mut finishing = Vec::new();
        for (id, run) in runs {
            if !run.shared.is_lost() {
                ids.push(id);
            }
            finishing.push(run.finish());
        }
        futures_util::future::join_all(finishing).await;
        if let Some(pg) = &self.pg {
            pg.release_all(&ids).await;
        }
        let _ = self.finished.send(true);
    }

    /// Opens a license described by `spec` (SQLite or in memory) and serves it.
    fn add_local(&self, spec: &LicenseSpec) -> Result<(), String> {
        if self.runs().contains_key(&spec.id) || self.default.as_deref() == Some(&spec.id) {
            return Err(format!("license {} exists", spec.id));
        }
        let server = open_local(&self.template, self.data.as_ref(), spec)?;
        self.insert(spec.id.clone(), server);
        Ok(())
    }
}

/// The configuration of license `spec`: the node's template with its agents and license.
pub(crate) fn license_config(template: &Config, spec: &LicenseSpec) -> Result<Config, String> {
    spec.check()?;
    let mut config = template.clone();
    config.agents = spec
        .agents
        .iter()
        .map(|a| a.login())
        .collect::<Result<_, _>>()?;
    // A license's own admin sets up the node's auto chat scopes; without one there are none.
    if config.admin().is_none() {
        config.auto_chat_scopes.clear();
    }
    let plan = spec
        .plan
        .clone()
        .unwrap_or_else(|| crate::cli::DEFAULT_LICENSE_PLAN.to_string());
    config.engine = config.engine.license(
        chatio::License::new(spec.id.clone(), plan, crate::now())
            .expiration_timestamp(spec.expires.map(chatio::Timestamp::from_unix_seconds)),
    );
    config.check()?;
    Ok(config)
}

/// Opens license `spec` in memory, or in `DIR/licenses/ID/` with `--data` (where its spec is
/// kept as `license.json`, so that the next start opens it again).
fn open_local(
    template: &Config,
    data: Option<&Durability>,
    spec: &LicenseSpec,
) -> Result<Server, String> {
    let config = license_config(template, spec)?;
    let durability = data.map(|d| Durability {
        dir: d.dir.join(LICENSES_DIR).join(&spec.id),
        ..d.clone()
    });
    if let Some(d) = &durability {
        std::fs::create_dir_all(&d.dir)
            .map_err(|e| format!("cannot create {}: {e}", d.dir.display()))?;
        let text = serde_json::to_string_pretty(spec).map_err(|e| e.to_string())?;
        let path = d.dir.join(SPEC_FILE);
        let temporary = d.dir.join(format!("{SPEC_FILE}.new"));
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Server::open(config, durability.as_ref())
}

/// Where licenses other than the default one live inside `--data DIR`.
pub const LICENSES_DIR: &str = "licenses";

/// A license's description inside its directory.
pub const SPEC_FILE: &str = "license.json";

/// What a node is made of besides its default license.
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// Licenses of the configuration file (`[[licenses]]`).
    pub licenses: Vec<LicenseSpec>,
    /// Whether the top-level configuration makes a license of its own (the default license).
    pub default_license: bool,
    /// The administrator's token; `None`: the admin API is off.
    pub admin_token: Option<String>,
    /// `--postgres` and its settings.
    pub postgres: Option<crate::pg::PgOptions>,
}

/// A node: its licenses and the routes that serve them.
pub struct Node {
    hub: Arc<Hub>,
    stop: watch::Sender<bool>,
    report: Vec<String>,
}

impl Node {
    /// A node serving `server` alone, as its default license (what [`Server::start`] does).
    pub fn single(server: Server) -> Node {
        let (stop, stop_rx) = watch::channel(false);
        let template = server.config().clone();
        let data = server.durability().cloned();
        let report = server.report().to_vec();
        let id = default_id(&template);
        let hub = Arc::new(Hub {
            metrics: Arc::new(Metrics::new()),
            licenses: RwLock::new(HashMap::new()),
            default: Some(id.clone()),
            template,
            data,
            admin_token: None,
            pg: None,
            stop: stop_rx,
            finished: watch::channel(false).0,
        });
        hub.insert(id, server);
        Node { hub, stop, report }
    }

    /// Opens a node: its default license (if `options.default_license`), the licenses of the
    /// configuration file, and with `--data` every license created before (in
    /// `DIR/licenses/`); with `--postgres`, connects and records the configuration's licenses
    /// in the database (the licenses themselves are taken once the node listens: see
    /// [`Node::serve`]). Call it inside a Tokio runtime.
    pub async fn open(
        config: Config,
        durability: Option<Durability>,
        options: NodeOptions,
    ) -> Result<Node, String> {
        let (stop, stop_rx) = watch::channel(false);
        let mut report = Vec::new();
        if let Some(pg_options) = options.postgres.clone() {
            let cluster = crate::pg::Cluster::connect(pg_options).await?;
            let mut specs = options.licenses.clone();
            if options.default_license {
                specs.push(default_spec(&config));
            }
            for spec in &specs {
                let made = cluster.create_license(spec, &config, false).await?;
                report.push(format!(
                    "license {}: {}",
                    spec.id,
                    if made {
                        "created in the database"
                    } else {
                        "in the database already"
                    }
                ));
            }
            let hub = Arc::new(Hub {
                metrics: Arc::new(Metrics::new()),
                licenses: RwLock::new(HashMap::new()),
                default: options.default_license.then(|| default_id(&config)),
                template: config,
                data: None,
                admin_token: options.admin_token,
                pg: Some(cluster),
                stop: stop_rx,
                finished: watch::channel(false).0,
            });
            return Ok(Node { hub, stop, report });
        }
        let mut runs = Vec::new();
        let default = if options.default_license {
            let server = Server::open(config.clone(), durability.as_ref())?;
            report.extend(server.report().iter().cloned());
            let id = default_id(&config);
            runs.push((id.clone(), server));
            Some(id)
        } else {
            None
        };
        let mut specs = options.licenses.clone();
        if let Some(d) = &durability {
            for stored in stored_specs(&d.dir)? {
                if !specs.iter().any(|s| s.id == stored.id) {
                    specs.push(stored);
                }
            }
        }
        for spec in &specs {
            if runs.iter().any(|(id, _)| *id == spec.id) {
                return Err(format!("license {} is configured twice", spec.id));
            }
            let server = open_local(&config, durability.as_ref(), spec)
                .map_err(|e| format!("license {}: {e}", spec.id))?;
            report.extend(
                server
                    .report()
                    .iter()
                    .map(|line| format!("license {}: {line}", spec.id)),
            );
            runs.push((spec.id.clone(), server));
        }
        // An agent URL carries no license: its token must name one.
        let mut tokens: HashMap<&str, &str> = HashMap::new();
        for (id, server) in &runs {
            for login in &server.config().agents {
                if let Some(other) = tokens.insert(login.token.as_str(), id.as_str()) {
                    return Err(format!(
                        "licenses {other} and {id} share an agent token (agent {})",
                        login.agent.id
                    ));
                }
            }
        }
        let hub = Arc::new(Hub {
            metrics: Arc::new(Metrics::new()),
            licenses: RwLock::new(HashMap::new()),
            default,
            template: config,
            data: durability,
            admin_token: options.admin_token,
            pg: None,
            stop: stop_rx,
            finished: watch::channel(false).0,
        });
        for (id, server) in runs {
            hub.insert(id, server);
        }
        Ok(Node { hub, stop, report })
    }

    /// What opening did, a line each, for the log.
    pub fn report(&self) -> &[String] {
        &self.report
    }

    /// The routes: RTM, Web API, the Configuration API, uploaded files, `/metrics`,
    /// `/admin/licenses`.
    pub fn routes(&self) -> axum::Router {
        axum::Router::new()
            .route("/{api}/{version}/rtm/ws", get(rtm_upgrade))
            .route("/{api}/{version}/action/{action}", post(web_action))
            .route("/metrics", get(metrics))
            .route("/files/{kind}/{name}", get(file))
            .route(
                "/configuration/{version}/{section}/{action}",
                post(configuration),
            )
            .route("/admin/licenses", get(admin_list).post(admin_create))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_MESSAGE))
            .with_state(Arc::clone(&self.hub))
    }

    /// The handle that stops the node.
    pub fn into_running(self) -> Running {
        Running {
            hub: self.hub,
            stop: self.stop,
        }
    }

    /// Serves on `listener` as [`Server::serve`] does, every license of the node. With
    /// `--postgres`, a task keeps the node's leases, takes licenses nobody serves (up to its
    /// share of them) and gives up those it could not keep; the node tells clients of other
    /// nodes' licenses where they live, naming itself by `--advertise` (default: the address
    /// it listens on).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let limits = self.hub.template.limits.clone();
        let routes = self.routes();
        if let Some(pg) = &self.hub.pg {
            let local = listener.local_addr()?;
            pg.set_address(local);
            tokio::spawn(crate::pg::manage(Arc::clone(&self.hub), Arc::clone(pg)));
        }
        let running = self.into_running();
        let stop = running.stop.subscribe();
        tokio::spawn(running.stop_on(shutdown));
        let served = crate::listen::serve(listener, routes, limits, running.metrics(), stop).await;
        running.finish().await;
        served
    }
}

/// The default license's key: its `--license-id`, or `default`.
fn default_id(config: &Config) -> String {
    config
        .engine
        .license
        .as_ref()
        .map_or_else(|| "default".to_string(), |l| l.id.clone())
}

/// The default license as a spec (for the database).
fn default_spec(config: &Config) -> LicenseSpec {
    let license = config.engine.license.as_ref();
    LicenseSpec {
        id: default_id(config),
        plan: license.map(|l| l.plan.clone()),
        expires: license
            .and_then(|l| l.expiration_timestamp)
            .map(|t| t.unix_seconds()),
        agents: config
            .agents
            .iter()
            .map(|a| crate::config::AgentFile {
                token: a.token.clone(),
                id: a.agent.id.to_string(),
                name: Some(a.agent.name.clone()),
                email: a.agent.email.clone(),
                avatar: a.agent.avatar.clone(),
                groups: a.agent.groups.iter().map(|g| g.0).collect(),
                max_chats: Some(a.agent.max_chats),
                permission: Some(a.agent.permission),
            })
            .collect(),
    }
}

/// The specs of licenses created before, from `DIR/licenses/*/license.json`.
fn stored_specs(dir: &std::path::Path) -> Result<Vec<LicenseSpec>, String> {
    let root = dir.join(LICENSES_DIR);
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", root.display())),
    };
    let mut specs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", root.display()))?;
        let path = entry.path().join(SPEC_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let spec: LicenseSpec =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        specs.push(spec);
    }
    specs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(specs)
}

// ----- handlers -----

async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    hub.metrics
        .licenses
        .set(i64::try_from(hub.served().len()).unwrap_or(i64::MAX));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        hub.metrics.render(),
    )
        .into_response()
}

fn error_json(status: StatusCode, kind: &str, message: &str, data: Option<Value>) -> Response {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    json_response(status, json!({ "error": error }).to_string())
}

/// The path and query a request came with, for the address of the same request elsewhere.
fn path_and_query(api: &str, version: &str, tail: &str, query: Option<&str>) -> String {
    let mut path = format!("/{api}/{version}/{tail}");
    if let Some(query) = query {
        path.push('?');
        path.push_str(query);
    }
    path
}

#[allow(clippy::too_many_arguments)]
async fn web_action(
    State(hub): State<Arc<Hub>>,
    Path((api_name, version, action)): Path<(String, String, String)>,
    Query(query): Query<LicenseQuery>,
    RawQuery(raw): RawQuery,
    ticket: Option<Extension<Arc<Ticket>>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(api) = parse_api(&api_name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match hub
        .route(api, query.license_id.as_deref(), token, false)
        .await
    {
        Route::Here(shared) => {
            crate::web::action(shared, api, version, action, ticket, headers, body).await
        }
        elsewhere => not_here(elsewhere, |address| {
            format!(
                "http://{address}{}",
                path_and_query(
                    &api_name,
                    &version,
                    &format!("action/{action}"),
                    raw.as_deref()
                )
            )
        }),
    }
}

/// The Configuration API (`POST /configuration/v0.5/{section}/{action}`), for the license of
/// the agent's token (or `license_id`), like the Web API.
#[allow(clippy::too_many_arguments)]
async fn configuration(
    State(hub): State<Arc<Hub>>,
    Path((version, section, action)): Path<(String, String, String)>,
    Query(query): Query<LicenseQuery>,
    RawQuery(raw): RawQuery,
    ticket: Option<Extension<Arc<Ticket>>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match hub
        .route(Api::Agent, query.license_id.as_deref(), token, false)
        .await
    {
        Route::Here(shared) => {
            crate::web::configuration(shared, version, section, action, ticket, headers, body).await
        }
        elsewhere => not_here(elsewhere, |address| {
            let mut path = format!("/configuration/{version}/{section}/{action}");
            if let Some(query) = raw.as_deref() {
                path.push('?');
                path.push_str(query);
            }
            format!("http://{address}{path}")
        }),
    }
}

/// A stored upload (`GET /files/{kind}/{name}`), from whichever license of this node holds it:
/// names are 128 random bits, so no two licenses hold the same one.
async fn file(State(hub): State<Arc<Hub>>, Path((kind, name)): Path<(String, String)>) -> Response {
    let licenses: Vec<Arc<Shared>> = hub
        .runs()
        .values()
        .map(|run| Arc::clone(&run.shared))
        .collect();
    crate::files::serve(licenses.iter().map(|shared| &shared.files), &kind, &name)
}

/// The answer to a request for a license that is not served here: where it is (307, which
/// keeps the method and the body), that it is moving (503 with `Retry-After`), or why not.
fn not_here(route: Route, location: impl FnOnce(&str) -> String) -> Response {
    match route {
        Route::There(address) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location(&address))],
        )
            .into_response(),
        Route::Moving(why) => {
            let mut response = error_json(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                &format!("{why}; retry in a second"),
                None,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            response
        }
        Route::Refused(kind, message) => {
            error_json(crate::web::status_for(kind), kind, &message, None)
        }
        Route::AtLogin | Route::Here(_) => error_json(
            StatusCode::UNAUTHORIZED,
            "authentication",
            "a token is required",
            None,
        ),
    }
}

async fn rtm_upgrade(
    State(hub): State<Arc<Hub>>,
    Path((api_name, version)): Path<(String, String)>,
    Query(query): Query<LicenseQuery>,
    RawQuery(raw): RawQuery,
    ticket: Option<Extension<Arc<Ticket>>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Some(api) = parse_api(&api_name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let route = if version == VERSION {
        hub.route(api, query.license_id.as_deref(), None, true)
            .await
    } else {
        // The session answers unsupported_version; any license will do for that.
        match hub.runs().values().next() {
            Some(run) => Route::Here(Arc::clone(&run.shared)),
            None => Route::Refused(
                "unsupported_version",
                crate::web::unsupported_version(&version),
            ),
        }
    };
    let here = match route {
        Route::Here(shared) => {
            return crate::rtm::upgrade(shared, api, version, ticket, ws, None).await;
        }
        other => other,
    };
    let Ok(ws) = ws else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let ws = ws.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE);
    let url_tail = path_and_query(&api_name, &version, "rtm/ws", raw.as_deref());
    let login_timeout = hub.template.limits.login_timeout;
    ws.on_upgrade(move |socket| async move {
        match here {
            Route::AtLogin => {
                at_login(hub, api, socket, ticket.map(|Extension(t)| t), url_tail).await
            }
            other => refuse_socket(socket, api, other, &url_tail, login_timeout).await,
        }
    })
}

/// An agent's RTM connection without `license_id`: its first request (`login`) says, by its
/// token, which license it is for.
async fn at_login(
    hub: Arc<Hub>,
    api: Api,
    mut socket: WebSocket,
    ticket: Option<Arc<Ticket>>,
    url_tail: String,
) {
    let login_timeout = hub.template.limits.login_timeout;
    let first = match tokio::time::timeout(login_timeout, first_text(&mut socket)).await {
        Ok(Some(text)) => text,
        _ => {
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: close_code::POLICY,
                    reason: "login timeout".into(),
                })))
                .await;
            return;
        }
    };
    let token = serde_json::from_str::<Value>(&first).ok().and_then(|v| {
        v.pointer("/payload/token")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let route = match token {
        Some(token) => hub.route(api, None, Some(&token), true).await,
        None => Route::Refused(
            "authentication",
            "the first request must be login, with a token".to_string(),
        ),
    };
    match route {
        Route::Here(shared) => {
            crate::rtm::run_session(shared, api, socket, ticket, Some(first)).await
        }
        other => answer_and_close(socket, api, other, &url_tail, &first).await,
    }
}

/// The first text message of a socket (pings and pongs skipped); `None` if it ends first.
async fn first_text(socket: &mut WebSocket) -> Option<String> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(text)) => return Some(text.to_string()),
            Ok(Message::Binary(bytes)) => return String::from_utf8(bytes.to_vec()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// A connection for a license this node does not serve: the first request is answered with
/// where to go (or why not), then the connection closes.
async fn refuse_socket(
    mut socket: WebSocket,
    api: Api,
    route: Route,
    url_tail: &str,
    limit: std::time::Duration,
) {
    let first = match tokio::time::timeout(limit, first_text(&mut socket)).await {
        Ok(Some(text)) => text,
        _ => String::new(),
    };
    answer_and_close(socket, api, route, url_tail, &first).await;
}

async fn answer_and_close(
    mut socket: WebSocket,
    api: Api,
    route: Route,
    url_tail: &str,
    first: &str,
) {
    let (request_id, action) = crate::rtm::head(first);
    // A customer is also told why it is cut off, with v0.5's reason for an unknown license.
    let license_not_found = api == Api::Customer && matches!(route, Route::Refused("not_found", _));
    let (kind, message, data, close) = match route {
        Route::There(address) => {
            let url = format!("ws://{address}{url_tail}");
            (
                MISDIRECTED_REQUEST,
                format!("this license is served by {address}: connect to {url}"),
                Some(json!({ "url": url, "address": address })),
                (close_code::NORMAL, "misdirected request"),
            )
        }
        Route::Moving(why) => (
            "service_unavailable",
            format!("{why}; retry in a second"),
            None,
            (close_code::AGAIN, "license moving; try again"),
        ),
        Route::Refused(kind, message) => (kind, message, None, (close_code::POLICY, "refused")),
        Route::Here(_) | Route::AtLogin => (
            "internal",
            "no license".to_string(),
            None,
            (close_code::ERROR, "internal"),
        ),
    };
    let mut response = json!({
        "action": action,
        "payload": { "error": { "message": message, "type": kind } },
        "success": false,
        "type": "response",
    });
    if let Some(data) = data {
        response["payload"]["error"]["data"] = data;
    }
    if let Some(id) = request_id {
        response["request_id"] = Value::from(id);
    }
    let _ = socket
        .send(Message::Text(response.to_string().into()))
        .await;
    if license_not_found {
        let push = json!({
            "action": "customer_disconnected",
            "payload": { "reason": REASON_LICENSE_NOT_FOUND },
            "type": "push",
        });
        let _ = socket.send(Message::Text(push.to_string().into())).await;
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: close.0,
            reason: close.1.into(),
        })))
        .await;
}

/// The `reason` of the `customer_disconnected` push a customer's RTM connection gets when its
/// `license_id` names no license (after the `not_found` answer, before the close).
pub const REASON_LICENSE_NOT_FOUND: &str = "license_not_found";

/// Checks the administrator's token: `None` if it is right, else the refusal.
fn refuse_admin(hub: &Hub, headers: &HeaderMap) -> Option<Response> {
    let Some(expected) = &hub.admin_token else {
        return Some(error_json(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!(
                "the admin API is off: give the node an administrator's token ({ADMIN_TOKEN_ENV} or admin_token in --config)"
            ),
            None,
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(crate::strip_bearer)
        .unwrap_or_default();
    // Compared by digest: the time taken says nothing of how much of the token matched.
    if crate::sha256(given.as_bytes()) != crate::sha256(expected.as_bytes()) {
        return Some(error_json(
            StatusCode::UNAUTHORIZED,
            "authentication",
            "the administrator's token is required",
            None,
        ));
    }
    None
}

/// `GET /admin/licenses`: every license, where it is served and since which lease epoch.
async fn admin_list(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    if let Some(response) = refuse_admin(&hub, &headers) {
        return response;
    }
    let served = hub.served();
    let licenses: Vec<Value> = match &hub.pg {
        Some(pg) => match pg.list().await {
            Ok(list) => list
                .into_iter()
                .map(|l| {
                    json!({
                        "id": l.id,
                        "served_here": served.contains(&l.id),
                        "owner": l.owner,
                        "epoch": l.epoch,
                        "last_seq": l.last_seq,
                    })
                })
                .collect(),
            Err(e) => {
                return error_json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    &e,
                    None,
                );
            }
        },
        None => {
            let mut ids = served;
            ids.sort();
            ids.into_iter()
                .map(|id| json!({ "id": id, "served_here": true, "default": hub.default.as_deref() == Some(id.as_str()) }))
                .collect()
        }
    };
    json_response(StatusCode::OK, json!({ "licenses": licenses }).to_string())
}

/// `POST /admin/licenses`: creates a license (a [`LicenseSpec`]) and serves it here.
async fn admin_create(State(hub): State<Arc<Hub>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(response) = refuse_admin(&hub, &headers) {
        return response;
    }
    let spec: LicenseSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => {
            return error_json(
                StatusCode::BAD_REQUEST,
                "validation",
                &format!("the body: {e}"),
                None,
            );
        }
    };
    if let Err(e) = license_config(&hub.template, &spec) {
        return error_json(StatusCode::BAD_REQUEST, "validation", &e, None);
    }
    for agent in &spec.agents {
        if let Some(shared) = hub.by_token(&agent.token) {
            return error_json(
                StatusCode::CONFLICT,
                "validation",
                &format!(
                    "an agent token of this license is already one of license {}'s",
                    shared.license
                ),
                None,
            );
        }
    }
    let created = match &hub.pg {
        Some(pg) => crate::pg::create_and_serve(&hub, pg, &spec).await,
        None => {
            let hub = Arc::clone(&hub);
            let spec = spec.clone();
            // Opening writes the new database (and syncs it): off the runtime's workers.
            tokio::task::spawn_blocking(move || hub.add_local(&spec))
                .await
                .unwrap_or_else(|e| Err(format!("opening the license failed: {e}")))
        }
    };
    match created {
        Ok(()) => {
            tracing::info!(license = %spec.id, "license created");
            json_response(StatusCode::CREATED, json!({ "id": spec.id }).to_string())
        }
        Err(e) if e.contains("exists") => error_json(StatusCode::CONFLICT, "validation", &e, None),
        Err(e) => error_json(StatusCode::BAD_REQUEST, "validation", &e, None),
    }
}
