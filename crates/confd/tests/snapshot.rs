//! Configuration snapshots: a guest process with an empty state dir, no
//! access to the host's and only the snapshot loads exactly what the host's
//! processes load.

use std::path::Path;
use std::process::Command;

use confd::snapshot::{Snapshot, SnapshotError, SnapshotOptions};
use confd_bricks::{
    CacheConfig, DatabaseConfig, LlmConfig, MountsConfig, PermissionsConfig, SearchConfig,
    UploadsConfig,
};

use crate::support::State;

/// Every shipped brick's typed configuration, as TOML (which, unlike
/// `Debug`, shows secrets: the comparison must see them).
fn typed_configs(loader: &confd::Loader) -> Result<String, confd::Error> {
    fn one<T: confd::Brick>(loader: &confd::Loader, out: &mut String) -> Result<(), confd::Error> {
        let typed: T = loader.load_typed()?;
        out.push_str(&format!(
            "[{}]\n{}\n",
            T::NAME,
            toml::to_string(&typed).unwrap()
        ));
        Ok(())
    }
    let mut out = String::new();
    one::<CacheConfig>(loader, &mut out)?;
    one::<DatabaseConfig>(loader, &mut out)?;
    one::<LlmConfig>(loader, &mut out)?;
    one::<MountsConfig>(loader, &mut out)?;
    one::<PermissionsConfig>(loader, &mut out)?;
    one::<SearchConfig>(loader, &mut out)?;
    one::<UploadsConfig>(loader, &mut out)?;
    Ok(out)
}

/// The guest: run by [`guest`] as a child process of this test binary, it
/// loads every brick with the process's own environment (the snapshot in
/// `NEXUS_CONFIG_SNAPSHOT`, an empty `NEXUS_STATE_DIR`) and prints them.
#[test]
#[ignore = "child process of a_guest_with_only_the_snapshot_loads_what_the_host_loads"]
fn guest_process() {
    match typed_configs(&confd::Loader::new()) {
        Ok(text) => print!("GUEST-BEGIN\n{text}GUEST-END\n"),
        Err(e) => println!("GUEST-ERROR {e}"),
    }
}

/// Runs [`guest_process`] in a child with only `vars` in its environment.
fn guest(vars: &[(&str, &Path)]) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "snapshot::guest_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (*k, *v)))
        .output()
        .expect("run the guest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Some(error) = stdout.lines().find(|l| l.starts_with("GUEST-ERROR")) {
        return error.to_owned();
    }
    let begin = stdout.find("GUEST-BEGIN\n").expect("the guest ran") + "GUEST-BEGIN\n".len();
    let end = stdout.find("GUEST-END").expect("the guest finished");
    stdout[begin..end].to_owned()
}

fn host() -> State {
    let state = State::new();
    state.write(
        "cache",
        "backend = \"dragonfly\"\nurl = \"redis://cache:6379\"\n",
    );
    state.write("llm", "provider = \"openrouter\"\napi_key = \"sk-host\"\n");
    state.write("database", "url = \"postgresql://u:pw@db/nexus\"\n");
    state.write("uploads.d/50-big.toml", "max_chunk_size = 134217728\n");
    state
}

#[test]
fn a_guest_with_only_the_snapshot_loads_what_the_host_loads() {
    let host = host();
    // The host's processes run with a variable and a --set of their own:
    // the snapshot holds what they load, not just the files.
    let loader = host
        .loader()
        .profile("cloud")
        .env([("NEXUS_CACHE_KV_SIZE", "99")])
        .cli_override("search.zoekt_url", "http://zoekt:6070");
    let expected = typed_configs(&loader).unwrap();
    let names: Vec<String> = confd::bricks::registered()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    let snapshot = confd::snapshot::take(&loader, &names, SnapshotOptions::default()).unwrap();
    assert!(snapshot.holds_secrets());
    let guest_dir = tempfile::tempdir().unwrap();
    let file = guest_dir.path().join("snapshot.toml");
    std::fs::write(&file, snapshot.to_toml()).unwrap();
    let empty_state = guest_dir.path().join("state");
    std::fs::create_dir(&empty_state).unwrap();
    let withheld =
        confd::snapshot::take(&loader, &names, SnapshotOptions { no_secrets: true }).unwrap();
    let withheld_file = guest_dir.path().join("no-secrets.toml");
    std::fs::write(&withheld_file, withheld.to_toml()).unwrap();
    // The host's state dir is gone: the guest cannot have read it.
    drop(host);

    let got = guest(&[
        ("NEXUS_CONFIG_SNAPSHOT", &file),
        ("NEXUS_STATE_DIR", &empty_state),
    ]);
    assert_eq!(got, expected);
    assert!(got.contains("api_key = \"sk-host\""), "{got}");
    assert!(
        got.contains("pool_size = 30"),
        "the host's profile, cloud: {got}"
    );

    // Secrets withheld: the same, but for them, which take their defaults.
    let got = guest(&[
        ("NEXUS_CONFIG_SNAPSHOT", &withheld_file),
        ("NEXUS_STATE_DIR", &empty_state),
    ]);
    let without_secrets = expected
        .replace("\"sk-host\"", "\"\"")
        .replace("\"postgresql://u:pw@db/nexus\"", "\"\"");
    assert_ne!(without_secrets, expected);
    assert_eq!(got, without_secrets);
}

#[test]
fn a_withheld_secret_comes_from_the_guests_own_layers_or_its_default() {
    let host = host();
    let names = vec!["llm".to_owned(), "database".to_owned()];
    let snapshot =
        confd::snapshot::take(&host.loader(), &names, SnapshotOptions { no_secrets: true })
            .unwrap();
    assert!(!snapshot.holds_secrets());
    let text = snapshot.to_toml();
    assert!(
        !text.contains("sk-host") && !text.contains("pw@db"),
        "{text}"
    );
    assert_eq!(snapshot.bricks["llm"].withheld, ["api_key"]);
    // No hash over a withheld secret: it would let a reader test guesses.
    assert_eq!(snapshot.bricks["llm"].hash, None);
    assert!(
        !text.contains(
            &host
                .loader()
                .load("llm")
                .unwrap()
                .effective_hash()
                .to_string()
        )
    );
    let file = host.root().join("snap.toml");
    std::fs::write(&file, &text).unwrap();

    let guest = confd::Loader::new()
        .state_dir(tempfile::tempdir().unwrap().path())
        .env([("NEXUS_DATABASE_URL", "postgresql://guest@db/nexus")])
        .snapshot(&file);
    let llm = guest.load("llm").unwrap();
    assert_eq!(
        llm.get::<String>("provider").unwrap().as_deref(),
        Some("openrouter")
    );
    assert_eq!(llm.get::<String>("api_key").unwrap().as_deref(), Some(""));
    assert!(
        llm.warnings().iter().any(|w| w
            .to_string()
            .contains("`llm.api_key` was withheld from the snapshot")),
        "{:?}",
        llm.warnings()
    );
    let database = guest.load("database").unwrap();
    assert_eq!(
        database.get::<String>("url").unwrap().as_deref(),
        Some("postgresql://guest@db/nexus")
    );
    assert_eq!(
        database.origin("url").unwrap().to_string(),
        "env NEXUS_DATABASE_URL"
    );
    // Origins say where the host found each value.
    let origin = llm.origin("provider").unwrap().to_string();
    assert!(
        origin.starts_with(&format!("snapshot {} (", file.display()))
            && origin.ends_with("/etc/conf.d/llm:1:12 on the host)"),
        "{origin}"
    );
}

#[test]
fn identical_inputs_give_identical_bytes() {
    let host = host();
    let names = vec!["cache".to_owned(), "uploads".to_owned()];
    let take = |loader: &confd::Loader| {
        confd::snapshot::take(loader, &names, SnapshotOptions::default())
            .unwrap()
            .to_toml()
    };
    let first = take(&host.loader());
    assert_eq!(first, take(&host.loader()));
    assert!(
        !first.contains("taken"),
        "no time without SOURCE_DATE_EPOCH"
    );
    let dated = take(&host.loader().env([("SOURCE_DATE_EPOCH", "1700000000")]));
    assert!(dated.contains("taken = 1700000000\n"), "{dated}");
}

#[test]
fn a_broken_snapshot_is_an_error_naming_the_file_never_an_empty_config() {
    let host = host();
    let names = vec!["cache".to_owned()];
    let text = confd::snapshot::take(&host.loader(), &names, SnapshotOptions::default())
        .unwrap()
        .to_toml();
    let dir = tempfile::tempdir().unwrap();
    let load = |contents: &str| {
        let file = dir.path().join("s.toml");
        std::fs::write(&file, contents).unwrap();
        let err = confd::Loader::new()
            .state_dir(dir.path())
            .env(std::iter::empty::<(String, String)>())
            .snapshot(&file)
            .load("cache")
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&file.display().to_string()), "{message}");
        err
    };
    // Truncated mid-way.
    let err = load(&text[..text.len() / 2]);
    assert!(
        matches!(err, confd::Error::Snapshot(SnapshotError::Malformed { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("line "), "{err}");
    // A value changed by hand.
    let err = load(&text.replace("backend = \"dragonfly\"", "backend = \"null\""));
    assert!(
        matches!(
            err,
            confd::Error::Snapshot(SnapshotError::HashMismatch { .. })
        ),
        "{err}"
    );
    // A format from the future.
    let err = load(&text.replace("format = 1", "format = 2"));
    assert!(
        matches!(
            err,
            confd::Error::Snapshot(SnapshotError::UnknownFormat { found: 2, .. })
        ),
        "{err}"
    );
    // Not a snapshot at all.
    let err = load("backend = \"null\"\n");
    assert!(
        matches!(err, confd::Error::Snapshot(SnapshotError::Malformed { .. })),
        "{err}"
    );
    // Missing.
    std::fs::remove_file(dir.path().join("s.toml")).unwrap();
    let err = confd::Loader::new()
        .state_dir(dir.path())
        .snapshot(dir.path().join("s.toml"))
        .load("cache")
        .unwrap_err();
    assert!(
        matches!(err, confd::Error::Snapshot(SnapshotError::Read { .. })),
        "{err}"
    );
    // The text of a parse error never quotes the file: it may hold secrets.
    let err = load("[snapshot]\nformat = 1\napi = \"sk-123\" junk\n");
    assert!(!err.to_string().contains("sk-123"), "{err}");
    let err = load(&text.replace(
        "[bricks.cache]\n",
        "[bricks.cache]\nwithheld = \"sk-456\"\n",
    ));
    assert!(!err.to_string().contains("sk-456"), "{err}");
    let _ = Snapshot::parse(&text, Path::new("x")).unwrap();
}

/// A guest's watch follows its snapshot: replacing the file atomically
/// reloads, with the usual events; the host's files are never looked at.
#[test]
fn replacing_the_snapshot_reloads() {
    use std::time::Duration;
    let host = host();
    let names = vec!["cache".to_owned()];
    let take = |host: &State| {
        confd::snapshot::take(&host.loader(), &names, SnapshotOptions::default())
            .unwrap()
            .to_toml()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snapshot.toml");
    std::fs::write(&file, take(&host)).unwrap();
    let guest = confd::Loader::new()
        .state_dir(dir.path().join("state"))
        .env(std::iter::empty::<(String, String)>())
        .snapshot(&file);
    let watch = confd::watch::Watcher::new(guest).watch("cache").unwrap();
    assert_eq!(
        watch.current().get::<String>("backend").unwrap().as_deref(),
        Some("dragonfly")
    );

    host.write("cache", "backend = \"postgres\"\n");
    let next = dir.path().join(".snapshot.toml.tmp");
    std::fs::write(&next, take(&host)).unwrap();
    std::fs::rename(&next, &file).unwrap();
    let event = watch
        .events()
        .recv_timeout(Duration::from_secs(10))
        .expect("a reload within 10 s");
    let confd::watch::WatchEvent::Reloaded(reload) = event else {
        panic!("expected a reload, got {event:?}");
    };
    let keys: Vec<String> = reload.changes.iter().map(|c| c.key.to_string()).collect();
    assert_eq!(keys, ["backend", "url"]);
    assert_eq!(
        watch.current().get::<String>("backend").unwrap().as_deref(),
        Some("postgres")
    );
}
