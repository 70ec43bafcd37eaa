//! Engine configuration.

use serde::{Deserialize, Serialize};

use super::{ChatIdScheme, Limits};
use crate::model::License;

/// Which agents are told about a chat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PushAudience {
    /// Every agent who may see the chat, whether in it or not (chat.io v0.5: new events and
    /// chats are sent to all agents of the license; scopes narrow this).
    #[default]
    AllAgents,
    /// Only the agents in the chat.
    ChatAgentsOnly,
}

/// How an [`Engine`](crate::Engine) behaves.
///
/// ```
/// use chatio::{Engine, EngineConfig};
/// let engine = Engine::new(EngineConfig::with_seed(7).max_chats_per_customer(None));
/// assert_eq!(engine.config().max_chats_per_customer, None);
/// assert_eq!(engine.config().seed, 7);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Seeds the id generator: the same seed and the same calls give the same ids.
    pub seed: u64,
    /// How many chats a customer may have, counting every chat it ever started (chats are never
    /// deleted, and an inactive chat continues in a new thread when the customer writes to it);
    /// `None` for no limit. chat.io's product rule is one chat per customer, continued thread
    /// after thread, so the default is `Some(1)`.
    ///
    /// It counts all of them, not only the active ones, on purpose: a count of active chats
    /// would let a customer close each chat and start another, without end, and it is that
    /// growth a limit must stop. A customer at its limit is refused with
    /// [`Error::ChatLimitReached`](crate::Error::ChatLimitReached).
    pub max_chats_per_customer: Option<u32>,
    /// Which agents are told about a chat.
    pub push_audience: PushAudience,
    /// Seconds an assigned agent has to see a customer's message before routing moves the chat
    /// on; also the quiet time after which a chat is marked idle. chat.io: 5 minutes.
    pub unseen_timeout: i64,
    /// Seconds a chat may stay idle before routing archives it. chat.io: 25 minutes.
    pub inactivity_timeout: i64,
    /// The license the engine serves, shown in the agent's `login`; `None` (the default): none
    /// is shown and nothing expires. With an expiration time, every Agent API and Customer API
    /// call at or after it is refused with `license_expired` (see [`License`]).
    ///
    /// Configurations and snapshots written before this field existed read as `None`, and a
    /// configuration without a license is written without the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<License>,
    /// How much a request may make the license store and answer (see [`Limits`]). Configurations
    /// and snapshots written before this field existed read as the defaults.
    #[serde(default)]
    pub limits: Limits,
    /// How chat ids carry their chat's slot (see [`ChatIdScheme`]): by default
    /// [`ChatIdScheme::KeyedPermutation`], which does not show the chat counter.
    ///
    /// A configuration or snapshot written before this field existed reads as
    /// [`ChatIdScheme::MaskedSlot`], the scheme its chat ids were made with, so that they keep
    /// naming their chats; a host that replays such a journal from its start must configure
    /// that scheme too. The scheme of a license cannot change once it has chats.
    #[serde(default = "ChatIdScheme::before_schemes")]
    pub chat_id_scheme: ChatIdScheme,
    /// Take [`STRICT_DENIALS`](crate::model::STRICT_DENIALS) from normal agents (off by
    /// default: the documented table applies).
    /// Left out of snapshots while off, so snapshots of licenses that never set it read and
    /// compare as they did before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict_permissions: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_chats_per_customer: Some(1),
            push_audience: PushAudience::AllAgents,
            unseen_timeout: 5 * 60,
            inactivity_timeout: 25 * 60,
            license: None,
            limits: Limits::default(),
            chat_id_scheme: ChatIdScheme::KeyedPermutation,
            strict_permissions: false,
        }
    }
}

impl EngineConfig {
    /// The default configuration with a seed.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// Sets how many chats a customer may have (`None`: no limit).
    pub fn max_chats_per_customer(mut self, limit: Option<u32>) -> Self {
        self.max_chats_per_customer = limit;
        self
    }

    /// Sets the routing timers, in seconds: how long an assignee has to see a customer's message
    /// (and the quiet time before a chat is idle), and how long an idle chat stays open.
    pub fn routing_timeouts(mut self, unseen: i64, inactivity: i64) -> Self {
        self.unseen_timeout = unseen.max(1);
        self.inactivity_timeout = inactivity.max(1);
        self
    }

    /// Sets which agents are told about a chat.
    pub fn push_audience(mut self, audience: PushAudience) -> Self {
        self.push_audience = audience;
        self
    }

    /// Takes [`STRICT_DENIALS`](crate::model::STRICT_DENIALS) from normal agents, or gives
    /// them back.
    pub fn strict_permissions(mut self, strict: bool) -> Self {
        self.strict_permissions = strict;
        self
    }

    /// Sets how chat ids carry their chat's slot (see [`ChatIdScheme`]).
    pub fn chat_id_scheme(mut self, scheme: ChatIdScheme) -> Self {
        self.chat_id_scheme = scheme;
        self
    }

    /// Sets the limits (see [`Limits`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the license the engine serves (see [`License`]).
    pub fn license(mut self, license: License) -> Self {
        self.license = Some(license);
        self
    }
}
