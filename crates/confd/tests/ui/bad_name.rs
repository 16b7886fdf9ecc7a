#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "../relay")]
struct Relay {
    #[brick(default = 25)]
    port: u16,
}

fn main() {}
