//! Every brick linked into the program, registered at link time by the
//! derive (or [`register_brick!`](crate::register_brick)) through `inventory`.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::sync::{OnceLock, RwLock};

use super::declared::Declared;
use super::{Brick, Schema};

/// One registered brick: what `inventory` collects.
pub struct Registration {
    name: &'static str,
    schema: fn() -> &'static dyn Schema,
}

impl Registration {
    /// The registration of brick type `T`.
    #[must_use]
    pub const fn of<T: Brick>() -> Self {
        Registration {
            name: T::NAME,
            schema: schema_of::<T>,
        }
    }
}

inventory::collect!(Registration);

/// Registers a brick whose `impl Brick` is written by hand (the derive
/// registers its own).
///
/// ```
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Relay { host: String }
/// impl confd::Brick for Relay {
///     const NAME: &'static str = "relay";
///     fn defaults(_: confd::Profile) -> Self { Relay { host: "localhost".into() } }
/// }
/// confd::register_brick!(Relay);
/// assert!(confd::bricks::lookup("relay").is_some());
/// ```
#[macro_export]
macro_rules! register_brick {
    ($brick:ty) => {
        $crate::bricks::__private::inventory::submit! {
            $crate::bricks::Registration::of::<$brick>()
        }
    };
}

/// The schema of brick type `T`, worked out once per program.
#[must_use]
pub fn schema_of<T: Brick>() -> &'static dyn Schema {
    // One schema per type: a generic function cannot own a static, so they
    // live in a map by type, each leaked once.
    static SCHEMAS: RwLock<BTreeMap<TypeId, &'static dyn Schema>> = RwLock::new(BTreeMap::new());
    let id = TypeId::of::<T>();
    if let Some(schema) = SCHEMAS.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return *schema;
    }
    *SCHEMAS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(id)
        .or_insert_with(|| Box::leak(Box::new(Declared::<T>::new())))
}

/// The schema of every brick linked into this program, by name.
///
/// Two derived bricks of one name cannot be linked together (the derive makes
/// that a build error). Of bricks registered by hand, one whose name cannot
/// be a file name in conf.d is left out, and of two with one name only one is
/// kept; both are logged.
#[must_use]
pub fn registered() -> &'static [&'static dyn Schema] {
    static REGISTERED: OnceLock<Vec<&'static dyn Schema>> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        let mut all: Vec<&Registration> = inventory::iter::<Registration>()
            .filter(|r| match crate::BrickName::new(r.name) {
                Ok(_) => true,
                Err(e) => {
                    tracing::error!("a brick registered by hand is left out: {e}");
                    false
                }
            })
            .collect();
        all.sort_by_key(|r| r.name);
        let before = all.len();
        all.dedup_by_key(|r| r.name);
        if all.len() != before {
            tracing::error!("two bricks registered by hand share a name: one of each is kept");
        }
        all.into_iter()
            .map(|r| (r.schema)())
            .filter(|schema| declaration_holds(*schema))
            .collect()
    })
}

/// Whether a brick's declaration can be used: a default that does not fit
/// its type panics when the defaults are built (a mistake of the brick's
/// author, which its first load shows). Such a brick is left out, so the
/// program works for every other brick, and the mistake is logged.
fn declaration_holds(schema: &'static dyn Schema) -> bool {
    // A panic leaves nothing half-built that is used afterwards: the
    // brick is dropped from the registry.
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for profile in crate::Profile::ALL {
            let _ = schema.defaults(profile);
        }
        let _ = schema.keys();
    }));
    if built.is_err() {
        tracing::error!(
            "brick `{}` is left out: its declaration does not build (see the panic above)",
            schema.name()
        );
    }
    built.is_ok()
}

/// The schema of the linked brick called `name`.
#[must_use]
pub fn lookup(name: &str) -> Option<&'static dyn Schema> {
    let all = registered();
    all.binary_search_by(|s| s.name().cmp(name))
        .ok()
        .map(|i| all[i])
}

#[cfg(test)]
mod tests {
    use crate::{Brick, Profile};

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Escape {
        x: u32,
    }

    impl Brick for Escape {
        const NAME: &'static str = "../escape";
        fn defaults(_: Profile) -> Self {
            Escape { x: 1 }
        }
    }
    crate::register_brick!(Escape);

    #[test]
    fn a_hand_registered_name_that_is_no_file_name_is_left_out() {
        assert!(super::lookup("../escape").is_none());
        assert!(super::registered().iter().all(|s| s.name() != "../escape"));
        // The same kind of brick, registered properly, is found.
        assert!(super::lookup("vault").is_some());
    }
}
