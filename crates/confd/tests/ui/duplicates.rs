#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "relay")]
struct Relay {
    #[brick(default = 1, default = 2)]
    port: u32,
    #[brick(default = 1, profile(lite = 2, lite = 3))]
    pool: u32,
}

#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "other")]
struct Other {
    #[brick(default = 1, env = "OTHER_X")]
    a: u32,
    #[brick(default = 1, env = "OTHER_X")]
    b: u32,
}

fn main() {}
