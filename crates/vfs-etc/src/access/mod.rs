//! Who may do what through the VFS: callers, hierarchical rights, and the policy that maps a
//! caller and a path to a right (DESIGN.md §11; the model is in the crate's README).

mod brick;

pub use brick::{AceDecl, AnonymousRights, GroupDecl, VfsPolicy};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use confd::bricks::Violation;
use serde::{Deserialize, Serialize};

use crate::path::VfsPath;

/// Who makes a VFS call. Every operation takes one ([`crate::Vfs::as_caller`]): there is no
/// default caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A caller on this host without a name: `[policy] anonymous_local`.
    AnonymousLocal,
    /// A caller from elsewhere without a name: `[policy] anonymous_remote`.
    AnonymousRemote,
    /// A principal, whose groups come from the policy's `[[group]]`s.
    Principal(String),
}

impl Caller {
    /// The principal called `name`.
    #[must_use]
    pub fn principal(name: impl Into<String>) -> Self {
        Self::Principal(name.into())
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::AnonymousLocal => f.write_str("anonymous local caller"),
            Caller::AnonymousRemote => f.write_str("anonymous remote caller"),
            // A name comes from outside: no control character reaches a log line.
            Caller::Principal(name) => write!(f, "user `{}`", name.escape_debug()),
        }
    }
}

/// A right, hierarchical: each includes the ones before it (`read < write < admin`).
///
/// - `read`: `read`, `stat`, `read_dir` — except the content and etag of a secret file;
/// - `write`: also `write`, `mkdir`, `unlink`, `rmdir`, `rename` on writable mounts;
/// - `admin`: also the content and etag of a secret file (a host file without `o+r`), and
///   replacing one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Right {
    /// Nothing at all.
    #[default]
    None,
    /// Look: read, stat, list.
    Read,
    /// Change: create, write, remove, rename.
    Write,
    /// Everything, secret files included.
    Admin,
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Right::None => "none",
            Right::Read => "read",
            Right::Write => "write",
            Right::Admin => "admin",
        })
    }
}

/// One `[[ace]]`, resolved: its prefix parsed, its groups by index.
#[derive(Debug, Clone)]
struct Ace {
    prefix: VfsPath,
    right: Right,
    groups: BTreeSet<usize>,
}

/// A checked policy: who is in which group (nesting resolved) and the aces, most specific
/// prefix first.
///
/// The right of a principal on a path is decided by the aces whose prefix covers the path
/// and which name one of the principal's groups: the longest such prefix decides, and among
/// several aces with that same prefix the highest right wins (a member of two groups has what
/// either group has, as with Unix groups). A principal no ace covers has no right. Anonymous
/// callers have `[policy]`'s right on every path.
#[derive(Debug, Clone)]
pub struct Policy {
    anonymous: AnonymousRights,
    /// For each user, the aces that name a group it is in (directly or through
    /// `member_groups`), as indexes into `aces`, longest prefix first: worked out once per
    /// policy, so a call only compares prefixes.
    aces_of: BTreeMap<String, Vec<usize>>,
    /// Longest prefix first, so the first ace that covers a path has the decisive prefix.
    aces: Vec<Ace>,
}

impl Default for Policy {
    /// What applies without a `conf.d/vfs`: anonymous local callers read, anonymous remote
    /// callers and principals have no right.
    fn default() -> Self {
        Self {
            anonymous: AnonymousRights::default(),
            aces_of: BTreeMap::new(),
            aces: Vec::new(),
        }
    }
}

impl Policy {
    /// Checks `decl` and resolves its groups.
    ///
    /// # Errors
    /// A group declared twice or with an empty name, a group or an ace that names a group no
    /// `[[group]]` declares, groups that include each other (the error names the cycle), an
    /// ace that names no group, an ace path that is not an absolute VFS path.
    pub fn new(decl: &VfsPolicy) -> Result<Self, Violation> {
        let violation = |message: String, key: &'static str| Violation {
            message,
            keys: vec![key],
        };
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, g) in decl.group.iter().enumerate() {
            if g.name.is_empty() {
                return Err(violation(
                    format!("`group[{i}]` has an empty `name`"),
                    "group",
                ));
            }
            if index.insert(g.name.as_str(), i).is_some() {
                return Err(violation(
                    format!("group `{}` is declared twice", g.name.escape_debug()),
                    "group",
                ));
            }
        }
        let known = |name: &str, by: &dyn Fn() -> String, key| {
            index.get(name).copied().ok_or_else(|| {
                violation(
                    format!(
                        "{} names group `{}`, which no `[[group]]` declares",
                        by(),
                        name.escape_debug()
                    ),
                    key,
                )
            })
        };
        // includes[i]: the groups group i lists in `member_groups`.
        let mut includes: Vec<Vec<usize>> = Vec::with_capacity(decl.group.len());
        for g in &decl.group {
            let by = || format!("group `{}`", g.name.escape_debug());
            includes.push(
                g.member_groups
                    .iter()
                    .map(|m| known(m, &by, "group"))
                    .collect::<Result<_, _>>()?,
            );
        }
        if let Some(cycle) = find_cycle(&includes) {
            let names: Vec<String> = cycle
                .iter()
                .map(|&i| format!("`{}`", decl.group[i].name.escape_debug()))
                .collect();
            return Err(violation(
                format!(
                    "groups include each other in a cycle: {}",
                    names.join(" includes ")
                ),
                "group",
            ));
        }
        // A user is in the groups that list it, and in every group that includes one of
        // those, transitively (no cycle, so this ends).
        let mut groups_of: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        let mut included_by: Vec<Vec<usize>> = vec![Vec::new(); decl.group.len()];
        for (outer, inner) in includes.iter().enumerate() {
            for &i in inner {
                included_by[i].push(outer);
            }
        }
        for (i, g) in decl.group.iter().enumerate() {
            let mut closure = BTreeSet::new();
            let mut stack = vec![i];
            while let Some(at) = stack.pop() {
                if closure.insert(at) {
                    stack.extend(&included_by[at]);
                }
            }
            for user in &g.users {
                groups_of
                    .entry(user.clone())
                    .or_default()
                    .extend(closure.iter().copied());
            }
        }
        let mut aces = Vec::with_capacity(decl.ace.len());
        for (n, a) in decl.ace.iter().enumerate() {
            let by = || format!("`ace[{n}]`");
            if a.groups.is_empty() {
                return Err(violation(format!("{} names no group", by()), "ace"));
            }
            let prefix = VfsPath::new(&a.path)
                .map_err(|e| {
                    violation(
                        format!("{} has path `{}`: {e}", by(), a.path.escape_debug()),
                        "ace",
                    )
                })?
                .normalised();
            let groups = a
                .groups
                .iter()
                .map(|g| known(g, &by, "ace"))
                .collect::<Result<_, _>>()?;
            aces.push(Ace {
                prefix,
                right: a.right,
                groups,
            });
        }
        // Stable: aces with one prefix keep their order (it does not matter: the highest
        // right among them wins).
        aces.sort_by_key(|a| std::cmp::Reverse(a.prefix.as_str().len()));
        let aces_of = groups_of
            .into_iter()
            .map(|(user, groups)| {
                let mine: Vec<usize> = (0..aces.len())
                    .filter(|&i| !aces[i].groups.is_disjoint(&groups))
                    .collect();
                (user, mine)
            })
            .collect();
        Ok(Self {
            anonymous: decl.policy,
            aces_of,
            aces,
        })
    }

    /// The right `caller` has on `path`: on the name it resolves to, whatever its spelling
    /// (`/etc/../tmp/x` is `/tmp/x`).
    #[must_use]
    pub fn right(&self, caller: &Caller, path: &VfsPath) -> Right {
        match caller {
            Caller::AnonymousLocal => self.anonymous.anonymous_local,
            Caller::AnonymousRemote => self.anonymous.anonymous_remote,
            Caller::Principal(name) => {
                let Some(mine) = self.aces_of.get(name) else {
                    return Right::None;
                };
                let mut decided: Option<(usize, Right)> = None;
                for ace in mine.iter().map(|&i| &self.aces[i]) {
                    let len = ace.prefix.as_str().len();
                    if decided.is_some_and(|(l, _)| len < l) {
                        break;
                    }
                    if path.strip_prefix(&ace.prefix).is_some() {
                        let best = decided.map_or(ace.right, |(_, r)| r.max(ace.right));
                        decided = Some((len, best));
                    }
                }
                decided.map_or(Right::None, |(_, r)| r)
            }
        }
    }
}

/// A cycle in the inclusion graph, as the groups along it with the first repeated at the end
/// (`a, b, a`), or `None`.
fn find_cycle(includes: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        at: usize,
        includes: &[Vec<usize>],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[at] = Mark::OnPath;
        path.push(at);
        for &next in &includes[at] {
            match marks[next] {
                Mark::OnPath => {
                    let start = path.iter().position(|&p| p == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(next, includes, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[at] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; includes.len()];
    (0..includes.len()).find_map(|i| {
        (marks[i] == Mark::New)
            .then(|| visit(i, includes, &mut marks, &mut Vec::new()))
            .flatten()
    })
}

/// The policy of a state dir could not be loaded: the VFS refuses every call until it is
/// fixed (fails closed).
#[derive(Debug, thiserror::Error)]
#[error("access through the VFS is refused until its policy is fixed: {load}")]
pub struct PolicyError {
    // Not `source`: the message shows it already (each cause once).
    load: confd::Error,
}

impl PolicyError {
    /// What confd said: the file, line and column of the problem.
    #[must_use]
    pub fn load_error(&self) -> &confd::Error {
        &self.load
    }
}

/// Loads the `vfs` brick of `state_dir` with confd (files only: no environment, no
/// `--set`), strictly, so a misspelt key is an error rather than a right silently not
/// granted.
///
/// # Errors
/// confd's positioned errors: malformed TOML, a wrong type, an unknown key, a broken rule
/// ([`Policy::new`]).
pub fn load_policy(state_dir: &Path) -> Result<VfsPolicy, confd::Error> {
    confd::Loader::new()
        .state_dir(state_dir)
        .with_profile(confd::Profile::default())
        .env(std::iter::empty::<(String, String)>())
        .strict(true)
        // A reload follows a watcher event; the load must see the files as they are now.
        .cache(false)
        .load_typed::<VfsPolicy>()
}

/// What the VFS checks calls against: a policy, or the error that made it fail closed.
#[derive(Debug)]
pub(crate) enum Loaded {
    Policy(Policy),
    Invalid(Arc<PolicyError>),
}

/// The VFS's policy, replaced whole on reload; calls take a snapshot (one read lock).
#[derive(Debug)]
pub(crate) struct AccessControl {
    /// `None` until the followed state dir's policy is first needed ([`AccessControl::follow_lazily`]).
    current: RwLock<Option<Arc<Loaded>>>,
    /// Held while a pending policy is loaded, so concurrent first calls load it once.
    loading: Mutex<()>,
    /// The state dir whose `conf.d/vfs` the policy comes from, if any: the watcher of its
    /// `/etc` reloads it.
    source: Mutex<Option<PathBuf>>,
}

impl Default for AccessControl {
    fn default() -> Self {
        Self {
            current: RwLock::new(Some(Arc::new(Loaded::Policy(Policy::default())))),
            loading: Mutex::new(()),
            source: Mutex::new(None),
        }
    }
}

impl AccessControl {
    /// The policy in force, loaded first if it is still pending.
    pub(crate) fn snapshot(&self) -> Arc<Loaded> {
        loop {
            if let Some(loaded) = &*self.current.read().unwrap_or_else(PoisonError::into_inner) {
                return Arc::clone(loaded);
            }
            let _loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
            if self
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .is_none()
            {
                let source = self
                    .source
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                match source {
                    Some(state_dir) => drop(self.reload_from(&state_dir)),
                    // Not reachable: pending always has a source. Fail safe all the same.
                    None => self.install(Loaded::Policy(Policy::default())),
                }
            }
        }
    }

    fn install(&self, loaded: Loaded) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(loaded));
    }

    /// Uses `policy` from now on, and no longer follows a state dir.
    pub(crate) fn set(&self, policy: Policy) {
        *self.source.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.install(Loaded::Policy(policy));
    }

    /// Loads the policy of `state_dir` and follows it from now on.
    pub(crate) fn follow(&self, state_dir: &Path) -> Result<(), Arc<PolicyError>> {
        *self.source.lock().unwrap_or_else(PoisonError::into_inner) = Some(state_dir.to_owned());
        self.reload_from(state_dir)
    }

    /// Follows the policy of `state_dir`, loading it when a call first needs it: mounting
    /// needs no policy, so `mount_etc` does not pay for its load.
    pub(crate) fn follow_lazily(&self, state_dir: &Path) {
        *self.source.lock().unwrap_or_else(PoisonError::into_inner) = Some(state_dir.to_owned());
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The `etc` directory of the state dir followed, if any.
    pub(crate) fn followed_etc(&self) -> Option<PathBuf> {
        self.source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|s| confd::StateDir::at(s).etc_dir())
    }

    /// Loads the followed state dir's policy again (a watcher saw it change); nothing when no
    /// state dir is followed.
    pub(crate) fn reload(&self) {
        let source = self
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(state_dir) = source {
            let _ = self.reload_from(&state_dir);
        }
    }

    fn reload_from(&self, state_dir: &Path) -> Result<(), Arc<PolicyError>> {
        match load_policy(state_dir).and_then(|decl| {
            // `load_typed` already checked the rules; this cannot fail differently.
            Policy::new(&decl).map_err(|v| confd::Error::Validation {
                brick: "vfs".to_owned(),
                message: v.message,
                involved: Vec::new(),
            })
        }) {
            Ok(policy) => {
                self.install(Loaded::Policy(policy));
                Ok(())
            }
            Err(load) => {
                let error = Arc::new(PolicyError { load });
                // Reported once: a reload that finds the same problem again says nothing.
                // Not `snapshot`: this may run inside its pending load.
                let repeated = matches!(
                    self.current.read().unwrap_or_else(PoisonError::into_inner).as_deref(),
                    Some(Loaded::Invalid(old)) if old.to_string() == error.to_string()
                );
                if !repeated {
                    tracing::error!(error = %error, "the VFS access policy is invalid; refusing every call");
                }
                self.install(Loaded::Invalid(Arc::clone(&error)));
                Err(error)
            }
        }
    }

    pub(crate) fn error(&self) -> Option<Arc<PolicyError>> {
        match &*self.snapshot() {
            Loaded::Invalid(e) => Some(Arc::clone(e)),
            Loaded::Policy(_) => None,
        }
    }
}

/// Whether a change at mount-relative `rel` of a state dir's `etc` may change its `vfs`
/// brick: the brick's files, or a directory on the way to them.
pub(crate) fn touches_policy(rel: &str) -> bool {
    // The brick's files below `$STATE/etc`, where `StateDir` lays them out.
    let state = confd::StateDir::at("/");
    let Ok(brick) = confd::BrickName::new(<VfsPolicy as confd::Brick>::NAME) else {
        return true;
    };
    let etc = state.etc_dir();
    let below_etc = |path: PathBuf| path.strip_prefix(&etc).map(Path::to_owned);
    let (Ok(conf_d), Ok(main), Ok(drop_ins)) = (
        below_etc(state.conf_d()),
        below_etc(state.main_file(&brick)),
        below_etc(state.drop_in_dir(&brick)),
    ) else {
        return true;
    };
    let rel = Path::new(rel);
    rel.as_os_str().is_empty() || rel == conf_d || rel == main || rel.starts_with(drop_ins)
}

#[cfg(test)]
mod tests;
