//! `gitops helm template` formats and reads dates in the process's time zone (`TZ`) and in named zones
//! exactly as `helm template` does, DST gaps and unknown zones included: both CLIs run side by side under
//! several `TZ` settings. Skips when the reference helm v4.1.4 is not installed.

#![allow(missing_docs)]

mod support;

use support::reference_helm;

use std::process::Command;

const TEMPLATE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: dates
data:
  inZone: {{ dateInZone "2006-01-02 15:04 MST -0700" (toDate "2006-01-02" "2024-07-01") "Europe/Paris" | quote }}
  local: {{ date "2006-01-02T15:04:05 MST" 1700000000 | quote }}
  springGap: {{ toDate "2006-01-02 15:04" "2024-03-10 02:30" | date "2006-01-02 15:04 MST" | quote }}
  euGap: {{ toDate "2006-01-02 15:04" "2024-03-31 02:30" | date "2006-01-02 15:04 MST" | quote }}
  fallBack: {{ toDate "2006-01-02 15:04" "2024-11-03 01:30" | date "2006-01-02 15:04 MST" | quote }}
  html: {{ htmlDateInZone 1700000000 "Asia/Kolkata" | quote }}
  unknown: {{ dateInZone "15:04 MST" 0 "Nowhere/Unknown" | quote }}
  offset: {{ toDate "2006-01-02T15:04:05Z07:00" "2024-01-01T10:00:00+05:00" | date "2006-01-02 15:04 MST" | quote }}
  numeric: {{ dateInZone "Jan 2 15:04 MST" 1710054000 "America/Sao_Paulo" | quote }}
  epoch: {{ toDate "2006-01-02" "2024-01-01" | unixEpoch | quote }}
"#;

#[test]
fn dates_match_helm_in_every_time_zone() {
    let Some(helm) = reference_helm() else {
        eprintln!("skipping: reference helm v4.1.4 is not installed");
        return;
    };
    if !std::path::Path::new("/usr/share/zoneinfo/America/New_York").exists() {
        eprintln!("skipping: no time zone database in /usr/share/zoneinfo");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let chart = support::chart(dir.path(), &[("cm.yaml", TEMPLATE)]);
    let home = dir.path().join("helm-home");
    for tz in [
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Asia/Tokyo",
        "Australia/Lord_Howe",
    ] {
        let want = support::helm(&helm, &home)
            .args(["template", "r"])
            .arg(&chart)
            .env("TZ", tz)
            .output()
            .unwrap();
        let got = Command::new(env!("CARGO_BIN_EXE_gitops"))
            .args(["helm", "template", "r"])
            .arg(&chart)
            .env("TZ", tz)
            .output()
            .unwrap();
        assert!(want.status.success(), "{}", String::from_utf8_lossy(&want.stderr));
        assert_eq!(
            String::from_utf8_lossy(&got.stdout),
            String::from_utf8_lossy(&want.stdout),
            "TZ={tz}: {}",
            String::from_utf8_lossy(&got.stderr)
        );
    }
}
