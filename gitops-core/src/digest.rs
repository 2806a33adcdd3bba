//! Content digests in the OCI `<algorithm>:<hex>` form Flux writes into `artifact.digest`.

use std::{fmt, io, str::FromStr};

use sha2::{Digest as _, Sha256};

/// The hash function a [`Digest`] was made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// SHA-1, used by Git object ids (`sha1:<40 hex>`).
    Sha1,
    /// SHA-256, the default for artifacts and OCI manifests.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// BLAKE3.
    Blake3,
}

impl Algorithm {
    /// The name used before the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
            Self::Blake3 => "blake3",
        }
    }

    /// Length of the hex encoding of a digest of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha1 => 40,
            Self::Sha256 | Self::Blake3 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sha1" => Self::Sha1,
            "sha256" => Self::Sha256,
            "sha384" => Self::Sha384,
            "sha512" => Self::Sha512,
            "blake3" => Self::Blake3,
            _ => return None,
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A digest such as `sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae`.
///
/// # Guarantees
/// The hex part is lowercase and as long as the algorithm's output, so two equal digests always print
/// the same bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// Why a string is not a [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// No `:` between algorithm and value.
    #[error("digest {0:?} is not of the form <algorithm>:<hex>")]
    Malformed(String),
    /// The algorithm is not one this crate knows.
    #[error("digest {0:?} uses an unsupported algorithm")]
    UnsupportedAlgorithm(String),
    /// The value is not lowercase hex of the algorithm's length.
    #[error("digest {0:?} does not have a valid hex value for its algorithm")]
    InvalidHex(String),
}

impl Digest {
    /// Builds a digest from an algorithm and its lowercase hex value.
    ///
    /// # Errors
    /// [`DigestError::InvalidHex`] when `hex` is not lowercase hex of the algorithm's length.
    pub fn new(algorithm: Algorithm, hex: impl Into<String>) -> Result<Self, DigestError> {
        let hex = hex.into();
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::InvalidHex(format!("{algorithm}:{hex}")));
        }
        Ok(Self { algorithm, hex })
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(bytes).into())
    }

    /// A SHA-256 digest from its 32 raw bytes.
    pub fn from_sha256(raw: [u8; 32]) -> Self {
        Self {
            algorithm: Algorithm::Sha256,
            hex: to_hex(&raw),
        }
    }

    /// A Git SHA-1 object id as a digest (`sha1:<hex>`).
    pub fn from_sha1(raw: &[u8; 20]) -> Self {
        Self {
            algorithm: Algorithm::Sha1,
            hex: to_hex(raw),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex value, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

/// Lowercase hex encoding of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    s
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (algo, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::Malformed(s.to_owned()))?;
        let algorithm =
            Algorithm::parse(algo).ok_or_else(|| DigestError::UnsupportedAlgorithm(s.to_owned()))?;
        Self::new(algorithm, hex).map_err(|_| DigestError::InvalidHex(s.to_owned()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Digest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Digest".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

/// A writer that hashes with SHA-256 and counts what passes through it to `inner`.
///
/// Artifacts are hashed while they are written, so the file is never read twice.
#[derive(Debug)]
pub struct DigestWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: io::Write> DigestWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Returns the inner writer, the SHA-256 digest and the byte count of everything written.
    pub fn finish(self) -> (W, Digest, u64) {
        (
            self.inner,
            Digest::from_sha256(self.hasher.finalize().into()),
            self.written,
        )
    }
}

impl<W: io::Write> io::Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            Digest::sha256(b"foo").to_string(),
            "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
    }

    #[test]
    fn parses_and_prints_losslessly() {
        for s in [
            "sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738",
            "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        ] {
            assert_eq!(s.parse::<Digest>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_digests() {
        assert!(matches!(
            "sha256".parse::<Digest>(),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(
            "md5:abcd".parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            "sha1:ABCDEF".parse::<Digest>(),
            Err(DigestError::InvalidHex(_))
        ));
        assert!(matches!(
            "sha1:5394CB7F48332B2DE7C17DD8B8384BBC84B7E738".parse::<Digest>(),
            Err(DigestError::InvalidHex(_))
        ));
    }

    #[test]
    fn writer_hashes_and_counts() {
        let mut w = DigestWriter::new(Vec::new());
        w.write_all(b"fo").unwrap();
        w.write_all(b"o").unwrap();
        let (inner, digest, n) = w.finish();
        assert_eq!(inner, b"foo");
        assert_eq!(n, 3);
        assert_eq!(digest, Digest::sha256(b"foo"));
    }
}
