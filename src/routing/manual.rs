//! Manual routing, per chat.io's diagram: chats wait until an agent replies.

use super::{Decision, Router, RoutingMoment, RoutingView};

/// chat.io's manual routing: a new chat stays unassigned until an agent replies, which assigns
/// it to that agent. The 5- and 25-minute timers apply: a customer message the assignee has not
/// seen after 5 minutes makes the chat unassigned again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ManualRouter;

impl Router for ManualRouter {
    fn name(&self) -> &str {
        "manual"
    }

    fn route(&self, view: &RoutingView<'_>) -> Decision {
        match view.moment() {
            RoutingMoment::AgentReplied { agent_id } => Decision::Assign(agent_id.clone()),
            _ => Decision::Unassign,
        }
    }
}
