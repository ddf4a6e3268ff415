//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) behind two
//! non-generic functions.
//!
//! Why a crate: the cipher is generic code, so it is compiled in the crate
//! that instantiates it, at that crate's opt-level. rowsnap's bundle is built
//! for size (`opt-level = "z"`), which made sealed reads run at about half
//! the speed of plain ones; instantiated here and compiled at opt-level 3
//! (`[profile.release.package.rowsnap-seal]`), and never inlined into the
//! size-optimised callers, the cipher runs at full speed.
#![no_std]

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

/// Encrypts `buf` in place; returns the tag.
#[inline(never)]
pub fn seal(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
    let c = XChaCha20Poly1305::new(key.into());
    let tag = c.encrypt_in_place_detached(XNonce::from_slice(nonce), aad, buf).expect("a block fits one message");
    tag.into()
}

/// Decrypts `buf` in place when `tag` authenticates it (and `aad`); false
/// (and `buf` unspecified) otherwise.
#[inline(never)]
pub fn open(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], buf: &mut [u8], tag: &[u8; 16]) -> bool {
    let c = XChaCha20Poly1305::new(key.into());
    c.decrypt_in_place_detached(XNonce::from_slice(nonce), aad, buf, Tag::from_slice(tag)).is_ok()
}
