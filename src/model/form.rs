//! Filled forms: the fields of a pre-chat or post-chat survey.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::event::non_empty;
use super::{check_label, check_text};
use crate::error::Error;

/// One choice of a radio, checkbox or select field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormOption {
    /// What the customer saw.
    pub label: String,
    /// What the form submits.
    pub value: String,
    /// Whether the customer chose it.
    #[serde(default)]
    pub checked: bool,
}

/// What a form field holds; one variant per field `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FormFieldKind {
    /// Free text.
    Text {
        /// The answer, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// An e-mail address.
    Email {
        /// The answer, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// Exactly one of several options.
    Radio {
        /// The options.
        options: Vec<FormOption>,
    },
    /// Any number of several options.
    Checkbox {
        /// The options.
        options: Vec<FormOption>,
    },
    /// One option from a list.
    Select {
        /// The options.
        options: Vec<FormOption>,
    },
    /// A heading; holds no answer.
    Title,
    /// A paragraph of information; holds no answer.
    Information,
}

/// A field of a filled form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    /// The field's name, unique within the form.
    pub name: String,
    /// What the customer saw.
    #[serde(default)]
    pub label: String,
    /// Whether the field must carry a value.
    #[serde(default)]
    pub required: bool,
    /// The field's type and answer.
    #[serde(flatten)]
    pub kind: FormFieldKind,
}

fn invalid(field: &'static str, reason: String) -> Error {
    Error::InvalidField { field, reason }
}

/// Checks a form: at least one field, unique names, well-formed options, required fields
/// answered, e-mail answers that look like addresses, single-choice fields with one choice.
pub(crate) fn validate_form(fields: &[FormField]) -> Result<(), Error> {
    if fields.is_empty() {
        return Err(invalid(
            "event.fields",
            "a form needs at least one field".into(),
        ));
    }
    let mut names = BTreeSet::new();
    for field in fields {
        non_empty("event.fields.name", &field.name)?;
        check_label("event.fields.name", &field.name)?;
        check_label("event.fields.label", &field.label)?;
        if !names.insert(field.name.as_str()) {
            return Err(invalid(
                "event.fields.name",
                format!("field {:?} appears twice", field.name),
            ));
        }
        validate_field(field)?;
    }
    Ok(())
}

fn validate_field(field: &FormField) -> Result<(), Error> {
    let name = &field.name;
    match &field.kind {
        FormFieldKind::Text { value } | FormFieldKind::Email { value } => {
            if let Some(v) = value {
                check_text("event.fields.value", v)?;
            }
            let answered = value.as_deref().is_some_and(|v| !v.trim().is_empty());
            if field.required && !answered {
                return Err(invalid(
                    "event.fields.value",
                    format!("required field {name:?} has no value"),
                ));
            }
            if let (FormFieldKind::Email { .. }, Some(v)) = (&field.kind, value) {
                if answered && !looks_like_email(v) {
                    return Err(invalid(
                        "event.fields.value",
                        format!("field {name:?} holds {v:?}, not an e-mail address"),
                    ));
                }
            }
        }
        FormFieldKind::Radio { options }
        | FormFieldKind::Checkbox { options }
        | FormFieldKind::Select { options } => {
            if options.is_empty() {
                return Err(invalid(
                    "event.fields.options",
                    format!("field {name:?} has no options"),
                ));
            }
            for option in options {
                check_label("event.fields.options.label", &option.label)?;
                check_label("event.fields.options.value", &option.value)?;
            }
            let checked = options.iter().filter(|o| o.checked).count();
            let single = !matches!(field.kind, FormFieldKind::Checkbox { .. });
            if single && checked > 1 {
                return Err(invalid(
                    "event.fields.options",
                    format!("field {name:?} allows one choice, {checked} are checked"),
                ));
            }
            if field.required && checked == 0 {
                return Err(invalid(
                    "event.fields.options",
                    format!("required field {name:?} has no option checked"),
                ));
            }
        }
        FormFieldKind::Title | FormFieldKind::Information => {}
    }
    Ok(())
}

/// A light check that a string is shaped like an e-mail address: text, `@`, text, no spaces.
pub(crate) fn looks_like_email(v: &str) -> bool {
    match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !v.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str, required: bool, value: Option<&str>) -> FormField {
        FormField {
            name: name.into(),
            label: name.into(),
            required,
            kind: FormFieldKind::Text {
                value: value.map(Into::into),
            },
        }
    }

    fn radio(required: bool, checked: &[bool]) -> FormField {
        FormField {
            name: "purpose".into(),
            label: "Purpose".into(),
            required,
            kind: FormFieldKind::Radio {
                options: checked
                    .iter()
                    .enumerate()
                    .map(|(i, c)| FormOption {
                        label: format!("o{i}"),
                        value: format!("o{i}"),
                        checked: *c,
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn required_fields_must_carry_a_value() {
        assert!(validate_form(&[text("name", true, Some("Jan"))]).is_ok());
        assert!(validate_form(&[text("name", true, None)]).is_err());
        assert!(validate_form(&[text("name", true, Some("  "))]).is_err());
        assert!(validate_form(&[text("name", false, None)]).is_ok());
    }

    #[test]
    fn radio_takes_one_choice() {
        assert!(validate_form(&[radio(true, &[true, false])]).is_ok());
        assert!(validate_form(&[radio(true, &[false, false])]).is_err());
        assert!(validate_form(&[radio(false, &[true, true])]).is_err());
        assert!(validate_form(&[radio(false, &[])]).is_err());
    }

    #[test]
    fn email_fields_hold_addresses() {
        let mut f = text("email", true, Some("jan@example.com"));
        f.kind = FormFieldKind::Email {
            value: Some("jan@example.com".into()),
        };
        assert!(validate_form(std::slice::from_ref(&f)).is_ok());
        f.kind = FormFieldKind::Email {
            value: Some("not an address".into()),
        };
        assert!(validate_form(&[f]).is_err());
    }

    #[test]
    fn names_are_unique_and_forms_non_empty() {
        assert!(validate_form(&[]).is_err());
        assert!(validate_form(&[text("a", false, None), text("a", false, None)]).is_err());
    }
}
