#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
struct Relay {
    #[brick(default = 25)]
    port: u16,
}

fn main() {}
