//! Fuzzes kustomization inputs: the input is split on `\n===\n` into `kustomization.yaml`, then resource and
//! patch files `f0.yaml`, `f1.yaml`, ... in one directory, and a `base/` kustomization for the last part.
//! Any outcome but a panic (or a hang) is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parts: Vec<&str> = text.split("\n===\n").collect();
    let Ok(dir) = tempfile::tempdir() else { return };
    let root = dir.path();
    let _ = std::fs::create_dir_all(root.join("base"));
    for (i, part) in parts.iter().enumerate() {
        let name = match i {
            0 => "kustomization.yaml".to_owned(),
            i if i == parts.len() - 1 && i > 1 => "base/kustomization.yaml".to_owned(),
            i => format!("f{}.yaml", i - 1),
        };
        let _ = std::fs::write(root.join(name), part);
    }
    if let Ok(out) = gitops_kustomize::build_to_string(root, root) {
        // What we print must parse back.
        gitops_core::yaml::from_str_multi(&out, &gitops_core::yaml::Limits::default()).expect("output re-parses");
    }
});
