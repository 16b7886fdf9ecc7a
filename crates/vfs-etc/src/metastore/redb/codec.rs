//! The on-disk layout of one entry: fixed-size, little-endian, with a format byte first.

use crate::entry::{Entry, Etag, Kind, Signature};

/// Format version of an encoded entry; bump it when the layout changes.
const FORMAT: u8 = 1;
const ENCODED_LEN: usize = 1 + 1 + 8 * 5 + 4 + 8 + 8 + 1 + 32;

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
    if header[0] != FORMAT {
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
            observed_ns: 1_700_000_000_000_000_000,
        };
        assert_eq!(decode(&encode(&e)), Some(e));
        e.etag = None;
        e.kind = Kind::Dir;
        assert_eq!(decode(&encode(&e)), Some(e));
        assert_eq!(decode(&encode(&e)[..10]), None);
    }
}
