//! `doctor`'s check of the VFS access policy: the one part of the tree it
//! judges by what the policy says rather than by modes and names.

use confd::StateDir;

use super::{Finding, Severity};

/// The VFS access policy (`conf.d/vfs`, DESIGN.md §11): one the VFS refuses (it then refuses
/// every call), anonymous remote callers given more than read, and write given under the
/// read-only `/etc`, where it can do nothing but mislead.
pub(super) fn check_vfs_policy(state: &StateDir) -> Vec<Finding> {
    use vfs_etc::Right;
    const CHECK: &str = "vfs access policy";
    let policy = match vfs_etc::access::load_policy(state.root()) {
        Ok(policy) => policy,
        Err(e) => {
            return vec![Finding::new(
                Severity::Error,
                CHECK,
                format!("the VFS refuses every call until its policy is fixed: {e}"),
            )];
        }
    };
    let mut findings = Vec::new();
    let anonymous = policy.policy;
    if anonymous.anonymous_remote > Right::Read {
        findings.push(Finding::new(
            Severity::Warning,
            CHECK,
            format!(
                "`vfs.policy.anonymous_remote` is `{}`: callers from elsewhere without a name may change files through the VFS (at most `read` is advised)",
                anonymous.anonymous_remote
            ),
        ));
    }
    let etc = vfs_etc::mount::etc_mount_point();
    let mut writers: Vec<String> = [
        ("vfs.policy.anonymous_local", anonymous.anonymous_local),
        ("vfs.policy.anonymous_remote", anonymous.anonymous_remote),
    ]
    .into_iter()
    .filter(|(_, right)| *right >= Right::Write)
    .map(|(key, right)| format!("`{key}` (`{right}`)"))
    .collect();
    for (i, ace) in policy.ace.iter().enumerate() {
        let covers_etc = ace.path.parse::<vfs_etc::VfsPath>().is_ok_and(|prefix| {
            etc.strip_prefix(&prefix).is_some() || prefix.strip_prefix(&etc).is_some()
        });
        if ace.right >= Right::Write && covers_etc {
            writers.push(format!(
                "`vfs.ace[{i}]` (`{}` on `{}`)",
                ace.right,
                ace.path.escape_debug()
            ));
        }
    }
    if !writers.is_empty() {
        findings.push(Finding::new(
            Severity::Warning,
            CHECK,
            format!(
                "{} {} write under `/etc`, which the VFS mounts read-only: the right does nothing there (edit `$STATE/etc` on the host); limit it to the writable mounts, e.g. `path = \"/tmp\"`",
                writers.join(", "),
                if writers.len() == 1 { "gives" } else { "give" }
            ),
        ));
    }
    findings
}
