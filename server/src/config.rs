//! `--config FILE`: the server's settings in TOML, so a deployment changes agents, properties,
//! scopes, the license, the router and the timeouts without recompiling. Flags given beside it
//! override it (see [`crate::cli`]). `server/chatio-server.example.toml` shows every key; a
//! test loads it.
//!
//! Properties and auto chat scopes are written in the library's own serde forms
//! ([`chatio::model::PropertyConfig`], [`chatio::Scopes`], [`chatio::AutoScopeRules`]), so what
//! a key means is what the engine means by it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chatio::model::PropertyConfig;
use chatio::{Agent, GroupId, Permission, UserId};
use serde::{Deserialize, Serialize};

use crate::{AgentLogin, AutoScopes};

/// The whole file. Every key is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--router`.
    pub router: Option<String>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--data`; a relative path is taken from the file's folder.
    pub data: Option<PathBuf>,
    /// `--snapshot-every`.
    pub snapshot_every: Option<u64>,
    /// `--max-backlog`, in bytes.
    pub max_backlog: Option<usize>,
    /// `--public-url`.
    pub public_url: Option<String>,
    /// `--static-config-path`.
    pub static_config_path: Option<String>,
    /// `--single-session`.
    pub single_session: Option<bool>,
    /// `--webhook-ca`; a relative path is taken from the file's folder.
    pub webhook_ca: Option<PathBuf>,
    /// `--log`.
    pub log: Option<String>,
    /// `[license]`.
    pub license: Option<LicenseFile>,
    /// `[timeouts]`.
    #[serde(default)]
    pub timeouts: TimeoutsFile,
    /// `--allow-weak-tokens`.
    pub allow_weak_tokens: Option<bool>,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsFile,
    /// `[[agents]]`.
    #[serde(default)]
    pub agents: Vec<AgentFile>,
    /// `[[properties]]`.
    #[serde(default)]
    pub properties: Vec<PropertyConfig>,
    /// `[[auto_chat_scopes]]`.
    #[serde(default)]
    pub auto_chat_scopes: Vec<AutoScopes>,
    /// `[[licenses]]`: more licenses, each its own engine (see [`crate::hub`]). With any, the
    /// top-level `[license]` and `[[agents]]` make no default license.
    #[serde(default)]
    pub licenses: Vec<LicenseSpec>,
    /// The administrator's token for `/admin/licenses` (or `CHATIO_ADMIN_TOKEN`); without one
    /// the admin API is off.
    pub admin_token: Option<String>,
    /// `--postgres`: the database URL.
    pub postgres: Option<String>,
    /// `--lease-ttl`, in seconds.
    pub lease_ttl: Option<u64>,
    /// `--advertise`.
    pub advertise: Option<String>,
}

/// One license a node may serve: `[[licenses]]` in the config file, or the body of
/// `POST /admin/licenses`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseSpec {
    /// Its id: the `license_id` of the URLs. 1 to 64 ASCII letters, digits, `-`, `_` or `.`,
    /// not starting with `.`.
    pub id: String,
    /// The plan agents' login shows (default `enterprise`).
    #[serde(default)]
    pub plan: Option<String>,
    /// When it expires, in Unix seconds.
    #[serde(default)]
    pub expires: Option<i64>,
    /// Its agents and their tokens (tokens are unique across the node's licenses: an agent
    /// URL carries no license id in v0.5, so the token says which license it is).
    #[serde(default)]
    pub agents: Vec<AgentFile>,
}

impl LicenseSpec {
    /// Checks the id (it names a directory with `--data`) and the agents.
    pub fn check(&self) -> Result<(), String> {
        let id = &self.id;
        let good = !id.is_empty()
            && id.len() <= 64
            && !id.starts_with('.')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !good {
            return Err(format!(
                "license id {id:?}: 1 to 64 ASCII letters, digits, '-', '_' or '.', not \
                 starting with '.'"
            ));
        }
        for agent in &self.agents {
            agent.login()?;
        }
        Ok(())
    }
}

/// `[license]`: `--license-id`, `--license-plan`, `--license-expires`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseFile {
    /// The license id.
    pub id: String,
    /// The plan.
    pub plan: Option<String>,
    /// When it expires, in Unix seconds.
    pub expires: Option<i64>,
}

/// `[timeouts]`, in seconds.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsFile {
    /// `--unseen-timeout`.
    pub unseen: Option<i64>,
    /// `--inactivity-timeout`.
    pub inactivity: Option<i64>,
    /// `--idle-timeout`.
    pub idle: Option<u64>,
    /// `--stall-timeout`.
    pub stall: Option<u64>,
}

/// `[limits]`: connection caps, deadlines (in seconds) and rate limits; see
/// [`crate::Limits`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// `--max-connections-per-address`.
    pub max_connections_per_address: Option<usize>,
    /// `--header-timeout`.
    pub header_timeout: Option<u64>,
    /// `--body-timeout`.
    pub body_timeout: Option<u64>,
    /// `--login-timeout`.
    pub login_timeout: Option<u64>,
    /// `--shutdown-timeout`.
    pub shutdown_timeout: Option<u64>,
    /// `--request-rate`.
    pub request_rate: Option<f64>,
    /// `--request-burst`.
    pub request_burst: Option<u32>,
    /// `--auth-failures`.
    pub auth_failures: Option<u32>,
    /// `--auth-window`.
    pub auth_window: Option<u64>,
    /// `--auth-backoff-max`.
    pub auth_backoff_max: Option<u64>,
    /// `--customer-rate`.
    pub customer_rate: Option<f64>,
    /// `--customer-burst`.
    pub customer_burst: Option<u32>,
    /// `--connections-per-user`.
    pub connections_per_user: Option<usize>,
}

/// One `[[agents]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    /// The token it logs in with (`Bearer ` in front is optional). It may be left out here and
    /// given in `CHATIO_AGENT_TOKENS` or `--agent-token-file` instead, off the file.
    #[serde(default)]
    pub token: String,
    /// Its id, e-mail-like.
    pub id: String,
    /// Its name (default: the id).
    pub name: Option<String>,
    /// Its e-mail address.
    pub email: Option<String>,
    /// Its avatar's URL.
    pub avatar: Option<String>,
    /// Its groups.
    #[serde(default)]
    pub groups: Vec<u32>,
    /// How many chats routing may give it at once (default 6).
    pub max_chats: Option<u32>,
    /// `owner`, `administrator` (the default) or `normal`.
    pub permission: Option<Permission>,
}

impl AgentFile {
    /// The agent and its token (empty if the entry has none: it must come from elsewhere).
    pub fn login(&self) -> Result<AgentLogin, String> {
        let bad = |why: String| format!("agent {:?}: {why}", self.id);
        let id = UserId::new(&self.id).map_err(|e| bad(e.to_string()))?;
        let token = self
            .token
            .strip_prefix("Bearer ")
            .unwrap_or(&self.token)
            .trim();
        let name = self.name.clone().unwrap_or_else(|| id.to_string());
        let mut agent = Agent::new(id, name).with_groups(self.groups.iter().copied().map(GroupId));
        agent.email = self.email.clone();
        agent.avatar = self.avatar.clone();
        if let Some(max) = self.max_chats {
            agent = agent.with_max_chats(max);
        }
        if let Some(permission) = self.permission {
            agent = agent.with_permission(permission);
        }
        Ok(AgentLogin {
            token: token.to_string(),
            agent,
        })
    }
}

impl ConfigFile {
    /// Reads and checks `path`. Relative paths inside it are taken from its folder.
    pub fn load(path: &Path) -> Result<ConfigFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--config {}: {e}", path.display()))?;
        let mut file =
            ConfigFile::parse(&text).map_err(|e| format!("--config {}: {e}", path.display()))?;
        if let Some(data) = &file.data
            && data.is_relative()
        {
            let base = path.parent().unwrap_or(Path::new("."));
            file.data = Some(base.join(data));
        }
        if let Some(ca) = &file.webhook_ca
            && ca.is_relative()
        {
            let base = path.parent().unwrap_or(Path::new("."));
            file.webhook_ca = Some(base.join(ca));
        }
        Ok(file)
    }

    /// Reads TOML text.
    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for agent in &file.agents {
            agent.login()?;
        }
        for license in &file.licenses {
            license.check()?;
        }
        Ok(file)
    }
}
