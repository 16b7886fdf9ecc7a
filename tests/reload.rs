//! Restart or reload (DESIGN.md §9): a change of keys a brick declares
//! `reload` needs no restart; the effective hash stayed what it was.

use std::collections::HashMap;

use confd::{BrickName, watch::Action, watch::plan};

use crate::support::Sandbox;

fn loader(sandbox: &Sandbox) -> confd::Loader {
    confd::Loader::new()
        .state_dir(sandbox.state())
        .env(std::iter::empty::<(String, String)>())
        .cache(false)
}

fn load(sandbox: &Sandbox, brick: &str) -> confd::BrickConfig {
    loader(sandbox).load(brick).expect("loads")
}

#[test]
fn effective_hashes_are_those_of_before_the_split() {
    // Supervisors persist these: the split added a hash, it changed none.
    // (Values computed by the code before the split.)
    let sandbox = Sandbox::new();
    assert_eq!(
        load(&sandbox, "cache").effective_hash().to_string(),
        "bd88f21710a265095869c32e552d7bbd33287142efce71992dfb507e2a1f6b89"
    );
    sandbox.write("cache", "permission_ttl = 30\nbackend = \"null\"\n");
    assert_eq!(
        load(&sandbox, "cache").effective_hash().to_string(),
        "5cf50494f94a5bfc4aab3de442f60a4bc87ad36f2e49b1b0385f142bb4ca30d2"
    );
}

/// What `plan` says for `brick` after `edit` replaces its main file, with
/// the hashes recorded before as a supervisor would.
fn plan_after(brick: &str, before: &str, edit: &str) -> Action {
    let sandbox = Sandbox::new();
    sandbox.write(brick, before);
    let name = BrickName::new(brick).unwrap();
    let applied = HashMap::from([(name.clone(), load(&sandbox, brick).hashes())]);
    sandbox.write(brick, edit);
    let desired = [(name, load(&sandbox, brick).hashes())];
    let steps = plan(&desired, &applied);
    assert_eq!(steps.len(), 1);
    steps[0].1
}

#[test]
fn plan_reloads_for_reload_keys_and_restarts_for_the_others() {
    // `cache.permission_ttl` and `denial_ttl` are declared `reload`.
    assert_eq!(
        plan_after("cache", "", "permission_ttl = 30\n"),
        Action::Reload
    );
    assert_eq!(
        plan_after("cache", "permission_ttl = 30\n", "denial_ttl = 1\n"),
        Action::Reload
    );
    assert_eq!(
        plan_after("cache", "", "backend = \"null\"\n"),
        Action::Restart
    );
    assert_eq!(
        plan_after("cache", "", "backend = \"null\"\npermission_ttl = 30\n"),
        Action::Restart
    );
    // An unknown key (a warning) is not declared `reload`: the safe side.
    assert_eq!(plan_after("cache", "", "extra = 1\n"), Action::Restart);
    assert_eq!(plan_after("cache", "", "# only a comment\n"), Action::Keep);
    // A brick without `reload` keys, and one confd knows nothing of.
    assert_eq!(
        plan_after("mounts", "", "auto_sync = true\n"),
        Action::Restart
    );
    assert_eq!(plan_after("queue", "a = 1\n", "a = 2\n"), Action::Restart);
}

#[test]
fn the_restart_hash_leaves_out_only_reload_keys() {
    let sandbox = Sandbox::new();
    let defaults = load(&sandbox, "cache");
    assert_ne!(defaults.restart_hash(), defaults.effective_hash());
    sandbox.write("cache", "permission_ttl = 30\ndenial_ttl = 2\n");
    let live = load(&sandbox, "cache");
    assert_eq!(live.restart_hash(), defaults.restart_hash());
    assert_ne!(live.effective_hash(), defaults.effective_hash());
    // A brick with no `reload` key: both hashes are one.
    let mounts = load(&sandbox, "mounts");
    assert_eq!(mounts.restart_hash(), mounts.effective_hash());
    // Set through the environment, a reload key is still a reload key.
    let from_env = confd::Loader::new()
        .state_dir(sandbox.state())
        .env([("NEXUS_CACHE_PERMISSION_TTL", "7")])
        .cache(false)
        .load("cache")
        .unwrap();
    assert_eq!(from_env.restart_hash(), defaults.restart_hash());
}
