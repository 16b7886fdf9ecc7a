#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "relay")]
struct Relay {
    #[brick(default = 25, env_inverted = "RELAY_NO_PORT")]
    port: u16,
}

fn main() {}
