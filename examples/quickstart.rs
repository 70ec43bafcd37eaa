//! A narrated conversation between a customer and two agents, showing each thread rule.
//!
//! Run it with `cargo run --release --example quickstart`.

use chatio::model::{Button, RichElement, RichMessage};
use chatio::{
    Agent, CustomerUpdate, Engine, EngineConfig, EventKind, File, MulticastScopes, NewEvent,
    Output, Postback, Push, PushKind, Recipients, StartChat, Timestamp, UserId,
};

fn main() -> Result<(), chatio::Error> {
    let mut engine = Engine::new(EngineConfig::with_seed(2026));
    let anna = UserId::new("anna@example.com")?;
    let bob = UserId::new("bob@example.com")?;
    engine.add_agent(Agent::new(anna.clone(), "Anna"))?;
    engine.add_agent(Agent::new(bob.clone(), "Bob"))?;
    let jan = engine.create_customer();
    // No chat yet, so nobody is told; the output carries no pushes.
    let _ = engine
        .as_customer(&jan, at(0))?
        .update_customer(CustomerUpdate {
            name: Some("Jan".into()),
            ..CustomerUpdate::default()
        })?;
    let who = |id: &UserId| match id.to_string().as_str() {
        "anna@example.com" => "Anna".to_string(),
        "bob@example.com" => "Bob".to_string(),
        _ => "Jan".to_string(),
    };

    say("R2: starting a chat creates the chat and its first thread.");
    let started = engine.as_customer(&jan, at(10))?.start_chat(
        StartChat::default().with_event(NewEvent::message("Hi! My parcel hasn't arrived.")),
    )?;
    let chat = started.response.id;
    show(&started, &who);

    say("R9: Anna joins; everyone sees a system message.");
    show(
        &engine
            .as_agent(&anna, at(20))?
            .join_chat(chat, std::slice::from_ref(&anna))?,
        &who,
    );

    say("R10: Jan types. Agents get a sneak peek of the text; Jan's own screen gets nothing.");
    show(
        &engine
            .as_customer(&jan, at(25))?
            .send_sneak_peek(chat, "It was due on Mon")?,
        &who,
    );

    say("R3: events to a chat with an active thread are appended to it.");
    let sent = engine
        .as_agent(&anna, at(30))?
        .send_event(chat, NewEvent::message("Sorry to hear that! Let me check."))?;
    show(&sent, &who);

    say("Recipients `agents`: an internal note never reaches the customer.");
    show(
        &engine.as_agent(&anna, at(35))?.send_event(
            chat,
            NewEvent::message("Courier lost it, re-ship today").to(Recipients::Agents),
        )?,
        &who,
    );

    say("R6: a retried send with the same custom_id returns the original event, adds nothing.");
    let first = engine
        .as_customer(&jan, at(40))?
        .send_event(chat, NewEvent::message("Thanks!").with_custom_id("jan-1"))?;
    let retry = engine
        .as_customer(&jan, at(41))?
        .send_event(chat, NewEvent::message("Thanks!").with_custom_id("jan-1"))?;
    println!(
        "    same event id: {}, pushes on retry: {}",
        first.response.event.id == retry.response.event.id,
        retry.pushes.len()
    );

    say("R11: a rich message, and Jan presses a button.");
    let card = engine.as_agent(&anna, at(50))?.send_event(
        chat,
        NewEvent::new(EventKind::RichMessage(RichMessage {
            template_id: "cards".into(),
            elements: vec![RichElement {
                title: Some("Was this helpful?".into()),
                buttons: vec![button("Yes", "helpful_yes"), button("No", "helpful_no")],
                ..RichElement::default()
            }],
        })),
    )?;
    let postback = Postback {
        id: "helpful_yes".into(),
        toggled: true,
    };
    show(
        &engine
            .as_customer(&jan, at(55))?
            .send_rich_message_postback(
                chat,
                card.response.thread_id,
                card.response.event.id,
                postback,
            )?,
        &who,
    );

    say("R12: Jan has read everything up to now.");
    show(
        &engine
            .as_customer(&jan, at(56))?
            .update_last_seen_timestamp(chat, None)?,
        &who,
    );

    say("R5: Anna closes the thread.");
    show(&engine.as_agent(&anna, at(60))?.close_thread(chat)?, &who);

    say("R4: an annotation goes to the last thread even though it is closed, and starts nothing.");
    show(
        &engine.as_agent(&anna, at(70))?.send_event(
            chat,
            NewEvent::annotation("Resolved on first contact", "rating"),
        )?,
        &who,
    );

    say("R3: the next day Jan writes again: a new thread starts (incoming_chat_thread).");
    show(
        &engine.as_customer(&jan, at(86_400))?.send_file(
            chat,
            None,
            File {
                name: "receipt.png".into(),
                url: "https://files.example.com/receipt.png".into(),
                content_type: "image/png".into(),
                size: 48_213,
                width: Some(800),
                height: Some(600),
            },
        )?,
        &who,
    );

    say("R1: at most one active thread, and only the last.");
    let whole = engine.chat(&chat);
    for (i, thread) in whole.iter().flat_map(|c| c.threads.iter()).enumerate() {
        println!(
            "    thread {} active={} events={}",
            i + 1,
            thread.active,
            thread.events.len()
        );
    }

    say("R13: Bob multicasts to every agent. Nothing is stored.");
    let scopes = MulticastScopes {
        all_agents: true,
        ..MulticastScopes::default()
    };
    show(
        &engine
            .as_agent(&bob, at(86_410))?
            .multicast(&scopes, serde_json::json!({"lunch": "12:30"}))?,
        &who,
    );

    say("R8 and errors: Jan cannot start a second chat, and nothing changes when refused.");
    let before = engine.clone();
    let refused = engine
        .as_customer(&jan, at(86_420))?
        .start_chat(StartChat::default());
    if let Err(e) = refused {
        println!("    refused ({}): {e}", e.kind().as_str());
    }
    println!("    engine unchanged: {}", before == engine);
    Ok(())
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(1_764_000_000 + seconds)
}

fn button(text: &str, postback_id: &str) -> Button {
    Button {
        text: text.into(),
        postback_id: postback_id.into(),
        user_ids: Vec::new(),
    }
}

fn say(text: &str) {
    println!("\n{text}");
}

fn show<T>(output: &Output<T>, who: &dyn Fn(&UserId) -> String) {
    for push in &output.pushes {
        let names: Vec<String> = push.to.iter().map(who).collect();
        println!(
            "    -> {:<30} to {} ({})",
            push.action(),
            names.join(", "),
            describe(push)
        );
    }
}

fn describe(push: &Push) -> String {
    match &push.kind {
        PushKind::IncomingChatThread { chat } => format!(
            "thread with {} event(s) this role may see",
            chat.thread.events.len()
        ),
        PushKind::IncomingEvent { event, .. } => match &event.kind {
            EventKind::Message { text } | EventKind::SystemMessage { text, .. } => {
                format!("{}: {text:?}", event.kind.type_name())
            }
            other => other.type_name().to_string(),
        },
        PushKind::IncomingSneakPeek { sneak_peek, .. } => format!("{:?}", sneak_peek.text),
        PushKind::ChatUsersUpdated { added, .. } => format!("{} added", added.len()),
        PushKind::ThreadClosed { user_id, .. } => format!(
            "closed by {}",
            user_id.as_ref().map_or("routing".into(), |u| u.to_string())
        ),
        PushKind::LastSeenTimestampUpdated { timestamp, .. } => format!("at {timestamp}"),
        PushKind::IncomingMulticast { content, .. } => content.to_string(),
        PushKind::IncomingRichMessagePostback { postback, .. } => {
            format!("{} toggled={}", postback.id, postback.toggled)
        }
        _ => String::new(),
    }
}
