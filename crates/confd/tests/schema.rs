//! The JSON Schemas of the shipped bricks: valid draft 2020-12, and true to
//! the files they describe.

use confd::Profile;
use confd::bricks::{json_schema, registered};

fn toml_to_json(table: &toml::Table) -> serde_json::Value {
    serde_json::to_value(table).expect("a table of defaults is JSON")
}

#[test]
fn every_shipped_brick_has_a_valid_draft_2020_12_schema() {
    assert!(!registered().is_empty());
    // The check is real: the bundled meta-schema refuses a broken schema.
    assert!(jsonschema::draft202012::meta::validate(&serde_json::json!({"type": "text"})).is_err());
    for schema in registered() {
        for profile in Profile::ALL {
            let json = json_schema(*schema, profile);
            if let Err(e) = jsonschema::draft202012::meta::validate(&json) {
                panic!("`{}` ({profile}): {e}\n{json:#}", schema.name());
            }
            // The brick's own defaults are an instance of its schema.
            let validator = jsonschema::draft202012::new(&json).expect("compiles");
            let defaults = toml_to_json(&schema.defaults(profile));
            let errors: Vec<String> = validator
                .iter_errors(&defaults)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "`{}` ({profile}): {errors:?}",
                schema.name()
            );
        }
    }
}

#[test]
fn a_schema_refuses_what_the_brick_refuses() {
    let cache = confd::bricks::lookup("cache").expect("shipped");
    let validator =
        jsonschema::draft202012::new(&json_schema(cache, Profile::Full)).expect("compiles");
    for (bad, why) in [
        (serde_json::json!({"backend": "redis"}), "not a variant"),
        (serde_json::json!({"permission_ttl": -1}), "below a u64"),
        (
            serde_json::json!({"permission_ttl": "300"}),
            "a string for an integer",
        ),
        (serde_json::json!({"bakend": "auto"}), "an unknown key"),
    ] {
        assert!(!validator.is_valid(&bad), "{why}: {bad}");
    }
    assert!(validator.is_valid(&serde_json::json!({"backend": "dragonfly"})));
}

#[test]
fn secrets_are_write_only() {
    let llm = confd::bricks::lookup("llm").expect("shipped");
    let json = json_schema(llm, Profile::Full);
    assert_eq!(json["properties"]["api_key"]["writeOnly"], true);
    assert!(json["properties"]["model"].get("writeOnly").is_none());
}
