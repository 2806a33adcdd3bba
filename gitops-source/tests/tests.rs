//! Integration tests of the Git source against real servers on 127.0.0.1.

#![allow(missing_docs, unreachable_pub)]

mod support;

mod git {
    use std::{io::Read, path::Path, time::Duration};

    use base64::Engine as _;
    use gitops_core::{FetchOutcome, FetchRequest, Revision, Source, SourceError};
    use gitops_source::{
        git::{GitAuth, GitReference, GitSource},
        storage::{ObjectKey, Storage},
    };

    use crate::support::{self, HttpAuth, Repo};

    async fn fetch(
        src: &GitSource,
        workdir: &Path,
        last: Option<&Revision>,
    ) -> Result<FetchOutcome, SourceError> {
        src.fetch(
            &FetchRequest::new(workdir)
                .with_last_revision(last)
                .with_timeout(Duration::from_secs(30)),
        )
        .await
    }

    async fn fetched(src: &GitSource) -> (gitops_core::ArtifactFile, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        match fetch(src, dir.path(), None).await.unwrap() {
            FetchOutcome::Fetched(f) => (f, dir),
            other => panic!("expected a new artifact, got {other:?}"),
        }
    }

    fn entries(path: &Path) -> Vec<(String, String)> {
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
        let mut ar = tar::Archive::new(gz);
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), s)
            })
            .collect()
    }

    fn names(path: &Path) -> Vec<String> {
        entries(path).into_iter().map(|(n, _)| n).collect()
    }

    fn app_repo() -> (Repo, String) {
        let repo = Repo::new();
        repo.write("deploy/app.yaml", "kind: ConfigMap\n")
            .write("deploy/logo.png", "png")
            .write(".github/workflows/ci.yaml", "ci")
            .write("README.md", "hi");
        let sha = repo.commit("first");
        (repo, sha)
    }

    #[tokio::test]
    async fn file_branch_revision_layout_and_reproducible_digest() {
        let (repo, sha) = app_repo();
        let src = GitSource::new(repo.file_url(), GitReference::branch("main"));
        let (a, _d1) = fetched(&src).await;
        assert_eq!(a.revision.to_string(), format!("main@sha1:{sha}"));
        assert_eq!(
            a.path.file_name().unwrap().to_str().unwrap(),
            format!("{sha}.tar.gz")
        );
        assert_eq!(names(&a.path), [".", "README.md", "deploy", "deploy/app.yaml"]);
        assert_eq!(
            a.digest,
            gitops_core::Digest::sha256(&std::fs::read(&a.path).unwrap())
        );
        let (b, _d2) = fetched(&src).await;
        assert_eq!(a.digest, b.digest, "the same commit must give the same digest");
    }

    #[tokio::test]
    async fn unchanged_revision_downloads_nothing() {
        let (repo, _) = app_repo();
        let src = GitSource::new(repo.file_url(), GitReference::branch("main"));
        let (a, _d) = fetched(&src).await;
        let dir = tempfile::tempdir().unwrap();
        let out = fetch(&src, dir.path(), Some(&a.revision)).await.unwrap();
        assert_eq!(out, FetchOutcome::Unchanged(a.revision.clone()));
        // No pack was received: the scratch repository holds no objects.
        let packs = std::fs::read_dir(dir.path().join("repo.git/objects/pack"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(packs, 0);
        // A new commit is picked up.
        repo.write("deploy/b.yaml", "b");
        let sha2 = repo.commit("second");
        let dir = tempfile::tempdir().unwrap();
        match fetch(&src, dir.path(), Some(&a.revision)).await.unwrap() {
            FetchOutcome::Fetched(f) => assert_eq!(f.revision.to_string(), format!("main@sha1:{sha2}")),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn tags_semver_names_and_commits() {
        let (repo, first) = app_repo();
        support::git(&repo.work, &["tag", "v1.0.0"]);
        support::git(&repo.work, &["tag", "-a", "v1.2.0", "-m", "annotated"]);
        repo.write("x.yaml", "x");
        let second = repo.commit("second");
        support::git(&repo.work, &["tag", "v2.0.0"]);
        support::git(&repo.work, &["checkout", "-q", "-b", "feat/x"]);
        repo.write("feat.yaml", "f");
        let third = repo.commit("third");
        support::git(&repo.work, &["push", "-q", "origin", "HEAD:refs/pull/1/head"]);
        support::git(&repo.work, &["push", "-q", "--tags", "origin"]);

        let rev = |r: GitReference| {
            let src = GitSource::new(repo.file_url(), r);
            async move { fetched(&src).await.0.revision.to_string() }
        };
        assert_eq!(
            rev(GitReference::tag("v1.0.0")).await,
            format!("v1.0.0@sha1:{first}")
        );
        assert_eq!(
            rev(GitReference::tag("v1.2.0")).await,
            format!("v1.2.0@sha1:{first}"),
            "annotated tags peel to the commit"
        );
        assert_eq!(
            rev(GitReference::semver(">=1.0.0 <2.0.0")).await,
            format!("v1.2.0@sha1:{first}")
        );
        assert_eq!(
            rev(GitReference::semver("*")).await,
            format!("v2.0.0@sha1:{second}")
        );
        assert_eq!(
            rev(GitReference::branch("feat/x")).await,
            format!("feat/x@sha1:{third}")
        );
        assert_eq!(
            rev(GitReference::name("refs/pull/1/head")).await,
            format!("refs/pull/1/head@sha1:{third}")
        );
        assert_eq!(rev(GitReference::commit(&first)).await, format!("sha1:{first}"));
        let mut r = GitReference::commit(&first);
        r.branch = Some("main".into());
        assert_eq!(rev(r).await, format!("main@sha1:{first}"));
    }

    #[tokio::test]
    async fn ignore_rules_follow_flux_precedence() {
        let repo = Repo::new();
        repo.write("deploy/app.yaml", "a")
            .write("deploy/logo.png", "png")
            .write("deploy/secret.txt", "s")
            .write("docs/.sourceignore", "*.md\n")
            .write("docs/a.md", "m")
            .write("docs/keep.yaml", "k")
            .write(".gitignore", "x");
        repo.commit("c");
        let src =
            GitSource::new(repo.file_url(), GitReference::branch("main")).with_ignore(Some("*.txt\n".into()));
        let (a, _d) = fetched(&src).await;
        // User patterns exist, so *.png is no longer excluded; .gitignore (VCS) always is.
        assert_eq!(
            names(&a.path),
            [
                ".",
                "deploy",
                "deploy/app.yaml",
                "deploy/logo.png",
                "docs",
                "docs/.sourceignore",
                "docs/keep.yaml"
            ]
        );
    }

    #[tokio::test]
    async fn bad_input_gets_clear_errors() {
        let (repo, _) = app_repo();
        let dir = tempfile::tempdir().unwrap();
        let e = fetch(
            &GitSource::new(repo.file_url(), GitReference::branch("nope")),
            dir.path(),
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, SourceError::RevisionNotFound { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("branch 'nope' not found in {}", repo.file_url())
        );
        assert!(!e.is_transient());

        let dir = tempfile::tempdir().unwrap();
        let e = fetch(
            &GitSource::new(repo.file_url(), GitReference::semver("latest")),
            dir.path(),
            None,
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("improper constraint"), "{e}");

        let e = fetch(
            &GitSource::new("ftp://x/y", GitReference::default()),
            tempfile::tempdir().unwrap().path(),
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, SourceError::InvalidUrl { .. }), "{e:?}");

        let port = support::free_port();
        let src = GitSource::new(
            format!("git://127.0.0.1:{port}/app.git"),
            GitReference::branch("main"),
        );
        let e = fetch(&src, tempfile::tempdir().unwrap().path(), None)
            .await
            .unwrap_err();
        assert!(matches!(e, SourceError::Transport { .. }), "{e:?}");
        assert!(e.is_transient());

        let src =
            GitSource::new(repo.file_url(), GitReference::branch("main")).with_ignore(Some("[oops\n".into()));
        let e = fetch(&src, tempfile::tempdir().unwrap().path(), None)
            .await
            .unwrap_err();
        let msg = format!("{e}: {}", std::error::Error::source(&e).unwrap());
        assert!(
            msg.contains("invalid ignore pattern \"[oops\" in spec.ignore"),
            "{msg}"
        );

        std::os::unix::fs::symlink("../../../etc/passwd", repo.work.join("deploy/evil")).unwrap();
        repo.commit("evil");
        let src = GitSource::new(repo.file_url(), GitReference::branch("main"));
        let e = fetch(&src, tempfile::tempdir().unwrap().path(), None)
            .await
            .unwrap_err();
        assert!(matches!(e, SourceError::InvalidContent { .. }), "{e:?}");
        let msg = format!("{e}: {}", std::error::Error::source(&e).unwrap());
        assert!(
            msg.contains("symlink 'deploy/evil' points outside the repository"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn failed_fetch_keeps_previous_artifact_in_storage_and_served() {
        let (repo, sha) = app_repo();
        let root = tempfile::tempdir().unwrap();
        let storage = Storage::new(root.path(), "127.0.0.1:0").unwrap();
        let key = ObjectKey::new("GitRepository", "default", "app");
        let src = GitSource::new(repo.file_url(), GitReference::branch("main"));
        let scratch = storage.scratch_dir().unwrap();
        let FetchOutcome::Fetched(f) = fetch(&src, scratch.path(), None).await.unwrap() else {
            panic!()
        };
        let good = storage.store(&key, &f, &format!("{sha}.tar.gz")).unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(gitops_source::server::serve(listener, storage.clone()));

        let bad = GitSource::new(repo.file_url(), GitReference::branch("gone"));
        let scratch = storage.scratch_dir().unwrap();
        assert!(fetch(&bad, scratch.path(), Some(&good.revision)).await.is_err());
        assert!(storage.exists(&good));

        let get = |path: String| async move {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let req = format!("GET /{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            tokio::io::AsyncWriteExt::write_all(&mut s, req.as_bytes())
                .await
                .unwrap();
            let mut buf = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut s, &mut buf)
                .await
                .unwrap();
            buf
        };
        let body = std::fs::read(storage.local_path(&good)).unwrap();
        for path in [
            good.path.clone(),
            "gitrepository/default/app/latest.tar.gz".to_owned(),
        ] {
            let resp = get(path).await;
            assert!(
                resp.starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&resp[..40])
            );
            assert!(resp.ends_with(&body));
        }
        for path in [
            "gitrepository/../../etc/passwd",
            "gitrepository/default/app/.incoming",
            "nope",
        ] {
            let resp = get(path.to_owned()).await;
            assert!(
                resp.starts_with(b"HTTP/1.1 404"),
                "{path}: {}",
                String::from_utf8_lossy(&resp)
            );
        }
    }

    #[tokio::test]
    async fn git_daemon_protocol() {
        let (repo, sha) = app_repo();
        let (_daemon, url) = support::git_daemon(&repo);
        let src = GitSource::new(url, GitReference::branch("main"));
        let (a, _d) = fetched(&src).await;
        assert_eq!(a.revision.to_string(), format!("main@sha1:{sha}"));
    }

    #[test]
    fn smart_http_stays_shallow_and_checks_credentials() {
        let (repo, _) = app_repo();
        for i in 0..3 {
            repo.write(&format!("f{i}.yaml"), "x");
            repo.commit("more history");
        }
        let head = support::git(&repo.work, &["rev-parse", "HEAD"]);
        let b64 = base64::engine::general_purpose::STANDARD.encode("user:s3cret");
        let (rt, url) = support::http_server(&repo, HttpAuth::Basic(b64));
        rt.block_on(async {
            let ok = GitSource::new(&url, GitReference::branch("main")).with_auth(GitAuth::Basic {
                username: "user".into(),
                password: "s3cret".into(),
            });
            let dir = tempfile::tempdir().unwrap();
            let FetchOutcome::Fetched(a) = fetch(&ok, dir.path(), None).await.unwrap() else {
                panic!()
            };
            assert_eq!(a.revision.to_string(), format!("main@sha1:{head}"));
            let shallow =
                std::fs::read_to_string(dir.path().join("repo.git/shallow")).expect("a shallow clone");
            assert_eq!(shallow.trim(), head, "depth 1 over HTTP must stay shallow");

            let wrong = GitSource::new(&url, GitReference::branch("main")).with_auth(GitAuth::Basic {
                username: "user".into(),
                password: "wrong".into(),
            });
            let e = fetch(&wrong, tempfile::tempdir().unwrap().path(), None)
                .await
                .unwrap_err();
            assert!(matches!(e, SourceError::Authentication { .. }), "{e:?}");
            assert!(
                !format!("{e:?}").contains("wrong"),
                "secrets must not leak into errors"
            );
        });
        let (rt, url) = support::http_server(&repo, HttpAuth::Bearer("t0ken".into()));
        rt.block_on(async {
            let ok = GitSource::new(&url, GitReference::branch("main")).with_auth(GitAuth::Bearer {
                token: "t0ken".into(),
            });
            let (a, _d) = fetched(&ok).await;
            assert_eq!(a.revision.to_string(), format!("main@sha1:{head}"));
            let anon = GitSource::new(&url, GitReference::branch("main"));
            let e = fetch(&anon, tempfile::tempdir().unwrap().path(), None)
                .await
                .unwrap_err();
            assert!(matches!(e, SourceError::Authentication { .. }), "{e:?}");
        });
    }

    #[tokio::test]
    async fn ssh_with_key_and_known_hosts() {
        let (repo, sha) = app_repo();
        let Some(sshd) = support::sshd(&repo) else {
            eprintln!("skipping: sshd is not installed (the test command installs openssh-server)");
            return;
        };
        let auth = |kh: &str| GitAuth::Ssh {
            identity: sshd.identity.clone(),
            known_hosts: kh.to_owned(),
        };
        let src = GitSource::new(&sshd.url, GitReference::branch("main")).with_auth(auth(&sshd.known_hosts));
        let (a, _d) = fetched(&src).await;
        assert_eq!(a.revision.to_string(), format!("main@sha1:{sha}"));

        for (what, kh) in [
            ("changed host key", sshd.wrong_known_hosts.as_str()),
            ("unknown host", ""),
        ] {
            let src = GitSource::new(&sshd.url, GitReference::branch("main")).with_auth(auth(kh));
            let e = fetch(&src, tempfile::tempdir().unwrap().path(), None)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    e,
                    SourceError::Authentication { .. } | SourceError::Transport { .. }
                ),
                "{what}: {e:?}"
            );
            assert!(
                !format!("{e:?}").contains("PRIVATE KEY"),
                "{what}: key material leaked"
            );
        }
    }
}

mod crd {
    #[test]
    fn gitrepository_crd_matches_flux_v1() {
        let ours = serde_json::to_value(gitops_source::api::gitrepository_crd()).unwrap();
        match gitops_testkit::flux_crds::compare(&ours, "source.toolkit.fluxcd.io_gitrepositories.yaml", "v1")
        {
            None => eprintln!("skipping: Flux's CRDs (../shared/reference/flux-crds) are not present"),
            Some(Err(diffs)) => panic!("differs from Flux:\n{diffs}"),
            Some(Ok(())) => {}
        }
    }
}
