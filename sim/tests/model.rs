//! The simulator's model beyond queueing theory: determinism, the day's timetable (shifts and
//! breaks), groups, the manual router, and simulated agents who never let the engine's
//! 5-minute timer take a chat from them.

use chatio_sim::{Break, Distribution, GroupShare, Report, Scenario, Shift, Simulation, Team};

fn run(s: &Scenario, router: &str) -> Report {
    Simulation::builtin(s.clone(), router)
        .unwrap()
        .run()
        .unwrap()
}

fn json(r: &Report) -> String {
    serde_json::to_string(r).unwrap()
}

#[test]
fn same_seed_same_report_other_seed_other_report() {
    let mut s = Scenario::erlang(4, 40.0, 300.0).with_patience(Distribution::LogNormal {
        mean: 90.0,
        cv: 0.5,
    });
    s.hours = 8.0;
    let a = run(&s, "automatic");
    assert_eq!(json(&a), json(&run(&s, "automatic")));
    let b = run(&s.clone().with_seed(2), "automatic");
    assert_ne!(a.chats, b.chats);
    // The report reads back (undefined figures are written as null and read as NaN).
    let back: Report = serde_json::from_str(&json(&a)).unwrap();
    assert_eq!(back.chats, a.chats);
    assert!((back.service_level - a.service_level).abs() < 1e-12);
    assert_eq!(back.hours[0].offered, 0);
    assert!(back.hours[0].service_level.is_nan());
}

#[test]
fn a_break_of_the_whole_team_stops_answering_and_the_queue_grows() {
    let mut s = Scenario::erlang(4, 40.0, 300.0);
    s.hours = 5.0;
    s.warmup_hours = 0.0;
    s.teams[0].breaks = vec![Break {
        after_hours: 2.0,
        minutes: 60.0,
        spread_minutes: 0.0,
    }];
    let r = run(&s, "automatic");
    let h = &r.hours;
    assert!((h[1].available_agents - 4.0).abs() < 1e-9);
    assert!(
        h[2].available_agents.abs() < 1e-9,
        "{}",
        h[2].available_agents
    );
    assert!((h[3].available_agents - 4.0).abs() < 1e-9);
    // Nobody takes a chat during the break: every chat of that hour waits past 20 s.
    assert_eq!(h[2].answered_within_threshold, 0);
    assert!(h[2].offered > 10);
    assert!(
        h[2].mean_queue > h[1].mean_queue + 5.0,
        "{} vs {}",
        h[2].mean_queue,
        h[1].mean_queue
    );
    // Everyone is answered in the end; nobody gave up.
    assert_eq!(r.chats.answered, r.chats.offered);
}

#[test]
fn shifts_hand_over_and_agents_finish_their_chats_before_logging_out() {
    let mut s = Scenario::erlang(1, 30.0, 300.0);
    s.hours = 24.0;
    s.warmup_hours = 0.0;
    let team = |name: &str, start, end| Team {
        name: name.into(),
        agents: 3,
        max_chats: 2,
        groups: Vec::new(),
        shift: Some(Shift {
            start_hour: start,
            end_hour: end,
        }),
        breaks: Vec::new(),
    };
    s.teams = vec![team("day", 6.0, 18.0), team("night", 18.0, 6.0)];
    let r = run(&s, "round_robin");
    for h in &r.hours[..24] {
        assert!(
            (h.available_agents - 3.0).abs() < 1e-9,
            "hour {}: {}",
            h.hour,
            h.available_agents
        );
    }
    assert_eq!(r.chats.unresolved, 0);
    assert_eq!(
        r.engine.reassigned + r.engine.unassigned + r.engine.archived_by_engine,
        0
    );
    // Both teams worked.
    for team in ["day", "night"] {
        let handled: u32 = r
            .agents
            .per_agent
            .iter()
            .filter(|a| a.team == team)
            .map(|a| a.handled)
            .sum();
        assert!(handled > 50, "{team}: {handled}");
    }
}

#[test]
fn a_group_nobody_serves_is_never_answered() {
    let mut s =
        Scenario::erlang(3, 40.0, 300.0).with_patience(Distribution::Fixed { value: 120.0 });
    s.hours = 6.0;
    s.arrivals.groups = vec![
        GroupShare {
            group: 1,
            weight: 1.0,
        },
        GroupShare {
            group: 2,
            weight: 1.0,
        },
    ];
    s.teams[0].groups = vec![1];
    let r = run(&s, "automatic");
    // Half the chats ask for group 2, which no agent is in: they all give up.
    let abandoned = r.abandonment_rate;
    assert!((abandoned - 0.5).abs() < 0.08, "{abandoned}");
    assert_eq!(r.chats.answered + r.chats.abandoned, r.chats.offered);
    // Patience is fixed, so the abandoned ones waited exactly that long.
    assert!(r.waits.max <= 120.0);
}

#[test]
fn under_manual_routing_agents_pick_chats_from_the_queue() {
    let mut s = Scenario::erlang(5, 40.0, 300.0);
    s.hours = 12.0;
    s.pickup_seconds = 10.0;
    let manual = run(&s, "manual");
    let automatic = run(&s, "automatic");
    assert_eq!(manual.chats.answered, manual.chats.offered);
    // Nobody is answered at once: an agent must notice the chat first.
    assert_eq!(manual.wait_histogram.at_once, 0);
    assert!(manual.asa_seconds >= 5.0 && manual.asa_seconds > automatic.asa_seconds);
    assert!(automatic.wait_histogram.at_once > 0);
}

#[test]
fn a_day_with_messages_never_wakes_the_engines_timers_against_an_agent() {
    // A tenth of the 500-agent day, half of it: shifts, breaks, several slots, log-normal
    // handling with messages every 20 s, impatient customers.
    let mut s = Scenario::centre_500();
    s.hours = 12.0;
    s.arrivals.rate_per_hour /= 10.0;
    for t in &mut s.teams {
        t.agents = t.agents.div_ceil(10);
    }
    let r = run(&s, "least_loaded");
    assert!(r.chats.offered > 1000);
    assert_eq!(
        r.engine.reassigned + r.engine.unassigned + r.engine.archived_by_engine,
        0
    );
    assert_eq!(r.chats.unresolved, 0);
    // Each chat is a conversation: about one message per 20 s of handling, plus the
    // opening message, the greeting and the routing and closing notes.
    let per_chat = r.engine.events as f64 / r.engine.chats as f64;
    assert!(
        (15.0..30.0).contains(&per_chat),
        "{per_chat} events per chat"
    );
    assert!(r.engine.ticks > 0);
}
