//! The vault: what the key service (`ecs::kms`) asks of the platform's
//! cryptography, used outside any transaction (awaiting `crypto.subtle`
//! inside an IndexedDB transaction would let it commit early).
//!
//! - the *device key*: a non-extractable AES-GCM key made on first use and
//!   kept as a `CryptoKey` object in IndexedDB (`<database>-keys`), so no
//!   script can read its bytes; it wraps the key service's root secret;
//! - keys derived from a passphrase (PBKDF2-SHA-256, [`PBKDF2_ITERATIONS`]),
//!   never stored, non-extractable;
//! - wrapping and unwrapping a few bytes with either (AES-256-GCM, random
//!   96-bit IV); unwrapping with the wrong key gives `None`.
//!
//! [`WebVault`] is WebCrypto (the browser); [`SoftVault`] is a native stand-in
//! for the native tests of the ECS layer (same interface, the derivation a
//! keyed BLAKE3 chain instead of PBKDF2): the browser tests run `WebVault`.

use crate::error::Result;

/// PBKDF2-SHA-256 iterations for passphrase keys (OWASP's 2023 figure).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

#[allow(async_fn_in_trait)]
pub trait Vault {
    type Key;
    /// The device key, made on first use.
    async fn device_key(&self) -> Result<Self::Key>;
    /// A key derived from a passphrase and salt.
    async fn derive(&self, passphrase: &str, salt: &[u8], iterations: u32) -> Result<Self::Key>;
    async fn wrap(&self, key: &Self::Key, plain: &[u8]) -> Result<Vec<u8>>;
    /// None when `wrapped` was not wrapped with `key` (or was altered).
    async fn unwrap(&self, key: &Self::Key, wrapped: &[u8]) -> Result<Option<Vec<u8>>>;
}

#[cfg(not(target_arch = "wasm32"))]
pub use soft::SoftVault;

#[cfg(not(target_arch = "wasm32"))]
mod soft {
    use super::Vault;
    use crate::engine::seal::{random_bytes, BlockKey};
    use crate::error::Result;

    /// The native stand-in: a device key of random bytes held by the value
    /// (clone it to "reopen the same profile").
    #[derive(Clone)]
    pub struct SoftVault {
        device: [u8; 32],
    }

    impl Default for SoftVault {
        fn default() -> Self {
            let mut device = [0u8; 32];
            random_bytes(&mut device);
            SoftVault { device }
        }
    }

    impl Vault for SoftVault {
        type Key = [u8; 32];
        async fn device_key(&self) -> Result<[u8; 32]> {
            Ok(self.device)
        }
        async fn derive(&self, passphrase: &str, salt: &[u8], iterations: u32) -> Result<[u8; 32]> {
            let mut k = blake3::derive_key("rowsnap soft vault passphrase", &[salt, passphrase.as_bytes()].concat());
            for _ in 0..iterations.min(1000) {
                k = *blake3::keyed_hash(&k, passphrase.as_bytes()).as_bytes();
            }
            Ok(k)
        }
        async fn wrap(&self, key: &[u8; 32], plain: &[u8]) -> Result<Vec<u8>> {
            Ok(BlockKey::new(0, key).seal(0, plain))
        }
        async fn unwrap(&self, key: &[u8; 32], wrapped: &[u8]) -> Result<Option<Vec<u8>>> {
            Ok(BlockKey::new(0, key).open(0, wrapped).ok())
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use web::WebVault;

/// WebCrypto calls, shared with the S3 client's hashing (`crate::s3::client`).
#[cfg(target_arch = "wasm32")]
pub(crate) mod web {
    use js_sys::{Array, Object, Reflect, Uint8Array};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{CryptoKey, SubtleCrypto};

    use super::Vault;
    use crate::engine::seal::random_bytes;
    use crate::error::{Error, Result};

    /// WebCrypto; the device key kept in the IndexedDB database `<db>-keys`.
    pub struct WebVault {
        pub db: String,
    }

    fn js(e: JsValue) -> Error {
        Error::internal(format!("WebCrypto: {}", e.as_string().or_else(|| js_sys::JSON::stringify(&e).ok().and_then(|s| s.as_string())).unwrap_or_default()))
    }

    pub(crate) fn subtle() -> Result<SubtleCrypto> {
        let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).map_err(js)?;
        Ok(crypto.unchecked_into::<web_sys::Crypto>().subtle())
    }

    pub(crate) fn obj(pairs: &[(&str, JsValue)]) -> Object {
        let o = Object::new();
        for (k, v) in pairs {
            let _ = Reflect::set(&o, &(*k).into(), v);
        }
        o
    }

    pub(crate) fn usages(u: &[&str]) -> Array {
        u.iter().map(|s| JsValue::from_str(s)).collect()
    }

    pub(crate) async fn call(p: std::result::Result<js_sys::Promise, JsValue>) -> Result<JsValue> {
        JsFuture::from(p.map_err(js)?).await.map_err(js)
    }

    impl Vault for WebVault {
        type Key = CryptoKey;

        async fn device_key(&self) -> Result<CryptoKey> {
            let make = async {
                let alg = obj(&[("name", "AES-GCM".into()), ("length", 256.into())]);
                call(subtle()?.generate_key_with_object(&alg, false, &usages(&["encrypt", "decrypt"]))).await
            };
            let k = crate::idb::device_key(&format!("{}-keys", self.db), make).await?;
            Ok(k.unchecked_into())
        }

        async fn derive(&self, passphrase: &str, salt: &[u8], iterations: u32) -> Result<CryptoKey> {
            let s = subtle()?;
            let raw = Uint8Array::from(passphrase.as_bytes());
            let base = call(s.import_key_with_str("raw", &raw, "PBKDF2", false, &usages(&["deriveKey"]))).await?;
            let alg = obj(&[("name", "PBKDF2".into()), ("salt", Uint8Array::from(salt).into()), ("iterations", iterations.into()), ("hash", "SHA-256".into())]);
            let out = obj(&[("name", "AES-GCM".into()), ("length", 256.into())]);
            let k = call(s.derive_key_with_object_and_object(&alg, base.unchecked_ref(), &out, false, &usages(&["encrypt", "decrypt"]))).await?;
            Ok(k.unchecked_into())
        }

        async fn wrap(&self, key: &CryptoKey, plain: &[u8]) -> Result<Vec<u8>> {
            let mut iv = [0u8; 12];
            random_bytes(&mut iv);
            let alg = obj(&[("name", "AES-GCM".into()), ("iv", Uint8Array::from(&iv[..]).into())]);
            let ct = call(subtle()?.encrypt_with_object_and_buffer_source(&alg, key, &Uint8Array::from(plain))).await?;
            let mut out = iv.to_vec();
            out.extend(Uint8Array::new(&ct).to_vec());
            Ok(out)
        }

        async fn unwrap(&self, key: &CryptoKey, wrapped: &[u8]) -> Result<Option<Vec<u8>>> {
            if wrapped.len() < 12 + 16 {
                return Ok(None);
            }
            let alg = obj(&[("name", "AES-GCM".into()), ("iv", Uint8Array::from(&wrapped[..12]).into())]);
            let p = subtle()?.decrypt_with_object_and_buffer_source(&alg, key, &Uint8Array::from(&wrapped[12..])).map_err(js)?;
            match JsFuture::from(p).await {
                Ok(v) => Ok(Some(Uint8Array::new(&v).to_vec())),
                // OperationError: the key does not open it.
                Err(_) => Ok(None),
            }
        }
    }
}
