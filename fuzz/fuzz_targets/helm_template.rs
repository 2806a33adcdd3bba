//! Fuzzes Go templates with Helm's functions: the input is split on `\n===\n` into a template and a
//! values document (YAML). Parse errors, execution errors and any output are fine; a panic, a stack
//! overflow or a hang is not (small limits keep runaway templates short).
#![no_main]

use libfuzzer_sys::fuzz_target;

use gitops_helm::template::{Limits, MissingKey, Templates, Value, execute};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (tpl, values) = text.split_once("\n===\n").unwrap_or((text, ""));
    let data = gitops_helm::funcs::from_yaml(values).unwrap_or(Value::Nil);
    let mut set = Templates::new(std::rc::Rc::new(gitops_helm::funcs::helm_funcs()), MissingKey::Zero);
    if set.parse("fuzz", tpl).is_err() {
        return;
    }
    let limits = Limits { max_output: 1 << 20, max_depth: 200, max_steps: 200_000 };
    let _ = execute(&std::rc::Rc::new(set), "fuzz", data, limits);
});
