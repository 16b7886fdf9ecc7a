//! A brick's JSON Schema (draft 2020-12), for editors and for tools that do
//! not link the brick (DESIGN.md §9, "Schemas as data").
//!
//! Besides the standard keywords, each key carries what confd itself needs
//! to load the brick without its code, read back by
//! [`InstalledSchema`](super::InstalledSchema):
//!
//! | keyword | on | meaning |
//! |---|---|---|
//! | `x-confd-profile` | the root | the profile whose defaults `default` shows |
//! | `x-confd-env` | a key | its environment variables, first set wins |
//! | `x-confd-env-inverted` | a key with variables | whether a true variable means `false` |
//! | `x-confd-reload` | a key | whether the brick applies a change live (no restart) |
//! | `x-confd-profiles` | a key | profile → default, for each profile whose default differs from `full`'s (and `full`'s own when `default` is another profile's) |

use serde_json::{Map, Value as Json, json};

use super::{Schema, Shape};
use crate::{KeyPath, Profile};

/// The URI of the dialect the schemas are written in.
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// The JSON Schema of `schema`, `default` showing `profile`'s defaults.
///
/// Objects' keys are sorted, so the text is the same from one build to the
/// next (and with or without serde_json's `preserve_order`).
#[must_use]
pub fn json_schema(schema: &dyn Schema, profile: Profile) -> Json {
    let defaults: Vec<(Profile, toml::Table)> = Profile::ALL
        .iter()
        .map(|p| (*p, schema.defaults(*p)))
        .collect();
    let walk = Walk {
        schema,
        profile,
        defaults: &defaults,
    };
    let mut root = walk.node(
        &schema.shape(),
        &KeyPath::from_segments::<_, String>([]),
        false,
    );
    root.insert("$schema".into(), json!(DRAFT_2020_12));
    root.insert("title".into(), json!(schema.name()));
    if !schema.doc().is_empty() {
        root.insert("description".into(), json!(schema.doc()));
    }
    root.insert("x-confd-profile".into(), json!(profile.to_string()));
    sorted(Json::Object(root))
}

/// [`json_schema`] as the text installed at `share/confd/schema/NAME.json`:
/// pretty-printed, with a final newline.
#[must_use]
pub fn json_schema_text(schema: &dyn Schema, profile: Profile) -> String {
    let mut text = serde_json::to_string_pretty(&json_schema(schema, profile))
        .unwrap_or_else(|_| String::from("{}"));
    text.push('\n');
    text
}

struct Walk<'a> {
    schema: &'a dyn Schema,
    profile: Profile,
    defaults: &'a [(Profile, toml::Table)],
}

impl Walk<'_> {
    /// The schema of the key at `path`, of shape `shape`; `key` is false for
    /// the root and the values of a map, which are no declared key.
    fn node(&self, shape: &Shape, path: &KeyPath, key: bool) -> Map<String, Json> {
        let mut node = type_of(shape);
        match shape.required() {
            Shape::Table(keys) => {
                let properties: Map<String, Json> = keys
                    .iter()
                    .map(|(key, shape)| {
                        let child = path.child(key);
                        (key.clone(), Json::Object(self.node(shape, &child, true)))
                    })
                    .collect();
                node.insert("properties".into(), Json::Object(properties));
                node.insert("additionalProperties".into(), json!(false));
            }
            Shape::Map(values) => {
                let values = self.node(values, path, false);
                node.insert("additionalProperties".into(), Json::Object(values));
            }
            Shape::Array(items) if **items != Shape::Any => {
                node.insert("items".into(), Json::Object(type_of(items)));
            }
            _ => {}
        }
        if !key {
            return node;
        }
        let dotted = path.to_string();
        let decl = self.schema.keys().iter().find(|k| k.path == dotted);
        if let Some(doc) = decl.map(|d| d.doc).filter(|d| !d.is_empty()) {
            node.insert("description".into(), json!(doc));
        }
        // Declared secrets only: `Schema::is_secret` also counts keys without
        // a default (a misspelt secret, but also a declared `Option`).
        if crate::secret::at_or_under(self.schema.secret_keys(), path)
            && !matches!(shape.required(), Shape::Table(_))
        {
            node.insert("writeOnly".into(), json!(true));
        }
        // A nested table's keys carry their own defaults and marks.
        if matches!(shape.required(), Shape::Table(_)) {
            return node;
        }
        let at = |profile: Profile| {
            self.defaults
                .iter()
                .find(|(p, _)| *p == profile)
                .and_then(|(_, table)| crate::layer::value_at(table, path))
        };
        if let Some(default) = at(self.profile) {
            node.insert("default".into(), to_json(default));
        }
        let full = at(Profile::Full);
        let mut profiles = Map::new();
        for (profile, _) in self.defaults {
            let value = at(*profile);
            if value != full
                && let Some(value) = value
            {
                profiles.insert(profile.to_string(), to_json(value));
            }
        }
        if !profiles.is_empty()
            && self.profile != Profile::Full
            && at(self.profile) != full
            && let Some(full) = full
        {
            profiles.insert(Profile::Full.to_string(), to_json(full));
        }
        if !profiles.is_empty() {
            node.insert("x-confd-profiles".into(), Json::Object(profiles));
        }
        if let Some(alias) = self
            .schema
            .env_aliases()
            .iter()
            .find(|a| a.key == dotted && !a.vars.is_empty())
        {
            node.insert("x-confd-env".into(), json!(alias.vars));
            node.insert("x-confd-env-inverted".into(), json!(alias.inverted));
        }
        node.insert(
            "x-confd-reload".into(),
            json!(decl.is_some_and(|d| d.reload)),
        );
        node
    }
}

/// The type keywords of a shape: `type`, `enum`, `minimum`/`maximum`.
fn type_of(shape: &Shape) -> Map<String, Json> {
    let mut node = Map::new();
    let mut kind = |name: &str| {
        node.insert("type".into(), json!(name));
    };
    match shape.required() {
        Shape::Bool => kind("boolean"),
        Shape::Integer { .. } => kind("integer"),
        Shape::Float => kind("number"),
        Shape::String | Shape::Enum(_) => kind("string"),
        Shape::Array(_) => kind("array"),
        Shape::Table(_) | Shape::Map(_) => kind("object"),
        Shape::Optional(_) | Shape::Any => {}
    }
    match shape.required() {
        Shape::Integer { min, max } => {
            node.insert("minimum".into(), json!(min));
            node.insert("maximum".into(), json!(max));
        }
        Shape::Enum(variants) => {
            node.insert("enum".into(), json!(variants));
        }
        Shape::Array(items) if **items != Shape::Any => {
            node.insert("items".into(), Json::Object(type_of(items)));
        }
        _ => {}
    }
    node
}

/// A TOML value as JSON: a date as its TOML text, a float JSON cannot hold
/// (`nan`, `inf`) as its TOML text too.
pub(super) fn to_json(value: &toml::Value) -> Json {
    match value {
        toml::Value::String(s) => json!(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or_else(|| json!(value.to_string()), Json::Number)
        }
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Datetime(d) => json!(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        toml::Value::Table(table) => {
            Json::Object(table.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

/// `value` with every object's keys in sorted order.
fn sorted(value: Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<(String, Json)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::bricks::InstalledSchema;

    #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Delivery {
        Queued,
        Direct,
    }

    /// TLS client settings.
    #[derive(Serialize, Deserialize, crate::Section)]
    struct Tls {
        /// Lowest protocol version accepted.
        #[brick(default = 1.2)]
        min_version: f64,
        /// Directories of trusted certificates.
        #[brick(default = ["/etc/ssl/certs"], reload)]
        roots: Vec<String>,
    }

    /// Outgoing mail.
    #[derive(Serialize, Deserialize, crate::Brick)]
    #[brick(name = "mailer")]
    struct Mailer {
        /// Relay port.
        #[brick(default = 25, env = ["NEXUS_MAILER_PORT", "MAILER_PORT"])]
        port: u16,
        /// How mail leaves.
        #[brick(default = "queued", profile(minimal = "direct"))]
        delivery: Delivery,
        /// Password for the relay.
        #[brick(default = "")]
        password: crate::Secret,
        /// Connections kept open.
        #[brick(default = 4, profile(minimal = 1, cloud = 16), reload)]
        connections: u32,
        /// Check the relay's certificate.
        #[brick(default = true, env_inverted = "MAILER_INSECURE")]
        verify_certificate: bool,
        /// Signature appended to every message; none by default.
        #[brick(default = None)]
        signature: Option<String>,
        /// TLS client settings.
        tls: Tls,
    }

    fn mailer() -> &'static dyn Schema {
        crate::bricks::schema_of::<Mailer>()
    }

    #[test]
    fn a_brick_gets_exactly_its_schema() {
        insta::assert_snapshot!(json_schema_text(mailer(), Profile::Full));
    }

    #[test]
    fn default_is_the_active_profiles_and_full_stays_known() {
        let schema = json_schema(mailer(), Profile::Minimal);
        let connections = &schema["properties"]["connections"];
        assert_eq!(connections["default"], 1);
        assert_eq!(
            connections["x-confd-profiles"],
            json!({"minimal": 1, "cloud": 16, "full": 4})
        );
        // A key whose default is the same everywhere lists no profile.
        assert!(
            schema["properties"]["port"]
                .get("x-confd-profiles")
                .is_none()
        );
        assert_eq!(schema["x-confd-profile"], "minimal");
    }

    /// What the CLI does for a brick it does not link: the installed schema
    /// gives back the declaration.
    #[test]
    fn an_installed_schema_reads_back_as_the_declaration() -> Result<(), String> {
        let declared = mailer();
        for written_for in Profile::ALL {
            let text = json_schema_text(declared, written_for);
            let installed = InstalledSchema::parse("mailer", &text)?;
            for profile in Profile::ALL {
                assert_eq!(
                    installed.defaults(profile),
                    declared.defaults(profile),
                    "written for {written_for}, read for {profile}"
                );
            }
            assert_eq!(installed.secret_keys(), declared.secret_keys());
            let mut aliases = installed.env_aliases().to_vec();
            let mut want = declared.env_aliases().to_vec();
            aliases.sort_by_key(|a| a.key);
            want.sort_by_key(|a| a.key);
            assert_eq!(aliases, want);
            assert_eq!(
                installed.shape().at(&"delivery".parse().unwrap()),
                declared.shape().at(&"delivery".parse().unwrap())
            );
            assert_eq!(
                installed.shape().at(&"port".parse().unwrap()),
                declared.shape().at(&"port".parse().unwrap())
            );
            assert!(!installed.checks_rules());
            let reload: Vec<&str> = installed
                .keys()
                .iter()
                .filter(|k| k.reload)
                .map(|k| k.path.as_str())
                .collect();
            assert_eq!(reload, ["connections", "tls.roots"]);
            assert_eq!(installed.doc(), "Outgoing mail.");
        }
        Ok(())
    }

    #[test]
    fn a_broken_installed_schema_says_what_is_wrong() {
        let text = json_schema_text(mailer(), Profile::Full);
        let err = InstalledSchema::parse("relay", &text).unwrap_err();
        assert_eq!(err, "its `title` is `mailer`, not `relay`");
        let err = InstalledSchema::parse("mailer", "{").unwrap_err();
        assert!(err.starts_with("not JSON: "), "{err}");
        let bad = text.replacen(
            "\"x-confd-env\": [\n        \"NEXUS_MAILER_PORT\",",
            "\"x-confd-env\": [\n        7,",
            1,
        );
        assert_ne!(bad, text);
        let err = InstalledSchema::parse("mailer", &bad).unwrap_err();
        assert_eq!(
            err,
            "`x-confd-env` of `port` is not an array of variable names"
        );
        let bad = text.replacen("\"NEXUS_MAILER_PORT\"", "\"NEXUS MAILER\\u001b\"", 1);
        let err = InstalledSchema::parse("mailer", &bad).unwrap_err();
        assert_eq!(
            err,
            "`x-confd-env` of `port` is not an array of variable names"
        );
        let bad = text.replacen("\"default\": 25,", "\"default\": 70000,", 1);
        let err = InstalledSchema::parse("mailer", &bad).unwrap_err();
        assert_eq!(
            err,
            "the minimal default of `port` is not of its type, integer (0 to 65535)"
        );
        let bad = text.replacen("\"default\": \"queued\",", "\"default\": 3,", 1);
        assert!(InstalledSchema::parse("mailer", &bad).is_err());
        let bad = text.replacen("\"port\": {", "\"po.rt\": {", 1);
        let err = InstalledSchema::parse("mailer", &bad).unwrap_err();
        assert_eq!(
            err,
            "the key `po.rt` is not a bare key (letters, digits, `_` and `-`)"
        );
        // Nested past what a file may hold: refused, not a stack overflow.
        let mut deep = String::from(r#"{"title": "mailer", "type": "object", "properties": {"#);
        for _ in 0..100 {
            deep.push_str(r#""a": {"type": "object", "properties": {"#);
        }
        deep.push_str(&"}}".repeat(100));
        deep.push_str("}}");
        assert!(InstalledSchema::parse("mailer", &deep).is_err());
    }
}
