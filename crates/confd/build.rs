//! include_dir embeds `etc/conf.d` at compile time but cannot tell cargo to
//! rebuild when a file there is added or edited; this does.
fn main() {
    println!("cargo::rerun-if-changed=etc");
}
