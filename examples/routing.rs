//! Automatic routing, narrated: a chat is routed, times out to another agent, goes quiet, and is
//! archived; then a waiting chat gets the freed slot.
//!
//! Run it with `cargo run --release --example routing`.

use chatio::routing::AutomaticRouter;
use chatio::{
    Agent, Engine, EngineConfig, EventKind, NewEvent, Output, PushKind, StartChat, Timestamp,
    UserId,
};

fn main() -> Result<(), chatio::Error> {
    let mut engine =
        Engine::new(EngineConfig::with_seed(7)).with_router(AutomaticRouter::default());
    let anna = UserId::new("anna@example.com")?;
    let bob = UserId::new("bob@example.com")?;
    engine.add_agent(Agent::new(anna.clone(), "Anna").with_max_chats(1))?;
    engine.add_agent(Agent::new(bob.clone(), "Bob").with_max_chats(1))?;
    let jan = engine.create_customer();
    let eva = engine.create_customer();

    say("Anna connects. Jan writes: Anna has a free slot, so the chat is hers.");
    show(&engine.set_agent_presence(&anna, true, at(0))?);
    let started = engine
        .as_customer(&jan, at(10))?
        .start_chat(StartChat::default().with_event(NewEvent::message("Hello?")))?;
    show(&started);
    let chat = started.response.id;

    say("Bob connects; nothing waits, so nothing happens.");
    show(&engine.set_agent_presence(&bob, true, at(20))?);

    say("Five minutes pass and Anna has not seen Jan's message: the chat goes to Bob.");
    println!("    next deadline: {:?}", engine.next_deadline());
    show(&engine.tick(at(10 + 300)));

    say("Bob reads and replies.");
    show(
        &engine
            .as_agent(&bob, at(330))?
            .update_last_seen_timestamp(chat, None)?,
    );
    show(
        &engine
            .as_agent(&bob, at(340))?
            .send_event(chat, NewEvent::message("Hi Jan, Bob here. How can I help?"))?,
    );

    say("Eva writes. Anna's slot freed when Jan's chat left her: Eva's chat is hers.");
    let eva_chat = engine
        .as_customer(&eva, at(400))?
        .start_chat(StartChat::default().with_event(NewEvent::message("Is anyone there?")))?;
    show(&eva_chat);
    show(
        &engine
            .as_agent(&anna, at(420))?
            .send_event(eva_chat.response.id, NewEvent::message("Yes! Anna here."))?,
    );

    say(
        "Both customers go quiet. After 5 minutes a chat is idle; 25 minutes later it is archived.",
    );
    while let Some(deadline) = engine.next_deadline().filter(|&d| d <= at(3600)) {
        let out = engine.tick(deadline);
        if !out.pushes.is_empty() {
            println!("    tick at +{}s", deadline - at(0));
            show(&out);
        }
    }

    say("Where things stand.");
    for (name, id) in [("Jan", chat), ("Eva", eva_chat.response.id)] {
        let c = engine.chat(&id).expect("the chat exists");
        println!(
            "    {name}'s chat: active={} assignee={:?}",
            c.is_active(),
            c.routing.assignee.as_ref().map(ToString::to_string)
        );
    }
    for id in [&anna, &bob] {
        let status = engine.agent_status(id).expect("the agent exists");
        println!("    {id}: {} of {} chat(s)", status.load, status.max_chats);
    }
    Ok(())
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(1_764_000_000 + seconds)
}

fn say(text: &str) {
    println!("\n{text}");
}

fn show<T>(output: &Output<T>) {
    for push in &output.pushes {
        let to: Vec<String> = push.to.iter().map(short).collect();
        let what = match &push.kind {
            PushKind::IncomingEvent { event, .. } => match &event.kind {
                EventKind::SystemMessage {
                    text,
                    system_message_type,
                } => format!("{}: {text:?}", system_message_type.as_deref().unwrap_or("")),
                EventKind::Message { text } => format!("message: {text:?}"),
                other => other.type_name().to_string(),
            },
            PushKind::ChatUsersUpdated {
                added, removed_ids, ..
            } => format!(
                "+{:?} -{:?}",
                added.iter().map(|u| short(u.id())).collect::<Vec<_>>(),
                removed_ids.iter().map(short).collect::<Vec<_>>()
            ),
            PushKind::ThreadClosed { user_id, .. } => {
                format!(
                    "closed by {}",
                    user_id.as_ref().map_or("routing".into(), short)
                )
            }
            _ => String::new(),
        };
        println!(
            "    -> {:<28} to {:<20} {what}",
            push.action(),
            to.join(",")
        );
    }
}

/// Agents by name, customers by the start of their id.
fn short(id: &UserId) -> String {
    let s = id.to_string();
    match s.split_once('@') {
        Some((name, _)) => name.to_string(),
        None => format!("customer {}", &s[..8]),
    }
}
