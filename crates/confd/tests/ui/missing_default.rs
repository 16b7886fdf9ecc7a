#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "relay")]
struct Relay {
    #[brick(default = "localhost")]
    host: String,
    port: u16,
}

fn main() {}
