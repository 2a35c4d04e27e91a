//! SOPS value encryption: `ENC[AES256_GCM,data:..,iv:..,tag:..,type:..]`
//! with a 32-byte IV, the key path as additional data, and the MAC over all
//! plaintext values.

use std::collections::HashMap;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::generic_array::typenum::U32;
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha512};

use super::tree::{Scalar, format_float};

type Cipher = AesGcm<Aes256, U32>;

/// The value types sops records in `type:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// UTF-8 text.
    Str,
    /// Integer, decimal.
    Int,
    /// Float, shortest decimal.
    Float,
    /// `True`/`False`.
    Bool,
    /// RFC 3339 timestamp.
    Time,
    /// Raw bytes.
    Bytes,
    /// A comment line.
    Comment,
}

impl ValueType {
    fn name(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Time => "time",
            ValueType::Bytes => "bytes",
            ValueType::Comment => "comment",
        }
    }

    fn parse(s: &str) -> Option<ValueType> {
        Some(match s {
            "str" => ValueType::Str,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "time" => ValueType::Time,
            "bytes" => ValueType::Bytes,
            "comment" => ValueType::Comment,
            _ => return None,
        })
    }
}

/// Why one value could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Not of the `ENC[AES256_GCM,...]` shape, or bad base64 / lengths.
    Malformed(String),
    /// The GCM tag did not verify: the value, its path or the key is wrong.
    Authentication,
}

/// The plaintext bytes sops renders for a scalar (what is encrypted and MACed).
pub fn render(s: &Scalar) -> (Vec<u8>, ValueType) {
    match s {
        Scalar::Null => (Vec::new(), ValueType::Str),
        Scalar::Str(s) => (s.as_bytes().to_vec(), ValueType::Str),
        Scalar::Int(i) => (i.to_string().into_bytes(), ValueType::Int),
        Scalar::Float(f) => (format_float(*f).into_bytes(), ValueType::Float),
        Scalar::Bool(b) => (
            if *b { "True" } else { "False" }.as_bytes().to_vec(),
            ValueType::Bool,
        ),
        Scalar::Time(t) => (t.as_bytes().to_vec(), ValueType::Time),
        Scalar::Bytes(b) => (b.clone(), ValueType::Bytes),
    }
}

/// The scalar a decrypted plaintext stands for.
pub fn restore(plain: Vec<u8>, t: ValueType) -> Result<Scalar, ValueError> {
    let text = || {
        String::from_utf8(plain.clone())
            .map_err(|_| ValueError::Malformed("plaintext is not UTF-8".into()))
    };
    Ok(match t {
        ValueType::Str | ValueType::Comment => Scalar::Str(text()?),
        ValueType::Int => Scalar::Int(
            text()?
                .parse()
                .map_err(|_| ValueError::Malformed("int value does not parse".into()))?,
        ),
        ValueType::Float => Scalar::Float(
            text()?
                .parse()
                .map_err(|_| ValueError::Malformed("float value does not parse".into()))?,
        ),
        ValueType::Bool => Scalar::Bool(text()? == "True"),
        ValueType::Time => Scalar::Time(text()?),
        ValueType::Bytes => Scalar::Bytes(plain),
    })
}

/// IVs of values seen while decrypting, so that re-encrypting an unchanged
/// value (same path, same plaintext, same data key) gives the same text.
#[derive(Debug, Default, Clone)]
pub struct IvStash(HashMap<(String, Vec<u8>), [u8; 32]>);

/// True when `s` looks like a sops-encrypted value.
pub fn is_encrypted_value(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,") && s.ends_with(']')
}

/// Encrypts one value; reuses the stashed IV for the same (aad, plaintext).
pub fn encrypt(
    key: &[u8; 32],
    plain: &[u8],
    t: ValueType,
    aad: &str,
    stash: Option<&IvStash>,
) -> String {
    let iv = stash
        .and_then(|s| s.0.get(&(aad.to_string(), plain.to_vec())).copied())
        .unwrap_or_else(random_iv);
    let cipher = Cipher::new(GenericArray::from_slice(key));
    let mut buf = plain.to_vec();
    // Encryption with a valid key and nonce length cannot fail.
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(&iv), aad.as_bytes(), &mut buf)
        .unwrap_or_default();
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
        B64.encode(&buf),
        B64.encode(iv),
        B64.encode(tag),
        t.name()
    )
}

/// Decrypts one value, recording its IV in `stash`.
pub fn decrypt(
    key: &[u8; 32],
    value: &str,
    aad: &str,
    stash: Option<&mut IvStash>,
) -> Result<(Vec<u8>, ValueType), ValueError> {
    let inner = value
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| ValueError::Malformed("not an ENC[AES256_GCM,...] value".into()))?;
    let (mut data, mut iv, mut tag, mut typ) = (None, None, None, None);
    for part in inner.split(',') {
        let (k, v) = part
            .split_once(':')
            .ok_or_else(|| ValueError::Malformed(format!("field '{part}' has no ':'")))?;
        match k {
            "data" => data = Some(v),
            "iv" => iv = Some(v),
            "tag" => tag = Some(v),
            "type" => typ = Some(v),
            _ => {}
        }
    }
    let b64 = |name: &str, v: Option<&str>| {
        B64.decode(v.ok_or_else(|| ValueError::Malformed(format!("missing {name}")))?)
            .map_err(|_| ValueError::Malformed(format!("{name} is not base64")))
    };
    let mut data = b64("data", data)?;
    let iv = b64("iv", iv)?;
    let tag = b64("tag", tag)?;
    let t = typ
        .and_then(ValueType::parse)
        .ok_or_else(|| ValueError::Malformed("unknown or missing type".into()))?;
    if iv.len() != 32 || tag.len() != 16 {
        return Err(ValueError::Malformed(
            "iv must be 32 bytes and tag 16 bytes".into(),
        ));
    }
    let cipher = Cipher::new(GenericArray::from_slice(key));
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(&iv),
            aad.as_bytes(),
            &mut data,
            GenericArray::from_slice(&tag),
        )
        .map_err(|_| ValueError::Authentication)?;
    if let Some(stash) = stash {
        let mut iv32 = [0u8; 32];
        iv32.copy_from_slice(&iv);
        stash.0.insert((aad.to_string(), data.clone()), iv32);
    }
    Ok((data, t))
}

fn random_iv() -> [u8; 32] {
    let mut iv = [0u8; 32];
    fill_random(&mut iv);
    iv
}

/// Fills `buf` from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) {
    // The OS random source does not fail on supported platforms.
    getrandom::fill(buf).unwrap_or_default();
}

/// SHA-512 accumulator for the sops MAC.
pub struct Mac(Sha512);

/// The fixed prefix sops feeds the MAC with `mac_only_encrypted: true`.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

impl Mac {
    /// A fresh MAC; `only_encrypted` selects sops's `mac_only_encrypted` mode.
    pub fn new(only_encrypted: bool) -> Mac {
        let mut h = Sha512::new();
        if only_encrypted {
            h.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        Mac(h)
    }

    /// Adds one value's plaintext.
    pub fn add(&mut self, plain: &[u8]) {
        self.0.update(plain);
    }

    /// 128 uppercase hex characters.
    pub fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let key = [7u8; 32];
        let enc = encrypt(&key, b"secret", ValueType::Str, "db:password:", None);
        let (plain, t) = decrypt(&key, &enc, "db:password:", None).unwrap();
        assert_eq!((plain.as_slice(), t), (&b"secret"[..], ValueType::Str));
        assert_eq!(
            decrypt(&key, &enc, "db:user:", None),
            Err(ValueError::Authentication)
        );
        assert_eq!(
            decrypt(&[8u8; 32], &enc, "db:password:", None),
            Err(ValueError::Authentication)
        );
    }

    #[test]
    fn stashed_iv_gives_identical_ciphertext() {
        let key = [1u8; 32];
        let enc = encrypt(&key, b"v", ValueType::Str, "a:", None);
        let mut stash = IvStash::default();
        decrypt(&key, &enc, "a:", Some(&mut stash)).unwrap();
        assert_eq!(encrypt(&key, b"v", ValueType::Str, "a:", Some(&stash)), enc);
        assert_ne!(encrypt(&key, b"w", ValueType::Str, "a:", Some(&stash)), enc);
    }
}
