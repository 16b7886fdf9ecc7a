//! The policy brick `vfs` (`conf.d/vfs`): groups, access control entries and the rights of
//! anonymous callers, as an operator writes them.

use serde::{Deserialize, Serialize};

use super::Right;

/// The `vfs` brick: who may do what through the VFS (DESIGN.md §11).
///
/// ```toml
/// [policy]
/// anonymous_local = "read"    # default
/// anonymous_remote = "none"   # default
///
/// [[group]]
/// name = "ops"
/// users = ["alice"]
///
/// [[group]]
/// name = "admins"
/// users = ["root"]
/// member_groups = ["ops"]     # every member of `ops` is a member of `admins` too
///
/// [[ace]]
/// right = "write"
/// groups = ["ops"]
/// path = "/tmp"               # default `/`
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VfsPolicy {
    /// The groups principals belong to.
    #[serde(default)]
    pub group: Vec<GroupDecl>,
    /// Access control entries: a right for some groups under a path prefix.
    #[serde(default)]
    pub ace: Vec<AceDecl>,
    /// The rights of callers without a name.
    #[serde(default)]
    pub policy: AnonymousRights,
}

/// One `[[group]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDecl {
    /// The group's name, unique among the groups.
    pub name: String,
    /// Principals in the group.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups whose members are members of this group too (nesting; a cycle is refused).
    #[serde(default)]
    pub member_groups: Vec<String>,
}

/// One `[[ace]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AceDecl {
    /// The right granted (`none` takes away what a shorter prefix granted).
    pub right: Right,
    /// The groups it is granted to.
    pub groups: Vec<String>,
    /// The path prefix it applies to, on whole components: `/etc` covers `/etc/x`, not
    /// `/etcetera`.
    #[serde(default = "root_prefix")]
    pub path: String,
}

// Every program linking vfs-etc knows the brick: `nexus config validate vfs` checks its
// rules, `show`, `explain` and `schema` describe it.
confd::register_brick!(VfsPolicy);

fn root_prefix() -> String {
    "/".to_owned()
}

/// `[policy]`: the rights of anonymous callers, the same on every path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnonymousRights {
    /// A caller on this host without a name.
    pub anonymous_local: Right,
    /// A caller from elsewhere without a name.
    pub anonymous_remote: Right,
}

impl Default for AnonymousRights {
    fn default() -> Self {
        Self {
            anonymous_local: Right::Read,
            anonymous_remote: Right::None,
        }
    }
}

impl confd::Brick for VfsPolicy {
    const NAME: &'static str = "vfs";
    const DOC: &'static str = "Who may read and write through the VFS: groups, access control entries, and the rights of anonymous callers.";

    fn defaults(_: confd::Profile) -> Self {
        Self::default()
    }

    fn declare_keys(keys: &mut Vec<confd::bricks::KeyDecl>) {
        // Every key applies live: the VFS's watcher of `/etc` reloads the policy.
        let key = |path: &str, doc: &'static str, table: bool| confd::bricks::KeyDecl {
            path: path.to_owned(),
            doc,
            env: &[],
            env_inverted: false,
            secret: false,
            reload: true,
            table,
        };
        keys.extend([
            key(
                "group",
                "Groups of principals: `[[group]]` with `name`, `users` (principals) and `member_groups` (groups whose members belong to this one too; a cycle is refused).",
                false,
            ),
            key(
                "ace",
                "Access control entries: `[[ace]]` with `right` (`none`, `read`, `write` or `admin`), `groups`, and `path`, a prefix on whole components (default `/`). The longest matching prefix decides; among aces with that prefix, the highest right wins.",
                false,
            ),
            key("policy", "The rights of callers without a name, on every path.", true),
            key(
                "policy.anonymous_local",
                "The right of an anonymous caller on this host: `none`, `read`, `write` or `admin`.",
                false,
            ),
            key(
                "policy.anonymous_remote",
                "The right of an anonymous caller from elsewhere (more than `read` is reported by `nexus config doctor`).",
                false,
            ),
        ]);
    }

    fn validate(&self) -> Result<(), confd::bricks::Violation> {
        super::Policy::new(self).map(drop)
    }
}
