//! Sealed blocks: the blocks of an encrypted volume, encrypted and
//! authenticated before they reach the store.
//!
//! A volume created with a data key (`key` on its record, non-zero) stores
//! every block sealed with XChaCha20-Poly1305 (RustCrypto's
//! `chacha20poly1305`): a fresh random 24-byte nonce per write (random
//! nonces are safe at this size), then the ciphertext and the 16-byte tag.
//! The associated data is the data key's id and the block's index in the
//! volume, so a block moved to another index, or another key's block, or any
//! altered byte fails to open ([`EngineError::Tampered`]) and is never
//! returned as data. Snapshots and clones keep their volume's key and the
//! blocks' indexes, so the blocks they share open for each of them.
//!
//! The keys themselves (32 random bytes per data key) come from the layer
//! above ([`super::Engine::set_key`]), which keeps them wrapped at rest; a
//! volume whose key is not set fails with [`EngineError::KeyUnavailable`].

use super::EngineError;

/// Bytes a sealed block holds beyond its content (nonce and tag).
pub const SEAL_OVERHEAD: usize = 24 + 16;

/// One data key, ready to seal and open blocks.
pub struct BlockKey {
    id: u64,
    key: [u8; 32],
}

/// Fills `buf` with random bytes from the platform (`crypto.getRandomValues`
/// in the browser).
pub fn random_bytes(buf: &mut [u8]) {
    getrandom::getrandom(buf).expect("the platform gives no random bytes");
}

fn aad(key: u64, index: u64) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..8].copy_from_slice(&key.to_le_bytes());
    a[8..].copy_from_slice(&index.to_le_bytes());
    a
}

impl BlockKey {
    pub fn new(id: u64, key: &[u8; 32]) -> Self {
        BlockKey { id, key: *key }
    }

    /// `plain` sealed for block `index`: nonce, ciphertext, tag.
    pub fn seal(&self, index: u64, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        random_bytes(&mut nonce);
        self.seal_with(&nonce, index, plain)
    }

    /// `plain` sealed for block `index` with a nonce derived from it (keyed
    /// BLAKE3 under a key derived from the data key, as SIV does): the same
    /// block at the same index seals to the same bytes, so an upload step
    /// that runs again writes what it wrote before. It tells only that two
    /// uploaded blocks at one index are equal.
    pub fn seal_derived(&self, index: u64, plain: &[u8]) -> Vec<u8> {
        let nk = blake3::derive_key("rowsnap 2026-11 upload nonce", &self.key);
        let h = blake3::Hasher::new_keyed(&nk).update(&index.to_le_bytes()).update(plain).finalize();
        self.seal_with(h.as_bytes()[..24].try_into().unwrap(), index, plain)
    }

    fn seal_with(&self, nonce: &[u8; 24], index: u64, plain: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; SEAL_OVERHEAD + plain.len()];
        out[..24].copy_from_slice(nonce);
        let (head, body) = out.split_at_mut(24);
        let (data, tag_out) = body.split_at_mut(plain.len());
        data.copy_from_slice(plain);
        let nonce: &[u8; 24] = (&*head).try_into().unwrap();
        tag_out.copy_from_slice(&rowsnap_seal::seal(&self.key, nonce, &aad(self.id, index), data));
        out
    }

    /// Opens a sealed block into `out` (its content's length).
    pub fn open_into(&self, index: u64, sealed: &[u8], out: &mut [u8]) -> Result<(), EngineError> {
        let tampered = || EngineError::Tampered { key: self.id, index };
        if sealed.len() != out.len() + SEAL_OVERHEAD {
            return Err(tampered());
        }
        let (nonce, rest) = sealed.split_at(24);
        let (data, tag) = rest.split_at(out.len());
        out.copy_from_slice(data);
        let (nonce, tag) = (nonce.try_into().unwrap(), tag.try_into().unwrap());
        if rowsnap_seal::open(&self.key, nonce, &aad(self.id, index), out, tag) {
            Ok(())
        } else {
            Err(tampered())
        }
    }

    pub fn open(&self, index: u64, sealed: &[u8]) -> Result<Vec<u8>, EngineError> {
        let mut out = vec![0u8; sealed.len().saturating_sub(SEAL_OVERHEAD)];
        self.open_into(index, sealed, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_refuses_what_was_moved_or_changed() {
        let k = BlockKey::new(7, &[3u8; 32]);
        let plain = vec![0xabu8; 4096];
        let s = k.seal(5, &plain);
        assert_eq!(s.len(), 4096 + SEAL_OVERHEAD);
        assert_ne!(&s[24..24 + 4096], &plain[..]);
        assert_eq!(k.open(5, &s).unwrap(), plain);
        // Fresh nonce per seal.
        assert_ne!(k.seal(5, &plain), s);
        // Derived nonces: the same block at the same index seals alike, and opens.
        let d = k.seal_derived(5, &plain);
        assert_eq!(k.seal_derived(5, &plain), d);
        assert_ne!(k.seal_derived(6, &plain), d);
        assert_eq!(k.open(5, &d).unwrap(), plain);
        // Another index, another key id, a flipped bit: refused.
        assert_eq!(k.open(6, &s), Err(EngineError::Tampered { key: 7, index: 6 }));
        assert!(BlockKey::new(8, &[3u8; 32]).open(5, &s).is_err());
        let mut bad = s.clone();
        bad[100] ^= 1;
        assert!(k.open(5, &bad).is_err());
        assert!(k.open(5, &s[..s.len() - 1]).is_err());
    }
}
