//! A brick whose default does not fit its field's type is left out of the
//! registry, and every other brick of the program still works. In a binary
//! of its own: building that brick's defaults panics (the author's mistake,
//! shown by the panic message), which other tests would see.

use serde::{Deserialize, Serialize};

/// A default that cannot be its field's type.
#[derive(Debug, Serialize, Deserialize, confd::Brick)]
#[brick(name = "broken-default")]
struct Broken {
    #[brick(default = 300)]
    small: u8,
}

/// A sound one beside it.
#[derive(Debug, Serialize, Deserialize, confd::Brick)]
#[brick(name = "sound")]
struct Sound {
    #[brick(default = 3)]
    small: u8,
}

#[test]
fn a_default_that_does_not_fit_leaves_its_brick_out_and_the_others_work() {
    assert!(confd::bricks::lookup("broken-default").is_none());
    assert!(confd::bricks::lookup("sound").is_some());
    let names: Vec<&str> = confd::shipped::shipped_files()
        .iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["sound"]);
}
