//! The on-disk layout of one entry: fixed-size, little-endian, with a format byte first.
//!
//! Format 1 (before owners were recorded) is format 2 without its last 8 bytes: a store
//! written by an earlier version is read as it is, its entries without an owner until the
//! next scan fills it in (`reconcile::decide`), so upgrading needs no migration step and bumps no
//! version.

use crate::entry::{Entry, Etag, Kind, Owner, Signature};

/// Format version of an encoded entry; bump it when the layout changes, and keep decoding the
/// earlier ones.
const FORMAT: u8 = 2;
/// Format 1: no owner and group.
const FORMAT_WITHOUT_OWNER: u8 = 1;
const ENCODED_LEN: usize = 1 + 1 + 8 * 5 + 4 + 8 + 8 + 1 + 32 + 4 + 4;

pub(super) fn encode(e: &Entry) -> [u8; ENCODED_LEN] {
    let mut out = [0u8; ENCODED_LEN];
    let mut w = Writer {
        buf: &mut out,
        pos: 0,
    };
    w.put(&[FORMAT, e.kind.code()]);
    w.put(&e.sig.size.to_le_bytes());
    w.put(&e.sig.mtime_ns.to_le_bytes());
    w.put(&e.sig.ctime_ns.to_le_bytes());
    w.put(&e.sig.ino.to_le_bytes());
    w.put(&e.sig.dev.to_le_bytes());
    w.put(&e.sig.mode.to_le_bytes());
    w.put(&e.version.to_le_bytes());
    w.put(&e.observed_ns.to_le_bytes());
    match e.etag {
        Some(Etag(hash)) => {
            w.put(&[1]);
            w.put(&hash);
        }
        None => w.put(&[0; 33]),
    }
    // An entry is only encoded after a scan or a write gave it an owner; one that has none
    // yet (an old entry whose file was never seen since) is stored as root's only until the
    // next scan, which compares it with the file again.
    let owner = e.owner.unwrap_or_default();
    w.put(&owner.uid.to_le_bytes());
    w.put(&owner.gid.to_le_bytes());
    out
}

struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }
}

pub(super) fn decode(bytes: &[u8]) -> Option<Entry> {
    let mut r = bytes;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = r.split_at_checked(n)?;
        r = tail;
        Some(head)
    };
    let header = take(2)?;
    let format = header[0];
    if format != FORMAT && format != FORMAT_WITHOUT_OWNER {
        return None;
    }
    let kind = Kind::from_code(header[1])?;
    let u64_ = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    let size = u64_(take(8)?);
    let mtime_ns = u64_(take(8)?) as i64;
    let ctime_ns = u64_(take(8)?) as i64;
    let ino = u64_(take(8)?);
    let dev = u64_(take(8)?);
    let mode = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let version = u64_(take(8)?);
    let observed_ns = u64_(take(8)?) as i64;
    let has_etag = take(1)?[0] == 1;
    let hash: [u8; 32] = take(32)?.try_into().ok()?;
    let owner = if format == FORMAT {
        let u32_ = |b: &[u8]| b.try_into().ok().map(u32::from_le_bytes);
        Some(Owner {
            uid: u32_(take(4)?)?,
            gid: u32_(take(4)?)?,
        })
    } else {
        None
    };
    Some(Entry {
        kind,
        sig: Signature {
            size,
            mtime_ns,
            ctime_ns,
            ino,
            dev,
            mode,
        },
        etag: has_etag.then_some(Etag(hash)),
        version,
        owner,
        observed_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let mut e = Entry {
            kind: Kind::File,
            sig: Signature {
                size: 7,
                mtime_ns: -3,
                ctime_ns: 9,
                ino: 11,
                dev: 13,
                mode: 0o100_644,
            },
            etag: Some(Etag::of(b"x")),
            version: 42,
            owner: Some(Owner {
                uid: 1000,
                gid: 100,
            }),
            observed_ns: 1_700_000_000_000_000_000,
        };
        assert_eq!(decode(&encode(&e)), Some(e));
        e.etag = None;
        e.kind = Kind::Dir;
        assert_eq!(decode(&encode(&e)), Some(e));
        assert_eq!(decode(&encode(&e)[..10]), None);
    }

    /// A store written before owners were recorded is read, not refused as corrupt.
    #[test]
    fn format_1_entries_decode_without_an_owner() {
        let e = Entry {
            kind: Kind::File,
            sig: Signature {
                size: 3,
                mode: 0o100_600,
                ..Signature::default()
            },
            etag: None,
            version: 7,
            owner: Some(Owner { uid: 5, gid: 6 }),
            observed_ns: 1,
        };
        let mut old = encode(&e)[..ENCODED_LEN - 8].to_vec();
        old[0] = FORMAT_WITHOUT_OWNER;
        assert_eq!(decode(&old), Some(Entry { owner: None, ..e }));
        // Format 2 needs its owner bytes.
        assert_eq!(decode(&encode(&e)[..ENCODED_LEN - 8]), None);
        let mut future = encode(&e);
        future[0] = 3;
        assert_eq!(decode(&future), None);
    }
}
