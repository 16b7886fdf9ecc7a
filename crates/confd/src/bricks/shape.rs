//! The type of each key of a brick (bool, an integer range, an enum's
//! variants, an array of what…), read from the brick type's `Deserialize`.
//!
//! A brick's defaults say a key is an integer; only its type says it is a
//! `u16`, or that `"auto"` is one of four variants. The type is read by
//! tracing its `Deserialize` impl with `serde-reflection`: that finds the
//! variants of unit enums as serde spells them (after `rename_all`) with no
//! extra derive on the brick's enums. A type that cannot be traced (one
//! deserialized with `deserialize_any`, such as an untagged enum or a
//! flattened table) falls back, key by key, to the TOML type of its default.

use serde::de::DeserializeOwned;
use serde_reflection::{ContainerFormat, Format, Registry, Tracer, TracerConfig, VariantFormat};

use crate::KeyPath;

/// What a key holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// `true` or `false`.
    Bool,
    /// An integer between `min` and `max`, the bounds of the Rust type as
    /// far as TOML's 64-bit integers reach.
    Integer {
        /// The smallest value the type holds.
        min: i64,
        /// The largest value the type holds.
        max: i64,
    },
    /// A floating-point number.
    Float,
    /// A string.
    String,
    /// One of these strings: a unit enum's variants, as serialized.
    Enum(Vec<String>),
    /// An array whose items are all of one shape.
    Array(Box<Shape>),
    /// A table with these keys, in declaration order; no other key.
    Table(Vec<(String, Shape)>),
    /// A table with any keys, whose values are all of one shape.
    Map(Box<Shape>),
    /// A key that may be left out (an `Option`): it then has no default.
    Optional(Box<Shape>),
    /// Anything: a type the shape does not describe (a date, an enum with
    /// data, a value deserialized by hand).
    Any,
}

impl Shape {
    /// The integer shape of Rust type `T`'s range, cut to TOML's `i64`.
    fn integer(min: i128, max: i128) -> Shape {
        let cut = |v: i128| i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX });
        Shape::Integer {
            min: cut(min),
            max: cut(max),
        }
    }

    /// The shape a TOML value shows: all the default-based schema of a
    /// hand-written brick knows (an integer's range is then `i64`'s).
    #[must_use]
    pub fn of_value(value: &toml::Value) -> Shape {
        match value {
            toml::Value::String(_) => Shape::String,
            toml::Value::Integer(_) => Shape::Integer {
                min: i64::MIN,
                max: i64::MAX,
            },
            toml::Value::Float(_) => Shape::Float,
            toml::Value::Boolean(_) => Shape::Bool,
            toml::Value::Datetime(_) => Shape::Any,
            toml::Value::Array(items) => {
                Shape::Array(Box::new(items.first().map_or(Shape::Any, Shape::of_value)))
            }
            toml::Value::Table(table) => Shape::of_table(table),
        }
    }

    /// The shape of a table of defaults: each key with the shape of its value.
    #[must_use]
    pub fn of_table(table: &toml::Table) -> Shape {
        Shape::Table(
            table
                .iter()
                .map(|(k, v)| (k.clone(), Shape::of_value(v)))
                .collect(),
        )
    }

    /// The shape of brick (or section) type `T`, traced from its
    /// `Deserialize`, each key it cannot describe taken from `defaults`.
    #[must_use]
    pub fn of_type<T: DeserializeOwned>(defaults: &toml::Table) -> Shape {
        let from_defaults = Shape::of_table(defaults);
        match trace::<T>() {
            Some(traced) => traced.refined_by(&from_defaults),
            None => from_defaults,
        }
    }

    /// The shape at `path` inside this one: through tables, maps (any key)
    /// and optional values.
    #[must_use]
    pub fn at(&self, path: &KeyPath) -> Option<&Shape> {
        let mut shape = self;
        for segment in path.segments() {
            shape = match shape.required() {
                Shape::Table(keys) => &keys.iter().find(|(k, _)| k == segment)?.1,
                Shape::Map(values) => values,
                _ => return None,
            };
        }
        Some(shape)
    }

    /// The shape itself, through `Optional`.
    #[must_use]
    pub fn required(&self) -> &Shape {
        match self {
            Shape::Optional(inner) => inner.required(),
            other => other,
        }
    }

    /// The name of the shape as messages and docs say it: `boolean`,
    /// `integer (0 to 65535)`, `one of "auto", "null"`, `array of string`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Shape::Bool => "boolean".to_owned(),
            Shape::Integer { min, max } if (*min, *max) == (i64::MIN, i64::MAX) => {
                "integer".to_owned()
            }
            // A `u64` goes as far as TOML does.
            Shape::Integer {
                min: 0,
                max: i64::MAX,
            } => "integer, 0 or more".to_owned(),
            Shape::Integer { min, max } => format!("integer ({min} to {max})"),
            Shape::Float => "float".to_owned(),
            Shape::String => "string".to_owned(),
            Shape::Enum(variants) => {
                let quoted: Vec<String> = variants.iter().map(|v| format!("{v:?}")).collect();
                format!("one of {}", quoted.join(", "))
            }
            Shape::Array(items) => format!("array of {}", items.describe()),
            Shape::Table(_) => "table".to_owned(),
            Shape::Map(values) => format!("table of {}", values.describe()),
            Shape::Optional(inner) => format!("{} (optional)", inner.describe()),
            Shape::Any => "any value".to_owned(),
        }
    }

    /// This shape with each part it cannot describe ([`Shape::Any`]) taken
    /// from `fallback`, the shape of the defaults.
    fn refined_by(self, fallback: &Shape) -> Shape {
        match (self, fallback) {
            (Shape::Any, fallback) => fallback.clone(),
            (Shape::Table(keys), Shape::Table(known)) => Shape::Table(
                keys.into_iter()
                    .map(|(key, shape)| {
                        let refined = match known.iter().find(|(k, _)| *k == key) {
                            Some((_, fallback)) => shape.refined_by(fallback),
                            None => shape,
                        };
                        (key, refined)
                    })
                    .collect(),
            ),
            (Shape::Optional(inner), fallback) => {
                Shape::Optional(Box::new(inner.refined_by(fallback)))
            }
            (Shape::Array(items), Shape::Array(known)) => {
                Shape::Array(Box::new(items.refined_by(known)))
            }
            (shape, _) => shape,
        }
    }
}

/// The shape of `T` traced through serde, or `None` when it cannot be.
fn trace<T: DeserializeOwned>() -> Option<Shape> {
    // Each trace visits one variant of every enum not yet complete, so a
    // brick is traced again until none is left incomplete; an enum first met
    // in a later round makes the tracer say which enums it has not finished,
    // and the trace starts over knowing them. Both loops are bounded: a type
    // that never completes falls back to its defaults.
    const ROUNDS: usize = 256;
    const RESTARTS: usize = 8;
    let mut enums: Vec<String> = Vec::new();
    for _ in 0..RESTARTS {
        let mut tracer = Tracer::new(TracerConfig::default().is_human_readable(true));
        let samples = serde_reflection::Samples::new();
        let mut root = None;
        for _ in 0..ROUNDS {
            let (format, _) = tracer.trace_type_once::<T>(&samples).ok()?;
            root = Some(format);
            let mut incomplete = false;
            for name in &enums {
                incomplete |= tracer.check_incomplete_enum(name).is_some();
            }
            if !incomplete {
                break;
            }
        }
        match tracer.registry() {
            Ok(registry) => return Some(from_format(&root?, &registry, 0)),
            Err(serde_reflection::Error::MissingVariants(names)) => {
                let known = enums.len();
                enums.extend(
                    names
                        .into_iter()
                        .filter(|n| !enums.contains(n))
                        .collect::<Vec<_>>(),
                );
                if enums.len() == known {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    None
}

/// The shape of a traced format; `depth` bounds a recursive type.
fn from_format(format: &Format, registry: &Registry, depth: usize) -> Shape {
    const MAX_DEPTH: usize = 32;
    if depth > MAX_DEPTH {
        return Shape::Any;
    }
    let inner = |f: &Format| Box::new(from_format(f, registry, depth + 1));
    match format {
        Format::Bool => Shape::Bool,
        Format::I8 => Shape::integer(i8::MIN.into(), i8::MAX.into()),
        Format::I16 => Shape::integer(i16::MIN.into(), i16::MAX.into()),
        Format::I32 => Shape::integer(i32::MIN.into(), i32::MAX.into()),
        Format::I64 | Format::I128 => Shape::integer(i64::MIN.into(), i64::MAX.into()),
        Format::U8 => Shape::integer(0, u8::MAX.into()),
        Format::U16 => Shape::integer(0, u16::MAX.into()),
        Format::U32 => Shape::integer(0, u32::MAX.into()),
        Format::U64 | Format::U128 => Shape::integer(0, i64::MAX.into()),
        Format::F32 | Format::F64 => Shape::Float,
        Format::Char | Format::Str => Shape::String,
        Format::Bytes => Shape::Array(Box::new(Shape::integer(0, u8::MAX.into()))),
        Format::Option(f) => Shape::Optional(inner(f)),
        Format::Seq(f) | Format::TupleArray { content: f, .. } => Shape::Array(inner(f)),
        Format::Map { value, .. } => Shape::Map(inner(value)),
        Format::TypeName(name) => match registry.get(name) {
            Some(ContainerFormat::Struct(fields)) => Shape::Table(
                fields
                    .iter()
                    .map(|f| (f.name.clone(), from_format(&f.value, registry, depth + 1)))
                    .collect(),
            ),
            Some(ContainerFormat::NewTypeStruct(f)) => from_format(f, registry, depth + 1),
            Some(ContainerFormat::Enum(variants))
                if variants
                    .values()
                    .all(|v| matches!(v.value, VariantFormat::Unit)) =>
            {
                Shape::Enum(variants.values().map(|v| v.name.clone()).collect())
            }
            _ => Shape::Any,
        },
        Format::Unit | Format::Tuple(_) | Format::Variable(_) => Shape::Any,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    #[serde(rename_all = "kebab-case")]
    #[allow(dead_code)]
    enum Mode {
        Fast,
        SlowAndSteady,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Level {
        Low,
        High,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Limits {
        level: Level,
        burst: Option<i8>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Relay {
        port: u16,
        weight: f32,
        tls: bool,
        host: String,
        token: crate::Secret,
        mode: Mode,
        peers: Vec<String>,
        labels: BTreeMap<String, u64>,
        limits: Limits,
    }

    fn int(min: i64, max: i64) -> Shape {
        Shape::Integer { min, max }
    }

    #[test]
    fn every_key_has_the_type_of_its_field() {
        let shape = Shape::of_type::<Relay>(&toml::Table::new());
        let key = |k: &str| shape.at(&k.parse().unwrap()).cloned();
        assert_eq!(key("port"), Some(int(0, 65535)));
        assert_eq!(key("weight"), Some(Shape::Float));
        assert_eq!(key("tls"), Some(Shape::Bool));
        assert_eq!(key("host"), Some(Shape::String));
        assert_eq!(key("token"), Some(Shape::String));
        assert_eq!(
            key("mode"),
            Some(Shape::Enum(vec!["fast".into(), "slow-and-steady".into()]))
        );
        assert_eq!(key("peers"), Some(Shape::Array(Box::new(Shape::String))));
        assert_eq!(key("labels"), Some(Shape::Map(Box::new(int(0, i64::MAX)))));
        assert_eq!(key("labels.anything"), Some(int(0, i64::MAX)));
        // A nested struct's own enum is traced to its end too.
        assert_eq!(
            key("limits.level"),
            Some(Shape::Enum(vec!["low".into(), "high".into()]))
        );
        assert_eq!(
            key("limits.burst"),
            Some(Shape::Optional(Box::new(int(-128, 127))))
        );
        assert_eq!(key("nope"), None);
    }

    /// An untagged enum is deserialized with `deserialize_any`, which no
    /// trace can follow: the defaults say what they can.
    #[test]
    fn an_untraceable_type_falls_back_to_its_defaults() {
        #[derive(Deserialize)]
        #[serde(untagged)]
        #[allow(dead_code)]
        enum Either {
            Number(i64),
            Word(String),
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Odd {
            either: Either,
        }
        let defaults: toml::Table = toml::from_str("either = 3\n").unwrap();
        assert_eq!(
            Shape::of_type::<Odd>(&defaults),
            Shape::Table(vec![("either".into(), int(i64::MIN, i64::MAX))])
        );
    }

    #[test]
    fn shapes_describe_themselves() {
        assert_eq!(int(0, 65535).describe(), "integer (0 to 65535)");
        assert_eq!(int(i64::MIN, i64::MAX).describe(), "integer");
        assert_eq!(int(0, i64::MAX).describe(), "integer, 0 or more");
        assert_eq!(
            Shape::Enum(vec!["a".into(), "b".into()]).describe(),
            r#"one of "a", "b""#
        );
        assert_eq!(
            Shape::Optional(Box::new(Shape::Array(Box::new(Shape::Bool)))).describe(),
            "array of boolean (optional)"
        );
    }
}
