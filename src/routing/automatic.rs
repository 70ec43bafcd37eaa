//! Automatic routing, per chat.io's diagram, with three ways to pick the agent.

use super::{AgentStatus, Decision, Router, RoutingMoment, RoutingView};

/// How the automatic flow picks among the agents who can take a chat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// The agent with the most free slots; ties to the agent registered first.
    #[default]
    MostFreeSlots,
    /// The agent with the fewest current chats; ties to the agent registered first.
    LeastLoaded,
    /// The agent who has waited longest since its last assignment (never assigned first); ties
    /// to the agent registered first.
    RoundRobin,
}

/// chat.io's automatic routing: when a customer writes and an agent who accepts chats has a
/// free slot, the chat is assigned; otherwise it waits unassigned and is assigned as soon as an
/// agent has a free slot or replies. The 5- and 25-minute timers move a chat whose customer
/// message went unseen to another agent, and archive a quiet one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutomaticRouter {
    selection: Selection,
}

impl AutomaticRouter {
    /// The automatic flow with the given way of picking agents.
    pub fn new(selection: Selection) -> Self {
        Self { selection }
    }

    /// How this router picks agents.
    pub fn selection(&self) -> Selection {
        self.selection
    }

    /// The agent to give the chat: among those with the best group priority for the chat
    /// (see [`RoutingView::by_priority`]), the first in the selection's order.
    fn pick<'a>(&self, view: &RoutingView<'a>) -> Option<AgentStatus<'a>> {
        match self.selection {
            Selection::MostFreeSlots => view.by_priority(view.available_by_free_slots()),
            Selection::LeastLoaded => view.by_priority(view.available_by_load()),
            Selection::RoundRobin => view.by_priority(view.available_by_wait()),
        }
    }
}

impl Router for AutomaticRouter {
    fn name(&self) -> &str {
        match self.selection {
            Selection::MostFreeSlots => "automatic",
            Selection::LeastLoaded => "least_loaded",
            Selection::RoundRobin => "round_robin",
        }
    }

    fn route(&self, view: &RoutingView<'_>) -> Decision {
        match view.moment() {
            // The agent who writes takes the chat when it can; otherwise the chat goes to
            // whoever can, as any waiting chat would.
            RoutingMoment::AgentReplied { agent_id } if view.can_take(agent_id) => {
                Decision::Assign(agent_id.clone())
            }
            // The agent who has room takes the waiting chat, unless an agent with a better
            // priority for it can take it too (one that could not when the chat came).
            RoutingMoment::CapacityFreed { agent_id } if view.can_take(agent_id) => {
                if !view.has_priorities() {
                    return Decision::Assign(agent_id.clone());
                }
                let mine = view.agent(agent_id).map(|a| view.priority(a.agent));
                match self.pick(view) {
                    Some(best) if Some(view.priority(best.agent)) < mine => {
                        Decision::Assign(best.agent.id.clone())
                    }
                    _ => Decision::Assign(agent_id.clone()),
                }
            }
            _ => self
                .pick(view)
                .map_or(Decision::Unassign, |a| Decision::Assign(a.agent.id.clone())),
        }
    }
}

/// The automatic flow, giving each chat to the agent with the fewest current chats (ties to the
/// agent registered first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeastLoadedRouter;

impl Router for LeastLoadedRouter {
    fn name(&self) -> &str {
        "least_loaded"
    }

    fn route(&self, view: &RoutingView<'_>) -> Decision {
        AutomaticRouter::new(Selection::LeastLoaded).route(view)
    }
}

/// The automatic flow, giving each chat to the agent who has waited longest since its last
/// assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundRobinRouter;

impl Router for RoundRobinRouter {
    fn name(&self) -> &str {
        "round_robin"
    }

    fn route(&self, view: &RoutingView<'_>) -> Decision {
        AutomaticRouter::new(Selection::RoundRobin).route(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupId, GroupPriority, NewEvent, StartChat, Timestamp, UserId};
    use crate::{Agent, Engine, EngineConfig};

    /// The agent a new chat goes to, with agents `(id, priority in group 0, slots)` online.
    fn pick(selection: Selection, agents: &[(&str, GroupPriority, u32)]) -> Option<UserId> {
        let now = Timestamp::from_unix_seconds(1_700_000_000);
        let mut engine =
            Engine::new(EngineConfig::with_seed(1)).with_router(AutomaticRouter::new(selection));
        for &(id, priority, slots) in agents {
            let id = UserId::new(id).unwrap();
            let agent = Agent::new(id.clone(), "A")
                .with_max_chats(slots)
                .with_group_priority(GroupId(0), priority);
            engine.add_agent(agent).unwrap();
            let _ = engine.set_agent_presence(&id, true, now).unwrap();
        }
        let customer = engine.create_customer();
        let start = StartChat::default().with_event(NewEvent::message("Hi"));
        let chat = engine
            .as_customer(&customer, now)
            .unwrap()
            .start_chat(start)
            .unwrap()
            .response
            .id;
        engine.chat(&chat).unwrap().routing.assignee.clone()
    }

    #[test]
    fn priority_comes_before_every_selection() {
        use GroupPriority::*;
        for selection in [
            Selection::MostFreeSlots,
            Selection::LeastLoaded,
            Selection::RoundRobin,
        ] {
            let agents = [
                ("last", Last, 9),
                ("normal", Normal, 5),
                ("first", First, 1),
            ];
            assert_eq!(
                pick(selection, &agents).map(|a| a.to_string()).as_deref(),
                Some("first")
            );
            let agents = [("last", Last, 9), ("normal", Normal, 1)];
            assert_eq!(
                pick(selection, &agents).map(|a| a.to_string()).as_deref(),
                Some("normal")
            );
            let agents = [("last", Last, 1)];
            assert_eq!(
                pick(selection, &agents).map(|a| a.to_string()).as_deref(),
                Some("last"),
                "a last agent gets the chat nobody else can take"
            );
        }
    }

    #[test]
    fn without_priorities_the_selection_alone_decides() {
        use GroupPriority::*;
        let agents = [("few", Normal, 1), ("many", Normal, 5)];
        assert_eq!(
            pick(Selection::MostFreeSlots, &agents)
                .map(|a| a.to_string())
                .as_deref(),
            Some("many")
        );
    }
}
