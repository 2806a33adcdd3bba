//! Charts that generate their own certificates (the webhook pattern) render, with certificates that
//! chain to the CA they were signed with.

use base64::Engine as _;
use gitops_helm::chart::{self, RenderOptions};

const WEBHOOK: &str = r#"{{- $ca := genCA "webhook-ca" 3650 }}
{{- $cn := printf "%s.%s.svc" .Release.Name .Release.Namespace }}
{{- $cert := genSignedCert $cn (list "10.0.0.1") (list $cn) 365 $ca }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-tls
type: kubernetes.io/tls
data:
  ca.crt: {{ $ca.Cert | b64enc }}
  tls.crt: {{ $cert.Cert | b64enc }}
  tls.key: {{ $cert.Key | b64enc }}
  auth: {{ htpasswd "admin" "secret" | b64enc }}
"#;

fn render(template: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Chart.yaml"),
        "apiVersion: v2\nname: hook\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/secret.yaml"), template).unwrap();
    let path = dir.path().to_owned();
    gitops_helm::with_render_stack(move || {
        let c = chart::load(&path).map_err(|e| e.to_string())?;
        chart::template(&c, &RenderOptions::new("hook", "ns")).map_err(|e| e.to_string())
    })
}

fn field(out: &str, key: &str) -> String {
    let line = out
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in\n{out}"));
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(line).unwrap()).unwrap()
}

#[test]
fn a_webhook_chart_generates_its_certificates() {
    let out = render(WEBHOOK).unwrap();
    let (ca, cert, key) = (
        field(&out, "ca.crt"),
        field(&out, "tls.crt"),
        field(&out, "tls.key"),
    );
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(field(&out, "auth").starts_with("admin:$2a$10$"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.crt"), &ca).unwrap();
    std::fs::write(dir.path().join("tls.crt"), &cert).unwrap();
    let Ok(verify) = std::process::Command::new("openssl")
        .args(["verify", "-CAfile", "ca.crt", "tls.crt"])
        .current_dir(dir.path())
        .output()
    else {
        eprintln!("skipping the chain check: no openssl");
        return;
    };
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let text = std::process::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
            "tls.crt",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).replace(" = ", "=");
    assert!(
        text.contains("CN=hook.ns.svc")
            && text.contains("DNS:hook.ns.svc")
            && text.contains("IP Address:10.0.0.1"),
        "{text}"
    );
}

#[test]
fn certificate_arguments_are_checked() {
    let e = render(r#"{{ genSignedCert "x" nil nil 1 (dict "Cert" "a" "Key" "b") }}"#).unwrap_err();
    assert!(e.contains("expected sprig.certificate"), "{e}");
    let e = render(r#"{{ genSelfSignedCert "x" (list 1) nil 1 }}"#).unwrap_err();
    assert!(e.contains("error parsing ip: 1 is not a string"), "{e}");
    let e = render(r#"{{ genCAWithKey "x" 1 "not a key" }}"#).unwrap_err();
    assert!(e.contains("error parsing private key"), "{e}");
    // Generated keys are used as given.
    let out = render(
        "{{- $k := genPrivateKey \"ecdsa\" }}{{- $c := genSelfSignedCertWithKey \"x\" nil nil 1 $k }}\nsame: {{ eq $k $c.Key }}\n",
    )
    .unwrap();
    assert!(out.contains("same: true"), "{out}");
}
