#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[serde(from = "Wire", into = "Wire")]
#[brick(name = "relay")]
#[derive(Clone)]
struct Relay {
    #[brick(default = 1)]
    x: u32,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Wire {
    y: u32,
}
impl From<Wire> for Relay {
    fn from(w: Wire) -> Self {
        Relay { x: w.y }
    }
}
impl From<Relay> for Wire {
    fn from(r: Relay) -> Self {
        Wire { y: r.x }
    }
}

fn main() {}
