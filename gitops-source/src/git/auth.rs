//! Credentials for Git transports, turned into gix configuration.

use std::{fmt, fs, io, path::Path};

use base64::Engine as _;

/// Credentials for a Git remote, as read from a GitRepository's `secretRef`.
///
/// `Debug` never prints secret material.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum GitAuth {
    /// Anonymous access. Over SSH host keys are still verified, and no host is known, so SSH fails.
    #[default]
    None,
    /// HTTP basic auth (`username`/`password` keys).
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: String,
    },
    /// HTTP bearer token (`bearerToken` key).
    Bearer {
        /// The token.
        token: String,
    },
    /// SSH private key and known hosts (`identity` and `known_hosts` keys).
    Ssh {
        /// The private key, in OpenSSH or PEM format, unencrypted.
        identity: String,
        /// `known_hosts` lines; the server's host key must be among them.
        known_hosts: String,
    },
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Bearer { .. } => f.debug_struct("Bearer").field("token", &"<redacted>").finish(),
            Self::Ssh { known_hosts, .. } => f
                .debug_struct("Ssh")
                .field("identity", &"<redacted>")
                .field("known_hosts", known_hosts)
                .finish(),
        }
    }
}

impl GitAuth {
    /// Builds auth from Secret data keys as Flux reads them.
    ///
    /// `identity` (+ `known_hosts`) selects SSH, `bearerToken` bearer auth, `username`+`password` basic auth.
    pub fn from_secret_data(get: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(identity) = get("identity") {
            return Self::Ssh {
                identity,
                known_hosts: get("known_hosts").unwrap_or_default(),
            };
        }
        if let Some(token) = get("bearerToken") {
            return Self::Bearer { token };
        }
        match (get("username"), get("password")) {
            (Some(username), Some(password)) => Self::Basic { username, password },
            _ => Self::None,
        }
    }

    /// The `Authorization` header line sent with every HTTP request, if any.
    pub(crate) fn http_header(&self) -> Option<String> {
        match self {
            Self::Basic { username, password } => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
                Some(format!("Authorization: Basic {b64}"))
            }
            Self::Bearer { token } => Some(format!("Authorization: Bearer {token}")),
            Self::None | Self::Ssh { .. } => None,
        }
    }

    /// gix configuration overrides implementing these credentials; key files go under `dir`.
    pub(crate) fn config_overrides(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        // SSH always verifies host keys against the given known_hosts only, never prompts, and never reads
        // the user's ssh configuration or agent.
        fs::create_dir_all(dir)?;
        let known_hosts = dir.join("known_hosts");
        let mut cmd = vec![
            "ssh".to_owned(),
            "-F".into(),
            "/dev/null".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "GlobalKnownHostsFile=/dev/null".into(),
            "-o".into(),
            format!(
                "UserKnownHostsFile={}",
                shell_quote(&known_hosts.display().to_string())
            ),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "IdentityAgent=none".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ];
        let kh = match self {
            Self::Ssh { known_hosts, .. } => known_hosts.as_str(),
            _ => "",
        };
        write_private(&known_hosts, kh)?;
        if let Self::Ssh { identity, .. } = self {
            let key = dir.join("identity");
            let mut text = identity.clone();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            write_private(&key, &text)?;
            cmd.push("-i".into());
            cmd.push(shell_quote(&key.display().to_string()));
        } else {
            cmd.push("-o".into());
            cmd.push("IdentityFile=none".into());
        }
        out.push(format!("core.sshCommand={}", cmd.join(" ")));
        out.push("ssh.variant=ssh".to_owned());
        Ok(out)
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn write_private(path: &Path, content: &str) -> io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    io::Write::write_all(&mut opts.open(path)?, content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let a = GitAuth::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{a:?}").contains("hunter2"));
        let a = GitAuth::Bearer {
            token: "tok3n".into(),
        };
        assert!(!format!("{a:?}").contains("tok3n"));
        let a = GitAuth::Ssh {
            identity: "-----BEGIN KEY".into(),
            known_hosts: "h".into(),
        };
        assert!(!format!("{a:?}").contains("BEGIN"));
    }

    #[test]
    fn from_secret_data_precedence() {
        let data = |k: &str| match k {
            "username" => Some("u".to_owned()),
            "password" => Some("p".to_owned()),
            "bearerToken" => Some("t".to_owned()),
            _ => None,
        };
        assert!(matches!(GitAuth::from_secret_data(data), GitAuth::Bearer { .. }));
    }

    #[test]
    fn overrides_write_private_key_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = GitAuth::Ssh {
            identity: "KEY".into(),
            known_hosts: "host ssh-ed25519 AAAA".into(),
        };
        let o = a.config_overrides(dir.path()).unwrap();
        assert!(
            o.iter().any(|l| l.starts_with("core.sshCommand=ssh -F /dev/null")
                && l.contains("StrictHostKeyChecking=yes"))
        );
        assert_eq!(fs::read_to_string(dir.path().join("identity")).unwrap(), "KEY\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(dir.path().join("identity"))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o600
            );
        }
    }
}
