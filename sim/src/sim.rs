//! The simulation: a discrete-event loop on simulated time that drives a real [`Engine`]
//! through its facades.
//!
//! Simulated time is kept in microseconds, so events keep their exact order; the engine, whose
//! clock counts whole seconds, is called with each event's second. Queueing in the engine is by
//! arrival order (ties within a second by arrival number), so the engine decides exactly what a
//! continuous-time centre would, and waits are measured in microseconds from the moment the
//! engine assigns a chat, which the simulator learns from the pushes every call returns.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use chatio::journal::JournalMode;
use chatio::routing::{Router, RoutingStatus};
use chatio::{
    Agent, ChatId, Engine, EngineConfig, GroupId, NewEvent, Push, PushAudience, PushKind, Role,
    Scopes, StartChat, Timestamp, UserId,
};

use crate::report::{self, ChatOutcome, Collected};
use crate::rng::Rng;
use crate::scenario::{Audience, Scenario, ScenarioError};
use crate::{Report, SimError};

/// Simulated time zero: Monday 2026-01-05 00:00:00 UTC, so hour `h` of the run is hour `h` of
/// the day.
pub const START: Timestamp = Timestamp::from_unix_seconds(1_767_571_200);

const US: u64 = 1_000_000;

/// Where a long run stands, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Simulated hours done.
    pub hours_done: f64,
    /// Simulated hours the run lasts at most (arrivals and drain).
    pub hours_total: f64,
    /// Chats started so far.
    pub chats: u64,
}

/// A scenario and a router, ready to run.
///
/// ```
/// use chatio_sim::{Scenario, Simulation};
/// let mut scenario = Scenario::erlang(3, 20.0, 300.0);
/// scenario.hours = 4.0;
/// scenario.warmup_hours = 0.5;
/// let report = Simulation::builtin(scenario, "round_robin")?.run()?;
/// assert_eq!(report.router, "round_robin");
/// assert!(report.chats.offered > 0);
/// assert_eq!(report.chats.offered, report.chats.answered + report.chats.abandoned + report.chats.unresolved);
/// # Ok::<(), chatio_sim::SimError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Simulation {
    scenario: Scenario,
    router: Arc<dyn Router>,
}

impl Simulation {
    /// A simulation of `scenario` with any router, built in or the host's own.
    pub fn new(scenario: Scenario, router: Arc<dyn Router>) -> Result<Self, SimError> {
        scenario.validate()?;
        Ok(Self { scenario, router })
    }

    /// A simulation with one of the engine's built-in routers, by name: `automatic`,
    /// `manual`, `least_loaded` or `round_robin`.
    pub fn builtin(scenario: Scenario, router: &str) -> Result<Self, SimError> {
        let router = chatio::routing::builtin_router(router)
            .ok_or_else(|| SimError::UnknownRouter(router.to_owned()))?;
        Self::new(scenario, router)
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Runs the simulation to the end.
    pub fn run(&self) -> Result<Report, SimError> {
        self.run_with_progress(&mut |_| {})
    }

    /// Runs the simulation, calling `progress` now and then (every few thousand events).
    pub fn run_with_progress(
        &self,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Report, SimError> {
        let mut run = Run::new(&self.scenario, Arc::clone(&self.router))?;
        run.go(progress)?;
        Ok(run.finish())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    ShiftStart,
    ShiftEnd,
    BreakStart,
    BreakEnd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival,
    /// A waiting customer's patience runs out.
    Abandon(u32),
    /// The next message (or the close) of a chat being handled, for the chat's handling
    /// generation: a chat that changed hands ignores its old steps.
    Step(u32, u32),
    Agent(u32, Change),
    /// An agent with room picks the oldest waiting chat it may see.
    Pickup(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Just arrived: the call that started it may have assigned it already.
    New,
    Waiting,
    Handling,
    Done,
    Abandoned,
}

struct ChatRec {
    id: ChatId,
    customer: UserId,
    arrival: u64,
    handle: u64,
    /// Turns each way: the customer writes, the agent answers.
    exchanges: u32,
    /// Time between two messages.
    gap: u64,
    state: State,
    agent: Option<u32>,
    /// When the current handling began (the latest assignment).
    started: u64,
    answered: Option<u64>,
    abandoned: Option<u64>,
    /// The group the chat asked for, if any.
    group: Option<GroupId>,
    /// The next step: 1..=2 * exchanges are messages (odd: customer), after that the close.
    step: u32,
    generation: u32,
}

struct AgentRec {
    id: UserId,
    team: u32,
    max_chats: u32,
    load: u32,
    on_shift: bool,
    on_break: bool,
    online: bool,
    accepting: bool,
    groups: Vec<GroupId>,
    /// A pickup is scheduled.
    picking: bool,
    handled: u32,
    /// Integrals over the measured window: chats x seconds, seconds available, slot-seconds.
    load_secs: f64,
    available_secs: f64,
    last: u64,
}

impl AgentRec {
    fn available(&self) -> bool {
        self.online && self.accepting
    }

    fn has_room(&self) -> bool {
        self.available() && self.load < self.max_chats
    }

    fn may_see(&self, group: Option<GroupId>) -> bool {
        group.is_none_or(|g| self.groups.contains(&g))
    }
}

/// A quantity over time, integrated into fixed bins (mean per bin) with its maximum per bin.
#[derive(Clone, Debug)]
pub(crate) struct Level {
    bin: u64,
    value: u32,
    last: u64,
    pub(crate) sums: Vec<f64>,
    pub(crate) maxima: Vec<u32>,
}

impl Level {
    fn new(bin: u64) -> Self {
        Self {
            bin,
            value: 0,
            last: 0,
            sums: Vec::new(),
            maxima: Vec::new(),
        }
    }

    fn ensure(&mut self, index: usize) {
        if self.sums.len() <= index {
            self.sums.resize(index + 1, 0.0);
            self.maxima.resize(index + 1, 0);
        }
    }

    /// Integrates the current value up to `t`.
    fn advance(&mut self, t: u64) {
        if t <= self.last {
            return;
        }
        let v = f64::from(self.value);
        let mut from = self.last;
        while from < t {
            let index = (from / self.bin) as usize;
            let end = ((index as u64 + 1) * self.bin).min(t);
            self.ensure(index);
            self.sums[index] += v * (end - from) as f64 / US as f64;
            self.maxima[index] = self.maxima[index].max(self.value);
            from = end;
        }
        self.last = t;
    }

    fn set(&mut self, t: u64, value: u32) {
        self.advance(t);
        self.value = value;
        let index = (t / self.bin) as usize;
        self.ensure(index);
        self.maxima[index] = self.maxima[index].max(value);
    }
}

struct Run<'s> {
    sc: &'s Scenario,
    engine: Engine,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    now: u64,
    arrivals_end: u64,
    horizon: u64,
    warmup: u64,
    rng_arrivals: Rng,
    rng_handling: Rng,
    rng_patience: Rng,
    rng_groups: Rng,
    rng_pickup: Rng,
    next_arrival_secs: f64,
    agents: Vec<AgentRec>,
    agent_index: HashMap<UserId, u32>,
    chats: Vec<ChatRec>,
    chat_index: HashMap<ChatId, u32>,
    /// Chats the last calls' pushes mention, to reconcile with the engine.
    pending: Vec<ChatId>,
    /// Agents whose presence or status may need to follow their timetable.
    to_sync: Vec<u32>,
    open: u64,
    /// Agents online, accepting chats and below their limit, as the simulator sees them.
    agents_with_room: u32,
    queue: Level,
    available_agents: Level,
    available_slots: Level,
    busy_slots: Level,
    group_weights: Vec<f64>,
    counters: report::EngineFigures,
}

/// The longest duration the simulator handles, about 31 years: a draw from a long-tailed
/// distribution is cut there, so that adding durations to times can never overflow.
const MAX_US: f64 = 1e15;

/// At most this many turns each way in one chat, however long it is.
const MAX_EXCHANGES: f64 = 100_000.0;

fn us(secs: f64) -> u64 {
    (secs * US as f64).round().clamp(0.0, MAX_US) as u64
}

fn ts(t: u64) -> Timestamp {
    START + (t / US) as i64
}

impl<'s> Run<'s> {
    fn new(sc: &'s Scenario, router: Arc<dyn Router>) -> Result<Self, SimError> {
        sc.validate()?;
        let audience = match sc.push_audience {
            Audience::AllAgents => PushAudience::AllAgents,
            Audience::ChatAgentsOnly => PushAudience::ChatAgentsOnly,
        };
        let config = EngineConfig::with_seed(sc.seed).push_audience(audience);
        let mut engine = Engine::new(config);
        engine.set_journal_mode(JournalMode::Off);
        engine.set_router(router);
        let bin = us(sc.bin_minutes * 60.0);
        let mut run = Self {
            sc,
            engine,
            heap: BinaryHeap::new(),
            seq: 0,
            now: 0,
            arrivals_end: us(sc.hours * 3600.0),
            horizon: us((sc.hours + sc.drain_hours) * 3600.0),
            warmup: us(sc.warmup_hours * 3600.0),
            rng_arrivals: Rng::stream(sc.seed, 1),
            rng_handling: Rng::stream(sc.seed, 2),
            rng_patience: Rng::stream(sc.seed, 3),
            rng_groups: Rng::stream(sc.seed, 4),
            rng_pickup: Rng::stream(sc.seed, 5),
            next_arrival_secs: 0.0,
            agents: Vec::new(),
            agent_index: HashMap::new(),
            chats: Vec::new(),
            chat_index: HashMap::new(),
            pending: Vec::new(),
            to_sync: Vec::new(),
            open: 0,
            agents_with_room: 0,
            queue: Level::new(bin),
            available_agents: Level::new(3600 * US),
            available_slots: Level::new(3600 * US),
            busy_slots: Level::new(3600 * US),
            group_weights: sc.arrivals.groups.iter().map(|g| g.weight).collect(),
            counters: report::EngineFigures::default(),
        };
        run.add_agents()?;
        run.schedule_arrival();
        Ok(run)
    }

    fn add_agents(&mut self) -> Result<(), SimError> {
        for (team_no, team) in self.sc.teams.iter().enumerate() {
            let slug: String = team
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            for i in 0..team.agents {
                let id = UserId::new(&format!("agent{i}@{slug}-{team_no}.sim"))?;
                let agent = Agent::new(id.clone(), format!("{} {}", team.name, i + 1))
                    .with_max_chats(team.max_chats)
                    .with_groups(team.groups.iter().map(|&g| GroupId(g)));
                self.engine.add_agent(agent)?;
                let slot = self.agents.len() as u32;
                self.agent_index.insert(id.clone(), slot);
                self.agents.push(AgentRec {
                    id,
                    team: team_no as u32,
                    max_chats: team.max_chats,
                    load: 0,
                    on_shift: false,
                    on_break: false,
                    online: false,
                    // The engine's default routing status.
                    accepting: true,
                    groups: team.groups.iter().map(|&g| GroupId(g)).collect(),
                    picking: false,
                    handled: 0,
                    load_secs: 0.0,
                    available_secs: 0.0,
                    last: 0,
                });
                self.schedule_timetable(slot, team_no, i);
            }
        }
        Ok(())
    }

    /// Every shift and break of one agent, up to the horizon.
    fn schedule_timetable(&mut self, agent: u32, team_no: usize, index: u32) {
        let team = &self.sc.teams[team_no];
        let hours_total = self.sc.hours + self.sc.drain_hours;
        let days = (hours_total / 24.0).ceil() as i64 + 1;
        // Shifts as (start, end) in hours from time zero; `None` means on duty throughout.
        let shifts: Vec<(f64, f64)> = match &team.shift {
            None => vec![(0.0, f64::INFINITY)],
            Some(s) => {
                let length = if s.end_hour > s.start_hour {
                    s.end_hour - s.start_hour
                } else {
                    s.end_hour + 24.0 - s.start_hour
                };
                (-1..days)
                    .map(|d| {
                        let start = d as f64 * 24.0 + s.start_hour;
                        (start, start + length)
                    })
                    .filter(|&(start, end)| end > 0.0 && start < hours_total)
                    .collect()
            }
        };
        let spread = |b: &crate::scenario::Break| {
            b.spread_minutes / 60.0 * f64::from(index) / f64::from(team.agents.max(1))
        };
        let mut events = Vec::new();
        for (start, end) in shifts {
            events.push((start.max(0.0), Change::ShiftStart));
            if end.is_finite() {
                events.push((end, Change::ShiftEnd));
            }
            // A team without shifts takes its breaks every day.
            let bases: Vec<f64> = if end.is_finite() {
                vec![start]
            } else {
                (0..days).map(|d| d as f64 * 24.0).collect()
            };
            for base in bases {
                for b in &team.breaks {
                    let from = base + b.after_hours + spread(b);
                    let to = from + b.minutes / 60.0;
                    if from >= start.max(0.0) && to <= end && from < hours_total {
                        events.push((from, Change::BreakStart));
                        events.push((to, Change::BreakEnd));
                    }
                }
            }
        }
        for (hour, change) in events {
            self.push_event(us(hour * 3600.0), Ev::Agent(agent, change));
        }
    }

    fn push_event(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, ev)));
    }

    /// Draws the next arrival of the (possibly hour-varying) Poisson process: an exponential
    /// amount of "rate x time" is spent hour by hour, which is exact for a rate constant
    /// within each hour.
    fn schedule_arrival(&mut self) {
        let mut t = self.next_arrival_secs;
        let mut need = self.rng_arrivals.exponential(1.0);
        let end = self.sc.hours * 3600.0;
        loop {
            if t >= end {
                return;
            }
            let hour = (t / 3600.0).floor();
            let rate = self.sc.rate_in_hour(hour as usize) / 3600.0;
            let hour_end = (hour + 1.0) * 3600.0;
            if rate > 0.0 && t + need / rate < hour_end {
                t += need / rate;
                break;
            }
            need -= rate * (hour_end - t);
            t = hour_end;
        }
        if t < end {
            self.next_arrival_secs = t;
            self.push_event(us(t), Ev::Arrival);
        }
    }

    fn go(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<(), SimError> {
        let mut count: u64 = 0;
        while let Some(Reverse((t, _, ev))) = self.heap.pop() {
            if t > self.horizon || (t >= self.arrivals_end && self.open == 0) {
                break;
            }
            self.run_timers(t)?;
            self.now = self.now.max(t);
            match ev {
                Ev::Arrival => self.arrival()?,
                Ev::Abandon(c) => self.abandon(c)?,
                Ev::Step(c, generation) => self.step(c, generation)?,
                Ev::Pickup(a) => self.pickup(a)?,
                Ev::Agent(a, change) => {
                    let agent = &mut self.agents[a as usize];
                    match change {
                        Change::ShiftStart => agent.on_shift = true,
                        Change::ShiftEnd => agent.on_shift = false,
                        Change::BreakStart => agent.on_break = true,
                        Change::BreakEnd => agent.on_break = false,
                    }
                    self.to_sync.push(a);
                }
            }
            self.settle()?;
            count += 1;
            #[cfg(debug_assertions)]
            if count.is_multiple_of(512) {
                self.check_books();
            }
            if count.is_multiple_of(16_384) {
                progress(Progress {
                    hours_done: self.now as f64 / (3600 * US) as f64,
                    hours_total: self.horizon as f64 / (3600 * US) as f64,
                    chats: self.chats.len() as u64,
                });
            }
        }
        let end = self.now.max(self.arrivals_end);
        self.now = end;
        Ok(())
    }

    /// Fires the engine's routing timers that are due by the second of `t`, each at its own
    /// deadline.
    fn run_timers(&mut self, t: u64) -> Result<(), SimError> {
        while let Some(deadline) = self.engine.next_deadline() {
            if deadline > ts(t) {
                break;
            }
            let at = (deadline - START).max(0) as u64 * US;
            self.now = self.now.max(at);
            let out = self.engine.tick(deadline);
            self.counters.ticks += 1;
            self.absorb(out.pushes);
            self.settle()?;
        }
        Ok(())
    }

    fn arrival(&mut self) -> Result<(), SimError> {
        let t = self.now;
        let customer = self.engine.create_customer();
        let handle_secs = self.sc.handling.duration.sample(&mut self.rng_handling);
        let handle = us(handle_secs).max(1);
        let turns = (handle_secs / (2.0 * self.sc.handling.message_gap_seconds)).round();
        let exchanges = turns.clamp(1.0, MAX_EXCHANGES) as u32;
        let gap = (handle / u64::from(2 * exchanges + 1)).max(1);
        let patience = self
            .sc
            .patience
            .map(|p| us(p.sample(&mut self.rng_patience)));
        let mut start = StartChat::default().with_event(NewEvent::message("Hello, I need help"));
        let mut group = None;
        if !self.group_weights.is_empty() {
            let g =
                GroupId(self.sc.arrivals.groups[self.rng_groups.pick(&self.group_weights)].group);
            group = Some(g);
            start = start.with_scopes(Scopes {
                groups: [g].into(),
                ..Scopes::default()
            });
        }
        let out = self
            .engine
            .as_customer(&customer, ts(t))?
            .start_chat(start)?;
        self.counters.calls += 1;
        let id = out.response.id;
        let index = self.chats.len() as u32;
        self.chats.push(ChatRec {
            id,
            customer,
            arrival: t,
            handle,
            exchanges,
            gap,
            group,
            state: State::New,
            agent: None,
            started: t,
            answered: None,
            abandoned: None,
            step: 1,
            generation: 0,
        });
        self.chat_index.insert(id, index);
        self.open += 1;
        self.absorb(out.pushes);
        self.settle()?;
        // Only a chat the engine did not assign at once joins the queue.
        let rec = &mut self.chats[index as usize];
        if rec.state == State::New {
            rec.state = State::Waiting;
            self.queue.set(t, self.queue.value + 1);
            self.offer(group);
        }
        if let Some(p) = patience {
            self.push_event(t + p, Ev::Abandon(index));
        }
        self.schedule_arrival();
        Ok(())
    }

    fn abandon(&mut self, c: u32) -> Result<(), SimError> {
        let rec = &self.chats[c as usize];
        if rec.state != State::Waiting || rec.answered.is_some() {
            return Ok(());
        }
        let id = rec.id;
        let out = self
            .engine
            .as_customer(&self.chats[c as usize].customer, ts(self.now))?
            .close_thread(id)?;
        self.counters.calls += 1;
        let rec = &mut self.chats[c as usize];
        rec.state = State::Abandoned;
        rec.abandoned = Some(self.now);
        self.open -= 1;
        self.queue.set(self.now, self.queue.value - 1);
        self.absorb(out.pushes);
        Ok(())
    }

    fn step(&mut self, c: u32, generation: u32) -> Result<(), SimError> {
        let t = self.now;
        let rec = &self.chats[c as usize];
        if rec.generation != generation || rec.state != State::Handling {
            return Ok(());
        }
        let Some(a) = rec.agent else {
            return Ok(());
        };
        let (id, step, exchanges, gap) = (rec.id, rec.step, rec.exchanges, rec.gap);
        if step <= 2 * exchanges {
            let out = if step % 2 == 1 {
                self.engine
                    .as_customer(&self.chats[c as usize].customer, ts(t))?
                    .send_event(id, NewEvent::message("Here are the details"))?
                    .pushes
            } else {
                self.engine
                    .as_agent(&self.agents[a as usize].id, ts(t))?
                    .send_event(id, NewEvent::message("Thanks, let me check"))?
                    .pushes
            };
            self.counters.calls += 1;
            let rec = &mut self.chats[c as usize];
            rec.step += 1;
            // The close comes when the handling time is up, whatever the rounding of the gaps.
            let next = if rec.step > 2 * exchanges {
                rec.started + rec.handle
            } else {
                t + gap
            };
            self.push_event(next.max(t), Ev::Step(c, generation));
            self.absorb(out);
        } else {
            let out = self
                .engine
                .as_agent(&self.agents[a as usize].id, ts(t))?
                .close_thread(id)?;
            self.counters.calls += 1;
            let rec = &mut self.chats[c as usize];
            rec.state = State::Done;
            rec.agent = None;
            self.open -= 1;
            self.change_load(a, -1);
            self.absorb(out.pushes);
        }
        Ok(())
    }

    /// Notes the chats the pushes are about whose routing may have changed.
    fn absorb(&mut self, pushes: Vec<Push>) {
        self.counters.pushes += pushes.len() as u64;
        for push in pushes {
            let id = match &push.kind {
                PushKind::IncomingChatThread { chat } if push.role == Role::Agent => chat.id,
                PushKind::ChatUsersUpdated { chat_id, .. }
                | PushKind::ThreadClosed { chat_id, .. } => *chat_id,
                _ => continue,
            };
            if self.pending.last() != Some(&id) {
                self.pending.push(id);
            }
        }
    }

    /// Brings the simulator's view of every chat the last calls touched in line with the
    /// engine's, greeting on new assignments; then lets agents follow their timetable.
    fn settle(&mut self) -> Result<(), SimError> {
        loop {
            if let Some(id) = self.pending.pop() {
                self.reconcile(id)?;
            } else if let Some(a) = self.to_sync.pop() {
                self.sync_agent(a)?;
            } else {
                return Ok(());
            }
        }
    }

    fn reconcile(&mut self, id: ChatId) -> Result<(), SimError> {
        let Some(&c) = self.chat_index.get(&id) else {
            return Ok(());
        };
        let rec = &self.chats[c as usize];
        if matches!(rec.state, State::Done | State::Abandoned) {
            return Ok(());
        }
        let Some(chat) = self.engine.chat(&id) else {
            return Ok(());
        };
        let active = chat.is_active();
        let assignee = chat.routing.assignee.clone();
        let now = self.now;
        if !active {
            // Closed by the engine (archived for inactivity): the simulated agents never let
            // that happen, so it is counted as a sign something is off.
            self.counters.archived_by_engine += 1;
            let rec = &mut self.chats[c as usize];
            let (was, agent) = (rec.state, rec.agent.take());
            rec.state = State::Done;
            self.open -= 1;
            if was == State::Waiting {
                self.queue.set(now, self.queue.value - 1);
            }
            if let Some(a) = agent {
                self.change_load(a, -1);
            }
            return Ok(());
        }
        let new_agent = assignee
            .as_ref()
            .and_then(|a| self.agent_index.get(a).copied());
        let rec = &self.chats[c as usize];
        if new_agent == rec.agent {
            return Ok(());
        }
        if let Some(old) = rec.agent {
            self.change_load(old, -1);
        }
        let rec = &mut self.chats[c as usize];
        rec.generation += 1;
        match new_agent {
            None => {
                rec.agent = None;
                rec.state = State::Waiting;
                let group = rec.group;
                self.counters.unassigned += 1;
                self.queue.set(now, self.queue.value + 1);
                self.offer(group);
            }
            Some(a) => {
                if rec.state == State::Waiting {
                    self.queue.set(now, self.queue.value - 1);
                }
                if rec.answered.is_none() {
                    rec.answered = Some(now);
                } else {
                    self.counters.reassigned += 1;
                }
                rec.state = State::Handling;
                rec.agent = Some(a);
                rec.started = now;
                let (generation, gap) = (rec.generation, rec.gap);
                self.change_load(a, 1);
                if now >= self.warmup && now < self.arrivals_end {
                    self.agents[a as usize].handled += 1;
                }
                let out = self
                    .engine
                    .as_agent(&self.agents[a as usize].id, ts(now))?
                    .send_event(id, NewEvent::message("Hi, I'm here to help"))?;
                self.counters.calls += 1;
                self.push_event(now + gap, Ev::Step(c, generation));
                self.absorb(out.pushes);
            }
        }
        Ok(())
    }

    /// In debug builds (the tests), the simulator's own counts must match the engine's.
    #[cfg(debug_assertions)]
    fn check_books(&self) {
        assert_eq!(
            self.queue.value as usize,
            self.engine.queue().count(),
            "chats waiting, at {} us",
            self.now
        );
        for a in &self.agents {
            let status = self.engine.agent_status(&a.id);
            assert_eq!(status.map(|s| s.load), Some(a.load), "load of {}", a.id);
            assert_eq!(
                status.map(|s| s.online),
                Some(a.online),
                "presence of {}",
                a.id
            );
        }
    }

    /// A chat joined the queue: agents with room who may see it will notice it after their
    /// reaction time. Under the automatic routers nobody who may take it has room (it would
    /// have been assigned), so this only walks the agents when someone has room at all.
    fn offer(&mut self, group: Option<GroupId>) {
        if self.agents_with_room == 0 {
            return;
        }
        for a in 0..self.agents.len() as u32 {
            let agent = &self.agents[a as usize];
            if agent.has_room() && !agent.picking && agent.may_see(group) {
                self.schedule_pickup(a);
            }
        }
    }

    fn schedule_pickup(&mut self, a: u32) {
        self.agents[a as usize].picking = true;
        let delay = us(self.rng_pickup.exponential(self.sc.pickup_seconds));
        self.push_event(self.now + delay.max(1), Ev::Pickup(a));
    }

    /// The agent replies to the oldest waiting chat it may see, which gives it the chat under
    /// any router that lets replying agents take chats.
    fn pickup(&mut self, a: u32) -> Result<(), SimError> {
        self.agents[a as usize].picking = false;
        if !self.agents[a as usize].has_room() || self.queue.value == 0 {
            return Ok(());
        }
        let target = self.engine.queue().find(|id| {
            self.chat_index.get(id).is_some_and(|&c| {
                let rec = &self.chats[c as usize];
                rec.state == State::Waiting && self.agents[a as usize].may_see(rec.group)
            })
        });
        let Some(id) = target else {
            return Ok(());
        };
        let out = self
            .engine
            .as_agent(&self.agents[a as usize].id, ts(self.now))?
            .send_event(id, NewEvent::message("Hello, I can help you"))?;
        self.counters.calls += 1;
        self.absorb(out.pushes);
        self.settle()?;
        self.maybe_pick(a);
        Ok(())
    }

    /// An agent that has room while chats wait will look for one.
    fn maybe_pick(&mut self, a: u32) {
        let agent = &self.agents[a as usize];
        if agent.has_room() && !agent.picking && self.queue.value > 0 {
            self.schedule_pickup(a);
        }
    }

    /// Integrates an agent's figures up to now, clipped to the measured window.
    fn integrate_agent(&mut self, a: u32) {
        let (from, to) = (self.warmup, self.arrivals_end);
        let now = self.now;
        let agent = &mut self.agents[a as usize];
        let (lo, hi) = (agent.last.max(from), now.min(to));
        if hi > lo {
            let dt = (hi - lo) as f64 / US as f64;
            agent.load_secs += f64::from(agent.load) * dt;
            if agent.available() {
                agent.available_secs += dt;
            }
        }
        agent.last = now;
    }

    /// Keeps the count of agents with room right around a change to one agent.
    fn track_room(&mut self, a: u32, had_room: bool) {
        let has = self.agents[a as usize].has_room();
        if has && !had_room {
            self.agents_with_room += 1;
            self.maybe_pick(a);
        } else if had_room && !has {
            self.agents_with_room -= 1;
        }
    }

    fn change_load(&mut self, a: u32, delta: i32) {
        self.integrate_agent(a);
        let had_room = self.agents[a as usize].has_room();
        let agent = &mut self.agents[a as usize];
        agent.load = agent.load.saturating_add_signed(delta);
        let (load, on_shift) = (agent.load, agent.on_shift);
        let busy = if delta > 0 {
            self.busy_slots.value + 1
        } else {
            self.busy_slots.value.saturating_sub(1)
        };
        self.busy_slots.set(self.now, busy);
        self.track_room(a, had_room);
        if load == 0 && !on_shift {
            self.to_sync.push(a);
        }
    }

    /// Makes the engine's presence and routing status of an agent follow its timetable: on
    /// shift and not on a break, it accepts chats; off shift, it stays online only until its
    /// last chat ends.
    fn sync_agent(&mut self, a: u32) -> Result<(), SimError> {
        let t = ts(self.now);
        let agent = &self.agents[a as usize];
        let want_online = agent.on_shift || agent.load > 0;
        let want_accepting = agent.on_shift && !agent.on_break;
        let was_available = agent.available();
        let had_room = agent.has_room();
        let (online, accepting) = (agent.online, agent.accepting);
        self.integrate_agent(a);
        let mut outputs = Vec::new();
        if accepting && !want_accepting {
            let out = self
                .engine
                .as_agent(&self.agents[a as usize].id, t)?
                .update_agent(None, Some(RoutingStatus::NotAcceptingChats))?;
            outputs.push(out.pushes);
            self.agents[a as usize].accepting = false;
        }
        if online != want_online {
            let out =
                self.engine
                    .set_agent_presence(&self.agents[a as usize].id, want_online, t)?;
            outputs.push(out.pushes);
            self.agents[a as usize].online = want_online;
        }
        if !self.agents[a as usize].accepting && want_accepting {
            let out = self
                .engine
                .as_agent(&self.agents[a as usize].id, t)?
                .update_agent(None, Some(RoutingStatus::AcceptingChats))?;
            outputs.push(out.pushes);
            self.agents[a as usize].accepting = true;
        }
        self.counters.calls += outputs.len() as u64;
        let now_available = self.agents[a as usize].available();
        if was_available != now_available {
            let slots = self.agents[a as usize].max_chats;
            let (agents, total) = (self.available_agents.value, self.available_slots.value);
            let (agents, total) = if now_available {
                (agents + 1, total + slots)
            } else {
                (agents - 1, total - slots)
            };
            self.available_agents.set(self.now, agents);
            self.available_slots.set(self.now, total);
        }
        self.track_room(a, had_room);
        for pushes in outputs {
            self.absorb(pushes);
        }
        Ok(())
    }

    fn finish(mut self) -> Report {
        let end = self.now;
        for a in 0..self.agents.len() as u32 {
            self.integrate_agent(a);
        }
        self.queue.advance(end);
        self.available_agents.advance(end);
        self.available_slots.advance(end);
        self.busy_slots.advance(end);
        self.counters.chats = self.engine.chat_count() as u64;
        self.counters.events = self
            .engine
            .chats()
            .into_iter()
            .map(|chat| {
                chat.threads
                    .iter()
                    .map(|t| t.events.len() as u64)
                    .sum::<u64>()
            })
            .sum();
        let outcomes = self
            .chats
            .iter()
            .filter(|c| c.arrival >= self.warmup && c.arrival < self.arrivals_end)
            .map(|c| ChatOutcome {
                arrival: c.arrival,
                answered: c.answered.map(|t| t - c.arrival),
                abandoned: c.abandoned.map(|t| t - c.arrival),
                waited_until_end: end.saturating_sub(c.arrival),
            })
            .collect();
        let agents = self
            .agents
            .iter()
            .map(|a| report::AgentLine {
                id: a.id.to_string(),
                team: self.sc.teams[a.team as usize].name.clone(),
                max_chats: a.max_chats,
                handled: a.handled,
                load_secs: a.load_secs,
                available_secs: a.available_secs,
            })
            .collect();
        report::build(Collected {
            scenario: self.sc,
            router: self
                .engine
                .router()
                .map(|r| r.name().to_owned())
                .unwrap_or_default(),
            outcomes,
            agents,
            queue: self.queue,
            available_agents: self.available_agents,
            available_slots: self.available_slots,
            busy_slots: self.busy_slots,
            engine: self.counters,
            window: (self.warmup, self.arrivals_end),
            end,
        })
    }
}

impl From<ScenarioError> for SimError {
    fn from(e: ScenarioError) -> Self {
        SimError::Scenario(e)
    }
}
