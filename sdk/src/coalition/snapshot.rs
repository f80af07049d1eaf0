//! Persisting openmls state: the [`MemoryStorage`] key-value map written out as one blob.
//!
//! Why this route: `openmls_sqlite_storage` links a libsqlite3-sys that cargo refuses next to
//! sqlx 0.8's, and the state of one member (or the broker's public copy of one group) is small
//! (kilobytes for a 50-member tree). openmls' own memory provider already stores every entity as
//! serialised bytes under a versioned key, so snapshotting its map keeps openmls' storage format
//! (and its migrations) as it is, with no StorageProvider of our own to get wrong.
//!
//! Format (all integers big-endian): `b"KPMLS1"`, u32 entry count, then per entry in key order
//! u32 key length, key, u32 value length, value. Keys are sorted so equal states give equal
//! bytes.

use std::collections::HashMap;

use openmls_memory_storage::MemoryStorage;

const MAGIC: &[u8; 6] = b"KPMLS1";

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
#[error("MLS state snapshot is corrupt: {0}")]
pub struct SnapshotError(pub String);

/// The bytes of `storage`'s current map.
pub fn to_bytes(storage: &MemoryStorage) -> Vec<u8> {
    let values = storage.values.read().unwrap_or_else(|p| p.into_inner());
    let mut keys: Vec<&Vec<u8>> = values.keys().collect();
    keys.sort();
    let size: usize = values.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(10 + size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(keys.len() as u32).to_be_bytes());
    for k in keys {
        let v = &values[k];
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    out
}

/// A storage holding the map in `bytes`.
pub fn from_bytes(bytes: &[u8]) -> Result<MemoryStorage, SnapshotError> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| SnapshotError("wrong magic".into()))?;
    let mut cur = Cursor(rest);
    let n = cur.u32()?;
    let mut map = HashMap::with_capacity(n.min(1 << 16) as usize);
    for _ in 0..n {
        let k = cur.chunk()?;
        let v = cur.chunk()?;
        map.insert(k, v);
    }
    if !cur.0.is_empty() {
        return Err(SnapshotError(format!("{} trailing bytes", cur.0.len())));
    }
    let storage = MemoryStorage::default();
    *storage.values.write().unwrap_or_else(|p| p.into_inner()) = map;
    Ok(storage)
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        let (head, tail) = self
            .0
            .split_first_chunk::<4>()
            .ok_or_else(|| SnapshotError("truncated length".into()))?;
        self.0 = tail;
        Ok(u32::from_be_bytes(*head))
    }

    fn chunk(&mut self) -> Result<Vec<u8>, SnapshotError> {
        let len = self.u32()? as usize;
        if self.0.len() < len {
            return Err(SnapshotError("truncated entry".into()));
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Ok(head.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let s = MemoryStorage::default();
        s.values
            .write()
            .unwrap()
            .extend([(b"b".to_vec(), vec![1, 2]), (b"a".to_vec(), vec![])]);
        let bytes = to_bytes(&s);
        let back = from_bytes(&bytes).unwrap();
        assert_eq!(*back.values.read().unwrap(), *s.values.read().unwrap());
        assert_eq!(to_bytes(&back), bytes);
        assert!(from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(from_bytes(b"nope").is_err());
    }
}
