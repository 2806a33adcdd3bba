//! Revision strings as Flux writes them into `artifact.revision` and `lastAppliedRevision`.

use std::{fmt, str::FromStr};

use crate::digest::{Algorithm, Digest};

/// The origin of an artifact, in every format Flux v1 APIs write.
///
/// | form | example | written by |
/// |---|---|---|
/// | [`Revision::Named`] | `main@sha1:<hex>`, `refs/pull/1/head@sha1:<hex>`, `v1.2.3@sha256:<hex>` | Git refs, OCI tags |
/// | [`Revision::Digest`] | `sha1:<hex>`, `sha256:<hex>` | Git commits, OCI digests, buckets, Helm indexes |
/// | [`Revision::Other`] | `6.0.3`, `6.0.3+4e5cbb7b97d0` | Helm charts |
///
/// # Guarantees
/// Parsing then printing gives back the input byte for byte, whatever the form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Revision {
    /// `<name>@<digest>`: a branch, tag or full ref name and what it pointed at.
    Named {
        /// The short branch or tag name, or a full ref name such as `refs/pull/1/head`.
        name: String,
        /// The commit or manifest digest.
        digest: Digest,
    },
    /// A bare digest.
    Digest(Digest),
    /// Anything else, kept verbatim (chart versions, pre-v1 `main/<sha>` strings).
    Other(String),
}

impl Revision {
    /// The revision of a Git commit reached through `reference`.
    ///
    /// `reference` is a full ref name (`refs/heads/main`); branches and tags are shortened to their name
    /// as Flux does, any other ref (`refs/pull/1/head`) is kept absolute. `None` gives `sha1:<hex>`.
    pub fn git(reference: Option<&str>, commit: Digest) -> Self {
        match reference {
            None => Self::Digest(commit),
            Some(r) => {
                let name = r
                    .strip_prefix("refs/heads/")
                    .or_else(|| r.strip_prefix("refs/tags/"))
                    .unwrap_or(r);
                Self::Named {
                    name: name.to_owned(),
                    digest: commit,
                }
            }
        }
    }

    /// The digest part, if the revision has one.
    ///
    /// For the pre-v1 form `main/<40 hex>` this is the commit, as Flux's `TransformRevision` reads it.
    pub fn digest(&self) -> Option<Digest> {
        match self {
            Self::Named { digest, .. } | Self::Digest(digest) => Some(digest.clone()),
            Self::Other(s) => {
                let (_, hex) = s.rsplit_once('/')?;
                Digest::new(Algorithm::Sha1, hex).ok()
            }
        }
    }

    /// The name part (`main`, `v1.2.3`, `refs/pull/1/head`), if the revision has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Named { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Whether two revisions point at the same content, whatever their names or legacy forms.
    pub fn same_content(&self, other: &Self) -> bool {
        match (self.digest(), other.digest()) {
            (Some(a), Some(b)) => a == b,
            _ => self == other,
        }
    }
}

impl FromStr for Revision {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((name, digest)) = s.rsplit_once('@')
            && !name.is_empty()
            && let Ok(digest) = digest.parse::<Digest>()
        {
            return Ok(Self::Named {
                name: name.to_owned(),
                digest,
            });
        }
        Ok(match s.parse::<Digest>() {
            Ok(d) => Self::Digest(d),
            Err(_) => Self::Other(s.to_owned()),
        })
    }
}

impl From<&str> for Revision {
    fn from(s: &str) -> Self {
        match s.parse() {
            Ok(r) => r,
            Err(e) => match e {},
        }
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named { name, digest } => write!(f, "{name}@{digest}"),
            Self::Digest(d) => write!(f, "{d}"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

impl fmt::Debug for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Revision({self})")
    }
}

impl serde::Serialize for Revision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Revision {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from(String::deserialize(d)?.as_str()))
    }
}

impl schemars::JsonSchema for Revision {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Revision".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }

    fn inline_schema() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1: &str = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";
    const SHA256: &str = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    #[test]
    fn every_flux_format_round_trips() {
        for s in [
            format!("main@sha1:{SHA1}"),
            format!("feat/x@sha1:{SHA1}"),
            format!("v1.2.3@sha1:{SHA1}"),
            format!("refs/pull/1/head@sha1:{SHA1}"),
            format!("sha1:{SHA1}"),
            format!("latest@sha256:{SHA256}"),
            format!("sha256:{SHA256}"),
            "6.0.3".to_owned(),
            "6.0.3+4e5cbb7b97d0".to_owned(),
            format!("main/{SHA1}"),
            String::new(),
            "@".to_owned(),
            format!("@sha1:{SHA1}"),
        ] {
            let r: Revision = s.parse().unwrap();
            assert_eq!(r.to_string(), s, "{r:?}");
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Revision>(&json).unwrap(), r);
        }
    }

    #[test]
    fn classifies_forms() {
        let r: Revision = format!("refs/pull/1/head@sha1:{SHA1}").parse().unwrap();
        assert_eq!(r.name(), Some("refs/pull/1/head"));
        assert_eq!(r.digest().unwrap().hex(), SHA1);
        let r: Revision = format!("sha256:{SHA256}").parse().unwrap();
        assert!(matches!(r, Revision::Digest(_)));
        let r: Revision = "6.0.3".parse().unwrap();
        assert!(matches!(r, Revision::Other(_)));
        assert_eq!(r.digest(), None);
    }

    #[test]
    fn git_revisions_shorten_branches_and_tags_only() {
        let c: Digest = format!("sha1:{SHA1}").parse().unwrap();
        assert_eq!(
            Revision::git(Some("refs/heads/feat/x"), c.clone()).to_string(),
            format!("feat/x@sha1:{SHA1}")
        );
        assert_eq!(
            Revision::git(Some("refs/tags/v1.0.0"), c.clone()).to_string(),
            format!("v1.0.0@sha1:{SHA1}")
        );
        assert_eq!(
            Revision::git(Some("refs/pull/420/head"), c.clone()).to_string(),
            format!("refs/pull/420/head@sha1:{SHA1}")
        );
        assert_eq!(Revision::git(None, c).to_string(), format!("sha1:{SHA1}"));
    }

    #[test]
    fn legacy_and_new_forms_share_content() {
        let a: Revision = format!("main/{SHA1}").parse().unwrap();
        let b: Revision = format!("main@sha1:{SHA1}").parse().unwrap();
        assert!(a.same_content(&b));
        assert_ne!(a, b);
    }
}
