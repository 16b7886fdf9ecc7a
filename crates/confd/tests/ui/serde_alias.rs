#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "relay")]
struct Relay {
    #[brick(default = 1)]
    #[serde(alias = "old")]
    port: u32,
}

fn main() {}
