#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "relay")]
struct Relay {
    #[brick(default = 4, profile(minimal = 1, clod = 16))]
    pool: u32,
}

fn main() {}
