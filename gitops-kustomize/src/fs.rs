//! The file systems a build reads from: the disk (an unpacked artifact) or memory.

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
};

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// Read-only file system access for builds. Paths are absolute.
///
/// Implementations must resolve symlinks in [`FileSystem::canonicalize`], so the build can refuse anything
/// that leaves its root.
pub trait FileSystem: Send + Sync {
    /// The content of a file.
    ///
    /// # Errors
    /// The file cannot be read.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// What `path` is, if it exists.
    fn kind(&self, path: &Path) -> Option<EntryKind>;

    /// The entries of a directory, sorted by name.
    ///
    /// # Errors
    /// The directory cannot be read.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<(String, EntryKind)>>;

    /// The path with symlinks resolved.
    ///
    /// # Errors
    /// The path does not exist.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
}

/// The local disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskFs;

impl FileSystem for DiskFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn kind(&self, path: &Path) -> Option<EntryKind> {
        let m = std::fs::metadata(path).ok()?;
        if m.is_dir() {
            Some(EntryKind::Dir)
        } else if m.is_file() {
            Some(EntryKind::File)
        } else {
            None
        }
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(String, EntryKind)>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(path)? {
            let e = e?;
            let Some(kind) = self.kind(&e.path()) else {
                continue;
            };
            out.push((e.file_name().to_string_lossy().into_owned(), kind));
        }
        out.sort();
        Ok(out)
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        path.canonicalize()
    }
}

/// Files held in memory, keyed by absolute path; directories are implied by the files in them.
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file; `path` is made absolute under `/`.
    pub fn insert(&mut self, path: impl AsRef<Path>, content: impl Into<Vec<u8>>) -> &mut Self {
        let p = Path::new("/").join(path.as_ref());
        self.files.insert(crate::build::clean(&p), content.into());
        self
    }
}

fn not_found(p: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} not found", p.display()))
}

impl FileSystem for MemFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files
            .get(&crate::build::clean(path))
            .cloned()
            .ok_or_else(|| not_found(path))
    }

    fn kind(&self, path: &Path) -> Option<EntryKind> {
        let p = crate::build::clean(path);
        if self.files.contains_key(&p) {
            Some(EntryKind::File)
        } else if p == Path::new("/") || self.files.keys().any(|f| f.starts_with(&p)) {
            Some(EntryKind::Dir)
        } else {
            None
        }
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(String, EntryKind)>> {
        let p = crate::build::clean(path);
        if self.kind(&p) != Some(EntryKind::Dir) {
            return Err(not_found(path));
        }
        let mut out: BTreeMap<String, EntryKind> = BTreeMap::new();
        for f in self.files.keys() {
            if let Ok(rest) = f.strip_prefix(&p) {
                let mut comps = rest.components();
                if let Some(first) = comps.next() {
                    let kind = if comps.next().is_some() {
                        EntryKind::Dir
                    } else {
                        EntryKind::File
                    };
                    out.insert(first.as_os_str().to_string_lossy().into_owned(), kind);
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let p = crate::build::clean(path);
        self.kind(&p).map(|_| p).ok_or_else(|| not_found(path))
    }
}
