//! How deeply free-form JSON (a custom event's `content`, a multicast's `content`) may nest.
//!
//! Whatever the engine accepts it must be able to read back: every accepted change becomes a
//! journal record, and the record nests the request's JSON a few levels deeper than the request
//! did. serde_json refuses to read past 128 levels, so content that a request could just carry
//! would make a record that recovery cannot read. A limit well under that, checked when the
//! request is accepted, keeps every record readable.

use serde_json::Value;

use crate::error::Error;

/// The deepest free-form JSON accepted: a value inside `MAX_JSON_DEPTH` nested arrays and
/// objects, counting the outermost.
pub const MAX_JSON_DEPTH: usize = 64;

/// Refuses `value` when it nests deeper than [`MAX_JSON_DEPTH`]. Walks with its own stack, so a
/// value built in code, of any depth, is measured without deep recursion.
pub(crate) fn check_json_depth(field: &'static str, value: &Value) -> Result<(), Error> {
    check_nested(field, [value], 1)
}

/// [`check_json_depth`] for a JSON object held as a map (a custom event's `content`): the map
/// is the outermost level.
pub(crate) fn check_json_map_depth(
    field: &'static str,
    map: &serde_json::Map<String, Value>,
) -> Result<(), Error> {
    check_nested(field, map.values(), 2)
}

/// Checks `roots`, each at `depth`, and everything inside them.
fn check_nested<'a>(
    field: &'static str,
    roots: impl IntoIterator<Item = &'a Value>,
    depth: usize,
) -> Result<(), Error> {
    let mut stack: Vec<(&Value, usize)> = roots.into_iter().map(|v| (v, depth)).collect();
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth > MAX_JSON_DEPTH {
            return Err(Error::InvalidField {
                field,
                reason: format!("nests deeper than {MAX_JSON_DEPTH} levels"),
            });
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{MAX_JSON_DEPTH, check_json_depth};

    /// `depth` arrays, one inside the other, around a number.
    fn nested(depth: usize) -> Value {
        (0..depth).fold(json!(1), |inner, _| Value::Array(vec![inner]))
    }

    #[test]
    fn content_up_to_the_limit_is_accepted_and_deeper_is_refused() {
        assert!(check_json_depth("content", &json!(1)).is_ok());
        assert!(check_json_depth("content", &nested(MAX_JSON_DEPTH)).is_ok());
        let err = check_json_depth("content", &nested(MAX_JSON_DEPTH + 1));
        assert!(
            matches!(
                err,
                Err(crate::Error::InvalidField {
                    field: "content",
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_map_counts_as_the_outermost_level() {
        let mut map = serde_json::Map::new();
        map.insert("a".into(), nested(MAX_JSON_DEPTH - 1));
        assert!(super::check_json_map_depth("content", &map).is_ok());
        map.insert("b".into(), nested(MAX_JSON_DEPTH));
        assert!(super::check_json_map_depth("content", &map).is_err());
    }

    #[test]
    fn a_very_deep_value_built_in_code_is_measured_without_recursion() {
        let deep = nested(100_000);
        assert!(check_json_depth("content", &deep).is_err());
        // Dropping it would recurse; leak-free teardown one level at a time.
        let mut value = deep;
        while let Value::Array(mut items) = value {
            value = items.pop().unwrap_or(Value::Null);
        }
    }
}
