//! [`GitSource`]: a Git repository, at a branch, tag, semver range, ref or commit, as a Flux artifact.
//!
//! The fetch is a bare, shallow (where the reference allows) clone into a scratch directory with gix, in
//! an isolated configuration (no user or system git config, no `GIT_*` environment). The artifact is
//! written straight from the object database, without a checkout, and is the same bytes for the same
//! commit and ignore rules. Before any pack is downloaded the advertised refs are compared with the last
//! stored revision, so an unchanged upstream costs one round trip.

mod auth;
mod tree;

use std::{
    num::NonZeroU32,
    path::Path,
    sync::{Arc, atomic::AtomicBool},
};

use gitops_core::{ArtifactFile, Digest, FetchOutcome, FetchRequest, Revision, Source, SourceError};
use gix::{
    bstr::ByteSlice,
    remote::{Direction, fetch::Shallow},
};

pub use auth::GitAuth;

use crate::ignore::read_patterns;

/// What to check out, with Flux's precedence: commit > name > semver > tag > branch (default `master`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GitReference {
    /// A branch name.
    pub branch: Option<String>,
    /// A tag name.
    pub tag: Option<String>,
    /// A Masterminds semver range over tags.
    pub semver: Option<String>,
    /// A full ref name such as `refs/pull/1/head`.
    pub name: Option<String>,
    /// A commit SHA; with `branch`, only that branch is fetched.
    pub commit: Option<String>,
}

impl GitReference {
    /// A branch.
    pub fn branch(b: impl Into<String>) -> Self {
        Self {
            branch: Some(b.into()),
            ..Self::default()
        }
    }
    /// A tag.
    pub fn tag(t: impl Into<String>) -> Self {
        Self {
            tag: Some(t.into()),
            ..Self::default()
        }
    }
    /// A semver range over tags.
    pub fn semver(r: impl Into<String>) -> Self {
        Self {
            semver: Some(r.into()),
            ..Self::default()
        }
    }
    /// A full ref name.
    pub fn name(n: impl Into<String>) -> Self {
        Self {
            name: Some(n.into()),
            ..Self::default()
        }
    }
    /// A commit.
    pub fn commit(c: impl Into<String>) -> Self {
        Self {
            commit: Some(c.into()),
            ..Self::default()
        }
    }

    fn describe(&self) -> String {
        if let Some(c) = &self.commit {
            match &self.branch {
                Some(b) => format!("commit '{c}' on branch '{b}'"),
                None => format!("commit '{c}'"),
            }
        } else if let Some(n) = &self.name {
            format!("ref '{n}'")
        } else if let Some(s) = &self.semver {
            format!("semver '{s}'")
        } else if let Some(t) = &self.tag {
            format!("tag '{t}'")
        } else {
            format!("branch '{}'", self.branch.as_deref().unwrap_or("master"))
        }
    }
}

/// A Git repository as a [`Source`].
#[derive(Debug, Clone)]
pub struct GitSource {
    url: String,
    reference: GitReference,
    auth: GitAuth,
    ignore: Option<String>,
}

impl GitSource {
    /// The repository at `url` (`https://`, `http://`, `ssh://`, `git://` or `file://`), at `reference`.
    pub fn new(url: impl Into<String>, reference: GitReference) -> Self {
        Self {
            url: url.into(),
            reference,
            auth: GitAuth::None,
            ignore: None,
        }
    }

    /// Sets the credentials.
    #[must_use]
    pub fn with_auth(mut self, auth: GitAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Sets `spec.ignore`: `.sourceignore`-syntax patterns applied after the repository's own.
    #[must_use]
    pub fn with_ignore(mut self, ignore: Option<String>) -> Self {
        self.ignore = ignore;
        self
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn err_transport(&self, e: impl Into<gitops_core::BoxError>) -> SourceError {
        let source = e.into();
        if looks_like_auth_failure(source.as_ref()) {
            SourceError::Authentication {
                url: self.url.clone(),
                source,
            }
        } else {
            SourceError::Transport {
                url: self.url.clone(),
                reference: self.reference.describe(),
                source,
            }
        }
    }

    fn invalid_content(&self, e: impl Into<gitops_core::BoxError>) -> SourceError {
        SourceError::InvalidContent {
            url: self.url.clone(),
            reference: self.reference.describe(),
            source: e.into(),
        }
    }

    fn not_found(&self) -> SourceError {
        SourceError::RevisionNotFound {
            url: self.url.clone(),
            reference: self.reference.describe(),
        }
    }

    fn validate_url(&self) -> Result<(), SourceError> {
        let scheme = self.url.split_once("://").map(|(s, _)| s);
        match scheme {
            Some("http" | "https" | "ssh" | "git" | "file") => Ok(()),
            _ => Err(SourceError::InvalidUrl {
                url: self.url.clone(),
                reason: "scheme must be one of http, https, ssh, git or file".into(),
            }),
        }
    }

    /// The blocking fetch; runs on a blocking thread.
    fn fetch_blocking(
        &self,
        workdir: &Path,
        last: Option<&Revision>,
        interrupt: &AtomicBool,
    ) -> Result<FetchOutcome, SourceError> {
        self.validate_url()?;
        let user_patterns = match &self.ignore {
            Some(text) => read_patterns(text, &[], "spec.ignore").map_err(|e| self.invalid_content(e))?,
            None => Vec::new(),
        };
        let overrides =
            self.auth
                .config_overrides(&workdir.join("auth"))
                .map_err(|e| SourceError::Archive {
                    path: workdir.display().to_string(),
                    source: e.into(),
                })?;
        let repo_dir = workdir.join("repo.git");
        let open = gix::open::Options::isolated().config_overrides(overrides);
        let repo = gix::ThreadSafeRepository::init_opts(
            &repo_dir,
            gix::create::Kind::Bare,
            gix::create::Options::default(),
            open,
        )
        .map_err(|e| SourceError::Archive {
            path: repo_dir.display().to_string(),
            source: e.into(),
        })?
        .to_thread_local();

        let r = &self.reference;
        // Resolve what to fetch: (refspec source on the remote, depth-limited?).
        let (remote_ref, shallow): (Option<String>, bool) = if r.commit.is_some() {
            (r.branch.as_ref().map(|b| format!("refs/heads/{b}")), false)
        } else if let Some(n) = &r.name {
            (Some(n.clone()), true)
        } else if let Some(range) = &r.semver {
            let constraint: gitops_core::semver::Constraint =
                range.parse().map_err(|e| SourceError::InvalidUrl {
                    url: self.url.clone(),
                    reason: format!("{e}"),
                })?;
            let tags = self.list_refs(&repo, "+refs/tags/*:refs/tags/*")?;
            let tag = pick_semver_tag(&constraint, tags.iter().map(|(n, _)| n.as_str()))
                .ok_or_else(|| self.not_found())?;
            (Some(format!("refs/tags/{tag}")), true)
        } else if let Some(t) = &r.tag {
            (Some(format!("refs/tags/{t}")), true)
        } else {
            (
                Some(format!("refs/heads/{}", r.branch.as_deref().unwrap_or("master"))),
                true,
            )
        };

        let spec = match &remote_ref {
            Some(name) => format!("+{name}:{name}"),
            None => "+refs/heads/*:refs/heads/*".to_owned(),
        };
        let remote = repo
            .remote_at(self.url.as_str())
            .map_err(|e| SourceError::InvalidUrl {
                url: self.url.clone(),
                reason: e.to_string(),
            })?
            .with_fetch_tags(gix::remote::fetch::Tags::None)
            .with_refspecs([spec.as_str()], Direction::Fetch)
            .map_err(|e| self.err_transport(e))?;
        let connection = self.with_http_auth(
            remote
                .connect(Direction::Fetch)
                .map_err(|e| self.err_transport(e))?,
        );
        let prepare = connection
            .prepare_fetch(gix::progress::Discard, gix::remote::ref_map::Options::default())
            .map_err(|e| self.err_transport(e))?;

        // The revision name as Flux prints it.
        let rev_name: Option<String> = match (&r.commit, &r.name, &remote_ref) {
            (Some(_), _, Some(b)) => Some(b.clone()),
            (Some(_), _, None) => None,
            (None, Some(n), _) => Some(n.clone()),
            (None, None, name) => name.clone(),
        };
        let make_rev = |commit: Digest| -> Revision {
            match (&r.name, &rev_name) {
                (Some(n), _) if r.commit.is_none() => Revision::Named {
                    name: n.clone(),
                    digest: commit,
                },
                (_, name) => Revision::git(name.as_deref(), commit),
            }
        };

        if let Some(name) = &remote_ref {
            let advertised = prepare
                .ref_map()
                .remote_refs
                .iter()
                .map(|rr| rr.unpack())
                .find(|(n, _, _)| n.as_bytes() == name.as_bytes())
                .ok_or_else(|| self.not_found())?;
            // (name, target, peeled): peeled is the commit for annotated tags.
            let advertised_commit = advertised.2.or(advertised.1).map(|id| id.to_owned());
            if r.commit.is_none()
                && let (Some(last), Some(id)) = (last, advertised_commit)
                && let Ok(raw) = <[u8; 20]>::try_from(id.as_bytes())
            {
                let rev = make_rev(Digest::from_sha1(&raw));
                if &rev == last {
                    return Ok(FetchOutcome::Unchanged(rev));
                }
            }
        }

        let depth = if shallow {
            Shallow::DepthAtRemote(NonZeroU32::MIN)
        } else {
            Shallow::NoChange
        };
        let outcome = prepare
            .with_shallow(depth)
            .receive(gix::progress::Discard, interrupt)
            .map_err(|e| self.err_transport(e))?;

        let commit_id = match &r.commit {
            Some(c) => {
                let id = gix::ObjectId::from_hex(c.as_bytes()).map_err(|_| self.not_found())?;
                repo.find_commit(id).map_err(|_| self.not_found())?.id
            }
            None => {
                let name = remote_ref.as_deref().unwrap_or_default();
                let mapping = outcome
                    .ref_map
                    .remote_refs
                    .iter()
                    .map(|rr| rr.unpack())
                    .find(|(n, _, _)| n.as_bytes() == name.as_bytes())
                    .ok_or_else(|| self.not_found())?;
                let target = mapping
                    .2
                    .or(mapping.1)
                    .ok_or_else(|| self.not_found())?
                    .to_owned();
                repo.find_object(target)
                    .and_then(|o| o.peel_to_commit())
                    .map_err(|e| self.invalid_content(e))?
                    .id
            }
        };
        let raw: [u8; 20] = commit_id
            .as_bytes()
            .try_into()
            .map_err(|_| self.invalid_content("only SHA-1 repositories are supported"))?;
        let revision = make_rev(Digest::from_sha1(&raw));
        if last == Some(&revision) {
            return Ok(FetchOutcome::Unchanged(revision));
        }

        let hex = commit_id.to_hex().to_string();
        let out = workdir.join(format!("{hex}.tar.gz"));
        let (digest, size) =
            tree::archive_commit(&repo, commit_id, user_patterns, &out).map_err(|e| match e {
                tree::TreeError::Content(msg) => self.invalid_content(msg),
                tree::TreeError::Io(source) => SourceError::Archive {
                    path: out.display().to_string(),
                    source: source.into(),
                },
                tree::TreeError::Git(source) => self.invalid_content(source),
            })?;
        Ok(FetchOutcome::Fetched(ArtifactFile::new(
            out, revision, digest, size,
        )))
    }

    /// Never prompts; over HTTP(S) sends the configured `Authorization` header up front.
    fn with_http_auth<'a, 'r, T: gix::protocol::transport::client::blocking_io::Transport>(
        &self,
        connection: gix::remote::Connection<'a, '_, 'r, T>,
    ) -> gix::remote::Connection<'a, 'static, 'r, T> {
        let connection = connection.with_credentials(no_prompt);
        match self.auth.http_header() {
            Some(header) if self.url.starts_with("http://") || self.url.starts_with("https://") => {
                let mut opts = gix::protocol::transport::client::blocking_io::http::Options::default();
                opts.extra_headers.push(header);
                connection.with_transport_options(Box::new(opts))
            }
            _ => connection,
        }
    }

    fn list_refs(
        &self,
        repo: &gix::Repository,
        spec: &str,
    ) -> Result<Vec<(String, gix::ObjectId)>, SourceError> {
        let remote = repo
            .remote_at(self.url.as_str())
            .map_err(|e| SourceError::InvalidUrl {
                url: self.url.clone(),
                reason: e.to_string(),
            })?
            .with_fetch_tags(gix::remote::fetch::Tags::None)
            .with_refspecs([spec], Direction::Fetch)
            .map_err(|e| self.err_transport(e))?;
        let (ref_map, _) = self
            .with_http_auth(
                remote
                    .connect(Direction::Fetch)
                    .map_err(|e| self.err_transport(e))?,
            )
            .ref_map(gix::progress::Discard, gix::remote::ref_map::Options::default())
            .map_err(|e| self.err_transport(e))?;
        Ok(ref_map
            .remote_refs
            .iter()
            .filter_map(|r| {
                let (name, target, peeled) = r.unpack();
                let short = name.to_str().ok()?.strip_prefix("refs/tags/")?;
                Some((short.to_owned(), peeled.or(target)?.to_owned()))
            })
            .collect())
    }
}

/// Credentials come only from [`GitAuth`] (sent up front); never prompt on a terminal or run helpers.
fn no_prompt(
    _: gix::credentials::helper::Action,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    Ok(None)
}

/// The highest tag satisfying `constraint`; non-semver tags are skipped.
fn pick_semver_tag<'a>(
    constraint: &gitops_core::semver::Constraint,
    tags: impl Iterator<Item = &'a str>,
) -> Option<String> {
    tags.filter_map(|t| t.parse::<gitops_core::semver::Version>().ok().map(|v| (v, t)))
        .filter(|(v, _)| constraint.matches(v))
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, t)| t.to_owned())
}

fn looks_like_auth_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        let s = err.to_string().to_lowercase();
        if [
            "401",
            "403",
            "authentication",
            "permission denied",
            "host key verification failed",
            "could not read username",
            "credential",
        ]
        .iter()
        .any(|m| s.contains(m))
        {
            return true;
        }
        cur = err.source();
    }
    false
}

#[async_trait::async_trait]
impl Source for GitSource {
    async fn fetch(&self, req: &FetchRequest<'_>) -> Result<FetchOutcome, SourceError> {
        let this = self.clone();
        let workdir = req.workdir.to_owned();
        let last = req.last_revision.cloned();
        let interrupt = Arc::new(AtomicBool::new(false));
        let flag = interrupt.clone();
        let task = tokio::task::spawn_blocking(move || this.fetch_blocking(&workdir, last.as_ref(), &flag));
        match tokio::time::timeout(req.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(SourceError::Transport {
                url: self.url.clone(),
                reference: self.reference.describe(),
                source: join.into(),
            }),
            Err(_) => {
                interrupt.store(true, std::sync::atomic::Ordering::Relaxed);
                Err(SourceError::Timeout {
                    url: self.url.clone(),
                    reference: self.reference.describe(),
                    timeout: req.timeout,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_tag_selection() {
        let c: gitops_core::semver::Constraint = ">=1.0.0 <2.0.0".parse().unwrap();
        let tags = ["v1.0.0", "1.2.0", "v1.10.0", "2.0.0", "latest", "v1.11.0-rc.1"];
        assert_eq!(
            pick_semver_tag(&c, tags.iter().copied()).as_deref(),
            Some("v1.10.0")
        );
        let c: gitops_core::semver::Constraint = "3.x".parse().unwrap();
        assert_eq!(pick_semver_tag(&c, tags.iter().copied()), None);
    }

    #[test]
    fn describes_references() {
        assert_eq!(GitReference::default().describe(), "branch 'master'");
        assert_eq!(GitReference::semver("1.x").describe(), "semver '1.x'");
        let r = GitReference {
            commit: Some("abc".into()),
            branch: Some("main".into()),
            ..Default::default()
        };
        assert_eq!(r.describe(), "commit 'abc' on branch 'main'");
    }
}
