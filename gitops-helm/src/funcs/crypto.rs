//! Sprig's key, certificate and password-hash functions: `genPrivateKey`, `genCA`, `genCAWithKey`,
//! `genSelfSignedCert`, `genSelfSignedCertWithKey`, `genSignedCert`, `genSignedCertWithKey`,
//! `buildCustomCert`, `htpasswd` and `bcrypt`.
//!
//! Certificates are built as Sprig builds them: a random 128-bit serial, the common name as subject,
//! valid from now for the given days, key usages key encipherment and digital signature (plus
//! certificate signing for a CA), extended usages server and client auth, basic constraints. Keys are
//! RSA 2048 for certificates and written in the PEM forms Go writes: `RSA PRIVATE KEY` (PKCS #1),
//! `EC PRIVATE KEY` (SEC 1), `PRIVATE KEY` (PKCS #8, Ed25519). Key generation and signing use aws-lc.
//! Randomness here is the operating system's, never the seedable template source.

use std::rc::Rc;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};

use crate::template::{Object, Value};

/// Sprig's `certificate`: the PEM texts of a certificate and its key (`.Cert`, `.Key`).
pub(crate) struct Certificate {
    cert: String,
    key: String,
}

impl Object for Certificate {
    fn type_name(&self) -> &str {
        "sprig.certificate"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::str(self.cert.as_str())),
            "Key" => Some(Value::str(self.key.as_str())),
            _ => None,
        }
    }
    fn display(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        Some(vec![
            ("Cert".into(), Value::str(self.cert.as_str())),
            ("Key".into(), Value::str(self.key.as_str())),
        ])
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// PEM as Go's `encoding/pem` writes it: 64-column base64 lines.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A DER element at the start of `b`: (tag, contents, everything after it).
fn der_element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn der_header(tag: u8, len: usize) -> Vec<u8> {
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out
}

/// The private key inside a PKCS #8 `PrivateKeyInfo`: PKCS #1 for RSA, SEC 1 for EC.
fn pkcs8_inner(pkcs8: &[u8]) -> Option<&[u8]> {
    let (_, info, _) = der_element(pkcs8)?;
    let (_, _, rest) = der_element(info)?; // version
    let (_, _, rest) = der_element(rest)?; // algorithm
    let (tag, key, _) = der_element(rest)?;
    (tag == 0x04).then_some(key)
}

/// The P-256 curve's OID as the `[0] parameters` element of a SEC 1 key.
const P256_PARAMS: [u8; 12] = [
    0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
];

/// A SEC 1 `ECPrivateKey` with its curve named, as Go's `x509.MarshalECPrivateKey` writes it.
fn sec1_with_params(sec1: &[u8]) -> Option<Vec<u8>> {
    let (_, body, _) = der_element(sec1)?;
    let (_, _, after_version) = der_element(body)?;
    let (_, _, after_key) = der_element(after_version)?;
    if after_key.first() == Some(&0xa0) {
        return Some(sec1.to_vec());
    }
    let head_len = body.len() - after_key.len();
    let mut inner = body[..head_len].to_vec();
    inner.extend_from_slice(&P256_PARAMS);
    inner.extend_from_slice(after_key);
    let mut out = der_header(0x30, inner.len());
    out.extend(inner);
    Some(out)
}

/// Whether a private key's DER is a PKCS #8 `PrivateKeyInfo` (its second element is the algorithm
/// sequence; PKCS #1 has the modulus there, SEC 1 the key octets).
fn is_pkcs8(der: &[u8]) -> bool {
    der_element(der)
        .and_then(|(_, body, _)| der_element(body))
        .and_then(|(_, _, rest)| der_element(rest))
        .is_some_and(|(tag, _, _)| tag == 0x30)
}

/// The key's PEM in Go's form for its type, whichever form it was read from.
fn key_pem(key: &KeyPair) -> Result<String, String> {
    let der = key.serialized_der();
    let inner = if is_pkcs8(der) {
        pkcs8_inner(der)
    } else {
        Some(der)
    };
    let alg = key.algorithm();
    if alg == &rcgen::PKCS_RSA_SHA256 {
        Ok(pem("RSA PRIVATE KEY", inner.ok_or("malformed RSA key")?))
    } else if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        let sec1 = inner.and_then(sec1_with_params).ok_or("malformed EC key")?;
        Ok(pem("EC PRIVATE KEY", &sec1))
    } else {
        Ok(pem("PRIVATE KEY", der))
    }
}

fn rsa_2048() -> Result<KeyPair, String> {
    super::note_volatile();
    KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).map_err(err)
}

/// `genPrivateKey "rsa"|"ecdsa"|"ed25519"`: RSA keys are 4096 bits, as Sprig's.
pub(crate) fn gen_private_key(kind: &str) -> Result<Value, String> {
    super::note_volatile();
    let key = match kind {
        "" | "rsa" => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096),
        "ecdsa" => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        "ed25519" => KeyPair::generate_for(&rcgen::PKCS_ED25519),
        "dsa" => {
            return Err("genPrivateKey: DSA keys are not supported (deprecated in Go since 1.16)".into());
        }
        other => return Err(format!("Unknown type {other}")),
    }
    .map_err(err)?;
    Ok(Value::str(key_pem(&key)?.as_str()))
}

/// A key given to a `...WithKey` function: PKCS #1, SEC 1 or PKCS #8 PEM.
fn parse_key(text: &str) -> Result<KeyPair, String> {
    KeyPair::from_pem(text).map_err(|e| format!("error parsing private key: {e}"))
}

/// Sprig's base certificate template.
fn params(
    cn: &str,
    ips: &[String],
    dns: &[String],
    days: i64,
    ca: bool,
) -> Result<CertificateParams, String> {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    for ip in ips {
        let addr: std::net::IpAddr = ip.parse().map_err(|_| format!("error parsing ip: {ip}"))?;
        p.subject_alt_names.push(SanType::IpAddress(addr));
    }
    for name in dns {
        p.subject_alt_names
            .push(SanType::DnsName(name.clone().try_into().map_err(err)?));
    }
    super::note_volatile();
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now;
    p.not_after = now + time::Duration::days(days);
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| "no randomness for the serial number")?;
    serial[0] &= 0x7f;
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    p.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    if ca {
        p.key_usages.push(KeyUsagePurpose::KeyCertSign);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    } else {
        p.is_ca = IsCa::ExplicitNoCa;
    }
    Ok(p)
}

fn cert_value(cert: &rcgen::Certificate, key: &KeyPair) -> Result<Value, String> {
    Ok(Value::Object(Rc::new(Certificate {
        cert: pem("CERTIFICATE", cert.der()),
        key: key_pem(key)?,
    })))
}

/// `genCA` / `genCAWithKey`: a self-signed CA.
pub(crate) fn gen_ca(cn: &str, days: i64, key: Option<&str>) -> Result<Value, String> {
    let key = match key {
        Some(k) => parse_key(k)?,
        None => rsa_2048()?,
    };
    let cert = params(cn, &[], &[], days, true)?
        .self_signed(&key)
        .map_err(|e| format!("error generating certificate: {e}"))?;
    cert_value(&cert, &key)
}

/// `genSelfSignedCert` / `genSelfSignedCertWithKey`.
pub(crate) fn gen_self_signed(
    cn: &str,
    ips: &[String],
    dns: &[String],
    days: i64,
    key: Option<&str>,
) -> Result<Value, String> {
    let key = match key {
        Some(k) => parse_key(k)?,
        None => rsa_2048()?,
    };
    let cert = params(cn, ips, dns, days, false)?
        .self_signed(&key)
        .map_err(|e| format!("error generating certificate: {e}"))?;
    cert_value(&cert, &key)
}

/// The `.Cert` and `.Key` of a certificate value.
pub(crate) fn cert_and_key(v: &Value) -> Option<(String, String)> {
    let Value::Object(o) = v else { return None };
    let text = |name: &str| match o.field(name) {
        Some(Value::Str(s)) => Some(s.to_string()),
        _ => None,
    };
    Some((text("Cert")?, text("Key")?))
}

/// `genSignedCert` / `genSignedCertWithKey`: signed by `ca` (from `genCA` or `buildCustomCert`).
pub(crate) fn gen_signed(
    cn: &str,
    ips: &[String],
    dns: &[String],
    days: i64,
    ca: &Value,
    key: Option<&str>,
) -> Result<Value, String> {
    let (ca_cert, ca_key) =
        cert_and_key(ca).ok_or("genSignedCert: the CA is not a certificate (use genCA)")?;
    let ca_key = parse_key(&ca_key)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, ca_key)
        .map_err(|e| format!("error parsing ca certificate: {e}"))?;
    let key = match key {
        Some(k) => parse_key(k)?,
        None => rsa_2048()?,
    };
    let cert = params(cn, ips, dns, days, false)?
        .signed_by(&key, &issuer)
        .map_err(|e| format!("error generating certificate: {e}"))?;
    cert_value(&cert, &key)
}

/// `buildCustomCert base64Cert base64Key`: a certificate value from existing PEM texts, checked.
pub(crate) fn build_custom_cert(cert_b64: &str, key_b64: &str) -> Result<Value, String> {
    let decode = |s: &str, what: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| format!("unable to decode base64 {what}"))
    };
    let cert = decode(cert_b64, "certificate")?;
    let key = decode(key_b64, "private key")?;
    let parsed_key = parse_key(&key)?;
    Issuer::from_ca_cert_pem(&cert, parsed_key).map_err(|e| format!("error parsing certificate: {e}"))?;
    Ok(Value::Object(Rc::new(Certificate { cert, key })))
}

/// `bcrypt`: a bcrypt hash with Go's default cost 10, `$2a$` as Go writes it.
pub(crate) fn bcrypt_hash(text: &str) -> Result<String, String> {
    if text.len() > 72 {
        return Err("bcrypt: password length exceeds 72 bytes".into());
    }
    super::note_volatile();
    bcrypt::hash_with_result(text, 10)
        .map(|h| h.format_for_version(bcrypt::Version::TwoA))
        .map_err(err)
}

/// `htpasswd user password`: an Apache htpasswd line with a bcrypt hash. As in Sprig, problems are
/// printed into the result rather than failing the render.
pub(crate) fn htpasswd(user: &str, password: &str) -> Result<String, String> {
    if user.contains(':') {
        return Ok(format!("invalid username: {user}"));
    }
    Ok(match bcrypt_hash(password) {
        Ok(h) => format!("{user}:{h}"),
        Err(e) => format!("failed to create htpasswd: {e}"),
    })
}

/// Sprig's `derivePassword`: the Master Password algorithm (scrypt of the password salted with the
/// user, HMAC-SHA256 of the site and counter, characters picked by a template of the type).
pub(crate) fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    const SEED: &str = "com.lyndir.masterpassword";
    let templates: &[&str] = match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return format!("cannot find password template {kind}"),
    };
    let chars = |c: u8| -> &'static [u8] {
        match c {
            b'V' => b"AEIOU",
            b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
            b'v' => b"aeiou",
            b'c' => b"bcdfghjklmnpqrstvwxyz",
            b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
            b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
            b'n' => b"0123456789",
            b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
            _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
        }
    };
    let mut salt = SEED.as_bytes().to_vec();
    salt.extend_from_slice(&(user.len() as u32).to_be_bytes());
    salt.extend_from_slice(user.as_bytes());
    let mut key = [0u8; 64];
    let Ok(params) = scrypt::Params::new(15, 8, 2) else {
        return "failed to derive password: invalid scrypt parameters".into();
    };
    if let Err(e) = scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key) {
        return format!("failed to derive password: {e}");
    }
    let mut message = SEED.as_bytes().to_vec();
    message.extend_from_slice(&(site.len() as u32).to_be_bytes());
    message.extend_from_slice(site.as_bytes());
    message.extend_from_slice(&counter.to_be_bytes());
    let seed = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key),
        &message,
    );
    let seed = seed.as_ref();
    let template = templates[usize::from(seed[0]) % templates.len()].as_bytes();
    template
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let set = chars(*c);
            char::from(set[usize::from(seed[i + 1]) % set.len()])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: &Value) -> (String, String) {
        cert_and_key(v).expect("a certificate")
    }

    #[test]
    fn keys_are_written_in_go_forms() {
        let Value::Str(ec) = gen_private_key("ecdsa").unwrap() else {
            panic!()
        };
        assert!(ec.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        assert!(parse_key(&ec).is_ok(), "readable back");
        let Value::Str(ed) = gen_private_key("ed25519").unwrap() else {
            panic!()
        };
        assert!(ed.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(gen_private_key("dsa").unwrap_err().contains("DSA"));
        assert_eq!(gen_private_key("x").unwrap_err(), "Unknown type x");
    }

    #[test]
    fn a_ca_signs_a_server_certificate() {
        let ca = gen_ca("my-ca", 365, None).unwrap();
        let (ca_cert, ca_key) = fields(&ca);
        assert!(
            ca_cert.starts_with("-----BEGIN CERTIFICATE-----\n")
                && ca_cert.ends_with("-----END CERTIFICATE-----\n")
        );
        assert!(ca_key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(ca_cert.lines().all(|l| l.len() <= 64));
        let cert = gen_signed("svc", &["10.0.0.1".into()], &["svc.ns.svc".into()], 30, &ca, None).unwrap();
        let (cert_pem, _) = fields(&cert);
        // Checked by an independent implementation when there is one.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca_cert).unwrap();
        std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
        let Ok(out) = std::process::Command::new("openssl")
            .args(["verify", "-CAfile", "ca.pem", "cert.pem"])
            .current_dir(dir.path())
            .output()
        else {
            eprintln!("skipping the openssl check: no openssl");
            return;
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in", "cert.pem"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        let text = text.replace(" = ", "=");
        for want in [
            "Subject: CN=svc",
            "Issuer: CN=my-ca",
            "IP Address:10.0.0.1",
            "DNS:svc.ns.svc",
            "TLS Web Server Authentication, TLS Web Client Authentication",
            "Digital Signature, Key Encipherment",
            "CA:FALSE",
        ] {
            assert!(text.contains(want), "{want} not in\n{text}");
        }
        let ca_text = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in", "ca.pem"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&ca_text.stdout).contains("CA:TRUE"));
        // The RSA key is PKCS #1, as openssl reads it.
        std::fs::write(dir.path().join("ca.key"), &ca_key).unwrap();
        let rsa = std::process::Command::new("openssl")
            .args(["rsa", "-check", "-noout", "-in", "ca.key"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(rsa.status.success(), "{}", String::from_utf8_lossy(&rsa.stderr));
    }

    #[test]
    fn self_signed_and_custom_certificates() {
        let key = gen_private_key("ecdsa").unwrap();
        let Value::Str(key) = key else { panic!() };
        let c = gen_self_signed("me", &[], &["me.example".into()], 1, Some(&key)).unwrap();
        let (cert, k) = fields(&c);
        assert_eq!(k, *key, "the given key is kept");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let custom = build_custom_cert(&b64(&cert), &b64(&k)).unwrap();
        assert_eq!(fields(&custom).0, cert);
        assert!(build_custom_cert("???", &b64(&k)).is_err());
        assert!(
            gen_self_signed("me", &["not-an-ip".into()], &[], 1, None)
                .unwrap_err()
                .contains("not-an-ip")
        );
    }

    #[test]
    fn password_hashes() {
        let h = bcrypt_hash("secret").unwrap();
        assert!(h.starts_with("$2a$10$") && h.len() == 60, "{h}");
        assert!(bcrypt::verify("secret", &h).unwrap());
        let line = htpasswd("admin", "pw").unwrap();
        assert!(line.starts_with("admin:$2a$10$"));
        assert_eq!(htpasswd("a:b", "pw").unwrap(), "invalid username: a:b");
        assert!(
            bcrypt_hash(&"x".repeat(73))
                .unwrap_err()
                .contains("exceeds 72 bytes")
        );
    }
}
