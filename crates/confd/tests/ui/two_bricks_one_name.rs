#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "relay")]
struct Relay {
    #[brick(default = 25)]
    port: u16,
}

#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "relay")]
struct OtherRelay {
    #[brick(default = "localhost")]
    host: String,
}

fn main() {}
