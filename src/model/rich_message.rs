//! Rich messages: cards with images and buttons that users answer with postbacks.

use serde::{Deserialize, Serialize};

use super::UserId;
use super::event::non_empty;
use super::{check_label, check_text};
use crate::error::Error;

/// The most elements a rich message may have, and the most buttons an element may have.
pub const MAX_RICH_ITEMS: usize = 10;

/// A rich message: a template and its elements.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichMessage {
    /// How clients should lay it out, e.g. `cards`.
    pub template_id: String,
    /// 1 to 10 elements.
    pub elements: Vec<RichElement>,
}

/// One card of a rich message; every part is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichElement {
    /// The card's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The card's subtitle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<String>,
    /// The card's image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<RichImage>,
    /// Up to 10 buttons; none is the same as leaving them out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
}

/// An image in a rich message; only the URL is required.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichImage {
    /// Where the image is.
    pub url: String,
    /// File name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// A button; users who toggled its postback on are listed in `user_ids`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// The button's label.
    pub text: String,
    /// The postback sent when pressed; several buttons may share one.
    pub postback_id: String,
    /// Users who toggled this postback on. The engine owns this list: whatever a sender puts
    /// there is dropped when the event is accepted.
    #[serde(default)]
    pub user_ids: Vec<UserId>,
}

pub(crate) fn validate_rich_message(rich: &mut RichMessage) -> Result<(), Error> {
    non_empty("event.template_id", &rich.template_id)?;
    check_label("event.template_id", &rich.template_id)?;
    if rich.elements.is_empty() || rich.elements.len() > MAX_RICH_ITEMS {
        return Err(Error::InvalidField {
            field: "event.elements",
            reason: format!(
                "a rich message has 1 to {MAX_RICH_ITEMS} elements, got {}",
                rich.elements.len()
            ),
        });
    }
    for element in &mut rich.elements {
        for (field, text) in [
            ("event.elements.title", &element.title),
            ("event.elements.subtitle", &element.subtitle),
        ] {
            if let Some(text) = text {
                check_text(field, text)?;
            }
        }
        if let Some(image) = &element.image {
            non_empty("event.elements.image.url", &image.url)?;
            check_label("event.elements.image.url", &image.url)?;
            for (field, label) in [
                ("event.elements.image.name", &image.name),
                ("event.elements.image.content_type", &image.content_type),
            ] {
                if let Some(label) = label {
                    check_label(field, label)?;
                }
            }
        }
        if element.buttons.len() > MAX_RICH_ITEMS {
            return Err(Error::InvalidField {
                field: "event.elements.buttons",
                reason: format!(
                    "an element has at most {MAX_RICH_ITEMS} buttons, got {}",
                    element.buttons.len()
                ),
            });
        }
        for button in &mut element.buttons {
            non_empty("event.elements.buttons.text", &button.text)?;
            check_text("event.elements.buttons.text", &button.text)?;
            non_empty("event.elements.buttons.postback_id", &button.postback_id)?;
            check_label("event.elements.buttons.postback_id", &button.postback_id)?;
            button.user_ids.clear();
        }
    }
    Ok(())
}

impl RichMessage {
    /// Adds (`toggled`) or removes `user` on every button with `postback_id`; returns how many
    /// buttons carry that postback.
    pub(crate) fn toggle(&mut self, postback_id: &str, user: &UserId, toggled: bool) -> usize {
        let mut found = 0;
        for button in self
            .elements
            .iter_mut()
            .flat_map(|e| e.buttons.iter_mut())
            .filter(|b| b.postback_id == postback_id)
        {
            found += 1;
            let present = button.user_ids.iter().position(|u| u == user);
            match (toggled, present) {
                (true, None) => button.user_ids.push(user.clone()),
                (false, Some(i)) => {
                    button.user_ids.remove(i);
                }
                _ => {}
            }
        }
        found
    }

    /// True if some button carries `postback_id`.
    pub(crate) fn has_postback(&self, postback_id: &str) -> bool {
        self.elements
            .iter()
            .flat_map(|e| e.buttons.iter())
            .any(|b| b.postback_id == postback_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn button(p: &str) -> Button {
        Button {
            text: p.into(),
            postback_id: p.into(),
            user_ids: vec![],
        }
    }

    fn rich(elements: usize, buttons: usize) -> RichMessage {
        RichMessage {
            template_id: "cards".into(),
            elements: (0..elements)
                .map(|_| RichElement {
                    buttons: (0..buttons).map(|i| button(&format!("b{i}"))).collect(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn one_to_ten_elements_and_buttons() {
        assert!(validate_rich_message(&mut rich(1, 1)).is_ok());
        assert!(validate_rich_message(&mut rich(10, 10)).is_ok());
        assert!(validate_rich_message(&mut rich(0, 1)).is_err());
        assert!(validate_rich_message(&mut rich(11, 1)).is_err());
        assert!(validate_rich_message(&mut rich(1, 11)).is_err());
    }

    #[test]
    fn toggling_touches_every_button_with_the_postback() {
        let mut r = rich(2, 2);
        let u = UserId::new("u").unwrap();
        assert_eq!(r.toggle("b1", &u, true), 2);
        assert!(
            r.elements
                .iter()
                .all(|e| e.buttons[1].user_ids == vec![u.clone()])
        );
        r.toggle("b1", &u, true);
        assert_eq!(r.elements[0].buttons[1].user_ids.len(), 1);
        r.toggle("b1", &u, false);
        assert!(r.elements.iter().all(|e| e.buttons[1].user_ids.is_empty()));
    }
}
