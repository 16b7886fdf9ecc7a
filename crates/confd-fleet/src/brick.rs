//! The `fleet` brick: where a host finds its fleet (DESIGN.md §10).

use serde::{Deserialize, Serialize};

use confd::Profile;
use confd::bricks::{Brick, Violation};

/// The most a boot may be told to wait for etcd: a fleet that needs longer
/// is better served by the offline cache.
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// The `fleet` brick, loaded from the host's local layers only (its own
/// file, drop-ins, variables and `--set`): the fleet cannot say where the
/// fleet is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FleetConfig {
    /// The etcd members to ask (`http://10.0.0.1:2379`, or `host:port`);
    /// empty, the default, means no fleet.
    pub endpoints: Vec<String>,
    /// The key prefix of this fleet's configuration: `PREFIX/conf.d/NAME`
    /// and `PREFIX/nodes/NODE/conf.d/NAME`.
    pub prefix: String,
    /// This host's name in the fleet; the host name by default.
    pub node: String,
    /// How long a load waits for etcd before it uses the offline cache.
    pub timeout_ms: u64,
}

impl FleetConfig {
    /// Whether this host is in a fleet at all.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        !self.endpoints.is_empty()
    }

    /// The prefix without a trailing `/`, as keys are built from it.
    #[must_use]
    pub fn prefix(&self) -> &str {
        self.prefix.trim_end_matches('/')
    }

    /// The timeout as a duration.
    #[must_use]
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms)
    }
}

// Registered, so every tool knows it: `init` seeds its commented default,
// `show`, `validate` and `doctor` check it, `explain` documents it.
confd::register_brick!(FleetConfig);

impl Brick for FleetConfig {
    const NAME: &'static str = "fleet";
    const DOC: &'static str = "Where this host finds its fleet's shared configuration in etcd \
        (DESIGN.md §10); read from this host's own files only. No endpoints: no fleet.";

    fn declare_keys(keys: &mut Vec<confd::bricks::KeyDecl>) {
        let key = |path: &str, doc: &'static str| confd::bricks::KeyDecl {
            path: path.to_owned(),
            doc,
            env: &[],
            env_inverted: false,
            secret: false,
            reload: false,
            table: false,
        };
        keys.extend([
            key(
                "endpoints",
                "The etcd members to ask, e.g. [\"http://10.0.0.1:2379\"]; none: no fleet, and nothing \
                 changes for a single host.",
            ),
            key(
                "prefix",
                "The key prefix of this fleet: its bricks are PREFIX/conf.d/NAME, this host's own \
                 PREFIX/nodes/NODE/conf.d/NAME.",
            ),
            key("node", "This host's name in the fleet; the default is its host name."),
            key(
                "timeout_ms",
                "How long a boot waits for etcd before it uses the cached fleet layer (1 to 60000).",
            ),
        ]);
    }

    fn defaults(_: Profile) -> Self {
        FleetConfig {
            endpoints: Vec::new(),
            prefix: "/nexus".to_owned(),
            node: host_name(),
            timeout_ms: 1000,
        }
    }

    fn validate(&self) -> Result<(), Violation> {
        let violation = |message: String, key: &'static str| Violation {
            message,
            keys: vec![key],
        };
        if !self.prefix.starts_with('/') || self.prefix.chars().any(char::is_whitespace) {
            return Err(violation(
                format!(
                    "`prefix` must be an absolute etcd key prefix such as `/nexus`, not `{}`",
                    confd::shown::one_line(&self.prefix)
                ),
                "prefix",
            ));
        }
        if self.prefix.chars().any(char::is_control) {
            return Err(violation(
                "`prefix` holds a control character".to_owned(),
                "prefix",
            ));
        }
        if !is_node_name(&self.node) {
            return Err(violation(
                format!(
                    "`node` must be one name of 1 to 253 characters, without `/`, spaces or \
                     control characters, not `{}`",
                    confd::shown::one_line(&self.node)
                ),
                "node",
            ));
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(violation(
                format!(
                    "`timeout_ms` must be between 1 and {MAX_TIMEOUT_MS}, not {}",
                    self.timeout_ms
                ),
                "timeout_ms",
            ));
        }
        if let Some(tls) = self.endpoints.iter().find(|e| e.starts_with("https://")) {
            return Err(violation(
                format!(
                    "`endpoints` holds `{}`: this build talks to etcd over plain HTTP only \
                     (a TLS client is not built in)",
                    confd::shown::one_line(tls)
                ),
                "endpoints",
            ));
        }
        if let Some(bad) = self
            .endpoints
            .iter()
            .find(|e| e.is_empty() || e.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(violation(
                format!(
                    "`endpoints` holds `{}`, which is not an address such as `http://127.0.0.1:2379`",
                    confd::shown::one_line(bad)
                ),
                "endpoints",
            ));
        }
        Ok(())
    }
}

/// Whether `name` can be a node's key segment: one path component.
#[must_use]
pub fn is_node_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
}

/// The kernel's host name, the default node name.
fn host_name() -> String {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().into_owned();
    if is_node_name(&name) {
        name
    } else {
        "localhost".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut FleetConfig)) -> Result<(), String> {
        let mut config = FleetConfig::defaults(Profile::default());
        f(&mut config);
        config.validate().map_err(|v| v.message)
    }

    #[test]
    fn the_defaults_are_no_fleet_and_valid() {
        let config = FleetConfig::defaults(Profile::default());
        assert!(!config.is_enabled());
        assert_eq!(config.prefix(), "/nexus");
        assert_eq!(config.timeout_ms, 1000);
        assert!(is_node_name(&config.node), "{}", config.node);
        assert_eq!(with(|_| {}), Ok(()));
    }

    #[test]
    fn bad_settings_are_refused_naming_the_key() {
        let refused = [
            with(|c| c.prefix = "nexus".into()),
            with(|c| c.prefix = "/a b".into()),
            with(|c| c.prefix = "/a\u{1b}".into()),
            with(|c| c.node = "a/b".into()),
            with(|c| c.node = String::new()),
            with(|c| c.node = "..".into()),
            with(|c| c.timeout_ms = 0),
            with(|c| c.timeout_ms = MAX_TIMEOUT_MS + 1),
            with(|c| c.endpoints = vec![String::new()]),
            with(|c| c.endpoints = vec!["http://a b".into()]),
            with(|c| c.endpoints = vec!["https://10.0.0.1:2379".into()]),
        ];
        for (i, result) in refused.iter().enumerate() {
            let message = result.as_ref().expect_err(&format!("case {i} refused"));
            assert!(message.starts_with('`'), "{message}");
        }
        assert_eq!(with(|c| c.prefix = "/prod/eu/".into()), Ok(()));
        assert_eq!(
            with(|c| c.endpoints = vec!["10.0.0.1:2379".into(), "http://h:2379".into()]),
            Ok(())
        );
    }
}
