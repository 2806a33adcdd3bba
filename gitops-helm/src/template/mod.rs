//! Go's `text/template`, with Go's grammar, execution semantics, `fmt` formatting and error texts.
//!
//! ```
//! use std::rc::Rc;
//! use gitops_helm::template::{execute, Limits, MissingKey, Templates, Value};
//!
//! let mut set = Templates::new(Rc::new(Default::default()), MissingKey::Invalid);
//! set.parse("t", "{{range $i, $v := .}}{{if $i}}, {{end}}{{printf \"%q\" $v}}{{end}}").unwrap();
//! let data = Value::list(vec!["a".into(), "b".into()]);
//! assert_eq!(execute(&Rc::new(set), "t", data, Limits::default()).unwrap(), r#""a", "b""#);
//! ```

pub(crate) mod exec;
pub mod fmt;
pub(crate) mod parse;
mod value;

pub use exec::{
    Func, FuncMap, Limits, MissingKey, NameMap, NativeFn, State, Templates, Ty, builtin_eq, builtin_index,
    builtin_lt, execute, html_escape, js_escape, query_escape,
};
pub(crate) use parse::unquote as unquote_go;
pub use parse::{Arg, Cmd, Control, Fields, Node, Number, ParseError, Pipe, Tree};
pub(crate) use value::{FreshMaps, deep_copy_map, share};
pub use value::{Map, MapCell, Object, Value};
