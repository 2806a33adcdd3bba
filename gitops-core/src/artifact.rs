//! The artifact record (`status.artifact`) shared by every source kind.

use std::{collections::BTreeMap, path::PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Serialize};

use crate::{digest::Digest, revision::Revision};

/// What a source produced, as it appears in `status.artifact` (Flux's `meta.Artifact`).
///
/// `path` is relative to the artifact storage root (`<kind>/<namespace>/<name>/<file>`), `url` is where
/// consumers download it; `digest` covers the exact stored bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Relative storage path: `<kind-lowercase>/<namespace>/<name>/<file>`.
    pub path: String,
    /// HTTP address of the artifact as exposed by the controller managing the source.
    pub url: String,
    /// Human-readable origin of the content, e.g. `main@sha1:<hex>`.
    pub revision: Revision,
    /// Digest of the file, `<algorithm>:<hex>`.
    pub digest: Digest,
    /// When the file was last written.
    pub last_update_time: Time,
    /// Size of the file in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Additional metadata, e.g. OCI annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// An artifact file a [`Source`](crate::Source) wrote on local disk, not yet placed in storage.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ArtifactFile {
    /// Where the file is now.
    pub path: PathBuf,
    /// What it was made from.
    pub revision: Revision,
    /// SHA-256 of the file bytes.
    pub digest: Digest,
    /// Size of the file in bytes.
    pub size: u64,
    /// Metadata to copy into [`Artifact::metadata`].
    pub metadata: BTreeMap<String, String>,
}

impl ArtifactFile {
    /// Describes a file already written at `path`.
    pub fn new(path: PathBuf, revision: Revision, digest: Digest, size: u64) -> Self {
        Self {
            path,
            revision,
            digest,
            size,
            metadata: BTreeMap::new(),
        }
    }
}
