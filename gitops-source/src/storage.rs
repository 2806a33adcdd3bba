//! Artifact storage with Flux's layout: `<kind>/<namespace>/<name>/<file>` under a root directory.
//!
//! Files land under their final name only complete (written elsewhere, then renamed), so a crash never
//! leaves a half-written artifact; `latest.tar.gz` is a relative symlink swapped atomically; garbage
//! collection keeps the newest files of each object.

use std::{
    collections::HashMap,
    fs, io,
    path::{Component, Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use gitops_core::{Artifact, ArtifactFile};
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

use crate::archive::set_mode;

/// The name of the per-object symlink to the newest archive.
pub const LATEST: &str = "latest.tar.gz";

/// Errors from [`Storage`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A kind, namespace, name or file name that would leave the storage root.
    #[error("invalid storage path component {0:?}")]
    InvalidComponent(String),
    /// A file system operation failed.
    #[error("storage operation on {path} failed")]
    Io {
        /// The path operated on.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Which object an artifact belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    /// Lower-case kind, e.g. `gitrepository`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// A key for `kind` (any case) `namespace/name`.
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_lowercase(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    fn rel_dir(&self) -> Result<String, StorageError> {
        for c in [&self.kind, &self.namespace, &self.name] {
            check_component(c)?;
        }
        Ok(format!("{}/{}/{}", self.kind, self.namespace, self.name))
    }
}

fn check_component(c: &str) -> Result<(), StorageError> {
    let mut comps = Path::new(c).components();
    match (comps.next(), comps.next()) {
        (Some(Component::Normal(_)), None) if !c.contains(['/', '\\']) => Ok(()),
        _ => Err(StorageError::InvalidComponent(c.to_owned())),
    }
}

/// Artifact storage rooted at a directory, served at an advertised address.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
    base_url: String,
    retention: usize,
    ttl: Duration,
    locks: Arc<Mutex<HashMap<ObjectKey, Arc<Mutex<()>>>>>,
}

impl Storage {
    /// Storage under `root` (created if missing), advertised as `adv_addr` (`host:port`, or a URL with a
    /// scheme), keeping Flux's defaults of 2 artifacts per object and a 1 minute TTL for older ones.
    ///
    /// # Errors
    /// The root cannot be created.
    pub fn new(root: impl Into<PathBuf>, adv_addr: &str) -> Result<Self, StorageError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        let root = root.canonicalize().map_err(io_err(&root))?;
        let base_url = if adv_addr.contains("://") {
            adv_addr.trim_end_matches('/').to_owned()
        } else {
            format!("http://{}", adv_addr.trim_end_matches('/'))
        };
        Ok(Self {
            root,
            base_url,
            retention: 2,
            ttl: Duration::from_secs(60),
            locks: Arc::default(),
        })
    }

    /// Keeps the newest `records` files of each object, deleting older ones once they are older than `ttl`.
    #[must_use]
    pub fn with_retention(mut self, records: usize, ttl: Duration) -> Self {
        self.retention = records.max(1);
        self.ttl = ttl;
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A scratch directory on the same file system as the storage, for sources to write into; removed
    /// when dropped.
    ///
    /// # Errors
    /// It cannot be created.
    pub fn scratch_dir(&self) -> Result<tempfile::TempDir, StorageError> {
        let tmp = self.root.join(".tmp");
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        tempfile::Builder::new()
            .prefix("fetch-")
            .tempdir_in(&tmp)
            .map_err(io_err(&tmp))
    }

    /// The URL of a storage-relative path.
    pub fn url_of(&self, rel: &str) -> String {
        format!("{}/{}", self.base_url, rel)
    }

    /// The local path of an artifact.
    pub fn local_path(&self, artifact: &Artifact) -> PathBuf {
        self.root.join(&artifact.path)
    }

    fn lock(&self, key: &ObjectKey) -> Arc<Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(key.clone()).or_default().clone()
    }

    /// Moves `file` into storage as `<kind>/<namespace>/<name>/<file_name>`, points `latest.tar.gz` at it and
    /// collects garbage; returns the artifact record.
    ///
    /// # Guarantees
    /// On error the previous artifact and symlink are untouched.
    ///
    /// # Errors
    /// An invalid key or file name, or a file system failure.
    pub fn store(
        &self,
        key: &ObjectKey,
        file: &ArtifactFile,
        file_name: &str,
    ) -> Result<Artifact, StorageError> {
        check_component(file_name)?;
        if file_name == LATEST {
            return Err(StorageError::InvalidComponent(file_name.to_owned()));
        }
        let rel_dir = key.rel_dir()?;
        let lock = self.lock(key);
        let _guard = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = self.root.join(&rel_dir);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let dest = dir.join(file_name);
        // Rename into a temp name beside the destination first (copying across file systems when
        // needed), then rename into place: the final name only ever holds a complete file.
        let staged = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempfile_in(&dir)
            .map_err(io_err(&dir))?;
        let staged_path = staged.into_temp_path();
        if fs::rename(&file.path, &staged_path).is_err() {
            fs::copy(&file.path, &staged_path).map_err(io_err(&file.path))?;
            fs::File::open(&staged_path)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&staged_path))?;
        }
        set_mode(&staged_path, 0o600).map_err(io_err(&staged_path))?;
        staged_path.persist(&dest).map_err(|e| StorageError::Io {
            path: dest.clone(),
            source: e.error,
        })?;
        // Best effort, as in Flux: the artifact is stored even if the symlink cannot be swapped.
        if let Err(e) = self.symlink_latest(&dir, file_name) {
            tracing::warn!(dir = %dir.display(), error = %e, "failed to update latest symlink");
        }
        let rel = format!("{rel_dir}/{file_name}");
        let artifact = Artifact {
            url: self.url_of(&rel),
            path: rel,
            revision: file.revision.clone(),
            digest: file.digest.clone(),
            last_update_time: Time(Timestamp::now()),
            size: i64::try_from(file.size).ok(),
            metadata: (!file.metadata.is_empty()).then(|| file.metadata.clone()),
        };
        if let Err(e) = self.gc_locked(&dir, file_name) {
            tracing::warn!(dir = %dir.display(), error = %e, "artifact garbage collection failed");
        }
        Ok(artifact)
    }

    fn symlink_latest(&self, dir: &Path, target: &str) -> io::Result<()> {
        let tmp = dir.join(format!(".{LATEST}.tmp"));
        let _ = fs::remove_file(&tmp);
        symlink(target, &tmp)?;
        fs::rename(&tmp, dir.join(LATEST))
    }

    fn gc_locked(&self, dir: &Path, keep: &str) -> io::Result<Vec<PathBuf>> {
        let mut files: Vec<(SystemTime, PathBuf)> = Vec::new();
        for e in fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if !e.file_type()?.is_file() || name.starts_with('.') || name.ends_with(".lock") {
                continue;
            }
            files.push((e.metadata()?.modified()?, e.path()));
        }
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        let now = SystemTime::now();
        let mut deleted = Vec::new();
        for (mtime, path) in files.into_iter().skip(self.retention) {
            let old = now.duration_since(mtime).unwrap_or_default() >= self.ttl;
            if old && path.file_name().is_some_and(|n| n != keep) {
                fs::remove_file(&path)?;
                deleted.push(path);
            }
        }
        Ok(deleted)
    }

    /// Runs garbage collection for one object now; returns the deleted files.
    ///
    /// # Errors
    /// An invalid key or a file system failure.
    pub fn gc(&self, key: &ObjectKey) -> Result<Vec<PathBuf>, StorageError> {
        let dir = self.root.join(key.rel_dir()?);
        let lock = self.lock(key);
        let _guard = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let keep = fs::read_link(dir.join(LATEST))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.gc_locked(&dir, &keep).map_err(io_err(&dir))
    }

    /// Removes everything stored for an object.
    ///
    /// # Errors
    /// An invalid key or a file system failure.
    pub fn remove_all(&self, key: &ObjectKey) -> Result<(), StorageError> {
        let dir = self.root.join(key.rel_dir()?);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&dir)(e)),
            _ => Ok(()),
        }
    }

    /// Whether the artifact's file is present.
    pub fn exists(&self, artifact: &Artifact) -> bool {
        fs::symlink_metadata(self.local_path(artifact)).is_ok_and(|m| m.is_file())
    }
}

#[cfg(unix)]
fn symlink(target: &str, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_: &str, _: &Path) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "symlinks need unix"))
}

#[cfg(test)]
mod tests {
    use gitops_core::Digest;

    use super::*;

    fn file(dir: &Path, name: &str, content: &str) -> ArtifactFile {
        let p = dir.join(name);
        fs::write(&p, content).unwrap();
        ArtifactFile::new(
            p,
            "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into(),
            Digest::sha256(content.as_bytes()),
            content.len() as u64,
        )
    }

    #[test]
    fn store_layout_url_symlink_and_gc() {
        let root = tempfile::tempdir().unwrap();
        let s = Storage::new(root.path(), "source-controller.flux-system.svc.cluster.local.")
            .unwrap()
            .with_retention(2, Duration::ZERO);
        let key = ObjectKey::new("GitRepository", "default", "podinfo");
        let mut stored = Vec::new();
        for i in 0..4 {
            let scratch = s.scratch_dir().unwrap();
            let f = file(scratch.path(), "x", &format!("content {i}"));
            let a = s.store(&key, &f, &format!("{i}.tar.gz")).unwrap();
            assert_eq!(a.path, format!("gitrepository/default/podinfo/{i}.tar.gz"));
            assert_eq!(
                a.url,
                format!(
                    "http://source-controller.flux-system.svc.cluster.local./gitrepository/default/podinfo/{i}.tar.gz"
                )
            );
            assert!(s.exists(&a));
            stored.push(a);
            std::thread::sleep(Duration::from_millis(20));
        }
        let dir = root.path().join("gitrepository/default/podinfo");
        assert_eq!(fs::read_link(dir.join(LATEST)).unwrap(), Path::new("3.tar.gz"));
        assert_eq!(fs::read_to_string(dir.join(LATEST)).unwrap(), "content 3");
        assert!(!s.exists(&stored[0]) && !s.exists(&stored[1]));
        assert!(s.exists(&stored[2]) && s.exists(&stored[3]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(s.local_path(&stored[3]))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o600
            );
        }
        // No stray temp files are left beside the artifacts.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
        s.remove_all(&key).unwrap();
        assert!(!dir.exists());
    }

    #[test]
    fn refuses_escaping_components() {
        let root = tempfile::tempdir().unwrap();
        let s = Storage::new(root.path(), "http://x").unwrap();
        let scratch = s.scratch_dir().unwrap();
        let f = file(scratch.path(), "x", "c");
        for key in [
            ObjectKey::new("g", "..", "n"),
            ObjectKey::new("g", "a/b", "n"),
            ObjectKey::new("g", "ns", ""),
        ] {
            assert!(matches!(
                s.store(&key, &f, "a.tar.gz"),
                Err(StorageError::InvalidComponent(_))
            ));
        }
        let key = ObjectKey::new("g", "ns", "n");
        assert!(s.store(&key, &f, "../a.tar.gz").is_err());
        assert!(s.store(&key, &f, LATEST).is_err());
        assert_eq!(s.url_of("g/ns/n/a.tar.gz"), "http://x/g/ns/n/a.tar.gz");
    }
}
