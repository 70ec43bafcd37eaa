//! The JSON-lines script runner: plays a script of RTM requests against one [`Engine`] and
//! prints every message the server would send, addressed.
//!
//! ```sh
//! cargo run --release --example rtm_script -- FILE     # or `-` for standard input
//! ```
//!
//! # Input
//!
//! JSON lines; blank lines are skipped. An optional first line configures the license:
//!
//! ```json
//! {"config": {"seed": 7, "router": "automatic", "agents": [{"id": "anna@example.com", "name": "Anna", "groups": [1], "max_chats": 2}]}}
//! ```
//!
//! `seed` defaults to 0. `router` is `automatic`, `manual`, `least_loaded` or `round_robin`;
//! without one the engine never routes chats and runs no timers. Agents take `id`, `name`, and
//! optionally `groups` (numbers) and `max_chats` (default 6). An optional `license` takes `id`,
//! `plan`, `creation_timestamp`, and optionally `expiration_timestamp` and `in_trial`: agents'
//! `login` shows it, and from its expiration on every request but `ping` gets
//! `license_expired`. Unknown fields are refused, so a
//! typo does not go unnoticed. Without a config line the license has seed 0, no router and no
//! agents.
//!
//! Then one request per line:
//!
//! ```json
//! {"at": 1700000000, "as": {"customer": "jan"}, "request_id": "1", "action": "login"}
//! ```
//!
//! `at` is the time in whole Unix seconds; `as` is `{"agent": AGENT_ID}` or
//! `{"customer": TOKEN}`; the rest (`request_id`, `action`, `payload`, `author_id`) is the
//! request message exactly as a client sends it over RTM, handed to [`chatio::wire::handle`].
//! Ids the engine draws (chats, threads, events) follow from the seed, so a script names them
//! literally: run the script up to the request that creates one and read it from the output.
//!
//! # Decisions
//!
//! * **One identity, one connection.** Each `as` value behaves like one RTM connection of the
//!   server: its first request must be `login`, else an `authentication` error response.
//!   Connections drop only on a ban (below).
//! * **Agents** are the ones in the config line; they log in with any token (the login payload
//!   is not checked). Logging in puts the agent online ([`Engine::set_agent_presence`]), which
//!   may hand it waiting chats; those pushes follow the login response. An agent not in the
//!   config gets an `authentication` error response.
//! * **Customers**: token `T` is customer `customer-T` (so a script can name it, e.g. in
//!   `ban_customer`). Its first `login` registers it. An empty token, or one that makes no valid
//!   user id, gets an `authentication` error response addressed to `null`.
//! * **Bans.** Like the server, the runner closes a customer's connection once it has delivered
//!   the `customer_disconnected` push a ban sends: the customer's next request must be `login`
//!   again, which fails with `customer_banned` until the ban ends.
//! * **Time.** Before a line is handled, every timer due at its `at` fires
//!   ([`Engine::tick`]). Nothing fires after the last line: to see a timeout, add a line at the
//!   later time (a `ping` will do). Time never goes backwards in the engine: a line with an
//!   earlier `at` acts at the latest time seen.
//! * **Malformed lines** never stop the run. A line that is not a JSON object, has a bad `as`,
//!   or repeats the config line gets a `validation` error response with `"to": null`; a line
//!   whose identity can be read but whose `at` is missing or not a whole number gets it
//!   addressed to that identity. A bad config line (or agent in it) gets one with `"to": null`,
//!   and the run goes on without it. Errors found inside the request itself (unknown action,
//!   wrong field type, ...) are the protocol's own error responses.
//!
//! # Output
//!
//! JSON lines: every message the server would send, each with an added `"to"` field naming the
//! user id it goes to. For each input line, in this order:
//!
//! 1. the pushes of the timers that fired,
//! 2. the response, to the sender,
//! 3. the pushes the request caused, in the engine's order, each expanded into one line per
//!    recipient in the order of [`Push::to`](chatio::Push::to).
//!
//! Pushes go only to identities that have logged in (live connections); a push for anyone else
//! is dropped, as a server has no connection to send it on. Keys are sorted, so the same script
//! always gives byte-identical output.
//!
//! The process exits with 0 whatever the script holds, and with 2 if the file cannot be read.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;

use chatio::routing::{AutomaticRouter, LeastLoadedRouter, ManualRouter, RoundRobinRouter, Router};
use chatio::wire::{self, Api, WirePush};
use chatio::{
    Agent, Customer, Engine, EngineConfig, ErrorKind, GroupId, License, Timestamp, UserId,
};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Runs a whole script and returns its output, one JSON message per line.
pub fn run(input: &str) -> String {
    let mut runner = Runner::default();
    let mut out = String::new();
    for line in input.lines() {
        for message in runner.line(line) {
            out.push_str(&message);
            out.push('\n');
        }
    }
    out
}

/// The optional first line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigLine {
    config: Config,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    router: Option<String>,
    #[serde(default)]
    agents: Vec<AgentConfig>,
    #[serde(default)]
    license: Option<LicenseConfig>,
}

/// The `license` of the config line: what the agents' `login` shows, and when it expires.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseConfig {
    id: String,
    plan: String,
    creation_timestamp: i64,
    #[serde(default)]
    expiration_timestamp: Option<i64>,
    #[serde(default)]
    in_trial: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentConfig {
    id: String,
    name: String,
    #[serde(default)]
    groups: Vec<u32>,
    #[serde(default)]
    max_chats: Option<u32>,
}

/// Who a line speaks as: the API and the string the script gave.
struct Identity {
    api: Api,
    name: String,
}

impl Identity {
    /// The user id this identity is, or why it cannot be one.
    fn user_id(&self) -> Result<UserId, String> {
        match self.api {
            Api::Agent => UserId::new(&self.name).map_err(|e| e.to_string()),
            Api::Customer if self.name.is_empty() => {
                Err("a customer token must not be empty".to_string())
            }
            Api::Customer => {
                UserId::new(&format!("customer-{}", self.name)).map_err(|e| e.to_string())
            }
        }
    }

    /// Where an error response for this identity goes: its user id, when it has one.
    fn address(&self) -> Option<String> {
        self.user_id().ok().map(|id| id.to_string())
    }
}

/// Plays a script line by line.
#[derive(Default)]
pub struct Runner {
    /// Made by the first non-blank line.
    engine: Option<Engine>,
    /// Users with a live connection (those whose `login` succeeded), and on which API.
    live: HashMap<UserId, Api>,
    /// The number of the line being handled, from 1.
    line_no: usize,
}

impl Runner {
    /// Handles one input line and returns the output lines it caused.
    pub fn line(&mut self, text: &str) -> Vec<String> {
        self.line_no += 1;
        let mut out = Vec::new();
        let text = text.trim();
        if text.is_empty() {
            return out;
        }
        let parsed = serde_json::from_str::<Value>(text);
        let mut engine = match self.engine.take() {
            Some(engine) => engine,
            None => {
                let is_config = matches!(&parsed, Ok(Value::Object(m)) if m.contains_key("config"));
                if is_config {
                    self.engine = Some(self.configure(text, &mut out));
                    return out;
                }
                Engine::new(EngineConfig::default())
            }
        };
        self.request(&mut engine, text, parsed, &mut out);
        self.engine = Some(engine);
        out
    }

    /// Builds the engine from the config line, reporting what could not be used.
    fn configure(&self, text: &str, out: &mut Vec<String>) -> Engine {
        let config = match serde_json::from_str::<ConfigLine>(text) {
            Ok(line) => line.config,
            Err(e) => {
                out.push(self.invalid(None, format!("bad config line: {e}")));
                return Engine::new(EngineConfig::default());
            }
        };
        let mut engine_config = EngineConfig::with_seed(config.seed);
        if let Some(l) = config.license {
            engine_config = engine_config.license(
                License::new(
                    l.id,
                    l.plan,
                    Timestamp::from_unix_seconds(l.creation_timestamp),
                )
                .expiration_timestamp(l.expiration_timestamp.map(Timestamp::from_unix_seconds))
                .in_trial(l.in_trial),
            );
        }
        let mut engine = Engine::new(engine_config);
        match config.router.as_deref().map(router) {
            None => {}
            Some(Ok(router)) => engine.set_router(router),
            Some(Err(e)) => out.push(self.invalid(None, e)),
        }
        for a in config.agents {
            let added = UserId::new(&a.id).and_then(|id| {
                let mut agent =
                    Agent::new(id, a.name).with_groups(a.groups.into_iter().map(GroupId));
                if let Some(max) = a.max_chats {
                    agent = agent.with_max_chats(max);
                }
                engine.add_agent(agent)
            });
            if let Err(e) = added {
                out.push(self.invalid(None, format!("agent {:?} not added: {e}", a.id)));
            }
        }
        engine
    }

    fn request(
        &mut self,
        engine: &mut Engine,
        text: &str,
        parsed: serde_json::Result<Value>,
        out: &mut Vec<String>,
    ) {
        let object = match parsed {
            Ok(Value::Object(m)) => m,
            Ok(_) => return out.push(self.invalid(None, "not a JSON object".into())),
            Err(e) => return out.push(self.invalid(None, format!("not JSON: {e}"))),
        };
        let (request_id, action) = salvage(&object);
        let request = Some((request_id.as_deref(), action.as_str()));
        if object.contains_key("config") {
            let e = "the config line must be the first line".to_string();
            return out.push(self.invalid_request(request, None, e));
        }
        let identity = identity(object.get("as"));
        let at = object.get("at").and_then(Value::as_i64);
        let Some(at) = at.map(Timestamp::from_unix_seconds) else {
            let to = identity.as_ref().ok().and_then(Identity::address);
            let e = "\"at\" must be a whole number of Unix seconds".to_string();
            return out.push(self.invalid_request(request, to, e));
        };
        if engine.next_deadline().is_some_and(|d| d <= at) {
            let fired = engine.tick(at);
            self.deliver(fired.pushes.iter().map(wire::encode_push), out);
        }
        let identity = match identity {
            Ok(identity) => identity,
            Err(e) => return out.push(self.invalid_request(request, None, e)),
        };
        let user = match identity.user_id() {
            Ok(user) => user,
            Err(e) => {
                let to = identity.address();
                let text = wire::error_text(
                    request_id.as_deref(),
                    &action,
                    ErrorKind::Authentication,
                    &e,
                );
                return out.push(addressed(&text, to));
            }
        };
        let first_login = self.live.get(&user) != Some(&identity.api);
        if first_login {
            let refusal = if action != "login" {
                Some("log in first: a connection's first request must be login".to_string())
            } else {
                admit(engine, &identity, &user).err()
            };
            if let Some(e) = refusal {
                let text = wire::error_text(
                    request_id.as_deref(),
                    &action,
                    ErrorKind::Authentication,
                    &e,
                );
                return out.push(addressed(&text, Some(user.to_string())));
            }
        }
        let reply = wire::handle(engine, identity.api, &user, at, text);
        out.push(addressed(&reply.response, Some(user.to_string())));
        if first_login && reply.success {
            self.live.insert(user.clone(), identity.api);
        }
        self.deliver(reply.pushes, out);
        if first_login && reply.success && identity.api == Api::Agent {
            if let Ok(online) = engine.set_agent_presence(&user, true, at) {
                self.deliver(online.pushes.iter().map(wire::encode_push), out);
            }
        }
    }

    /// One line per push per live recipient, in order. A `customer_disconnected` push closes
    /// the customer's connection once delivered.
    fn deliver(&mut self, pushes: impl IntoIterator<Item = WirePush>, out: &mut Vec<String>) {
        for push in pushes {
            for to in push.to.iter().filter(|to| self.live.contains_key(*to)) {
                out.push(addressed(&push.text, Some(to.to_string())));
            }
            if push.action == "customer_disconnected" {
                for to in push.to.iter() {
                    self.live.remove(to);
                }
            }
        }
    }

    /// A `validation` error response about a line that is not a request.
    fn invalid(&self, to: Option<String>, reason: String) -> String {
        self.invalid_request(None, to, reason)
    }

    /// A `validation` error response about the line itself, echoing the request's
    /// `request_id` and `action` when they could be read.
    fn invalid_request(
        &self,
        request: Option<(Option<&str>, &str)>,
        to: Option<String>,
        reason: String,
    ) -> String {
        let (request_id, action) = request.unwrap_or((None, ""));
        let message = format!("line {}: {reason}", self.line_no);
        let text = wire::error_text(request_id, action, ErrorKind::Validation, &message);
        addressed(&text, to)
    }
}

/// The router a config line names.
fn router(name: &str) -> Result<Arc<dyn Router>, String> {
    Ok(match name {
        "automatic" => Arc::new(AutomaticRouter::default()),
        "manual" => Arc::new(ManualRouter),
        "least_loaded" => Arc::new(LeastLoadedRouter),
        "round_robin" => Arc::new(RoundRobinRouter),
        other => {
            return Err(format!(
                "unknown router {other:?}: use automatic, manual, least_loaded or round_robin"
            ));
        }
    })
}

/// Reads `as`: `{"agent": ID}` or `{"customer": TOKEN}`.
fn identity(value: Option<&Value>) -> Result<Identity, String> {
    let Some(Value::Object(m)) = value else {
        return Err("\"as\" must be {\"agent\": ID} or {\"customer\": TOKEN}".into());
    };
    match (m.len(), m.get("agent"), m.get("customer")) {
        (1, Some(Value::String(id)), None) => Ok(Identity {
            api: Api::Agent,
            name: id.clone(),
        }),
        (1, None, Some(Value::String(token))) => Ok(Identity {
            api: Api::Customer,
            name: token.clone(),
        }),
        _ => Err("\"as\" must be {\"agent\": ID} or {\"customer\": TOKEN}".into()),
    }
}

/// Checks a first `login`: the agent must be in the config; a new customer is registered.
fn admit(engine: &mut Engine, identity: &Identity, user: &UserId) -> Result<(), String> {
    match identity.api {
        Api::Agent if engine.agent(user).is_some() => Ok(()),
        Api::Agent => Err(format!("agent {user} is not in the script's config")),
        Api::Customer if engine.customer(user).is_some() => Ok(()),
        Api::Customer => engine
            .add_customer(Customer::new(user.clone()))
            .map_err(|e| format!("customer {user} cannot log in: {e}")),
    }
}

/// The `request_id` and `action` of a request, as far as they can be read.
fn salvage(object: &Map<String, Value>) -> (Option<String>, String) {
    let request_id = match object.get("request_id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let action = object
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default();
    (request_id, action.to_string())
}

/// A message with `"to"` added.
fn addressed(text: &str, to: Option<String>) -> String {
    let mut message = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => m,
        _ => {
            let mut m = Map::new();
            m.insert("message".into(), Value::String(text.to_string()));
            m
        }
    };
    message.insert("to".into(), to.map_or(Value::Null, Value::String));
    Value::Object(message).to_string()
}

#[allow(dead_code)] // the scenario tests include this file for `run`
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: rtm_script FILE   (`-` reads standard input)");
        return ExitCode::from(2);
    };
    let interactive = path == "-";
    let mut input: Box<dyn BufRead> = if interactive {
        Box::new(io::stdin().lock())
    } else {
        match std::fs::File::open(path) {
            Ok(file) => Box::new(BufReader::new(file)),
            Err(e) => {
                eprintln!("rtm_script: cannot read {path}: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let mut runner = Runner::default();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("rtm_script: cannot read {path}: {e}");
                return ExitCode::from(2);
            }
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let written = runner
            .line(line)
            .iter()
            .try_for_each(|message| writeln!(out, "{message}"));
        let flushed = written.and_then(|()| if interactive { out.flush() } else { Ok(()) });
        if flushed.is_err() {
            return ExitCode::FAILURE;
        }
    }
    match out.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
