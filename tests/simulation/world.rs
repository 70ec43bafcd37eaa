//! One simulated run: an engine, the users and clock of its host, every journal record the
//! engine handed out, and the checks made after every step.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chatio::journal::{JournalError, JournalMode, JournalRecord, RecordedEvent};
use chatio::model::{Access, Location, LocationAccess, PropertyConfig};
use chatio::routing::builtin_router;
use chatio::{
    AgentCommand as AgentAction, Command, CustomerCommand as CustomerAction, HostCommand,
};
use chatio::{
    ChatId, Customer, Engine, EngineConfig, Error, ErrorKind, EventId, EventKind, License,
    NewEvent, Output, Push, PushAudience, Role, SentEvent, StartChat, Timestamp, UserId,
};

use crate::checks::{self, Before, Guarantees, PushCtx, Tracker, may_see, same};
use crate::ops::{AgentReq, CustomerReq, Op, PropSpec, ROUTERS, prop_specs};
use crate::rng::{self, Rng};

/// The host clock's start (2023-11-14T22:13:20Z).
pub const T0: i64 = 1_700_000_000;

/// On average one restart every this many steps.
const RESTART_EVERY: u64 = 200;

/// The most ticks a host makes at successive deadlines before one tick at the time it woke.
const PRECISE_TICKS: usize = 8;

/// Snapshots kept for restarts from an older snapshot plus the records after it.
const SNAPSHOTS_KEPT: usize = 4;

/// Seeds the stream a run's license is drawn from: a stream of its own, so that a run without
/// a license draws exactly what it drew before licenses existed, and seeds reported then still
/// reproduce their runs.
const LICENSE_STREAM: u64 = 0x11ce_95e0_e8b1_7e5d;

/// Seeds the stream a run's limits are drawn from, apart from the others for the same reason.
const LIMITS_STREAM: u64 = 0x7e57_11a1_75b0_0b5e;

/// The chats a large run starts with (see `Sim::grow`).
pub const LARGE_CHATS: usize = 10_000;

/// The step at which a license that expires during the run comes close: the clock cannot get
/// there by itself (its expiry is years out), so the host's clock jumps to a little before it,
/// somewhere between a sixth and five eighths of a run of 800 steps. A step, not a fraction of
/// the run: the command that reproduces a failure runs a shorter run, which must be the same.
const APPROACH_STEPS: (i64, i64) = (130, 500);

/// The kinds of run, for the report: without a license, with one that never expires, one that
/// expires during the run, and one expired from the start.
pub const LICENSE_KINDS: [&str; 4] = [
    "without",
    "never expiring",
    "expiring during the run",
    "expired from the start",
];

/// What the runs did, for the report.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub runs: u64,
    pub steps: u64,
    /// Per operation: accepted, refused.
    pub ops: BTreeMap<&'static str, [u64; 2]>,
    /// Refusals per error kind.
    pub errors: BTreeMap<&'static str, u64>,
    /// Host ticks with something due, and without.
    pub ticks: [u64; 2],
    /// Restarts: from a fresh snapshot, by replaying every record, from an older snapshot plus
    /// the records after it.
    pub restarts: [u64; 3],
    pub records: u64,
    pub max_chats: usize,
    pub max_events: usize,
    /// Runs per kind of license (`LICENSE_KINDS`).
    pub licenses: [u64; 4],
    /// Runs with tight limits, and large runs.
    pub tight_runs: u64,
    pub large_runs: u64,
    /// Refusals per limit (`Error::LimitExceeded`).
    pub limits: BTreeMap<&'static str, u64>,
    /// Steps with the host clock at or past the license's expiry, and host ticks there with
    /// something due: routing timers keep firing for an expired license.
    pub expired_steps: u64,
    pub expired_ticks: u64,
}

impl Stats {
    pub fn merge(&mut self, other: &Stats) {
        self.runs += other.runs;
        self.steps += other.steps;
        for (k, v) in &other.ops {
            let e = self.ops.entry(k).or_default();
            e[0] += v[0];
            e[1] += v[1];
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in &other.limits {
            *self.limits.entry(k).or_default() += v;
        }
        self.tight_runs += other.tight_runs;
        self.large_runs += other.large_runs;
        for i in 0..2 {
            self.ticks[i] += other.ticks[i];
        }
        for i in 0..3 {
            self.restarts[i] += other.restarts[i];
        }
        self.records += other.records;
        for i in 0..4 {
            self.licenses[i] += other.licenses[i];
        }
        self.expired_steps += other.expired_steps;
        self.expired_ticks += other.expired_ticks;
        self.max_chats = self.max_chats.max(other.max_chats);
        self.max_events = self.max_events.max(other.max_events);
    }
}

/// Whether a call makes a journal record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rec {
    Never,
    Maybe,
    Always,
}

/// What a journal record holds besides its number: when, and the command.
#[derive(Debug, PartialEq)]
struct Entry {
    at: Timestamp,
    command: Command,
}

impl Entry {
    fn host(at: Timestamp, command: HostCommand) -> Self {
        Self {
            at,
            command: Command::Host(command),
        }
    }
}

/// What a call is checked against.
struct Expect {
    /// The record the call must make, if it makes one.
    entry: Entry,
    record: Rec,
    /// A host call that returns no `Output`: its record waits in the engine's outbox.
    host: bool,
    /// The call's `Output` (if accepted) hands out every record waiting.
    drains: bool,
    ctx: PushCtx,
}

impl Expect {
    fn host(entry: Entry) -> Self {
        Self {
            entry,
            record: Rec::Always,
            host: true,
            drains: false,
            ctx: PushCtx::default(),
        }
    }

    fn command(entry: Entry, ctx: PushCtx) -> Self {
        Self {
            entry,
            record: Rec::Maybe,
            host: false,
            drains: true,
            ctx,
        }
    }
}

/// What a call is checked against from before it: its journal position, the engine (cloned
/// for calls that may be refused or change nothing), and who was in which chat.
struct Prior<'a> {
    seq: u64,
    engine: Option<&'a Engine>,
    members: Before<'a>,
}

impl<'a> Prior<'a> {
    fn of(before: &'a Engine) -> Self {
        Self {
            seq: before.journal_seq(),
            engine: Some(before),
            members: Before::Engine(before),
        }
    }
}

pub struct Sim {
    pub seed: u64,
    pub rng: Rng,
    pub config: EngineConfig,
    pub engine: Engine,
    /// Where records go: in each `Output`, held until `take_journal`, or nowhere.
    pub mode: JournalMode,
    /// Registered agents and customers, in registration order.
    pub agents: Vec<UserId>,
    pub customers: Vec<UserId>,
    pub next_agent: usize,
    pub next_customer: usize,
    pub next_property: usize,
    pub props: Vec<PropSpec>,
    /// Ids of the auto chat scopes configurations that exist.
    pub auto_ids: Vec<String>,
    /// `(chat, sender, custom_id)` of every event sent with a `custom_id`: a retry must return it.
    pub custom_ids: HashMap<(ChatId, UserId, String), EventId>,
    /// The host clock: the latest time it has reached (requests may be made earlier).
    pub clock: Timestamp,
    /// For a license that expires during the run: the step at which the host clock jumps to
    /// this many seconds before the expiry.
    pub approach: Option<(u64, i64)>,
    /// The last refusal of the operation running, if any: what the license's checks read to
    /// tell a refusal for the license from any other.
    pub refusal: Option<Error>,
    /// Every record handed out, in order.
    pub journal: Vec<JournalRecord>,
    /// `(journal_seq, snapshot)` taken along the way.
    pub snapshots: Vec<(u64, Vec<u8>)>,
    /// What routing guarantees, given the routers set so far.
    pub guarantees: Guarantees,
    pub tracker: Tracker,
    pub stats: Stats,
    /// The step running (0 while setting up), and what runs outside an operation.
    pub step: u64,
    pub phase: &'static str,
    pub trace: bool,
    /// Whether the run starts with `LARGE_CHATS` chats.
    pub large: bool,
}

impl Sim {
    /// A run's license, drawn from its seed: configuration (with a `License` or none, see
    /// `draw_license`), properties, router, agents, customers and presence. Nothing is registered yet; `setup` does it, checked.
    pub fn new(seed: u64, trace: bool, large: bool) -> Self {
        let mut rng = Rng::new(seed);
        let mut config = EngineConfig::with_seed(rng.next_u64())
            .max_chats_per_customer([Some(1), Some(3), None][rng.weighted(&[5, 3, 2])]);
        // A large run's customers start thousands of chats each.
        if large {
            config = config.max_chats_per_customer(None);
        }
        if rng.percent(20) {
            config = config.push_audience(PushAudience::ChatAgentsOnly);
        }
        if rng.percent(15) {
            config = config.routing_timeouts(60, 300);
        }
        // A large run's customers must be served while it grows: it has no license.
        let (kind, license, approach) = if large {
            (0, None, None)
        } else {
            draw_license(seed)
        };
        config.license = license;
        let tight = draw_limits(seed).filter(|_| !large);
        if let Some(limits) = &tight {
            config = config.limits(limits.clone());
        }
        // Now and then a license keeps the masked chat ids of earlier versions.
        if rng::Rng::new(rng::mix(seed ^ LIMITS_STREAM ^ 1)).percent(10) {
            config = config.chat_id_scheme(chatio::ChatIdScheme::MaskedSlot);
        }
        let mut engine = Engine::new(config.clone());
        let mode =
            [JournalMode::Output, JournalMode::Hold, JournalMode::Off][rng.weighted(&[13, 5, 2])];
        engine.set_journal_mode(mode);
        Self {
            seed,
            rng,
            config,
            engine,
            mode,
            agents: Vec::new(),
            customers: Vec::new(),
            next_agent: 0,
            next_customer: 0,
            next_property: 0,
            props: prop_specs(),
            auto_ids: Vec::new(),
            custom_ids: HashMap::new(),
            clock: Timestamp::from_unix_seconds(T0),
            approach,
            refusal: None,
            journal: Vec::new(),
            snapshots: Vec::new(),
            guarantees: Guarantees::default(),
            tracker: Tracker::default(),
            stats: Stats {
                licenses: std::array::from_fn(|i| u64::from(i == kind)),
                tight_runs: u64::from(tight.is_some()),
                large_runs: u64::from(large),
                ..Stats::default()
            },
            large,
            step: 0,
            phase: "setup",
            trace,
        }
    }

    /// Runs the setup and then `steps` steps. `current` holds the operation running, for the
    /// failure report; `beat` is called once per step (the watchdog's heartbeat).
    pub fn run(&mut self, steps: u64, current: &mut Option<Op>, beat: &dyn Fn(u64)) {
        for op in self.setup() {
            if self.trace {
                eprintln!("[seed {} setup] {op:?}", self.seed);
            }
            *current = Some(op);
            self.exec(current.as_ref().expect("set"));
        }
        if self.large {
            *current = None;
            self.phase = "growing the license to LARGE_CHATS chats";
            self.grow(LARGE_CHATS);
        }
        // Now and then, near the end, the clock jumps to the far future. The step counts from
        // a full run's length, not this run's: the command that reproduces a failure runs the
        // failing run only up to the failing step, and must jump where the failing run did.
        let far_future_at = if self.rng.percent(3) {
            Some(crate::RUN_STEPS - crate::RUN_STEPS / 10)
        } else {
            None
        };
        for step in 1..=steps {
            self.step = step;
            beat(step);
            if self.rng.below(RESTART_EVERY) == 0 {
                if self.trace {
                    eprintln!("[seed {} step {step}] restart", self.seed);
                }
                *current = None;
                self.phase = "a restart, before the step's operation";
                self.restart();
            }
            if far_future_at == Some(step) {
                self.clock = self.clock + 200 * 365 * 86_400;
            }
            if let (Some((_, lead)), Some(end)) =
                (self.approach.filter(|a| a.0 == step), self.expiry())
            {
                self.clock = self.clock.max(end + -lead);
            }
            let at = self.advance_time();
            if self.expiry().is_some_and(|end| self.clock >= end) {
                self.stats.expired_steps += 1;
            }
            self.host_ticks(at, current);
            // Timers run only with a router; an assignment made before the first router
            // (by transfer_chat) has none until something happens in its chat.
            let timed = self.guarantees.queue_exact;
            if timed && self.engine.next_deadline().is_none_or(|d| d > at) {
                *current = None;
                self.phase = "checking that timers fired on time, after the host's ticks";
                checks::timers_on_time(&self.engine, at);
            }
            let op = self.next_op(at);
            if self.trace {
                eprintln!("[seed {} step {step}] {op:?}", self.seed);
            }
            *current = Some(op);
            self.exec(current.as_ref().expect("set"));
            self.stats.steps += 1;
        }
        *current = None;
        self.phase = "the end-of-run checks (replay, snapshots)";
        self.finish();
    }

    /// The setup, as checked host calls.
    fn setup(&mut self) -> Vec<Op> {
        let mut ops = Vec::new();
        let router_first = self.rng.percent(50);
        let router = ROUTERS[self.rng.index(ROUTERS.len())];
        if router_first {
            ops.push(Op::SetRouter(router));
        }
        ops.extend(self.registry().into_iter().map(Op::ConfigureProperty));
        for _ in 0..self.rng.range(2, 6) {
            ops.push(Op::AddAgent(self.fresh_agent()));
        }
        if !router_first && self.rng.percent(50) {
            ops.push(Op::SetRouter(router));
        }
        for _ in 0..self.rng.range(1, 4) {
            if self.rng.coin() {
                ops.push(Op::CreateCustomer);
            } else {
                self.next_customer += 1;
                let id = crate::ops::customer_id(self.next_customer);
                ops.push(Op::AddCustomer(Customer::new(id)));
            }
        }
        for i in 0..self.agents.len() {
            if self.rng.percent(60) {
                let agent = self.agents[i].clone();
                ops.push(Op::SetPresence {
                    agent,
                    online: true,
                    at: self.clock,
                });
            }
        }
        ops
    }

    /// Grows the license to `chats` more chats, each started by one of its customers with a
    /// message, a few a second: the scale the steps that follow (and the restarts, replays and
    /// snapshots) then run at. Each start is checked for success only; the steps check
    /// everything.
    fn grow(&mut self, chats: usize) {
        if self.customers.is_empty() {
            let id = self.engine.create_customer();
            self.customers.push(id);
        }
        for i in 0..chats {
            let who = self.customers[i % self.customers.len()].clone();
            let at = self.clock + (i / 20) as i64;
            let body = StartChat::default().with_event(NewEvent::message(format!("hi {i}")));
            let mut out = self
                .engine
                .as_customer(&who, at)
                .and_then(|mut api| api.start_chat(body))
                .unwrap_or_else(|e| panic!("a large license's chat {i} was refused: {e}"));
            let journal = std::mem::take(&mut out.journal);
            self.collect(journal);
        }
        self.clock = self.clock.max(self.engine.now());
        if self.mode != JournalMode::Off {
            let waiting = self.engine.take_journal();
            self.collect(waiting);
        }
        checks::invariants(&self.engine, &mut self.tracker, self.guarantees, true);
        self.stats.max_chats = self.stats.max_chats.max(self.engine.chats().len());
    }

    /// A valid agent with a new id (`new_agent` also draws invalid ones).
    fn fresh_agent(&mut self) -> chatio::Agent {
        loop {
            let agent = self.new_agent();
            let new = !agent.id.to_string().starts_with("ghost")
                && !self.customers.contains(&agent.id)
                && !agent.name.trim().is_empty()
                && agent.id.to_string() == format!("agent{}@example.com", self.next_agent);
            if new {
                // Register its id now so the next draw picks another.
                self.agents.push(agent.id.clone());
                return agent;
            }
        }
    }

    /// The property registry: varied access per role and location, one property with access
    /// drawn per run, and `ghost.prop`, never configured.
    fn registry(&mut self) -> Vec<PropertyConfig> {
        let la = |agent: Access, customer: Access| LocationAccess { agent, customer };
        let write_only = Access {
            read: false,
            write: true,
        };
        let mut access =
            || [Access::NONE, Access::READ, write_only, Access::READ_WRITE][self.rng.index(4)];
        let multi = [
            (Location::Chat, la(access(), access())),
            (Location::Thread, la(access(), access())),
            (Location::Event, la(access(), access())),
        ];
        let mut configs = Vec::new();
        for spec in &self.props {
            let mut c = PropertyConfig::new(spec.namespace, spec.name, spec.ty);
            if let Some(d) = &spec.domain {
                c = c.with_domain(d.clone());
            }
            c = match (spec.namespace, spec.name) {
                ("crm", _) => c.at(Location::Chat, la(Access::READ_WRITE, Access::NONE)),
                ("survey", "rating") => c.at(Location::Chat, la(Access::READ, Access::READ_WRITE)),
                ("survey", _) => c.at(Location::Chat, la(Access::READ, write_only)),
                ("topic", _) => c
                    .at(Location::Chat, la(Access::READ_WRITE, Access::READ))
                    .at(Location::Thread, la(Access::READ_WRITE, Access::READ)),
                ("secret", _) => c
                    .at(Location::Thread, la(Access::READ_WRITE, Access::NONE))
                    .at(Location::Event, la(Access::READ_WRITE, Access::NONE)),
                ("tag", _) => c.at(Location::Event, la(Access::READ_WRITE, Access::READ_WRITE)),
                ("multi", _) => multi.iter().fold(c, |c, (loc, a)| c.at(*loc, *a)),
                _ => continue,
            };
            configs.push(c);
        }
        configs
    }

    // ----- time -----

    /// When the run's license expires, if it does.
    pub fn expiry(&self) -> Option<Timestamp> {
        self.config.license.as_ref()?.expiration_timestamp
    }

    /// Moves the host clock and returns the time of the step's request: usually the clock,
    /// sometimes earlier than anything the engine has seen.
    fn advance_time(&mut self) -> Timestamp {
        let r = &mut self.rng;
        let old = self.clock;
        match r.weighted(&[60, 18, 4, 1, 15, 2]) {
            0 => self.clock = self.clock + r.range(0, 20),
            1 => self.clock = self.clock + r.range(21, 400),
            2 => self.clock = self.clock + r.range(401, 3_600),
            3 => self.clock = self.clock + r.range(1, 45) * 86_400,
            4 => return self.clock + -r.range(1, 5_000),
            _ => return Timestamp::from_unix_seconds(r.range(0, T0)),
        }
        // The clock stops on the second before the expiry and on the expiry itself, whatever
        // jump would have carried it past: calls at those two seconds are where an off-by-one
        // in the license check shows.
        if let Some(end) = self.expiry() {
            if let Some(stop) = [end + -1, end]
                .into_iter()
                .find(|&stop| old < stop && stop < self.clock)
            {
                self.clock = stop;
            }
        }
        self.clock
    }

    /// What the host does about timers before a request: mostly tick at each deadline in turn,
    /// sometimes once at the request's time, sometimes nothing (a late host).
    fn host_ticks(&mut self, at: Timestamp, current: &mut Option<Op>) {
        match self.rng.weighted(&[85, 10, 5]) {
            // After a long jump a chat can be due every few minutes (an assignee who never
            // answers hands it to another who never answers, and back): a host that slept
            // that long ticks at the first deadlines, then once at the time it woke.
            0 => {
                for _ in 0..PRECISE_TICKS {
                    let Some(d) = self.engine.next_deadline().filter(|d| *d <= at) else {
                        break;
                    };
                    if self.trace {
                        eprintln!("[seed {} step {}] host tick at {d:?}", self.seed, self.step);
                    }
                    *current = Some(Op::Tick { at: d });
                    self.exec(current.as_ref().expect("set"));
                }
                if self.engine.next_deadline().is_some_and(|d| d <= at) {
                    if self.trace {
                        eprintln!(
                            "[seed {} step {}] host tick at {at:?}",
                            self.seed, self.step
                        );
                    }
                    *current = Some(Op::Tick { at });
                    self.exec(current.as_ref().expect("set"));
                }
            }
            1 if self.engine.next_deadline().is_some_and(|d| d <= at) => {
                if self.trace {
                    eprintln!(
                        "[seed {} step {}] host tick at {at:?}",
                        self.seed, self.step
                    );
                }
                *current = Some(Op::Tick { at });
                self.exec(current.as_ref().expect("set"));
            }
            _ => {}
        }
    }

    // ----- the license -----

    /// The refusal the license owes a facade call made at `at`: `license_expired`, naming the
    /// license and its expiry, once `at` or the engine's latest time (a request made earlier
    /// acts at that time) is at or after the expiry; `None` before it, and for a license that
    /// never expires or no license at all.
    fn owed_refusal(&self, at: Timestamp) -> Option<Error> {
        let license = self.config.license.as_ref()?;
        let end = license.expiration_timestamp?;
        (at.max(self.engine.now()) >= end).then(|| Error::LicenseExpired {
            license_id: license.id.clone(),
            expired_at: end,
        })
    }

    /// After a facade call made at `at` while the engine's time was `now`: refused with exactly
    /// the refusal owed, if one was, and changing nothing (`settle` checks that for commands,
    /// `before` for queries); never refused for the license when none was owed.
    fn licensed(
        &self,
        owed: Option<Error>,
        ok: bool,
        at: Timestamp,
        now: Timestamp,
        before: Option<&Engine>,
    ) {
        let call = || {
            format!(
                "a call at {at:?} (engine time {now:?}, license expiry {:?})",
                self.expiry()
            )
        };
        match owed {
            Some(owed) => {
                assert!(!ok, "{} was served after the expiry", call());
                assert_eq!(
                    self.refusal.as_ref(),
                    Some(&owed),
                    "{} was refused, but not for the expired license",
                    call()
                );
                if let Some(before) = before {
                    same(
                        &self.engine,
                        before,
                        "a query the license refused changed the engine",
                    );
                }
            }
            None => {
                if let Some(e) = self
                    .refusal
                    .as_ref()
                    .filter(|e| e.kind() == ErrorKind::LicenseExpired)
                {
                    panic!("{} was refused with `{e}` before the expiry", call());
                }
            }
        }
    }

    /// Notes a query's refusal, like `settle` notes a command's.
    fn refused(&mut self, e: Error) -> bool {
        assert_ne!(e.kind(), ErrorKind::Internal, "an internal error: {e}");
        *self.stats.errors.entry(e.kind().as_str()).or_default() += 1;
        self.count_limit(&e);
        self.refusal = Some(e);
        false
    }

    // ----- running an operation -----

    /// A host call that returns an `Output`: an accepted one always makes `entry`'s record, a
    /// refused one changes nothing.
    fn host_command(
        &mut self,
        name: &'static str,
        entry: Entry,
        call: impl FnOnce(&mut Engine) -> Result<Output<()>, Error>,
    ) {
        let before = self.engine.clone();
        let r = call(&mut self.engine);
        let x = Expect {
            record: Rec::Always,
            ..Expect::command(entry, PushCtx::default())
        };
        let ok = r.is_ok();
        self.output(&before, r, x);
        self.count(name, ok);
    }

    /// Notes a refusal for a limit, which must name one the license has and be past it.
    fn count_limit(&mut self, e: &Error) {
        if let Error::LimitExceeded {
            limit,
            max,
            requested,
        } = e
        {
            assert!(
                requested > max,
                "refused at {requested}, within {limit} = {max}"
            );
            let configured = serde_json::to_value(&self.config.limits).expect("limits as JSON");
            assert_eq!(
                configured[*limit].as_u64(),
                Some(*max),
                "refused for {limit} = {max}, which is not the license's"
            );
            assert_eq!(e.kind(), ErrorKind::Validation);
            *self.stats.limits.entry(limit).or_default() += 1;
        }
    }

    fn count(&mut self, name: &'static str, ok: bool) {
        self.stats.ops.entry(name).or_default()[usize::from(!ok)] += 1;
    }

    /// Runs one operation with every check, then the engine's invariants.
    pub fn exec(&mut self, op: &Op) {
        self.refusal = None;
        match op {
            Op::CreateCustomer => {
                let before = self.engine.clone();
                let id = self.engine.create_customer();
                assert!(
                    before.customer(&id).is_none() && before.agent(&id).is_none(),
                    "create_customer drew a taken id {id}"
                );
                let entry = Entry::host(
                    self.engine.now(),
                    HostCommand::CreateCustomer {
                        customer_id: Some(id.clone()),
                    },
                );
                self.settle(
                    Prior::of(&before),
                    None,
                    &[],
                    Vec::new(),
                    Expect::host(entry),
                );
                self.customers.push(id);
                self.count(op.name(), true);
            }
            Op::AddCustomer(c) => {
                let before = self.engine.clone();
                let r = self.engine.add_customer(c.clone());
                let entry = Entry::host(self.engine.now(), HostCommand::AddCustomer(c.clone()));
                self.settle(
                    Prior::of(&before),
                    r.as_ref().err(),
                    &[],
                    Vec::new(),
                    Expect::host(entry),
                );
                if r.is_ok() {
                    self.customers.push(c.id.clone());
                }
                self.count(op.name(), r.is_ok());
            }
            Op::AddAgent(a) => {
                let before = self.engine.clone();
                let r = self.engine.add_agent(a.clone());
                let entry = Entry::host(self.engine.now(), HostCommand::AddAgent(a.clone()));
                self.settle(
                    Prior::of(&before),
                    r.as_ref().err(),
                    &[],
                    Vec::new(),
                    Expect::host(entry),
                );
                if r.is_ok() && !self.agents.contains(&a.id) {
                    self.agents.push(a.id.clone());
                }
                self.count(op.name(), r.is_ok());
            }
            Op::ConfigureProperty(p) => {
                let before = self.engine.clone();
                let r = self.engine.configure_property(p.clone());
                let entry =
                    Entry::host(self.engine.now(), HostCommand::ConfigureProperty(p.clone()));
                self.settle(
                    Prior::of(&before),
                    r.as_ref().err(),
                    &[],
                    Vec::new(),
                    Expect::host(entry),
                );
                self.count(op.name(), r.is_ok());
            }
            Op::SetRouter(name) => {
                let before = self.engine.clone();
                self.engine
                    .set_router(builtin_router(name).expect("a built-in router"));
                let entry = Entry::host(
                    self.engine.now(),
                    HostCommand::SetRouter {
                        name: (*name).to_owned(),
                    },
                );
                self.settle(
                    Prior::of(&before),
                    None,
                    &[],
                    Vec::new(),
                    Expect::host(entry),
                );
                let g = &mut self.guarantees;
                let automatic = *name != "manual";
                if self.engine.chats().is_empty() {
                    g.queue_exact = true;
                    g.work_conserving =
                        automatic && (g.work_conserving || before.router().is_none());
                } else {
                    g.work_conserving &= automatic;
                }
                self.count(op.name(), true);
            }
            Op::SetJournalMode(mode) => {
                let before = self.engine.clone();
                self.engine.set_journal_mode(*mode);
                self.mode = *mode;
                assert_eq!(self.engine.journal_mode(), *mode);
                same(&self.engine, &before, "the journal mode is not state");
                self.count(op.name(), true);
            }
            Op::SetPresence { agent, online, at } => {
                let entry = Entry::host(
                    *at,
                    HostCommand::SetAgentPresence {
                        agent_id: agent.clone(),
                        online: *online,
                    },
                );
                self.host_command(op.name(), entry, |e| {
                    e.set_agent_presence(agent, *online, *at)
                });
            }
            Op::UpdateAgentProfile { agent, at } => {
                let entry = Entry::host(
                    *at,
                    HostCommand::UpdateAgentProfile {
                        agent: agent.clone(),
                    },
                );
                self.host_command(op.name(), entry, |e| {
                    e.update_agent_profile(agent.clone(), *at)
                });
            }
            Op::Tick { at } => {
                let due = self.engine.next_deadline().is_some_and(|d| d <= *at);
                let x = Expect {
                    record: if due { Rec::Always } else { Rec::Never },
                    drains: due,
                    ..Expect::command(Entry::host(*at, HostCommand::Tick), PushCtx::default())
                };
                if due {
                    // A tick cannot be refused and must make a record: no clone needed, only
                    // who was in which chat.
                    let members = checks::members(&self.engine);
                    let seq = self.engine.journal_seq();
                    let mut out = self.engine.tick(*at);
                    let journal = std::mem::take(&mut out.journal);
                    let prior = Prior {
                        seq,
                        engine: None,
                        members: Before::Members(&members),
                    };
                    self.settle(prior, None, &out.pushes, journal, x);
                } else {
                    let before = self.engine.clone();
                    let out = self.engine.tick(*at);
                    self.output(&before, Ok(out), x);
                }
                assert!(
                    self.engine.next_deadline().is_none_or(|d| d > *at),
                    "after tick({at:?}) the next deadline {:?} is still due",
                    self.engine.next_deadline()
                );
                self.stats.ticks[usize::from(!due)] += 1;
                if due && self.expiry().is_some_and(|end| *at >= end) {
                    self.stats.expired_ticks += 1;
                }
            }
            Op::Customer { who, at, req } => {
                let (now, owed) = (self.engine.now(), self.owed_refusal(*at));
                // Commands are checked against a clone anyway; a query gets one when the
                // license must refuse it.
                let before =
                    (owed.is_some() && is_customer_query(req)).then(|| self.engine.clone());
                let ok = self.customer_op(who, *at, req);
                self.licensed(owed, ok, *at, now, before.as_ref());
            }
            Op::Agent { who, at, req } => {
                let (now, owed) = (self.engine.now(), self.owed_refusal(*at));
                let before = (owed.is_some() && is_agent_query(req)).then(|| self.engine.clone());
                let ok = self.agent_op(who, *at, req);
                self.licensed(owed, ok, *at, now, before.as_ref());
            }
        }
        if !matches!(op, Op::Customer { .. } | Op::Agent { .. }) {
            if let Some(e) = &self.refusal {
                assert_ne!(
                    e.kind(),
                    ErrorKind::LicenseExpired,
                    "a host call was refused for the license: {e}"
                );
            }
        }
        let e = &self.engine;
        checks::invariants(e, &mut self.tracker, self.guarantees, false);
        let limits = &e.config().limits;
        for c in self.customers.iter().filter_map(|id| e.customer(id)) {
            let bytes: usize = c.fields.iter().map(|(k, v)| k.len() + v.len()).sum();
            assert!(
                c.fields.len() <= limits.customer_fields as usize
                    && bytes <= limits.customer_fields_bytes as usize,
                "customer {} holds {} fields of {bytes} bytes, past its license's limits",
                c.id,
                c.fields.len()
            );
        }
        assert!(
            self.auto_ids.len() <= limits.auto_chat_scopes as usize,
            "{} auto chat scopes configurations, over the limit",
            self.auto_ids.len()
        );
        self.stats.max_chats = self.stats.max_chats.max(e.chats().len());
        self.stats.max_events = self.stats.max_events.max(self.tracker.items);
    }

    /// Checks a call that returns an `Output`; returns the output (its journal taken) if the
    /// call was accepted.
    fn output<T>(
        &mut self,
        before: &Engine,
        r: Result<Output<T>, Error>,
        x: Expect,
    ) -> Option<Output<T>> {
        match r {
            Ok(mut out) => {
                let journal = std::mem::take(&mut out.journal);
                self.settle(Prior::of(before), None, &out.pushes, journal, x);
                Some(out)
            }
            Err(e) => {
                self.settle(Prior::of(before), Some(&e), &[], Vec::new(), x);
                None
            }
        }
    }

    /// The checks every call gets: journal records (numbering, count, content), atomicity of
    /// refusals, no change without a record, and the pushes.
    fn settle(
        &mut self,
        prior: Prior<'_>,
        err: Option<&Error>,
        pushes: &[Push],
        mut records: Vec<JournalRecord>,
        x: Expect,
    ) {
        let ok = err.is_none();
        let seq0 = prior.seq;
        let before = || {
            prior
                .engine
                .expect("a clone of the engine from before the call")
        };
        let seq1 = self.engine.journal_seq();
        if let Some(e) = err {
            assert_ne!(e.kind(), ErrorKind::Internal, "an internal error: {e}");
            *self.stats.errors.entry(e.kind().as_str()).or_default() += 1;
            self.count_limit(e);
            self.refusal = Some(e.clone());
        }
        let mut drained = false;
        match self.mode {
            JournalMode::Hold => {
                assert!(
                    records.is_empty(),
                    "an output carried journal records while the host holds them"
                );
                records = self.engine.take_journal();
                drained = true;
            }
            JournalMode::Off => {
                assert!(
                    records.is_empty() && self.engine.take_journal().is_empty(),
                    "journal records made while the journal is off"
                );
            }
            _ if x.host => {
                // A host that persists at once, or one that lets the record ride with the next
                // output.
                if self.rng.coin() {
                    records = self.engine.take_journal();
                    drained = true;
                }
            }
            _ => drained = ok && x.drains,
        }
        self.collect(records);
        if drained {
            assert_eq!(
                self.journal.len() as u64,
                seq1,
                "journal records were left in the engine (journal_seq {seq1}, {} handed out)",
                self.journal.len()
            );
        }
        if !ok {
            assert_eq!(seq1, seq0, "a refused call made a journal record");
            assert!(pushes.is_empty(), "a refused call pushed");
            same(&self.engine, before(), "a refused call changed the engine");
            return;
        }
        let made = seq1 - seq0;
        match x.record {
            Rec::Never => assert_eq!(made, 0, "a call that changes nothing made a record"),
            Rec::Always => assert_eq!(made, 1, "an accepted change made {made} records, not 1"),
            Rec::Maybe => assert!(made <= 1, "one call made {made} records"),
        }
        if made == 0 {
            assert!(
                pushes.iter().all(|p| !changes_state(p)),
                "a change pushed without a journal record: {pushes:?}"
            );
            same(
                &self.engine,
                before(),
                "an accepted call changed the engine but made no journal record",
            );
        } else if self.journal.len() as u64 >= seq1 {
            let got = &self.journal[seq1 as usize - 1];
            assert_eq!(
                (got.at, &got.command),
                (x.entry.at, &x.entry.command),
                "the journal record is not the call that was made"
            );
        }
        checks::pushes(&prior.members, &self.engine, pushes, &x.ctx);
    }

    /// Takes records handed out, checking they continue the journal.
    fn collect(&mut self, records: Vec<JournalRecord>) {
        for r in records {
            assert_eq!(
                r.seq,
                self.journal.len() as u64 + 1,
                "journal records out of sequence: {r:?}"
            );
            self.journal.push(r);
            self.stats.records += 1;
        }
    }

    // ----- the Customer API -----

    fn customer_op(&mut self, who: &UserId, at: Timestamp, req: &CustomerReq) -> bool {
        let eff = at.max(self.engine.now());
        let seq = self.engine.journal_seq();
        let ok = match self.customer_query(who, at, req) {
            Some(ok) => ok,
            None => self.customer_command(who, at, eff, req),
        };
        if self.engine.journal_seq() > seq {
            // A customer's command that changed the engine notes when the customer was seen.
            let seen = self
                .engine
                .customer(who)
                .and_then(|c| c.last_seen_timestamp);
            assert_eq!(
                seen,
                Some(eff),
                "{who}'s last_seen_timestamp after its command"
            );
        }
        self.count(req.name(), ok);
        ok
    }

    /// Runs a query (a read, which takes the engine by shared reference and so cannot change
    /// it); `None` if `req` is a command.
    fn customer_query(&mut self, who: &UserId, at: Timestamp, req: &CustomerReq) -> Option<bool> {
        let seq0 = self.engine.journal_seq();
        let role = Role::Customer;
        let mine =
            |e: &Engine, chat: &ChatId| e.chat(chat).is_some_and(|c| may_see(e, who, role, c));
        let ok = {
            let api = match self.engine.as_customer(who, at) {
                Ok(api) => api,
                Err(err) if is_customer_query(req) => return Some(self.refused(err)),
                Err(_) => return None,
            };
            match req {
                CustomerReq::Login => match api.login() {
                    Ok(l) => {
                        assert_eq!(&l.customer_id, who, "login answered for someone else");
                        true
                    }
                    Err(err) => self.refused(err),
                },
                CustomerReq::ChatsSummary(page) => match api.get_chats_summary(*page) {
                    Ok(s) => {
                        let e = &self.engine;
                        assert_eq!(s.total_chats, e.customer_chats(who).len());
                        for c in &s.chats_summary {
                            checks::shown_summary(e, who, role, c);
                        }
                        true
                    }
                    Err(err) => self.refused(err),
                },
                CustomerReq::ChatThreads(chat, threads) => {
                    match api.get_chat_threads(*chat, threads) {
                        Ok(t) => {
                            let e = &self.engine;
                            assert!(mine(e, chat), "{who} read chat {chat}, which is not theirs");
                            checks::shown_chat_threads(e, role, &t, chat);
                            true
                        }
                        Err(err) => self.refused(err),
                    }
                }
                CustomerReq::ThreadsSummary(chat, page) => {
                    match api.get_chat_threads_summary(*chat, *page) {
                        Ok(_) => {
                            assert!(mine(&self.engine, chat), "{who} read chat {chat}");
                            true
                        }
                        Err(err) => self.refused(err),
                    }
                }
                CustomerReq::QueuePosition(chat) => match api.get_queue_position(*chat) {
                    Ok(p) => {
                        let e = &self.engine;
                        assert!(
                            mine(e, chat),
                            "{who} read the queue position of chat {chat}"
                        );
                        assert_eq!(
                            p.is_some(),
                            e.queue().any(|q| q == *chat),
                            "queue position {p:?} for chat {chat}"
                        );
                        true
                    }
                    Err(err) => self.refused(err),
                },
                _ => return None,
            }
        };
        assert_eq!(
            self.engine.journal_seq(),
            seq0,
            "a query made a journal record"
        );
        Some(ok)
    }

    fn customer_command(
        &mut self,
        who: &UserId,
        at: Timestamp,
        eff: Timestamp,
        req: &CustomerReq,
    ) -> bool {
        let before = self.engine.clone();
        let ctx = PushCtx {
            requester: Some((who.clone(), Role::Customer)),
            ..PushCtx::default()
        };
        let entry = |command| Entry {
            at: eff,
            command: Command::Customer {
                customer_id: who.clone(),
                command,
            },
        };
        let x = |action| Expect::command(entry(action), ctx.clone());
        let e = &mut self.engine;
        macro_rules! call {
            ($method:ident($($arg:expr),*)) => {
                e.as_customer(who, at).and_then(|mut api| api.$method($($arg),*))
            };
        }
        match req {
            CustomerReq::StartChat(body) => {
                let r = call!(start_chat(body.clone()));
                let out = self.output(
                    &before,
                    r,
                    x(CustomerAction::StartChat { chat: body.clone() }),
                );
                if let Some(out) = &out {
                    self.started(who, Role::Customer, &out.response);
                }
                out.is_some()
            }
            CustomerReq::SendEvent(chat, ev) => {
                let r = call!(send_event(*chat, ev.clone()));
                let action = CustomerAction::SendEvent {
                    chat_id: *chat,
                    event: recorded(ev),
                };
                let out = self.output(&before, r, x(action));
                let annotation = ev.kind.is_annotation();
                self.sent(
                    &before,
                    who,
                    Role::Customer,
                    *chat,
                    annotation,
                    ev.custom_id.as_deref(),
                    out.as_ref(),
                )
            }
            CustomerReq::SendFile(chat, custom_id, file) => {
                let r = call!(send_file(*chat, custom_id.clone(), file.clone()));
                let action = CustomerAction::SendFile {
                    chat_id: *chat,
                    custom_id: custom_id.clone(),
                    file: file.clone(),
                };
                let out = self.output(&before, r, x(action));
                self.sent(
                    &before,
                    who,
                    Role::Customer,
                    *chat,
                    false,
                    custom_id.as_deref(),
                    out.as_ref(),
                )
            }
            CustomerReq::Postback(chat, thread, event, postback) => {
                let r = call!(send_rich_message_postback(
                    *chat,
                    *thread,
                    *event,
                    postback.clone()
                ));
                let action = CustomerAction::SendRichMessagePostback {
                    chat_id: *chat,
                    thread_id: *thread,
                    event_id: *event,
                    postback: postback.clone(),
                };
                let ok = self.output(&before, r, x(action)).is_some();
                self.toggled(ok, who, *chat, *thread, *event, postback)
            }
            CustomerReq::SneakPeek(chat, text) => {
                let r = call!(send_sneak_peek(*chat, text.clone()));
                let action = CustomerAction::SendSneakPeek {
                    chat_id: *chat,
                    text: text.clone(),
                };
                self.output(&before, r, x(action)).is_some()
            }
            CustomerReq::Typing(chat, typing) => {
                let r = call!(send_typing_indicator(*chat, *typing));
                let action = CustomerAction::SendTypingIndicator {
                    chat_id: *chat,
                    is_typing: *typing,
                };
                self.output(&before, r, x(action)).is_some()
            }
            CustomerReq::CloseThread(chat) => {
                let r = call!(close_thread(*chat));
                let out = self.output(
                    &before,
                    r,
                    x(CustomerAction::CloseThread { chat_id: *chat }),
                );
                self.closed(&before, *chat, Role::Customer, out.is_some())
            }
            CustomerReq::UpdateCustomer(update) => {
                let r = call!(update_customer(update.clone()));
                let action = CustomerAction::UpdateCustomer {
                    update: update.clone(),
                };
                let ok = self.output(&before, r, x(action)).is_some();
                self.customer_updated(ok, &before, who, update)
            }
            CustomerReq::ChatProperties(chat, props) => {
                let r = call!(update_chat_properties(*chat, props.clone()));
                let action = CustomerAction::UpdateChatProperties {
                    chat_id: *chat,
                    properties: props.clone(),
                };
                let ok = self.output(&before, r, x(action)).is_some();
                self.properties_stored(ok, *chat, None, props)
            }
            CustomerReq::ThreadProperties(chat, thread, props) => {
                let r = call!(update_chat_thread_properties(*chat, *thread, props.clone()));
                let action = CustomerAction::UpdateChatThreadProperties {
                    chat_id: *chat,
                    thread_id: *thread,
                    properties: props.clone(),
                };
                let ok = self.output(&before, r, x(action)).is_some();
                self.properties_stored(ok, *chat, Some(*thread), props)
            }
            CustomerReq::Scopes(chat, add, remove) => {
                let r = call!(update_chat_scopes(*chat, add.clone(), remove.clone()));
                let action = CustomerAction::UpdateChatScopes {
                    chat_id: *chat,
                    add_scopes: add.clone(),
                    remove_scopes: remove.clone(),
                };
                let ok = self.output(&before, r, x(action)).is_some();
                self.scopes_updated(ok, &before, *chat, add, remove)
            }
            CustomerReq::LastSeen(chat, ts) => {
                let r = call!(update_last_seen_timestamp(*chat, *ts));
                let action = CustomerAction::UpdateLastSeenTimestamp {
                    chat_id: *chat,
                    timestamp: *ts,
                };
                let out = self.output(&before, r, x(action));
                self.last_seen(who, *chat, *ts, eff, out.as_ref())
            }
            _ => unreachable!("queries are handled by customer_query"),
        }
    }

    // ----- the Agent API -----

    fn agent_op(&mut self, who: &UserId, at: Timestamp, req: &AgentReq) -> bool {
        let eff = at.max(self.engine.now());
        let ok = match self.agent_query(who, at, req) {
            Some(ok) => ok,
            None => self.agent_command(who, at, eff, req),
        };
        self.count(req.name(), ok);
        ok
    }

    fn agent_query(&mut self, who: &UserId, at: Timestamp, req: &AgentReq) -> Option<bool> {
        let seq0 = self.engine.journal_seq();
        let role = Role::Agent;
        let sees =
            |e: &Engine, chat: &ChatId| e.chat(chat).is_some_and(|c| may_see(e, who, role, c));
        let ok = {
            let api = match self.engine.as_agent(who, at) {
                Ok(api) => api,
                Err(err) if is_agent_query(req) => return Some(self.refused(err)),
                Err(_) => return None,
            };
            match req {
                AgentReq::Login => match api.login() {
                    Ok(l) => {
                        let e = &self.engine;
                        let shown: Vec<ChatId> = l.chats_summary.iter().map(|s| s.id).collect();
                        let mut expected: Vec<&chatio::Chat> = e
                            .chats()
                            .iter()
                            .filter(|c| c.is_active() && may_see(e, who, role, c))
                            .collect();
                        expected.sort_by_key(|c| std::cmp::Reverse(c.order()));
                        assert_eq!(l.total_chats, expected.len(), "{who}'s login total_chats");
                        let limit = self.config.limits.login_chats as usize;
                        let newest: Vec<ChatId> =
                            expected.iter().take(limit).map(|c| c.id).collect();
                        assert_eq!(
                            shown, newest,
                            "{who}'s login lists other chats than the newest active ones it \
                             may see"
                        );
                        assert_eq!(
                            l.next_before_order,
                            (expected.len() > limit).then(|| expected[limit - 1].order()),
                            "{who}'s login next_before_order"
                        );
                        for s in &l.chats_summary {
                            checks::shown_summary(e, who, role, s);
                        }
                        assert_eq!(
                            l.license, self.config.license,
                            "{who}'s login shows another license than the configured one"
                        );
                        true
                    }
                    Err(err) => self.refused(err),
                },
                AgentReq::ChatThreads(chat, threads) => {
                    match api.get_chat_threads(*chat, threads) {
                        Ok(t) => {
                            let e = &self.engine;
                            assert!(sees(e, chat), "{who} read chat {chat}, outside its scopes");
                            checks::shown_chat_threads(e, role, &t, chat);
                            true
                        }
                        Err(err) => self.refused(err),
                    }
                }
                AgentReq::ThreadsSummary(chat, page) => {
                    match api.get_chat_threads_summary(*chat, *page) {
                        Ok(_) => {
                            assert!(sees(&self.engine, chat), "{who} read chat {chat}");
                            true
                        }
                        Err(err) => self.refused(err),
                    }
                }
                AgentReq::FilteredChats(filters, page) => {
                    match api.get_filtered_chats(filters, *page) {
                        Ok(got) => {
                            let list = &got.chats_summary;
                            for s in list {
                                checks::shown_summary(&self.engine, who, role, s);
                            }
                            assert!(list.len() <= page.limit.unwrap_or(25) as usize);
                            assert!(
                                list.windows(2).all(|w| w[0].order > w[1].order),
                                "get_filtered_chats not newest first"
                            );
                            assert!(
                                list.iter()
                                    .all(|s| page.before_order.is_none_or(|b| s.order < b)),
                                "get_filtered_chats listed a chat at or above before_order"
                            );
                            if let Some(next) = got.next_before_order {
                                assert_eq!(Some(next), list.last().map(|s| s.order));
                            }
                            assert!(got.total_chats >= list.len());
                            true
                        }
                        Err(err) => self.refused(err),
                    }
                }
                AgentReq::AutoScopesConfig => match api.get_auto_chat_scopes_config() {
                    Ok(list) => {
                        let ids: Vec<String> = list.into_iter().map(|c| c.id).collect();
                        assert_eq!(ids, self.auto_ids, "auto chat scopes configurations");
                        true
                    }
                    Err(err) => self.refused(err),
                },
                _ => return None,
            }
        };
        assert_eq!(
            self.engine.journal_seq(),
            seq0,
            "a query made a journal record"
        );
        Some(ok)
    }

    fn agent_command(
        &mut self,
        who: &UserId,
        at: Timestamp,
        eff: Timestamp,
        req: &AgentReq,
    ) -> bool {
        let before = self.engine.clone();
        let mut ctx = PushCtx {
            requester: Some((who.clone(), Role::Agent)),
            ..PushCtx::default()
        };
        let entry = |command| Entry {
            at: eff,
            command: Command::Agent {
                agent_id: who.clone(),
                command,
            },
        };
        let e = &mut self.engine;
        macro_rules! call {
            ($method:ident($($arg:expr),*)) => {
                e.as_agent(who, at).and_then(|mut api| api.$method($($arg),*))
            };
        }
        match req {
            AgentReq::StartChat(customer, body) => {
                let r = call!(start_chat(customer.clone(), body.clone()));
                let action = AgentAction::StartChat {
                    customer_id: customer.clone(),
                    chat: body.clone(),
                };
                let out = self.output(&before, r, Expect::command(entry(action), ctx));
                if let Some(out) = &out {
                    self.started(who, Role::Agent, &out.response);
                }
                out.is_some()
            }
            AgentReq::JoinChat(chat, agents) => {
                let r = call!(join_chat(*chat, agents));
                let action = AgentAction::JoinChat {
                    chat_id: *chat,
                    agent_ids: agents.clone(),
                };
                let ok = self
                    .output(&before, r, Expect::command(entry(action), ctx))
                    .is_some();
                self.membership(ok, &before, *chat, agents, true)
            }
            AgentReq::RemoveFromChat(chat, agents, customers) => {
                let r = call!(remove_from_chat(*chat, agents, customers));
                let action = AgentAction::RemoveFromChat {
                    chat_id: *chat,
                    agent_ids: agents.clone(),
                    customer_ids: customers.clone(),
                };
                let ok = self
                    .output(&before, r, Expect::command(entry(action), ctx))
                    .is_some();
                let named = if agents.is_empty() {
                    std::slice::from_ref(who)
                } else {
                    agents
                };
                self.membership(ok, &before, *chat, named, false)
            }
            AgentReq::SendEvent(chat, ev) => {
                let r = call!(send_event(*chat, ev.clone()));
                let action = AgentAction::SendEvent {
                    chat_id: *chat,
                    event: recorded(ev),
                };
                let out = self.output(&before, r, Expect::command(entry(action), ctx));
                let annotation = ev.kind.is_annotation();
                self.sent(
                    &before,
                    who,
                    Role::Agent,
                    *chat,
                    annotation,
                    ev.custom_id.as_deref(),
                    out.as_ref(),
                )
            }
            AgentReq::Postback(chat, thread, event, postback) => {
                let r = call!(send_rich_message_postback(
                    *chat,
                    *thread,
                    *event,
                    postback.clone()
                ));
                let action = AgentAction::SendRichMessagePostback {
                    chat_id: *chat,
                    thread_id: *thread,
                    event_id: *event,
                    postback: postback.clone(),
                };
                let ok = self
                    .output(&before, r, Expect::command(entry(action), ctx))
                    .is_some();
                self.toggled(ok, who, *chat, *thread, *event, postback)
            }
            AgentReq::Multicast(scopes, content) => {
                let r = call!(multicast(scopes, content.clone()));
                let mut told: BTreeSet<UserId> = scopes.customer_ids.iter().cloned().collect();
                for a in before.agents() {
                    if scopes.all_agents
                        || scopes.agent_ids.contains(&a.id)
                        || a.groups.iter().any(|g| scopes.groups.contains(g))
                    {
                        told.insert(a.id.clone());
                    }
                }
                ctx.multicast = Some(told);
                let action = AgentAction::Multicast {
                    scopes: scopes.clone(),
                    content: content.clone(),
                };
                self.output(&before, r, Expect::command(entry(action), ctx))
                    .is_some()
            }
            AgentReq::Typing(chat, recipients, typing) => {
                let r = call!(send_typing_indicator(*chat, *recipients, *typing));
                let action = AgentAction::SendTypingIndicator {
                    chat_id: *chat,
                    recipients: *recipients,
                    is_typing: *typing,
                };
                self.output(&before, r, Expect::command(entry(action), ctx))
                    .is_some()
            }
            AgentReq::CloseThread(chat) => {
                let r = call!(close_thread(*chat));
                let action = AgentAction::CloseThread { chat_id: *chat };
                let out = self.output(&before, r, Expect::command(entry(action), ctx));
                self.closed(&before, *chat, Role::Agent, out.is_some())
            }
            AgentReq::UpdateAgent(target, status) => {
                let r = call!(update_agent(target.as_ref(), *status));
                let action = AgentAction::UpdateAgent {
                    agent_id: target.clone(),
                    routing_status: *status,
                };
                let ok = self
                    .output(&before, r, Expect::command(entry(action), ctx))
                    .is_some();
                if let (true, Some(status)) = (ok, status) {
                    let id = target.as_ref().unwrap_or(who);
                    let s = self
                        .engine
                        .agent_status(id)
                        .expect("an updated agent exists");
                    assert_eq!(
                        s.routing_status, *status,
                        "update_agent did not set the status"
                    );
                }
                ok
            }
            AgentReq::Ban(customer, days) => {
                let r = call!(ban_customer(customer, *days));
                ctx.banned = Some(customer.clone());
                let action = AgentAction::BanCustomer {
                    customer_id: customer.clone(),
                    days: *days,
                };
                let ok = self
                    .output(&before, r, Expect::command(entry(action), ctx))
                    .is_some();
                // A ban needs a chat of the customer the agent may see, archives those, and
                // leaves the customer's other chats as they were.
                let seen = |c: &ChatId| {
                    before
                        .chat(c)
                        .is_some_and(|c| may_see(&before, who, Role::Agent, c))
                };
                if ok {
                    let e = &self.engine;
                    assert!(
                        before.customer_chats(customer).iter().any(seen),
                        "{who} banned {customer} without seeing any of its chats"
                    );
                    for chat in e.customer_chats(customer) {
                        let now = e.chat(chat).expect("a customer's chat");
                        if seen(chat) {
                            assert!(
                                !now.is_active(),
                                "a banned customer's chat {chat} is still active"
                            );
                        } else {
                            // Routing may have given it to an agent the ban freed; the ban
                            // itself closes nothing there.
                            let then = before.chat(chat).expect("a chat from before");
                            let shape = |c: &chatio::Chat| {
                                c.threads.iter().map(|t| t.active).collect::<Vec<_>>()
                            };
                            assert_eq!(
                                shape(then),
                                shape(now),
                                "banning {customer} closed chat {chat}, which {who} may not see"
                            );
                        }
                    }
                    let c = e.customer(customer).expect("a banned customer exists");
                    assert!(c.is_banned(e.now()), "ban_customer did not ban");
                }
                ok
            }
            AgentReq::Transfer(chat, target) => {
                let r = call!(transfer_chat(*chat, target));
                let action = AgentAction::TransferChat {
                    chat_id: *chat,
                    target: target.clone(),
                };
                let ok = self
                    .output(&before, r, Expect::command(entry(action), ctx))
                    .is_some();
                if ok {
                    let c = self.engine.chat(chat).expect("a transferred chat");
                    let to = c
                        .routing
                        .assignee
                        .as_ref()
                        .expect("a transferred chat has an assignee");
                    if let chatio::TransferTarget::Agent(a) = target {
                        assert_eq!(to, a, "transferred to another agent");
                    }
                    let before_chat = before.chat(chat);
                    let from = before_chat.and_then(|c| c.routing.assignee.as_ref());
                    if let Some(from) = from.filter(|f| *f != to) {
                        assert!(
                            !c.agent_ids.contains(from),
                            "the previous assignee {from} stayed in the transferred chat"
                        );
                    }
                }
                ok
            }
            AgentReq::ChatProperties(chat, props) => {
                let r = call!(update_chat_properties(*chat, props.clone()));
                let action = AgentAction::UpdateChatProperties {
                    chat_id: *chat,
                    properties: props.clone(),
                };
                let ok = self
                    .output(&before, r, Expect::command(entry(action), ctx))
                    .is_some();
                self.properties_stored(ok, *chat, None, props)
            }
            AgentReq::ThreadProperties(chat, thread, props) => {
                let r = call!(update_chat_thread_properties(*chat, *thread, props.clone()));
                let action = AgentAction::UpdateChatThreadProperties {
                    chat_id: *chat,
                    thread_id: *thread,
                    properties: props.clone(),
                };
                let ok = self
                    .output(&before, r, Expect::command(entry(action), ctx))
                    .is_some();
                self.properties_stored(ok, *chat, Some(*thread), props)
            }
            AgentReq::Scopes(chat, add, remove) => {
                let r = call!(update_chat_scopes(*chat, add.clone(), remove.clone()));
                let action = AgentAction::UpdateChatScopes {
                    chat_id: *chat,
                    add_scopes: add.clone(),
                    remove_scopes: remove.clone(),
                };
                let ok = self
                    .output(&before, r, Expect::command(entry(action), ctx))
                    .is_some();
                self.scopes_updated(ok, &before, *chat, add, remove)
            }
            AgentReq::AddAutoScopes(description, scopes, rules) => {
                let r = call!(add_auto_chat_scopes(
                    description.clone(),
                    scopes.clone(),
                    rules.clone()
                ));
                let action = AgentAction::AddAutoChatScopes {
                    description: description.clone(),
                    scopes: scopes.clone(),
                    rules: rules.clone(),
                };
                let out = self.output(&before, r, Expect::command(entry(action), ctx));
                if let Some(out) = &out {
                    assert!(
                        !self.auto_ids.contains(&out.response),
                        "auto chat scopes id reused"
                    );
                    self.auto_ids.push(out.response.clone());
                }
                out.is_some()
            }
            AgentReq::RemoveAutoScopes(id) => {
                let r = call!(remove_auto_chat_scopes(id));
                let action = AgentAction::RemoveAutoChatScopes { id: id.clone() };
                let ok = self
                    .output(&before, r, Expect::command(entry(action), ctx))
                    .is_some();
                if ok {
                    self.auto_ids.retain(|i| i != id);
                }
                ok
            }
            AgentReq::LastSeen(chat, ts) => {
                let r = call!(update_last_seen_timestamp(*chat, *ts));
                let action = AgentAction::UpdateLastSeenTimestamp {
                    chat_id: *chat,
                    timestamp: *ts,
                };
                let out = self.output(&before, r, Expect::command(entry(action), ctx));
                self.last_seen(who, *chat, *ts, eff, out.as_ref())
            }
            _ => unreachable!("queries are handled by agent_query"),
        }
    }

    // ----- what particular commands must have done -----

    /// After an accepted `start_chat`: the response shows what the requester may see, and the
    /// initial events' `custom_id`s are remembered.
    fn started(&mut self, who: &UserId, role: Role, view: &chatio::ChatThread) {
        let e = &self.engine;
        let chat = e.chat(&view.id).expect("a started chat exists");
        assert_eq!(chat.threads.len(), 1, "R2: a new chat has one thread");
        assert!(chat.threads[0].active, "R2: a new chat's thread is active");
        if role == Role::Customer {
            assert_eq!(
                chat.customer_id.as_ref(),
                Some(who),
                "a customer's chat is theirs"
            );
        } else {
            assert!(
                chat.agent_ids.contains(who),
                "an agent is in the chat it started"
            );
        }
        checks::readable(e, &view.properties, Location::Chat, role, &view.id);
        checks::shown_thread(e, role, &view.thread, &view.id);
        for ev in &chat.threads[0].events {
            if let Some(cid) = &ev.custom_id {
                self.custom_ids
                    .insert((chat.id, who.clone(), cid.clone()), ev.id);
            }
        }
    }

    /// After `send_event` or `send_file`: R3 (an event to a chat with no active thread starts
    /// one), R4 (an annotation never does, and is not activity), and R6 (a retry with the same
    /// `custom_id` returns the original event and changes nothing).
    #[allow(clippy::too_many_arguments)]
    fn sent(
        &mut self,
        before: &Engine,
        who: &UserId,
        role: Role,
        chat_id: ChatId,
        annotation: bool,
        custom_id: Option<&str>,
        out: Option<&Output<SentEvent>>,
    ) -> bool {
        let Some(out) = out else {
            return false;
        };
        let e = &self.engine;
        let b = before
            .chat(&chat_id)
            .expect("an accepted event went to an existing chat");
        let a = e.chat(&chat_id).expect("the chat still exists");
        let ev = &out.response.event;
        checks::shown_event(e, role, ev, &chat_id);
        if let Some(cid) = custom_id {
            let key = (chat_id, who.clone(), cid.to_owned());
            if let Some(original) = self.custom_ids.get(&key) {
                assert_eq!(ev.id, *original, "R6: a retry returned another event");
                assert_eq!(
                    e.journal_seq(),
                    before.journal_seq(),
                    "R6: a retry was journaled"
                );
                assert!(out.pushes.is_empty(), "R6: a retry pushed");
                return true;
            }
            self.custom_ids.insert(key, ev.id);
        }
        assert_eq!(
            e.journal_seq(),
            before.journal_seq() + 1,
            "an accepted event made no record"
        );
        let (bt, at) = (
            b.threads.last().expect("thread"),
            a.threads.last().expect("thread"),
        );
        let stored_at = |t: &chatio::Thread| t.events.iter().position(|x| x.id == ev.id);
        if annotation {
            assert_eq!(
                a.threads.len(),
                b.threads.len(),
                "R4: an annotation started a thread"
            );
            assert_eq!(
                out.response.thread_id, bt.id,
                "R4: an annotation goes to the last thread"
            );
            assert!(
                stored_at(at).is_some(),
                "R4: the annotation is not in the last thread"
            );
            assert_eq!(
                at.active, bt.active,
                "R4: an annotation changed whether the thread is active"
            );
            assert_eq!(
                at.last_activity, bt.last_activity,
                "R4: an annotation counted as activity"
            );
        } else if bt.active {
            assert_eq!(
                a.threads.len(),
                b.threads.len(),
                "an event to an active thread started another"
            );
            assert_eq!(
                out.response.thread_id, bt.id,
                "R3: the event went elsewhere than the active thread"
            );
        } else {
            assert_eq!(
                a.threads.len(),
                b.threads.len() + 1,
                "R3: an event to a chat with no active thread did not start one"
            );
            assert!(at.active, "R3: the new thread is not active");
            assert_eq!(
                out.response.thread_id, at.id,
                "R3: the event is not in the new thread"
            );
            assert_eq!(
                stored_at(at),
                Some(0),
                "R3: the new thread does not start with the event"
            );
            assert!(
                !out.pushes.iter().any(|p| matches!(
                    &p.kind,
                    chatio::PushKind::IncomingEvent { event, .. } if event.id == ev.id
                )),
                "R3: a thread-starting event was pushed as incoming_event"
            );
        }
        if !annotation && matches!(ev.kind, EventKind::Message { .. }) {
            assert_eq!(
                a.threads.last().map(|t| t.last_activity),
                Some(ev.timestamp)
            );
        }
        true
    }

    /// After `update_chat_properties` / `update_chat_thread_properties`: the values are stored.
    fn properties_stored(
        &self,
        ok: bool,
        chat: ChatId,
        thread: Option<chatio::ThreadId>,
        written: &chatio::Properties,
    ) -> bool {
        if ok {
            let c = self.engine.chat(&chat).expect("exists");
            let stored = match thread {
                Some(t) => &c.thread(&t).expect("the thread exists").properties,
                None => &c.properties,
            };
            for (ns, values) in written {
                for (name, v) in values {
                    assert_eq!(
                        stored.get(ns).and_then(|m| m.get(name)),
                        Some(v),
                        "{ns}.{name} was written but is not stored"
                    );
                }
            }
        }
        ok
    }

    /// After `update_chat_scopes`: what was added is there, what was removed (and not added
    /// back) is gone, nothing else changed.
    fn scopes_updated(
        &self,
        ok: bool,
        before: &Engine,
        chat: ChatId,
        add: &chatio::Scopes,
        remove: &chatio::Scopes,
    ) -> bool {
        if ok {
            let old = &before.chat(&chat).expect("existed").scopes;
            let mut expected = old.clone();
            expected.groups.retain(|g| !remove.groups.contains(g));
            expected.agents.retain(|a| !remove.agents.contains(a));
            expected
                .groups
                .extend(add.groups.iter().filter(|g| !old.groups.contains(g)));
            expected.agents.extend(
                add.agents
                    .iter()
                    .filter(|a| !old.agents.contains(a))
                    .cloned(),
            );
            let now = &self.engine.chat(&chat).expect("exists").scopes;
            assert_eq!(now, &expected, "scopes after update_chat_scopes");
        }
        ok
    }

    /// After `join_chat` / `remove_from_chat`: the agents named are in the chat, or not.
    fn membership(
        &mut self,
        ok: bool,
        before: &Engine,
        chat: ChatId,
        agents: &[UserId],
        joined: bool,
    ) -> bool {
        if ok {
            let c = self.engine.chat(&chat).expect("exists");
            let before_chat = before.chat(&chat);
            let old_assignee = before_chat.and_then(|c| c.routing.assignee.as_ref());
            for a in agents {
                let given_back = !joined
                    && c.routing.assignee.as_ref() == Some(a)
                    && old_assignee.is_some_and(|o| o != a && agents.contains(o));
                // (Found by this simulator: routing used to hand the chat straight back.)
                assert!(
                    !given_back,
                    "{a} was removed from chat {chat} and assigned it again by the same request"
                );
                assert_eq!(
                    c.agent_ids.contains(a),
                    joined,
                    "{a} after {}",
                    if joined {
                        "join_chat"
                    } else {
                        "remove_from_chat"
                    }
                );
            }
        }
        ok
    }

    /// After a postback: R11, the user is on every button with that postback id exactly when
    /// it toggled it on.
    fn toggled(
        &self,
        ok: bool,
        who: &UserId,
        chat: ChatId,
        thread: chatio::ThreadId,
        event: EventId,
        postback: &chatio::Postback,
    ) -> bool {
        if ok {
            let whole = self.engine.chat(&chat);
            let ev = whole
                .and_then(|c| c.thread(&thread))
                .and_then(|t| t.events.iter().find(|e| e.id == event))
                .expect("the event exists");
            let EventKind::RichMessage(rich) = &ev.kind else {
                panic!("a postback accepted on a {} event", ev.kind.type_name());
            };
            let buttons = rich.elements.iter().flat_map(|e| e.buttons.iter());
            for b in buttons.filter(|b| b.postback_id == postback.id) {
                assert_eq!(
                    b.user_ids.contains(who),
                    postback.toggled,
                    "R11: {who} on button {:?} after toggling it {}",
                    b.postback_id,
                    postback.toggled
                );
            }
        }
        ok
    }

    /// After `update_customer`: given details replace, fields merge key by key.
    fn customer_updated(
        &self,
        ok: bool,
        before: &Engine,
        who: &UserId,
        u: &chatio::CustomerUpdate,
    ) -> bool {
        if ok {
            let old = before.customer(who).expect("existed");
            let c = self.engine.customer(who).expect("exists");
            assert_eq!(c.name, u.name.clone().or_else(|| old.name.clone()));
            assert_eq!(c.email, u.email.clone().or_else(|| old.email.clone()));
            assert_eq!(
                c.current_page,
                u.current_page.clone().or_else(|| old.current_page.clone())
            );
            let mut fields = old.fields.clone();
            fields.extend(u.fields.clone());
            assert_eq!(c.fields, fields, "update_customer merges fields");
        }
        ok
    }

    /// After `close_thread`: R5, the chat has no active thread any more.
    fn closed(&mut self, before: &Engine, chat: ChatId, role: Role, ok: bool) -> bool {
        if ok {
            if role == Role::Agent {
                let whole = self.engine.chat(&chat);
                let t = whole.and_then(|c| c.threads.last());
                let last = t.and_then(|t| t.events.last()).map(|e| e.kind);
                let last = last.as_ref();
                assert!(
                    matches!(
                        last,
                        Some(EventKind::SystemMessage { system_message_type: Some(k), .. })
                            if k == "manual_archived"
                    ),
                    "R5: an agent closed the thread without manual_archived last: {last:?}"
                );
            }
            let b = before.chat(&chat).expect("a closed chat existed");
            assert!(b.is_active(), "R5: closed a chat that had no active thread");
            let a = self.engine.chat(&chat).expect("exists");
            assert!(!a.is_active(), "R5: close_thread left the chat active");
            assert_eq!(
                a.threads.len(),
                b.threads.len(),
                "close_thread added a thread"
            );
        }
        ok
    }

    /// After `update_last_seen_timestamp`: R12, never backwards, never in the future.
    fn last_seen(
        &mut self,
        who: &UserId,
        chat: ChatId,
        wanted: Option<Timestamp>,
        eff: Timestamp,
        out: Option<&Output<Timestamp>>,
    ) -> bool {
        let Some(out) = out else {
            return false;
        };
        let stored = self
            .engine
            .chat(&chat)
            .and_then(|c| c.last_seen.get(who).copied());
        assert_eq!(
            stored,
            Some(out.response),
            "R12: the answer is not the stored time"
        );
        assert!(out.response <= eff, "R12: a last-seen time in the future");
        assert!(
            out.response >= wanted.unwrap_or(eff),
            "R12: last-seen moved backwards"
        );
        true
    }

    // ----- restarts -----

    /// Replaces the engine by one rebuilt from a snapshot and/or the journal, which must equal
    /// it.
    pub fn restart(&mut self) {
        // A restarted engine starts with an empty outbox: persist what waits there first.
        let waiting = self.engine.take_journal();
        self.collect(waiting);
        let seq = self.engine.journal_seq();
        let kind = if self.mode == JournalMode::Off {
            0
        } else {
            assert_eq!(
                self.journal.len() as u64,
                seq,
                "records lost before a restart"
            );
            self.rng
                .index(if self.snapshots.is_empty() { 2 } else { 3 })
        };
        let rebuilt = match kind {
            0 => {
                let bytes = self.engine.snapshot();
                let e = Engine::restore(&bytes)
                    .unwrap_or_else(|err| panic!("restoring a fresh snapshot: {err}"));
                // The same engine always makes the same snapshot.
                assert!(
                    e.snapshot() == bytes,
                    "a restored engine snapshots differently"
                );
                self.keep_snapshot(seq, bytes);
                e
            }
            1 => self.replay(Engine::new(self.config.clone()), 0),
            _ => {
                let (k, bytes) = self.snapshots[self.rng.index(self.snapshots.len())].clone();
                let e = Engine::restore(&bytes)
                    .unwrap_or_else(|err| panic!("restoring the snapshot at record {k}: {err}"));
                assert_eq!(e.journal_seq(), k, "a snapshot's journal_seq");
                self.replay(e, k)
            }
        };
        let what = [
            "the engine restored from a snapshot differs from the live one",
            "the engine replayed from the whole journal differs from the live one",
            "the engine restored from an older snapshot plus the records after it differs \
             from the live one",
        ][kind];
        same(&rebuilt, &self.engine, what);
        self.engine = rebuilt;
        assert_eq!(
            self.engine.journal_mode(),
            JournalMode::default(),
            "a rebuilt engine's journal mode"
        );
        self.engine.set_journal_mode(self.mode);
        checks::invariants(&self.engine, &mut self.tracker, self.guarantees, true);
        if kind != 0 && self.rng.coin() {
            let bytes = self.engine.snapshot();
            self.keep_snapshot(seq, bytes);
        }
        self.stats.restarts[kind] += 1;
    }

    fn keep_snapshot(&mut self, seq: u64, bytes: Vec<u8>) {
        if self.snapshots.len() < SNAPSHOTS_KEPT {
            self.snapshots.push((seq, bytes));
        } else {
            let i = self.rng.index(SNAPSHOTS_KEPT);
            self.snapshots[i] = (seq, bytes);
        }
    }

    /// Applies every record after `from` to `e`, sometimes through their encoding.
    fn replay(&mut self, mut e: Engine, from: u64) -> Engine {
        let encoded = self.rng.percent(30);
        for r in &self.journal[from as usize..] {
            let result = if encoded {
                let decoded = JournalRecord::decode(&r.encode())
                    .unwrap_or_else(|err| panic!("record {} does not decode: {err}", r.seq));
                assert_eq!(&decoded, r, "record {} changed through its encoding", r.seq);
                e.apply(decoded)
            } else {
                e.apply(r.clone())
            };
            if let Err(err) = result {
                panic!("replaying record {} failed: {err}\n  record: {r:?}", r.seq);
            }
        }
        assert!(e.take_journal().is_empty(), "replay handed out records");
        // A record applied twice is refused and changes nothing.
        if let Some(last) = self.journal.last().filter(|_| self.rng.percent(20)) {
            let copy = e.clone();
            let err = e.apply(last.clone());
            assert!(
                matches!(err, Err(JournalError::OutOfOrder { .. })),
                "a record applied twice: {err:?}"
            );
            same(&e, &copy, "a refused record changed the engine");
        }
        e
    }

    /// The end of a run: everything handed out replays to the engine, from scratch and from a
    /// snapshot.
    fn finish(&mut self) {
        checks::invariants(&self.engine, &mut self.tracker, self.guarantees, true);
        let restored = Engine::restore(&self.engine.snapshot()).expect("a snapshot restores");
        same(
            &restored,
            &self.engine,
            "a final snapshot does not restore to the live engine",
        );
        self.stats.runs += 1;
        if self.mode == JournalMode::Off {
            return;
        }
        let waiting = self.engine.take_journal();
        self.collect(waiting);
        assert_eq!(
            self.journal.len() as u64,
            self.engine.journal_seq(),
            "records lost"
        );
        let replayed = self.replay(Engine::new(self.config.clone()), 0);
        same(
            &replayed,
            &self.engine,
            "the whole journal does not replay to the live engine",
        );
        if let Some((k, bytes)) = self.snapshots.first().cloned() {
            let e = Engine::restore(&bytes).expect("a kept snapshot restores");
            let e = self.replay(e, k);
            same(
                &e,
                &self.engine,
                "an old snapshot plus the records after it",
            );
        }
    }
}

/// A run's license, from a stream of its own (see `LICENSE_STREAM`): in two runs of three
/// none; otherwise one that never expires, one that expires during the run (with the step at
/// which the clock comes close, and how many seconds before the expiry it lands then), or now
/// and then one that expired before the run began. The first of the three is the run's kind,
/// an index into `LICENSE_KINDS`.
fn draw_license(seed: u64) -> (usize, Option<License>, Option<(u64, i64)>) {
    const DAY: i64 = 86_400;
    let mut rng = Rng::new(rng::mix(seed ^ LICENSE_STREAM));
    if !rng.percent(33) {
        return (0, None, None);
    }
    let t0 = Timestamp::from_unix_seconds(T0);
    let license = License::new(
        rng.range(100_000_000, 999_999_999).to_string(),
        ["basic", "team", "enterprise"][rng.index(3)],
        t0 + -rng.range(31, 400) * DAY,
    )
    .in_trial(rng.percent(25));
    match rng.weighted(&[3, 6, 3]) {
        0 => (1, Some(license), None),
        1 => {
            let end = t0 + rng.range(730, 1_095) * DAY;
            // Landing minutes to hours before the expiry leaves the steps up to it to start,
            // route and time out chats, so the expiry finds some active, assigned and waiting,
            // with timers running; a jump straight to it would find every chat archived.
            let step = rng.range(APPROACH_STEPS.0, APPROACH_STEPS.1) as u64;
            let lead = rng.range(300, 7_200);
            (
                2,
                Some(license.expiration_timestamp(Some(end))),
                Some((step, lead)),
            )
        }
        _ => {
            // Up to a month before the clock starts, or exactly when it does.
            let end = t0 + -rng.range(0, 30 * DAY);
            (3, Some(license.expiration_timestamp(Some(end))), None)
        }
    }
}

/// A run's limits: in a quarter of the runs every limit is tight, so that ordinary requests
/// meet them; otherwise `None` (the defaults, which a run of 800 steps never reaches, except
/// `login_chats` in a large run).
fn draw_limits(seed: u64) -> Option<chatio::Limits> {
    let mut rng = Rng::new(rng::mix(seed ^ LIMITS_STREAM));
    if !rng.percent(25) {
        return None;
    }
    let mut l = chatio::Limits::default();
    let mut between = |lo: i64, hi: i64| rng.range(lo, hi) as u32;
    l.event_bytes = between(150, 1_500);
    l.events_per_thread = between(2, 12);
    l.customer_fields = between(1, 4);
    l.customer_fields_bytes = between(8, 160);
    l.property_value_bytes = between(2, 20);
    l.chats_per_license = between(2, 16);
    l.agents_per_chat = between(1, 3);
    l.chat_scopes = between(1, 2);
    l.auto_chat_scopes = between(1, 3);
    l.login_chats = between(1, 4);
    Some(l)
}

/// Pushes that report a change to stored state (as opposed to typing, sneak peeks and
/// multicasts, which are never stored).
fn changes_state(p: &Push) -> bool {
    !matches!(
        p.kind,
        chatio::PushKind::IncomingTypingIndicator { .. }
            | chatio::PushKind::IncomingSneakPeek { .. }
            | chatio::PushKind::IncomingMulticast { .. }
    )
}

fn is_customer_query(req: &CustomerReq) -> bool {
    matches!(
        req,
        CustomerReq::Login
            | CustomerReq::ChatsSummary(_)
            | CustomerReq::ChatThreads(..)
            | CustomerReq::ThreadsSummary(..)
            | CustomerReq::QueuePosition(_)
    )
}

fn is_agent_query(req: &AgentReq) -> bool {
    matches!(
        req,
        AgentReq::Login
            | AgentReq::ChatThreads(..)
            | AgentReq::ThreadsSummary(..)
            | AgentReq::FilteredChats(..)
            | AgentReq::AutoScopesConfig
    )
}

/// The event a `send_event` record holds: the request as the engine accepted it, with the
/// buttons of a rich message cleared of users (a new rich message starts with no postbacks).
fn recorded(event: &NewEvent) -> RecordedEvent {
    let mut event = event.clone();
    if let EventKind::RichMessage(rich) = &mut event.kind {
        for button in rich.elements.iter_mut().flat_map(|e| e.buttons.iter_mut()) {
            button.user_ids.clear();
        }
    }
    event.into()
}
