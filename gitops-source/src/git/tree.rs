//! Writing a commit's tree straight from the object database into an artifact archive.

use std::path::Path;

use gitops_core::Digest;
use gix::{bstr::ByteSlice, objs::tree::EntryKind};

use crate::{
    archive::ArchiveWriter,
    ignore::{IGNORE_FILE, IgnoreRules, Pattern, read_patterns},
};

/// Why a tree could not be archived.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TreeError {
    /// The content is not acceptable.
    #[error("{0}")]
    Content(String),
    /// Writing the archive failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Reading objects failed.
    #[error(transparent)]
    Git(#[from] gitops_core::BoxError),
}

fn git<E: std::error::Error + Send + Sync + 'static>(e: E) -> TreeError {
    TreeError::Git(Box::new(e))
}

struct Entry {
    name: String,
    kind: EntryKind,
    oid: gix::ObjectId,
}

fn entries(repo: &gix::Repository, tree: gix::ObjectId, path: &[String]) -> Result<Vec<Entry>, TreeError> {
    let tree = repo.find_tree(tree).map_err(git)?;
    let decoded = tree.decode().map_err(git)?;
    let mut out = Vec::with_capacity(decoded.entries.len());
    for e in &decoded.entries {
        let name = e.filename.to_str().map_err(|_| {
            TreeError::Content(format!(
                "file name {:?} under '{}' is not UTF-8",
                e.filename,
                path.join("/")
            ))
        })?;
        out.push(Entry {
            name: name.to_owned(),
            kind: e.mode.kind(),
            oid: e.oid.to_owned(),
        });
    }
    // Go's filepath.Walk order: plain bytewise name order (git orders trees as if named `name/`).
    out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(out)
}

/// `.sourceignore` patterns in Flux's order: a directory's own file, then its subdirectories in name order.
fn collect_ignore(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    domain: &mut Vec<String>,
    out: &mut Vec<Pattern>,
) -> Result<(), TreeError> {
    let list = entries(repo, tree, domain)?;
    if let Some(f) = list
        .iter()
        .find(|e| e.name == IGNORE_FILE && matches!(e.kind, EntryKind::Blob | EntryKind::BlobExecutable))
    {
        let blob = repo.find_blob(f.oid).map_err(git)?;
        let text = String::from_utf8_lossy(&blob.data);
        let mut origin = domain.join("/");
        if !origin.is_empty() {
            origin.push('/');
        }
        origin.push_str(IGNORE_FILE);
        out.extend(read_patterns(&text, domain, &origin).map_err(|e| TreeError::Content(e.to_string()))?);
    }
    for e in list
        .iter()
        .filter(|e| e.kind == EntryKind::Tree && e.name != ".git")
    {
        domain.push(e.name.clone());
        collect_ignore(repo, e.oid, domain, out)?;
        domain.pop();
    }
    Ok(())
}

/// Whether symlink `link` (path components) with target `target` stays inside the root.
fn link_stays_inside(link: &[String], target: &[u8]) -> bool {
    if target.starts_with(b"/") {
        return false;
    }
    let mut depth = link.len().saturating_sub(1) as isize;
    for part in target.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

fn walk(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    rel: &mut Vec<String>,
    rules: &IgnoreRules,
    w: &mut ArchiveWriter,
) -> Result<(), TreeError> {
    for e in entries(repo, tree, rel)? {
        rel.push(e.name);
        let parts: Vec<&str> = rel.iter().map(String::as_str).collect();
        let path = rel.join("/");
        match e.kind {
            EntryKind::Tree => {
                if !rules.is_ignored(&parts, true) {
                    w.add_dir(&path)?;
                }
                walk(repo, e.oid, rel, rules, w)?;
            }
            EntryKind::Commit => {
                // A submodule that is not recursed into checks out as an empty directory.
                if !rules.is_ignored(&parts, true) {
                    w.add_dir(&path)?;
                }
            }
            EntryKind::Link => {
                let target = repo.find_blob(e.oid).map_err(git)?;
                if !link_stays_inside(rel, &target.data) {
                    return Err(TreeError::Content(format!(
                        "symlink '{path}' points outside the repository: '{}'",
                        target.data.as_bstr()
                    )));
                }
                // Symlinks are not part of artifacts.
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                if !rules.is_ignored(&parts, false) {
                    let blob = repo.find_blob(e.oid).map_err(git)?;
                    w.add_file(&path, &blob.data, e.kind == EntryKind::BlobExecutable)?;
                }
            }
        }
        rel.pop();
    }
    Ok(())
}

/// Archives the tree of `commit` into `out`, applying the repository's `.sourceignore` files, then
/// `user` patterns (`spec.ignore`), with Flux's default excludes.
pub(crate) fn archive_commit(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    user: Vec<Pattern>,
    out: &Path,
) -> Result<(Digest, u64), TreeError> {
    let tree = repo
        .find_commit(commit)
        .map_err(git)?
        .tree_id()
        .map_err(git)?
        .detach();
    let mut patterns = Vec::new();
    collect_ignore(repo, tree, &mut Vec::new(), &mut patterns)?;
    patterns.extend(user);
    let rules = IgnoreRules::new(patterns);
    let mut w = ArchiveWriter::create(out)?;
    w.add_dir(".")?;
    walk(repo, tree, &mut Vec::new(), &rules, &mut w)?;
    Ok(w.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_escape_detection() {
        let l = |p: &str| p.split('/').map(str::to_owned).collect::<Vec<_>>();
        assert!(link_stays_inside(&l("a/link"), b"../b"));
        assert!(link_stays_inside(&l("link"), b"./x/../y"));
        assert!(!link_stays_inside(&l("link"), b"../x"));
        assert!(!link_stays_inside(&l("a/b/link"), b"../../../etc/passwd"));
        assert!(!link_stays_inside(&l("a/link"), b"/etc/passwd"));
    }
}
