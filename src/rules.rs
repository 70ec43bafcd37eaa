//! The rules the engine enforces, and the decisions it makes where the protocol says nothing.
//!
//! This module holds no code: it is the reference that code comments cite ("rule R4"). Each
//! rule has a test named after it in `tests/thread_rules.rs` (`r1_...` to `r15_...`), and the
//! property tests check the rules after every step of random runs. Routing has its own rules and
//! decisions, in [`crate::routing`]; the JSON codec's are in [`crate::wire`]; access to
//! properties and chats is in `docs/properties.md`.
//!
//! # Thread rules
//!
//! The first four are the founding document's; the others spell out the rest of v0.5's Agent
//! and Customer APIs.
//!
//! * **R1.** A chat has at most one active thread, and only its last thread can be it.
//! * **R2.** `start_chat` makes the chat together with its first thread, which is active. It may
//!   carry initial events and properties.
//! * **R3.** An event sent to a chat whose last thread is active is appended to that thread. An
//!   event sent to a chat with no active thread opens a new thread, and the pushes announce it
//!   as `incoming_chat_thread` rather than `incoming_event`.
//! * **R4.** Annotations are the exception to R3: an annotation never opens a thread. It is
//!   appended to the last thread whether that thread is active or not, and it is not activity:
//!   [`Thread::last_activity`](crate::Thread::last_activity) stays where it was.
//! * **R5.** `close_thread` deactivates the active thread and pushes `thread_closed` naming who
//!   closed it; on a chat with no active thread it is a `validation` error. When an agent closes
//!   a thread, the engine first writes the system message `manual_archived` ("Anna archived the
//!   chat"), whether or not a router is set.
//! * **R6.** The engine assigns ids, orders and timestamps. One counter per license gives every
//!   thread and event its `order`, so orders grow strictly across threads and events alike. A
//!   `send_event` repeated by the same sender in the same chat with the same `custom_id` returns
//!   the event stored the first time and adds nothing.
//! * **R7.** A customer may not author a system message, nor an event whose recipients are
//!   `agents` only (`authorization`). `send_event` refuses the `file` kind from anyone
//!   (`validation`): files arrive through the customer's `send_file`, with the metadata of a file
//!   the host has already stored.
//! * **R8.** A customer acts only on its own chats. By default a customer has one chat at most
//!   ([`EngineConfig::max_chats_per_customer`](crate::EngineConfig::max_chats_per_customer)).
//! * **R9.** Agents enter and leave chats with `join_chat` and `remove_from_chat`; the engine
//!   writes the system messages `agent_joined` ("Anna joined the chat") and `agent_left` ("Anna
//!   left the chat") and pushes `chat_users_updated`. Naming a customer in `remove_from_chat` is
//!   an `authorization` error.
//! * **R10.** Typing indicators (recipients `all` or `agents`) and sneak peeks (from a customer,
//!   to agents only) are pushed and never stored, and never go back to the user who sent them.
//! * **R11.** `send_rich_message_postback` toggles the user on every button of the event that
//!   carries that `postback_id`. The change is stored; the push goes out only while the thread
//!   is active.
//! * **R12.** `update_last_seen_timestamp` keeps one time per user per chat. Without a time it
//!   means now. It never moves backwards: an older time is answered with the stored one and
//!   pushes nothing. A time later than now is a `validation` error.
//! * **R13.** `multicast` reaches agents (all of them, some ids, some groups) and customers
//!   (ids). It is pushed, never stored.
//! * **R14.** `update_customer` changes the customer's name, e-mail, fields and current page;
//!   `customer_updated` is pushed once for each of the customer's active chats.
//! * **R15.** Pushes about a chat go to its customer and to every agent who may see the chat
//!   (with empty scopes, that is every agent of the license), each shaped for the recipient's
//!   role. [`PushAudience::ChatAgentsOnly`](crate::PushAudience::ChatAgentsOnly) narrows the
//!   agents to those in the chat.
//!
//! # Decisions where the protocol is silent
//!
//! Where neither the v0.5 reference nor its successor says what to do, the engine does what a
//! careful client of the API would expect, as follows.
//!
//! * **The requester hears of its own command.** It is among the recipients of the pushes its
//!   command causes, because its other connections need them. Typing indicators, sneak peeks and
//!   multicasts are the exception: they go to everyone but their author.
//! * **Chat ids carry the chat's slot.** A chat id is a random UUID whose last 32 bits hold the
//!   chat's slot through a permutation keyed from the seed (`ChatIdScheme::KeyedPermutation`),
//!   so finding a chat is one array access and, without the seed, an id shows neither the chat
//!   counter nor which chat is older. Snapshots written before the scheme existed keep the older
//!   masked scheme. Thread and event ids are wholly random.
//! * **Timestamps are whole Unix seconds**, the protocol's resolution. Sort by `order`, never by
//!   time.
//! * **The `custom_id` is the idempotency key.** A retry returns the original event even when
//!   the retried body differs. A `custom_id` is 1 to 256 bytes long.
//! * **Rich message buttons' `user_ids` belong to the engine.** Whatever a sender puts there is
//!   dropped when the event is accepted.
//! * **Joining twice, leaving twice.** `join_chat` naming an agent already in the chat, and
//!   `remove_from_chat` naming one who is not, are `validation` errors that name the agent. The
//!   system messages of joins and leaves are written only while the chat has an active thread;
//!   they never open one.
//! * **An agent may act on any chat it may see**: one it is in, or one whose scopes include it.
//!   It need not be in the chat. Permissions narrow this (`docs/properties.md`).
//! * **An agents-only event still opens a thread** when the chat has none active (R3); the
//!   customer is told of the new thread, without the event.
//! * **`send_file` takes an optional `custom_id`.** v0.5 lists it as required; without one an
//!   upload simply cannot be retried idempotently.
//! * **Summaries are newest first**: `get_chat_threads_summary` by the threads' order;
//!   `get_chats_summary` and the agent login's `chats_summary` by the order of each chat's latest
//!   thread or event. An agent's login lists the newest active chats it may see, at most `Limits::login_chats`
//!   (100 by default), and says how to page through the rest (`docs/limits.md`).
//! * **`update_customer` merges `fields`** key by key. A customer's `last_seen_timestamp` moves
//!   with each of its commands that changes the engine; it does not move on queries, typing
//!   indicators, sneak peeks, retries that add nothing, or refused requests.
//! * **Rich message elements may have no buttons.** `buttons: []` means the same as no
//!   `buttons`; an element has at most 10.
//! * **Old closed threads may leave memory** when the host archives them
//!   ([`Engine::archive_threads`](crate::Engine::archive_threads)): never an active thread nor a
//!   chat's last; the thread rules, summaries and pagination stay exact, and `get_chat_threads`
//!   and `get_archives` show them as before once the host fills them in. A text `query` of
//!   `get_archives` and `last_event_per_type` look only at threads in memory.
//! * **Not found is not "not yours".** A chat id that does not exist is a `validation` error; a
//!   chat that exists but is not the requester's is an `authorization` error. Neither answer
//!   carries anything of the chat.
//! * **The license is the host's to configure**
//!   ([`EngineConfig::license`](crate::EngineConfig::license), a [`License`](crate::License)).
//!   The agent's `login` shows it as its `license` object, without `expiration_timestamp` when
//!   the license never expires, and shows none when the host configured none.
//! * **An expired license serves nobody.** From a configured license's `expiration_timestamp`
//!   on, every call of both facades is refused with `license_expired`
//!   ([`Error::LicenseExpired`](crate::Error::LicenseExpired), which names the license and the
//!   time it expired) and changes nothing: commands, queries and `login` alike. A call one
//!   second earlier is served. [`Engine::as_agent`](crate::Engine::as_agent) and
//!   [`Engine::as_customer`](crate::Engine::as_customer) check this before anything else, even
//!   before looking the requester up, so an unknown user or a banned customer also gets
//!   `license_expired` and learns nothing more. The time checked is the engine's: as a call with
//!   an earlier `now` acts at the latest time seen, once the engine has seen the expiry (a
//!   `tick` past it, say) such a call is refused too. Without a license, or with one that has no
//!   expiration time, nothing expires.
//! * **Host calls still work after the expiry**: `add_agent`, `add_customer`,
//!   `create_customer`, `configure_property`, `set_router`, `set_agent_presence`,
//!   `update_agent_profile`, `tick`, snapshots, `restore` and journal replay. They are the host
//!   running its own engine, and time passing, not requests of the license's users. Refusing
//!   them would leave a host unable to keep, persist and restore an expired license's data, and
//!   would make replay depend on the day it runs. So routing timers still fire. Replay stays
//!   exact: a record carries the time of the call it records, and every facade record was made
//!   before the expiry (after it, the call was refused and wrote no record), so it replays at
//!   that time and passes whenever it is replayed; a record that claims a facade call at or
//!   after the expiry diverges. Over the wire, `ping` is still answered: it keeps the
//!   connection open and touches no chat.
