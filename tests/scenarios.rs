//! Scenario tests: every `tests/scenarios/NAME.jsonl` script is played by the script runner
//! (`examples/rtm_script.rs`) and its output compared with `tests/scenarios/NAME.expected.jsonl`.
//!
//! After an intended change, regenerate the expected files and review the diff:
//!
//! ```sh
//! CHATIO_BLESS=1 cargo test --test scenarios
//! git diff tests/scenarios
//! ```

#[path = "../examples/rtm_script.rs"]
mod rtm_script;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

/// Every script, by name, sorted.
fn scripts() -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = fs::read_dir(dir())
        .expect("tests/scenarios exists")
        .map(|entry| entry.expect("readable directory").path())
        .filter_map(|path| {
            let file = path.file_name()?.to_str()?.to_string();
            let name = file.strip_suffix(".jsonl")?;
            (!name.ends_with(".expected")).then(|| (name.to_string(), path.clone()))
        })
        .collect();
    found.sort();
    found
}

fn expected_path(name: &str) -> PathBuf {
    dir().join(format!("{name}.expected.jsonl"))
}

#[test]
fn scenarios_match_their_expected_output() {
    let bless = std::env::var_os("CHATIO_BLESS").is_some_and(|v| v != "0" && !v.is_empty());
    let mut failures = Vec::new();
    for (name, path) in scripts() {
        let input = fs::read_to_string(&path).expect("readable script");
        let output = rtm_script::run(&input);
        let expected_path = expected_path(&name);
        if bless {
            fs::write(&expected_path, &output).expect("writable expected file");
            continue;
        }
        let Ok(expected) = fs::read_to_string(&expected_path) else {
            failures.push(format!(
                "{name}: no {name}.expected.jsonl (run with CHATIO_BLESS=1 to write it)"
            ));
            continue;
        };
        if output != expected {
            let (line, got, want) = output
                .lines()
                .map(Some)
                .chain(std::iter::repeat(None))
                .zip(expected.lines().map(Some).chain(std::iter::repeat(None)))
                .enumerate()
                .find(|(_, (got, want))| got != want)
                .map(|(i, (got, want))| (i + 1, got, want))
                .expect("outputs differ somewhere");
            failures.push(format!(
                "{name}: output line {line} differs\n  got:  {}\n  want: {}",
                got.unwrap_or("(end of output)"),
                want.unwrap_or("(end of output)"),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nIf the change is intended: CHATIO_BLESS=1 cargo test --test scenarios",
        failures.join("\n")
    );
}

#[test]
fn every_expected_file_has_its_script() {
    let names: Vec<String> = scripts().into_iter().map(|(name, _)| name).collect();
    for entry in fs::read_dir(dir()).expect("tests/scenarios exists") {
        let file = entry.expect("readable directory").file_name();
        let file = file.to_string_lossy();
        if let Some(name) = file.strip_suffix(".expected.jsonl") {
            assert!(names.iter().any(|n| n == name), "{file} has no script");
        }
    }
}

#[test]
fn scenarios_are_deterministic() {
    for (_, path) in scripts() {
        let input = fs::read_to_string(&path).expect("readable script");
        assert_eq!(rtm_script::run(&input), rtm_script::run(&input));
    }
}

/// Whatever a script does, no customer is ever sent a sneak peek, an agents-only event or
/// another customer's messages.
#[test]
fn no_scenario_leaks_to_customers() {
    for (name, path) in scripts() {
        let input = fs::read_to_string(&path).expect("readable script");
        for line in rtm_script::run(&input).lines() {
            let message: Value = serde_json::from_str(line).expect("output lines are JSON");
            let to = message["to"].as_str().unwrap_or_default();
            if !to.starts_with("customer-") {
                continue;
            }
            let action = message["action"].as_str().unwrap_or_default();
            assert_ne!(action, "incoming_sneak_peek", "{name}: {line}");
            assert!(
                !line.contains(r#""recipients":"agents""#),
                "{name}: agents-only content sent to {to}: {line}"
            );
            let customer_ids = ["customer_id", "user_id"];
            for key in customer_ids {
                if let Some(id) = message["payload"][key].as_str() {
                    if id.starts_with("customer-") && message["type"] == "push" {
                        assert_eq!(id, to, "{name}: {to} told about {id}: {line}");
                    }
                }
            }
        }
    }
}

#[test]
fn the_runner_refuses_bad_lines_without_stopping() {
    let script = concat!(
        "{\"config\": {\"agents\": [{\"id\": \"anna@example.com\", \"name\": \"Anna\"}]}}\n",
        "not json\n",
        "{\"at\": 1, \"as\": {\"agent\": \"anna@example.com\"}, \"action\": \"login\"}\n",
    );
    let out = rtm_script::run(script);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["to"], Value::Null);
    assert_eq!(lines[0]["payload"]["error"]["type"], "validation");
    assert_eq!(lines[1]["to"], "anna@example.com");
    assert_eq!(lines[1]["success"], true);
}

/// Scripts name the ids the engine draws (chats, threads, events) literally. If the id
/// generator changes, those names go stale and every request using them fails with "not
/// found", which blessing would happily record; this catches that first.
#[test]
fn scripts_only_name_ids_the_engine_made() {
    for (name, path) in scripts() {
        let input = fs::read_to_string(&path).expect("readable script");
        let output = rtm_script::run(&input);
        for id in uuids(&input) {
            if id.starts_with("00000000-") {
                continue; // deliberately unknown
            }
            let made = output
                .lines()
                .any(|line| line.contains(&id) && !line.contains(r#""success":false"#));
            assert!(
                made,
                "{name}: the script names {id}, which the engine never made: if the id \
                 generator changed, update the script's ids (see tests/scenarios/README.md)"
            );
        }
    }
}

/// Every UUID-shaped string in a text.
fn uuids(text: &str) -> Vec<String> {
    let shape = |s: &str| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let mut found: Vec<String> = text
        .split('"')
        .filter(|s| shape(s))
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}
