//! Deserializing straight from a borrowed `toml::Value`.
//!
//! toml only deserializes from an owned `Value`, so reading a loaded table
//! into a brick's type would first copy the whole table. This borrows it
//! instead, with the same rules and error type as toml's own deserializer;
//! the rare shapes it does not handle itself (datetimes, enums written as
//! tables) fall back to toml's deserializer on a copy of just that value.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use toml::de::Error;
use toml::{Table, Value};

/// A deserializer reading a borrowed TOML value, or a borrowed table (what a
/// loaded configuration holds, without wrapping it in a `Value`).
#[derive(Clone, Copy)]
pub(crate) enum Borrowed<'a> {
    Value(&'a Value),
    Table(&'a Table),
}

impl<'a> Borrowed<'a> {
    /// The value as toml's owned deserializer takes it, for the rare shapes
    /// handled by falling back to it.
    fn to_owned_value(self) -> Value {
        match self {
            Borrowed::Value(value) => value.clone(),
            Borrowed::Table(table) => Value::Table(table.clone()),
        }
    }
}

impl<'de> de::Deserializer<'de> for Borrowed<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let value = match self {
            Borrowed::Table(table) => return visit_table(table, visitor),
            Borrowed::Value(value) => value,
        };
        match value {
            Value::Boolean(b) => visitor.visit_bool(*b),
            Value::Integer(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Datetime(d) => visitor.visit_string(d.to_string()),
            Value::Array(items) => {
                let mut seq = SeqRef(items.iter());
                let value = visitor.visit_seq(&mut seq)?;
                if seq.0.len() == 0 {
                    Ok(value)
                } else {
                    Err(de::Error::invalid_length(
                        items.len(),
                        &"fewer elements in array",
                    ))
                }
            }
            Value::Table(table) => visit_table(table, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Borrowed::Value(Value::String(s)) => {
                visitor.visit_enum(IntoDeserializer::<Error>::into_deserializer(s.as_str()))
            }
            other => other
                .to_owned_value()
                .deserialize_enum(name, variants, visitor),
        }
    }

    // `None` is a missing key, so a present value is always `Some`.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            // toml's datetime type reads itself through a private protocol.
            Borrowed::Value(Value::Datetime(_)) => self
                .to_owned_value()
                .deserialize_struct(name, fields, visitor),
            _ => self.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 char str string unit seq
        bytes byte_buf map unit_struct tuple_struct tuple ignored_any identifier
    }
}

fn visit_table<'de, V: Visitor<'de>>(table: &'de Table, visitor: V) -> Result<V::Value, Error> {
    let mut map = MapRef {
        entries: table.iter(),
        value: None,
    };
    let value = visitor.visit_map(&mut map)?;
    if map.entries.len() == 0 {
        Ok(value)
    } else {
        Err(de::Error::invalid_length(
            table.len(),
            &"fewer elements in map",
        ))
    }
}

struct SeqRef<'a>(std::slice::Iter<'a, Value>);

impl<'de> de::SeqAccess<'de> for SeqRef<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Borrowed::Value(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct MapRef<'a> {
    entries: toml::map::Iter<'a, String, Value>,
    value: Option<&'a Value>,
}

impl<'de> de::MapAccess<'de> for MapRef<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(Borrowed::Value(value)),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
        Custom(u8),
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Sample {
        name: String,
        count: u32,
        ratio: f64,
        on: bool,
        list: Vec<i64>,
        mode: Mode,
        other: Mode,
        maybe: Option<String>,
        absent: Option<String>,
        when: toml::value::Datetime,
        nested: BTreeMap<String, Vec<String>>,
    }

    const DOC: &str = r#"
        name = "x"
        count = 3
        ratio = 0.5
        on = true
        list = [1, 2]
        mode = "fast"
        other = { custom = 7 }
        maybe = "yes"
        when = 1979-05-27T07:32:00Z
        [nested]
        a = ["b", "c"]
    "#;

    #[test]
    fn reads_what_the_owned_deserializer_reads() {
        let table: toml::Table = DOC.parse().unwrap();
        let from_table = Sample::deserialize(Borrowed::Table(&table)).unwrap();
        let value = Value::Table(table);
        let borrowed = Sample::deserialize(Borrowed::Value(&value)).unwrap();
        let owned = Sample::deserialize(value.clone()).unwrap();
        assert_eq!(borrowed, owned);
        assert_eq!(from_table, owned);
        assert_eq!(borrowed.other, Mode::Custom(7));
        assert_eq!(borrowed.absent, None);
    }

    #[test]
    fn fails_where_the_owned_deserializer_fails_with_the_same_message() {
        for doc in [
            "name = 1",
            "name = \"x\"\ncount = -1",
            "name = \"x\"\ncount = \"many\"",
        ] {
            let value = Value::Table(doc.parse().unwrap());
            let borrowed = Sample::deserialize(Borrowed::Value(&value)).unwrap_err();
            let owned = Sample::deserialize(value.clone()).unwrap_err();
            assert_eq!(borrowed.message(), owned.message(), "{doc}");
        }
        let bad_variant = Value::Table("name = \"x\"\nmode = \"medium\"".parse().unwrap());
        let message = Sample::deserialize(Borrowed::Value(&bad_variant))
            .unwrap_err()
            .to_string();
        assert!(message.contains("unknown variant `medium`"), "{message}");
    }
}
