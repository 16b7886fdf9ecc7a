//! `nexus vfs …`: file operations through a freshly booted VFS, with `$STATE/etc` mounted
//! read-only at `/etc` (metadata only, nothing written below it) and an in-memory `/tmp`.

use std::error::Error;
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use vfs_etc::entry::{Kind, Metadata};
use vfs_etc::vfs::MAX_FILE_SIZE;
use vfs_etc::{Caller, Session, VfsPath, WriteMode};

/// File operations on the VFS that mounts $STATE/etc read-only at /etc, as one caller.
#[derive(clap::Args, Debug)]
pub struct VfsCommand {
    /// Run as this principal, whose groups and rights come from `conf.d/vfs` (default: an
    /// anonymous local caller)
    #[arg(
        long = "as",
        value_name = "NAME",
        global = true,
        conflicts_with = "remote"
    )]
    as_principal: Option<String>,
    /// Run as an anonymous remote caller (`[policy] anonymous_remote` in `conf.d/vfs`)
    #[arg(long, global = true)]
    remote: bool,
    #[command(subcommand)]
    op: VfsOp,
}

/// One file operation.
#[derive(clap::Subcommand, Debug)]
pub enum VfsOp {
    /// List a directory (directories end in `/`)
    #[command(after_help = "Example:\n  nexus vfs ls /etc/conf.d")]
    Ls {
        /// Absolute VFS path, e.g. /etc/conf.d
        path: VfsPath,
    },
    /// Print a file's content
    #[command(after_help = "Example:\n  nexus vfs cat /etc/conf.d/mounts")]
    Cat {
        /// Absolute VFS path of a file
        path: VfsPath,
    },
    /// Show kind, size, mtime, version and etag (BLAKE3 of the content)
    #[command(after_help = "Example:\n  nexus vfs stat /etc/conf.d/mounts")]
    Stat {
        /// Absolute VFS path
        path: VfsPath,
    },
    /// Write a file; refused under the read-only /etc (edit $STATE/etc on the host instead)
    #[command(
        after_help = "Without CONTENT, the content is read from standard input when it is \
        not a terminal (at most 1 MiB).\n\nExamples:\n  \
        nexus vfs write /tmp/note 'hello'\n  \
        echo hello | nexus vfs write /tmp/note\n  \
        echo 'auto_sync = true' | nexus vfs write /etc/conf.d/mounts --from-stdin   # refused: read-only"
    )]
    Write {
        /// Absolute VFS path of the file
        path: VfsPath,
        /// The new content; without it, standard input (when it is not a terminal)
        #[arg(conflicts_with = "from_stdin")]
        content: Option<String>,
        /// Read the content from standard input, even from a terminal
        #[arg(long)]
        from_stdin: bool,
    },
    /// Remove a file, or an empty directory
    #[command(after_help = "Example:\n  nexus vfs rm /etc/conf.d/mounts   # refused: read-only")]
    Rm {
        /// Absolute VFS path
        path: VfsPath,
    },
    /// Create a directory
    #[command(
        after_help = "Example:\n  nexus vfs mkdir /etc/conf.d/mounts.d   # refused: read-only"
    )]
    Mkdir {
        /// Absolute VFS path of the new directory
        path: VfsPath,
    },
    /// Rename a file or directory within one mount
    #[command(
        after_help = "Example:\n  nexus vfs mv /etc/conf.d/mounts /etc/conf.d/mounts.old   # refused: read-only"
    )]
    Mv {
        /// Absolute VFS path to move
        from: VfsPath,
        /// Absolute VFS path to move it to
        to: VfsPath,
    },
}

/// Boots the VFS from `state_dir` and runs `cmd`; a failure (a read-only
/// refusal included) is one line, reported like every other command's.
pub(crate) fn run(state_dir: &Path, cmd: VfsCommand, json: bool) -> Result<(), crate::Failure> {
    let caller = match (cmd.as_principal, cmd.remote) {
        (Some(name), _) => principal(name)?,
        (None, true) => Caller::AnonymousRemote,
        (None, false) => Caller::AnonymousLocal,
    };
    let cmd = cmd.op;
    // `etcdctl put KEY` reads a pipe; from a terminal, a missing CONTENT is far more likely a
    // mistake than a wish to type the file in.
    if let VfsOp::Write {
        content: None,
        from_stdin: false,
        ..
    } = &cmd
        && io::stdin().is_terminal()
    {
        return Err(crate::Failure::Usage(
            "`nexus vfs write` needs CONTENT, or content piped on standard input (or --from-stdin to type it)".to_owned(),
        ));
    }
    boot_and_run(state_dir, &caller, cmd, json).map_err(|e| {
        let mut line = one_line(e.as_ref());
        if let Some(vfs_etc::mount::MountEtcError::OpenRoot { error, .. }) = e.downcast_ref()
            && error.kind() == io::ErrorKind::NotFound
        {
            line.push_str("; run `nexus config init` to create it");
        }
        crate::Failure::Config(line)
    })
}

/// The principal `--as NAME` names; a name that could not be one is a usage error.
fn principal(name: String) -> Result<Caller, crate::Failure> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(crate::Failure::Usage(format!(
            "invalid name `{}` for `--as`: a principal's name is not empty and holds no control character",
            name.escape_debug()
        )));
    }
    Ok(Caller::principal(name))
}

fn boot_and_run(
    state_dir: &Path,
    caller: &Caller,
    cmd: VfsOp,
    json: bool,
) -> Result<(), Box<dyn Error>> {
    let (vfs, report) = vfs_etc::boot(state_dir)?;
    warn_about_left_out(&report);
    let mut out = io::stdout().lock();
    let result = match execute(&vfs.as_caller(caller), cmd, json, &mut out) {
        // `nexus vfs cat … | head` closes the pipe early; that is not a failure.
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    };
    // A first boot creates the metadata store in the background; a failure to do so is this
    // command's failure too (after its own, which is reported first).
    let flushed = vfs.flush();
    for point in vfs.mounts_not_keeping_versions() {
        crate::output::warning(&format!(
            "versions under `{point}` are not being kept: the metadata store `{}` cannot be \
             written, so a later command may show the same version for other content",
            confd::StateDir::at(state_dir).vfs_metastore().display()
        ));
    }
    result.and(flushed.map_err(Into::into))
}

/// What the boot scan left out of `/etc`, one counted line per reason, so nothing vanishes
/// from `ls` without a word.
fn warn_about_left_out(report: &vfs_etc::reconcile::ReconcileReport) {
    let plural = |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    if report.unreadable > 0 {
        crate::output::warning(&format!(
            "{} {} under `/etc` skipped: permission denied",
            report.unreadable,
            plural(report.unreadable, "directory", "directories")
        ));
    }
    if report.skipped > 0 {
        crate::output::warning(&format!(
            "{} {} under `/etc` not shown: symlinks, special files or names the VFS cannot represent",
            report.skipped,
            plural(report.skipped, "entry", "entries")
        ));
    }
    if report.too_long > 0 {
        crate::output::warning(&format!(
            "{} {} under `/etc` skipped: path longer than {} bytes",
            report.too_long,
            plural(report.too_long, "entry", "entries"),
            vfs_etc::VfsPath::MAX_LEN
        ));
    }
}

/// Runs `cmd`; with `json`, `ls` and `stat` print the documents of docs/JSON.md (`cat`
/// prints the bytes either way, and the mutations print nothing on success).
fn execute(
    vfs: &Session<'_>,
    cmd: VfsOp,
    json: bool,
    out: &mut impl Write,
) -> Result<(), Box<dyn Error>> {
    match cmd {
        VfsOp::Ls { path } => {
            let entries = vfs.read_dir(&path)?;
            if json {
                let entries: Vec<_> = entries
                    .iter()
                    .map(|e| serde_json::json!({ "name": e.name, "kind": kind_name(e.kind) }))
                    .collect();
                writeln!(
                    out,
                    "{:#}",
                    serde_json::json!({ "path": path.as_given(), "entries": entries })
                )?;
            } else {
                for entry in entries {
                    let slash = if entry.kind == Kind::Dir { "/" } else { "" };
                    // Host file names may hold control characters.
                    writeln!(out, "{}{slash}", confd::shown::one_line(&entry.name))?;
                }
            }
        }
        VfsOp::Cat { path } => out.write_all(&vfs.read(&path)?.data)?,
        VfsOp::Stat { path } if json => {
            writeln!(out, "{:#}", stat_json(&path, &vfs.stat(&path)?))?;
        }
        VfsOp::Stat { path } => write_stat(out, &path, &vfs.stat(&path)?)?,
        VfsOp::Write {
            path,
            content,
            from_stdin: _,
        } => {
            let data = match content {
                Some(text) => text.into_bytes(),
                None => {
                    // Refuse before reading: `write /etc/… </dev/zero` must not read forever
                    // only to be told the mount is read-only.
                    vfs.check_write(&path, WriteMode::Replace)?;
                    read_bounded(io::stdin().lock(), MAX_FILE_SIZE)?
                }
            };
            vfs.write(&path, &data, WriteMode::Replace)?;
        }
        VfsOp::Rm { path } => {
            // `rm` of a directory removes it if empty, as `rm -d` does; the VFS's own
            // refusal order (EROFS before anything else under /etc) still applies.
            let is_dir = vfs.stat(&path).is_ok_and(|m| m.kind == Kind::Dir);
            if is_dir {
                vfs.rmdir(&path)?
            } else {
                vfs.unlink(&path)?
            }
        }
        VfsOp::Mkdir { path } => {
            vfs.mkdir(&path)?;
        }
        VfsOp::Mv { from, to } => vfs.rename(&from, &to)?,
    }
    out.flush()?;
    Ok(())
}

/// All of `input`, refused once it holds more than `max` bytes (only `max + 1` are read).
fn read_bounded(input: impl Read, max: usize) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut buf = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    input.take(limit).read_to_end(&mut buf).map_err(|e| {
        // As the VFS words errno text: lowercase, number kept.
        let text = e.to_string();
        let mut chars = text.chars();
        let text: String = chars
            .next()
            .map(|c| c.to_lowercase().chain(chars).collect())
            .unwrap_or(text);
        format!("cannot read standard input: {text}")
    })?;
    if buf.len() > max {
        return Err(format!(
            "standard input holds more than {} KiB, the most `nexus vfs write` accepts",
            max / 1024
        )
        .into());
    }
    Ok(buf)
}

fn write_stat(out: &mut impl Write, path: &VfsPath, meta: &Metadata) -> io::Result<()> {
    writeln!(out, "path: {path}")?;
    writeln!(out, "kind: {}", meta.kind)?;
    writeln!(out, "size: {}", meta.size)?;
    writeln!(out, "mtime: {}", rfc3339(meta.mtime))?;
    writeln!(out, "version: {}", meta.version)?;
    writeln!(out, "mode: {}", mode_text(meta.mode))?;
    if let Some(owner) = meta.owner {
        writeln!(out, "owner: {}", owner.uid)?;
        writeln!(out, "group: {}", owner.gid)?;
    }
    if let Some(etag) = meta.etag {
        writeln!(out, "etag: blake3:{etag}")?;
    }
    Ok(())
}

/// `kind` as JSON names it: `file` or `dir` (the VFS holds nothing else).
fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Dir => "dir",
        Kind::File => "file",
        Kind::Symlink => "symlink",
        Kind::Other => "other",
    }
}

/// The `vfs stat` document: docs/JSON.md.
fn stat_json(path: &VfsPath, meta: &Metadata) -> serde_json::Value {
    serde_json::json!({
        "path": path.as_given(),
        "kind": kind_name(meta.kind),
        "size": meta.size,
        "mtime": rfc3339(meta.mtime),
        "version": meta.version,
        "mode": format!("{:04o}", meta.mode & 0o7777),
        "owner": meta.owner.map(|o| o.uid),
        "group": meta.owner.map(|o| o.gid),
        "etag": meta.etag.map(|e| format!("blake3:{e}")),
    })
}

/// The permission bits as `stat -c '%a (%A)'` shows them: `0600 (-rw-------)`.
fn mode_text(mode: u32) -> String {
    let kind = if mode & 0o170_000 == 0o040_000 {
        'd'
    } else {
        '-'
    };
    let mut text = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    format!("{:04o} ({text})", mode & 0o7777)
}

/// `t` as RFC 3339 UTC with nanoseconds, without a date crate for one line of output.
fn rfc3339(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => (0, 0),
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil conversion.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The error and its causes on one line, each cause once.
fn one_line(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_modes_as_stat_does() {
        assert_eq!(mode_text(0o100_600), "0600 (-rw-------)");
        assert_eq!(mode_text(0o040_755), "0755 (drwxr-xr-x)");
    }

    #[test]
    fn formats_times_as_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_709_210_096, 5);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.000000005Z");
    }
}
