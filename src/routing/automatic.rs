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
