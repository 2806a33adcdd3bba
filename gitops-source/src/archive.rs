//! Reproducible `.tar.gz` artifacts with Flux's layout.
//!
//! Entries are relative to the root (`.` is the root directory), regular files and directories only,
//! with uid/gid 0, no user or group names, zero times, and modes normalised to `0750` for directories,
//! `0700` for executables and `0600` for other files. The archive is hashed while it is written.

use std::{
    fs::{self, File},
    io::{self, BufWriter},
    path::{Path, PathBuf},
};

use flate2::{Compression, GzBuilder, write::GzEncoder};
use gitops_core::{Digest, DigestWriter};

/// Directory mode inside artifacts.
pub const DIR_MODE: u32 = 0o750;
/// Mode of executable files inside artifacts.
pub const EXE_MODE: u32 = 0o700;
/// Mode of other files inside artifacts.
pub const FILE_MODE: u32 = 0o600;

/// Writes an artifact archive entry by entry.
///
/// Callers add entries in walk order (each directory before its contents, names sorted bytewise within a
/// directory), which is what makes the same tree give the same bytes.
pub struct ArchiveWriter {
    tar: tar::Builder<GzEncoder<DigestWriter<BufWriter<File>>>>,
    path: PathBuf,
}

impl std::fmt::Debug for ArchiveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ArchiveWriter {
    /// Creates (truncates) the archive file at `path`.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = File::create(path)?;
        let gz = GzBuilder::new().mtime(0).operating_system(255).write(
            DigestWriter::new(BufWriter::with_capacity(256 << 10, file)),
            Compression::default(),
        );
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Deterministic);
        Ok(Self {
            tar,
            path: path.to_owned(),
        })
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    }

    /// Adds a directory entry; `rel` is `.` for the root.
    ///
    /// # Errors
    /// Writing failed.
    pub fn add_dir(&mut self, rel: &str) -> io::Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, DIR_MODE, 0);
        self.tar.append_data(&mut h, rel, io::empty())
    }

    /// Adds a regular file with `data`.
    ///
    /// # Errors
    /// Writing failed.
    pub fn add_file(&mut self, rel: &str, data: &[u8], executable: bool) -> io::Result<()> {
        let mode = if executable { EXE_MODE } else { FILE_MODE };
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        self.tar.append_data(&mut h, rel, data)
    }

    /// Adds a regular file whose content is read from `reader` (`size` bytes).
    ///
    /// # Errors
    /// Reading or writing failed.
    pub fn add_file_from(
        &mut self,
        rel: &str,
        size: u64,
        reader: impl io::Read,
        executable: bool,
    ) -> io::Result<()> {
        let mode = if executable { EXE_MODE } else { FILE_MODE };
        let mut h = Self::header(tar::EntryType::Regular, mode, size);
        self.tar.append_data(&mut h, rel, reader)
    }

    /// Finishes the archive, syncs it to disk and returns its digest and size.
    ///
    /// # Errors
    /// Writing or syncing failed.
    pub fn finish(self) -> io::Result<(Digest, u64)> {
        let gz = self.tar.into_inner()?;
        let dw = gz.finish()?;
        let (buf, digest, size) = dw.finish();
        let file = buf.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        Ok((digest, size))
    }
}

/// Archives a directory on disk, skipping symlinks and other special files and whatever `ignored` excludes.
///
/// `ignored` gets the path components relative to `dir` and whether the entry is a directory. Ignored
/// directories are still descended into (as Flux does), so a later negated pattern can re-include files.
///
/// # Errors
/// Reading the tree or writing the archive failed.
pub fn archive_dir(
    dir: &Path,
    out: &Path,
    ignored: &dyn Fn(&[&str], bool) -> bool,
) -> io::Result<(Digest, u64)> {
    let mut w = ArchiveWriter::create(out)?;
    w.add_dir(".")?;
    walk(dir, &mut Vec::new(), &mut w, ignored)?;
    w.finish()
}

fn walk(
    dir: &Path,
    rel: &mut Vec<String>,
    w: &mut ArchiveWriter,
    ignored: &dyn Fn(&[&str], bool) -> bool,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().into_string().map_err(|n| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file name {n:?} is not UTF-8"),
            )
        })?;
        let ft = e.file_type()?;
        if !(ft.is_dir() || ft.is_file()) {
            continue;
        }
        rel.push(name);
        let parts: Vec<&str> = rel.iter().map(String::as_str).collect();
        let rel_path = rel.join("/");
        if ft.is_dir() {
            if !ignored(&parts, true) {
                w.add_dir(&rel_path)?;
            }
            walk(&e.path(), rel, w, ignored)?;
        } else if !ignored(&parts, false) {
            let meta = e.metadata()?;
            let exe = is_executable(&meta);
            w.add_file_from(&rel_path, meta.len(), File::open(e.path())?, exe)?;
        }
        rel.pop();
    }
    Ok(())
}

/// Unpacks the artifact at `tarball` into `dest` (created if missing). Only regular files and
/// directories are written; an entry whose path is absolute or climbs out with `..`, or that is a link or
/// device, fails the whole extraction, so nothing can land outside `dest`. Files get the artifact modes
/// (`0600`, `0700` when executable).
///
/// # Errors
/// The archive is unreadable or holds an entry that is refused (the error names it).
pub fn extract(tarball: &Path, dest: &Path) -> io::Result<()> {
    let file = File::open(tarball)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
    fs::create_dir_all(dest)?;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path()?.into_owned();
        let mut rel = PathBuf::new();
        for c in raw.components() {
            match c {
                std::path::Component::Normal(p) => rel.push(p),
                std::path::Component::CurDir => {}
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("archive entry {} escapes the destination", raw.display()),
                    ));
                }
            }
        }
        let target = dest.join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&target)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)?;
                }
                let exe = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
                let mut out = File::create(&target)?;
                io::copy(&mut entry, &mut out)?;
                set_mode(&target, if exe { EXE_MODE } else { FILE_MODE })?;
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "archive entry {} is a {other:?}, only files and directories are allowed",
                        raw.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Sets a file's permission bits (no-op off Unix).
#[cfg(unix)]
pub(crate) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
pub(crate) fn set_mode(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn extract_round_trips_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("deploy")).unwrap();
        fs::write(src.join("deploy/app.yaml"), "kind: ConfigMap\n").unwrap();
        let tgz = dir.path().join("a.tar.gz");
        archive_dir(&src, &tgz, &|_, _| false).unwrap();
        let out = dir.path().join("out");
        extract(&tgz, &out).unwrap();
        assert_eq!(
            fs::read_to_string(out.join("deploy/app.yaml")).unwrap(),
            "kind: ConfigMap\n"
        );

        // A hand-made archive with `../evil` is refused and writes nothing outside.
        let evil = dir.path().join("evil.tar.gz");
        {
            let gz = GzEncoder::new(File::create(&evil).unwrap(), Compression::default());
            let mut b = tar::Builder::new(gz);
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`, so write the name bytes directly.
            h.as_gnu_mut().unwrap().name[..7].copy_from_slice(b"../evil");
            h.set_cksum();
            b.append(&h, &b"x"[..]).unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        let err = extract(&evil, &dir.path().join("out2")).unwrap_err();
        assert!(err.to_string().contains("../evil"), "{err}");
        assert!(!dir.path().join("evil").exists());
    }

    fn entries(path: &Path) -> Vec<(String, u32, tar::EntryType, String)> {
        let gz = flate2::read::GzDecoder::new(File::open(path).unwrap());
        let mut ar = tar::Archive::new(gz);
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                assert_eq!(h.uid().unwrap(), 0);
                assert_eq!(h.mtime().unwrap(), 0);
                assert_eq!(h.username().unwrap(), Some(""));
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.entry_type(),
                    s,
                )
            })
            .collect()
    }

    #[test]
    fn layout_modes_and_order() {
        let src = tempfile::tempdir().unwrap();
        let root = src.path();
        fs::create_dir_all(root.join("b/c")).unwrap();
        fs::write(root.join("b/c/x.yaml"), "x").unwrap();
        fs::write(root.join("a.yaml"), "a").unwrap();
        fs::write(root.join("b.txt"), "t").unwrap();
        fs::write(root.join("run.sh"), "#!/bin/sh").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        }
        let out = tempfile::tempdir().unwrap();
        let a = out.path().join("a.tar.gz");
        let (d1, size) = archive_dir(root, &a, &|_, _| false).unwrap();
        assert_eq!(size, fs::metadata(&a).unwrap().len());
        assert_eq!(d1, Digest::sha256(&fs::read(&a).unwrap()));
        let got: Vec<_> = entries(&a).into_iter().map(|(p, m, t, _)| (p, m, t)).collect();
        use tar::EntryType::{Directory as D, Regular as R};
        assert_eq!(
            got,
            vec![
                (".".into(), 0o750, D),
                ("a.yaml".into(), 0o600, R),
                ("b".into(), 0o750, D),
                ("b/c".into(), 0o750, D),
                ("b/c/x.yaml".into(), 0o600, R),
                ("b.txt".into(), 0o600, R),
                ("run.sh".into(), 0o700, R),
            ]
        );
        // Same tree, same bytes.
        let b = out.path().join("b.tar.gz");
        let (d2, _) = archive_dir(root, &b, &|_, _| false).unwrap();
        assert_eq!(d1, d2);
    }
}
