//! Execution of parsed templates with Go's semantics: variables and their scopes, `missingkey`, field
//! chains on maps and objects, function calls with Go's argument typing, and the built-in functions.

use std::collections::HashMap;
use std::rc::Rc;

use super::fmt as gofmt;
use super::parse::{Arg, Cmd, Node, Number, Pipe, Tree};
use super::value::Value;

/// The Go type a function parameter has, which decides what argument values it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `interface{}`: anything; a missing value becomes nil.
    Any,
    /// `reflect.Value` (the comparison and logic built-ins): the value as it is, even invalid.
    Raw,
    /// `string`
    Str,
    /// `int`
    Int,
    /// `int64`
    I64,
    /// `uint32`
    U32,
    /// `float64`
    Float,
    /// `bool`
    Bool,
    /// `[]interface{}`
    List,
    /// `map[string]interface{}`
    Map,
}

impl Ty {
    fn go_name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Raw => "reflect.Value",
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::I64 => "int64",
            Ty::U32 => "uint32",
            Ty::Float => "float64",
            Ty::Bool => "bool",
            Ty::List => "[]interface {}",
            Ty::Map => "map[string]interface {}",
        }
    }
}

/// A native function.
pub type NativeFn = fn(&mut State<'_>, Vec<Value>) -> Result<Value, String>;

/// A function with its Go signature.
#[derive(Clone, Copy)]
pub struct Func {
    /// Fixed parameters.
    pub params: &'static [Ty],
    /// The type of the variadic tail, if any.
    pub variadic: Option<Ty>,
    /// The implementation.
    pub f: NativeFn,
}

/// Hash maps keyed by names: foldhash, seeded per map.
pub type NameMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Named functions.
pub type FuncMap = NameMap<&'static str, Func>;

/// What a missing map key evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `missingkey=default`: the invalid value, printed `<no value>`.
    #[default]
    Invalid,
    /// `missingkey=zero`: the zero value of the element type (nil for `interface{}`), as Helm uses.
    Zero,
    /// `missingkey=error`: an error (Helm's `--strict`).
    Error,
}

/// A set of templates that can call each other, with its functions.
pub struct Templates {
    trees: NameMap<String, Rc<Tree>>,
    parent: Option<Rc<Templates>>,
    /// The functions.
    pub funcs: Rc<FuncMap>,
    /// How missing keys behave.
    pub missing_key: MissingKey,
    /// Whether `include` may reuse texts (see `funcs::include`): only where nothing but templates
    /// changes the data between executions (a chart render), since changes made from Rust are not seen.
    reuse_includes: bool,
    /// Texts `include` gave with this set.
    included: std::cell::RefCell<NameMap<IncludeKey, Included>>,
    /// Templates whose trees are made the first time they are looked up (see [`Templates::add_lazy`]).
    lazy: std::cell::RefCell<NameMap<String, LazyTree>>,
    /// The trees made so.
    made: std::cell::RefCell<NameMap<String, Rc<Tree>>>,
}

/// A tree made when first asked for: `None` when it cannot be made (the lookup then finds nothing).
type LazyTree = Box<dyn FnOnce() -> Option<Tree>>;

/// What an `include` is reused by: the template's name and its data's identity (a map, list or object
/// by address, which the entry keeps alive so that no other value takes it; a string by content).
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct IncludeKey(std::sync::Arc<str>, DataId);

#[derive(PartialEq, Eq, Hash)]
enum DataId {
    At(usize),
    Str(std::sync::Arc<str>),
}

impl IncludeKey {
    /// The key of including `name` with `data`; none for other data (numbers, nil: seldom included).
    fn of(name: &std::sync::Arc<str>, data: &Value) -> Option<IncludeKey> {
        let id = match data {
            Value::Map(m) => DataId::At(Rc::as_ptr(m) as usize),
            Value::List(l) => DataId::At(Rc::as_ptr(l) as *const () as usize),
            Value::Object(o) => DataId::At(Rc::as_ptr(o) as *const () as usize),
            Value::Str(s) => DataId::Str(s.clone()),
            _ => return None,
        };
        Some(IncludeKey(name.clone(), id))
    }
}

/// A text `include` gave, its data (kept alive) and the count of in-place map changes when it ran.
struct Included {
    _data: Value,
    text: Value,
    mutations: u64,
}

/// Limits that keep hostile templates bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of output, over all templates of one execution.
    pub max_output: usize,
    /// Nested `{{template}}`/`include` calls.
    pub max_depth: usize,
    /// Evaluation steps.
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output: 256 << 20,
            max_depth: 10_000,
            max_steps: 200_000_000,
        }
    }
}

impl Templates {
    /// An empty set.
    pub fn new(funcs: Rc<FuncMap>, missing_key: MissingKey) -> Templates {
        Templates {
            trees: NameMap::default(),
            parent: None,
            funcs,
            missing_key,
            reuse_includes: false,
            included: Default::default(),
            lazy: Default::default(),
            made: Default::default(),
        }
    }

    /// A set that sees `parent`'s templates under its own (what `tpl` parses into).
    pub fn overlay(parent: Rc<Templates>) -> Templates {
        Templates {
            trees: NameMap::default(),
            funcs: parent.funcs.clone(),
            missing_key: parent.missing_key,
            reuse_includes: parent.reuse_includes,
            parent: Some(parent),
            included: Default::default(),
            lazy: Default::default(),
            made: Default::default(),
        }
    }

    /// Lets `include` reuse the text it gave for the same template and data, in this execution or a
    /// later one with this set. Only for callers that change the data between executions through
    /// templates alone (what Rust code changes is not seen); a chart render does.
    pub(crate) fn reuse_includes(&mut self) {
        self.reuse_includes = true;
    }

    /// What including `name` with `data` is remembered under, when this set reuses includes and the
    /// data can be told apart.
    pub(crate) fn include_key(&self, name: &std::sync::Arc<str>, data: &Value) -> Option<IncludeKey> {
        if self.reuse_includes {
            IncludeKey::of(name, data)
        } else {
            None
        }
    }

    /// The text including `key` gave, if no map has been changed in place since (`mutations` is the
    /// count now).
    pub(crate) fn included(&self, key: &IncludeKey, mutations: u64) -> Option<Value> {
        self.included
            .borrow()
            .get(key)
            .filter(|i| i.mutations == mutations)
            .map(|i| i.text.clone())
    }

    /// Keeps what including `key` (with `data`) gave when `mutations` in-place changes had been made.
    pub(crate) fn remember_include(&self, key: IncludeKey, data: Value, text: Value, mutations: u64) {
        let mut included = self.included.borrow_mut();
        // A set executed again and again with new data (a long-running caller) must not keep every
        // datum alive.
        if included.len() >= 4096 {
            included.clear();
        }
        included.insert(
            key,
            Included {
                _data: data,
                text,
                mutations,
            },
        );
    }

    /// Parses `text` as the template `name`, adding it and its definitions. A definition whose body is
    /// empty does not replace an existing one, as in Go.
    ///
    /// Returns the tree parsed from `text` itself: it is what executing "this" template runs, even when an
    /// empty text left an earlier definition of the name in place (as Go's `Template.Parse` behaves).
    pub fn parse(&mut self, name: &str, text: &str) -> Result<Rc<Tree>, super::parse::ParseError> {
        let funcs = self.funcs.clone();
        let (tree, defs) = super::parse::parse(name, text, &|f| has_func(&funcs, f))?;
        for d in defs {
            self.add(Rc::new(d));
        }
        let tree = Rc::new(tree);
        self.add(tree.clone());
        Ok(tree)
    }

    /// Adds a tree parsed elsewhere, as [`Templates::parse`] adds what it parses.
    pub(crate) fn add_tree(&mut self, tree: Tree) {
        self.add(Rc::new(tree));
    }

    fn add(&mut self, tree: Rc<Tree>) {
        if tree.is_empty() && self.lookup(&tree.name).is_some() {
            return;
        }
        self.trees.insert(tree.name.clone(), tree);
    }

    /// Adds the template `name` whose tree `make` makes the first time it is looked up: a chart's file
    /// that defines nothing, which can then execute before every other file is parsed. A tree added
    /// under the same name, before or after, takes precedence.
    pub(crate) fn add_lazy(&mut self, name: String, make: impl FnOnce() -> Option<Tree> + 'static) {
        self.lazy.get_mut().insert(name, Box::new(make));
    }

    /// A template by name.
    pub fn lookup(&self, name: &str) -> Option<Rc<Tree>> {
        if let Some(t) = self.trees.get(name) {
            return Some(t.clone());
        }
        if let Some(t) = self.made.borrow().get(name) {
            return Some(t.clone());
        }
        let make = self.lazy.borrow_mut().remove(name);
        if let Some(make) = make {
            let tree = Rc::new(make()?);
            self.made.borrow_mut().insert(name.to_string(), tree.clone());
            return Some(tree);
        }
        self.parent.as_ref().and_then(|p| p.lookup(name))
    }

    /// Whether a template by that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.trees.contains_key(name)
            || self.made.borrow().contains_key(name)
            || self.lazy.borrow().contains_key(name)
            || self.parent.as_ref().is_some_and(|p| p.contains(name))
    }
}

/// Executes template `name` of `set` with `data` as dot.
pub fn execute(set: &Rc<Templates>, name: &str, data: Value, limits: Limits) -> Result<String, String> {
    let tree = set
        .lookup(name)
        .ok_or_else(|| format!("template: no template {name:?} associated with template"))?;
    // reflect.ValueOf(nil) is the invalid value.
    let data = if matches!(data, Value::Nil) {
        Value::Invalid
    } else {
        data
    };
    // Maps the templates make are theirs alone until they reach shared data (see `MapCell`).
    let _fresh = super::FreshMaps::begin();
    let mut budget = Budget {
        output: 0,
        steps: 0,
        limits,
    };
    let dollar: std::sync::Arc<str> = "$".into();
    let mut st = State {
        set: set.clone(),
        tree: tree.clone(),
        vars: vec![(dollar.clone(), data.clone())],
        var_base: 0,
        dollar,
        depth: 0,
        budget: &mut budget,
        include_counts: NameMap::default(),
        pos: 0,
    };
    // A template's output is often about as long as its text: room for that (up to 64 KiB) spares most
    // of the copies growing it would make.
    let mut out = String::with_capacity(tree.source.len().min(64 << 10));
    st.walk_list(&mut out, &data, &tree.root)
        .map_err(|e| e.message())?;
    Ok(out)
}

/// Resource use shared by an execution and everything it includes.
pub(crate) struct Budget {
    output: usize,
    steps: u64,
    limits: Limits,
}

/// The state of one execution, handed to native functions.
pub struct State<'b> {
    /// The template set.
    pub set: Rc<Templates>,
    tree: Rc<Tree>,
    /// The variables in scope, innermost last; those of the template being executed start at
    /// `var_base` (a template sees its own `$` and what it declares, not its caller's).
    vars: Vec<(std::sync::Arc<str>, Value)>,
    var_base: usize,
    /// The name `$`, shared.
    dollar: std::sync::Arc<str>,
    depth: usize,
    budget: &'b mut Budget,
    /// How often each template is currently being included (Helm's recursion guard).
    pub include_counts: NameMap<std::sync::Arc<str>, usize>,
    pos: usize,
}

/// An execution error, or the control flow of `break`/`continue`.
pub(crate) enum Flow {
    /// An error, formatted.
    Err(String),
    /// `{{break}}`
    Break,
    /// `{{continue}}`
    Continue,
}

impl Flow {
    fn message(self) -> String {
        match self {
            Flow::Err(e) => e,
            Flow::Break | Flow::Continue => "break or continue outside range".into(),
        }
    }
}

type R<T> = Result<T, Flow>;

/// Whether a template may call `name`: one of `funcs` or a built-in.
pub(crate) fn has_func(funcs: &FuncMap, name: &str) -> bool {
    funcs.contains_key(name) || is_builtin(name)
}

fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "and"
            | "or"
            | "not"
            | "len"
            | "index"
            | "slice"
            | "print"
            | "printf"
            | "println"
            | "html"
            | "js"
            | "urlquery"
            | "call"
            | "eq"
            | "ne"
            | "lt"
            | "le"
            | "gt"
            | "ge"
    )
}

impl State<'_> {
    /// The name of the template executing now (Helm's `.Template.Name` for `tpl`).
    pub fn template_name(&self) -> &str {
        &self.tree.name
    }

    /// Executes another template of the set into a string with `data` as dot (Helm's `include`).
    pub fn execute_template(&mut self, name: &str, data: Value) -> Result<String, String> {
        let tree = self.set.lookup(name).ok_or_else(|| {
            format!(
                "template: no template {name:?} associated with template {:?}",
                self.tree.name
            )
        })?;
        self.run_tree(tree, data)
    }

    /// Executes a tree of another set (what `tpl` parsed) with `data` as dot.
    pub fn execute_in(&mut self, set: Rc<Templates>, tree: Rc<Tree>, data: Value) -> Result<String, String> {
        let saved = std::mem::replace(&mut self.set, set);
        let r = self.run_tree(tree, data);
        self.set = saved;
        r
    }

    fn run_tree(&mut self, tree: Rc<Tree>, data: Value) -> Result<String, String> {
        if self.depth >= self.budget.limits.max_depth {
            return Err(format!(
                "exceeded maximum template depth ({})",
                self.budget.limits.max_depth
            ));
        }
        let saved_tree = std::mem::replace(&mut self.tree, tree.clone());
        let saved_base = self.enter_vars(data.clone());
        let saved_pos = self.pos;
        self.depth += 1;
        // Included text is mostly a name or a few lines: room for a line spares its first copies.
        let mut out = String::with_capacity(64);
        let r = self.walk_list(&mut out, &data, &tree.root);
        self.depth -= 1;
        self.tree = saved_tree;
        self.leave_vars(saved_base);
        self.pos = saved_pos;
        r.map_err(Flow::message)?;
        Ok(out)
    }

    fn errorf<T>(&self, msg: impl Into<String>) -> R<T> {
        Err(Flow::Err(self.format_error(&msg.into())))
    }

    fn format_error(&self, msg: &str) -> String {
        format!(
            "template: {}: executing {:?} at <{}>: {}",
            self.tree.location(self.pos),
            self.tree.name,
            self.context(),
            msg
        )
    }

    fn context(&self) -> String {
        // The source text of the action around the error position, as Go shows the node.
        let src = &self.tree.source;
        let mut start = self.pos.min(src.len());
        // A field or variable chain is positioned at its second field (as in Go's parser); Go shows the
        // whole node, so the context starts where the chain does.
        if src.as_bytes().get(start) == Some(&b'.') {
            while start > 0 {
                let b = src.as_bytes()[start - 1];
                if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'$') || b >= 0x80 {
                    start -= 1;
                } else {
                    break;
                }
            }
            while !src.is_char_boundary(start) {
                start += 1;
            }
        }
        let rest = &src[start..];
        // The node ends at the action's end, at the end of its command in a pipeline (`|`), or at the
        // parenthesis closing the pipeline it is in; string literals may hold any of these.
        let bytes = rest.as_bytes();
        let (mut i, mut depth, mut quote) = (0, 0usize, None::<u8>);
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(q) => {
                    if b == b'\\' && q != b'`' {
                        i += 1;
                    } else if b == q {
                        quote = None;
                    }
                }
                None => match b {
                    b'"' | b'`' | b'\'' => quote = Some(b),
                    b'(' => depth += 1,
                    b')' if depth == 0 => break,
                    b')' => depth -= 1,
                    b'|' if depth == 0 => break,
                    b'}' if bytes.get(i + 1) == Some(&b'}') => break,
                    _ => {}
                },
            }
            i += 1;
        }
        rest[..i.min(rest.len())]
            .trim_end()
            .trim_end_matches('-')
            .trim_end()
            .to_string()
    }

    fn step(&mut self) -> R<()> {
        self.budget.steps += 1;
        if self.budget.steps > self.budget.limits.max_steps {
            return self.errorf(format!(
                "evaluation exceeded {} steps",
                self.budget.limits.max_steps
            ));
        }
        Ok(())
    }

    fn write(&mut self, out: &mut String, s: &str) -> R<()> {
        self.budget.output += s.len();
        if self.budget.output > self.budget.limits.max_output {
            return self.errorf(format!("output exceeds {} bytes", self.budget.limits.max_output));
        }
        out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, out: &mut String, dot: &Value, list: &[Node]) -> R<()> {
        for n in list {
            self.walk(out, dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, out: &mut String, dot: &Value, node: &Node) -> R<()> {
        self.step()?;
        match node {
            Node::Text(a, b) => {
                self.budget.output += b - a;
                if self.budget.output > self.budget.limits.max_output {
                    return self.errorf(format!("output exceeds {} bytes", self.budget.limits.max_output));
                }
                out.push_str(&self.tree.source[*a..*b]);
                Ok(())
            }
            Node::Action(pos, pipe) => {
                self.pos = *pos;
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.pos = *pos;
                    match &v {
                        Value::Str(s) => self.write(out, s)?,
                        v => {
                            let s = self.printable(v)?;
                            self.write(out, &s)?;
                        }
                    }
                }
                Ok(())
            }
            Node::If(pos, c) | Node::With(pos, c) => {
                let (pipe, list, else_list) = &**c;
                let is_with = matches!(node, Node::With(..));
                let mark = self.vars.len();
                self.pos = *pos;
                let v = self.eval_pipeline(dot, pipe)?;
                let truth = v.truthy();
                let r = if truth {
                    if is_with {
                        self.walk_list(out, &v, list)
                    } else {
                        self.walk_list(out, dot, list)
                    }
                } else if let Some(e) = else_list {
                    self.walk_list(out, dot, e)
                } else {
                    Ok(())
                };
                self.vars.truncate(mark);
                r
            }
            Node::Range(pos, c) => {
                let (pipe, list, else_list) = &**c;
                self.walk_range(out, dot, *pos, pipe, list, else_list.as_deref())
            }
            Node::Template(pos, t) => {
                let (name, pipe) = &**t;
                self.pos = *pos;
                let Some(tree) = self.set.lookup(name) else {
                    // Go shows the node as it prints it: `{{template "x" .}}`.
                    let context = match pipe {
                        Some(p) => format!("{{{{template {name:?} {p}}}}}"),
                        None => format!("{{{{template {name:?}}}}}"),
                    };
                    return Err(Flow::Err(format!(
                        "template: {}: executing {:?} at <{context}>: template {name:?} not defined",
                        self.tree.location(self.pos),
                        self.tree.name,
                    )));
                };
                if self.depth >= self.budget.limits.max_depth {
                    return self.errorf(format!(
                        "exceeded maximum template depth ({})",
                        self.budget.limits.max_depth
                    ));
                }
                let data = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Invalid,
                };
                let saved_tree = std::mem::replace(&mut self.tree, tree.clone());
                let saved_base = self.enter_vars(data.clone());
                self.depth += 1;
                let r = self.walk_list(out, &data, &tree.root);
                self.depth -= 1;
                self.tree = saved_tree;
                self.leave_vars(saved_base);
                r
            }
            Node::Break(_) => Err(Flow::Break),
            Node::Continue(_) => Err(Flow::Continue),
        }
    }

    fn walk_range(
        &mut self,
        out: &mut String,
        dot: &Value,
        pos: usize,
        pipe: &Pipe,
        list: &[Node],
        else_list: Option<&[Node]>,
    ) -> R<()> {
        let outer = self.vars.len();
        self.pos = pos;
        let val = self.eval_pipeline(dot, pipe)?;
        let mark = self.vars.len();
        let mut iterate = |st: &mut Self, index: Value, elem: Value| -> R<bool> {
            st.step()?;
            if !pipe.decl.is_empty() {
                if pipe.is_assign {
                    if pipe.decl.len() > 1 {
                        st.set_var(&pipe.decl[0], index);
                        st.set_var(&pipe.decl[1], elem.clone());
                    } else {
                        st.set_var(&pipe.decl[0], elem.clone());
                    }
                } else {
                    let n = st.vars.len();
                    st.vars[n - 1].1 = if pipe.decl.len() > 1 {
                        index.clone()
                    } else {
                        elem.clone()
                    };
                    if pipe.decl.len() > 1 {
                        st.vars[n - 2].1 = index;
                        st.vars[n - 1].1 = elem.clone();
                    }
                }
            }
            let r = st.walk_list(out, &elem, list);
            st.vars.truncate(mark);
            match r {
                Ok(()) | Err(Flow::Continue) => Ok(true),
                Err(Flow::Break) => Ok(false),
                Err(e) => Err(e),
            }
        };
        let mut ran = false;
        match &val {
            Value::List(l) if !l.is_empty() => {
                ran = true;
                for (i, e) in l.iter().enumerate() {
                    if !iterate(self, Value::Int(i as i64), e.clone())? {
                        break;
                    }
                }
            }
            Value::Bytes(b) if !b.is_empty() => {
                ran = true;
                for (i, e) in b.iter().enumerate() {
                    if !iterate(self, Value::Int(i as i64), Value::Int(*e as i64))? {
                        break;
                    }
                }
            }
            Value::Map(m) if !m.borrow().is_empty() => {
                ran = true;
                let entries: Vec<(String, Value)> =
                    m.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                for (k, v) in entries {
                    if !iterate(self, Value::str(k), v)? {
                        break;
                    }
                }
            }
            Value::Int(n) | Value::I64(n) => {
                if pipe.decl.len() > 1 {
                    self.pos = pos;
                    return self.errorf(format!("can't use {n} to iterate over more than one variable"));
                }
                if *n > 0 {
                    ran = true;
                }
                let int64 = matches!(val, Value::I64(_));
                for i in 0..*n {
                    let v = if int64 { Value::I64(i) } else { Value::Int(i) };
                    if !iterate(self, v.clone(), v)? {
                        break;
                    }
                }
            }
            Value::Object(o) if let Some(entries) = o.entries() => {
                ran = !entries.is_empty();
                for (k, v) in entries {
                    if !iterate(self, k, v)? {
                        break;
                    }
                }
            }
            Value::List(_) | Value::Map(_) | Value::Bytes(_) | Value::Invalid | Value::Nil => {}
            v => {
                self.pos = pos;
                return self.errorf(format!("range can't iterate over {}", gofmt::sprint_value(v)));
            }
        }
        let r = if !ran && let Some(e) = else_list {
            self.walk_list(out, dot, e)
        } else {
            Ok(())
        };
        self.vars.truncate(outer);
        r
    }

    fn printable(&self, v: &Value) -> R<String> {
        Ok(match v {
            Value::Invalid => "<no value>".into(),
            Value::Object(o) => o.print(),
            v => gofmt::sprint_value(v),
        })
    }

    /// Starts the variables of a template executed with `data`; gives what [`State::leave_vars`] takes.
    fn enter_vars(&mut self, data: Value) -> usize {
        let base = self.vars.len();
        self.vars.push((self.dollar.clone(), data));
        std::mem::replace(&mut self.var_base, base)
    }

    /// Ends the variables of the template [`State::enter_vars`] started.
    fn leave_vars(&mut self, saved_base: usize) {
        self.vars.truncate(self.var_base);
        self.var_base = saved_base;
    }

    fn set_var(&mut self, name: &str, v: Value) {
        let base = self.var_base;
        if let Some(slot) = self.vars[base..].iter_mut().rev().find(|(n, _)| **n == *name) {
            slot.1 = v;
        }
    }

    fn var(&self, name: &str) -> R<Value> {
        match self.vars[self.var_base..]
            .iter()
            .rev()
            .find(|(n, _)| **n == *name)
        {
            Some((_, v)) => Ok(v.clone()),
            None => self.errorf(format!("undefined variable: {name}")),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> R<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            value = Some(match v {
                Value::Nil => Value::Invalid,
                v => v,
            });
        }
        let value = value.unwrap_or_default();
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone());
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], final_: &Option<Value>) -> R<()> {
        if args.len() > 1 || final_.is_some() {
            return self.errorf(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &Cmd, final_: Option<Value>) -> R<Value> {
        self.step()?;
        let first = &cmd.args[0];
        self.pos = first.pos();
        match first {
            Arg::Field(_, idents) => {
                return self.eval_field_chain(dot, dot.clone(), idents, &cmd.args, final_);
            }
            Arg::Chain(_, node, fields) => {
                if matches!(**node, Arg::Nil(_)) {
                    return self.errorf(format!("indirection through explicit nil in {first}"));
                }
                // Go reports errors of the chain where evaluating its operand left off.
                let v = self.eval_arg(dot, Ty::Raw, node)?;
                return self.eval_field_chain(dot, v, fields, &cmd.args, final_);
            }
            Arg::Ident(_, name) => return self.eval_function(dot, name, &cmd.args, final_),
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &final_)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable(_, name, fields) => {
                let v = self.var(name)?;
                if fields.is_empty() {
                    self.not_a_function(&cmd.args, &final_)?;
                    return Ok(v);
                }
                return self.eval_field_chain(dot, v, fields, &cmd.args, final_);
            }
            _ => {}
        }
        self.not_a_function(&cmd.args, &final_)?;
        match first {
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => self.errorf("nil is not a command"),
            Arg::Number(_, n) => self.ideal_constant(n),
            Arg::Str(_, s, _) => Ok(Value::Str(s.clone())),
            _ => self.errorf(format!("can't evaluate command {first:?}")),
        }
    }

    fn ideal_constant(&self, n: &Number) -> R<Value> {
        if n.complex {
            return Ok(Value::Complex(n.complex_parts.0, n.complex_parts.1));
        }
        let t = &n.text;
        let hex_int = (t.contains("0x") || t.contains("0X")) && !t.contains(['p', 'P']);
        let rune = t.starts_with('\'');
        if let Some(f) = n.float
            && !hex_int
            && !rune
            && t.contains(['.', 'e', 'E', 'p', 'P'])
        {
            return Ok(Value::Float(f));
        }
        if let Some(i) = n.int {
            return Ok(Value::Int(i));
        }
        if n.is_uint {
            return self.errorf(format!("{t} overflows int"));
        }
        Ok(Value::Invalid)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        idents: &[std::sync::Arc<str>],
        args: &[Arg],
        final_: Option<Value>,
    ) -> R<Value> {
        let n = idents.len();
        for id in &idents[..n - 1] {
            receiver = self.eval_field(dot, id, &[], None, receiver)?;
        }
        self.eval_field(dot, &idents[n - 1], args, final_, receiver)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        args: &[Arg],
        final_: Option<Value>,
        receiver: Value,
    ) -> R<Value> {
        let has_args = args.len() > 1 || final_.is_some();
        match receiver {
            Value::Invalid => {
                if self.set.missing_key == MissingKey::Error {
                    return self.errorf(format!("nil data; no entry for key {name:?}"));
                }
                Ok(Value::Invalid)
            }
            Value::Nil => self.errorf(format!("nil pointer evaluating interface {{}}.{name}")),
            Value::Map(m) => {
                if has_args {
                    return self.errorf(format!("{name} is not a method but has arguments"));
                }
                let got = m.borrow().get(name).cloned();
                match got {
                    Some(v) => Ok(v),
                    None => match self.set.missing_key {
                        MissingKey::Invalid => Ok(Value::Invalid),
                        MissingKey::Zero => Ok(Value::Nil),
                        MissingKey::Error => self.errorf(format!("map has no entry for key {name:?}")),
                    },
                }
            }
            Value::Object(o) => {
                if o.has_method(name) {
                    let mut argv = Vec::new();
                    for a in &args[1.min(args.len())..] {
                        argv.push(self.eval_arg(dot, Ty::Any, a)?);
                    }
                    if let Some(f) = final_ {
                        argv.push(f);
                    }
                    return match o.call(name, &argv) {
                        Some(Ok(v)) => Ok(v),
                        Some(Err(e)) => self.errorf(format!("error calling {name}: {e}")),
                        None => self.errorf(format!("can't evaluate field {name} in type {}", o.type_name())),
                    };
                }
                if let Some(v) = o.field(name) {
                    if has_args {
                        return self
                            .errorf(format!("{name} has arguments but cannot be invoked as function"));
                    }
                    return Ok(v);
                }
                self.errorf(format!("can't evaluate field {name} in type {}", o.type_name()))
            }
            v => self.errorf(format!("can't evaluate field {name} in type {}", v.type_name())),
        }
    }

    fn eval_function(&mut self, dot: &Value, name: &str, args: &[Arg], final_: Option<Value>) -> R<Value> {
        if is_builtin(name) && !self.set.funcs.contains_key(name) {
            return self.eval_builtin(dot, name, args, final_);
        }
        let Some(func) = self.set.funcs.get(name).copied() else {
            return self.errorf(format!("{name:?} is not a defined function"));
        };
        let pos = self.pos;
        let argv = self.eval_args(dot, name, func.params, func.variadic, args, final_)?;
        self.pos = pos;
        match (func.f)(self, argv) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.pos = pos;
                self.errorf(format!("error calling {name}: {e}"))
            }
        }
    }

    fn eval_args(
        &mut self,
        dot: &Value,
        name: &str,
        params: &[Ty],
        variadic: Option<Ty>,
        args: &[Arg],
        final_: Option<Value>,
    ) -> R<Vec<Value>> {
        let given = &args[1..];
        let num_in = given.len() + usize::from(final_.is_some());
        match variadic {
            Some(_) if num_in < params.len() => {
                return self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {num_in}",
                    params.len()
                ));
            }
            None if num_in != params.len() => {
                return self.errorf(format!(
                    "wrong number of args for {name}: want {} got {num_in}",
                    params.len()
                ));
            }
            _ => {}
        }
        let ty_at = |i: usize| {
            if i < params.len() {
                params[i]
            } else {
                variadic.unwrap_or(Ty::Any)
            }
        };
        let mut argv = Vec::with_capacity(num_in);
        for (i, a) in given.iter().enumerate() {
            argv.push(self.eval_arg(dot, ty_at(i), a)?);
        }
        if let Some(f) = final_ {
            let t = ty_at(given.len());
            argv.push(self.validate_type(f, t)?);
        }
        Ok(argv)
    }

    fn validate_type(&self, v: Value, ty: Ty) -> R<Value> {
        let ok = match (&v, ty) {
            (_, Ty::Raw) => return Ok(v),
            (Value::Invalid, Ty::Any | Ty::List | Ty::Map) => return Ok(Value::Nil),
            (Value::Invalid, _) => return self.errorf(format!("invalid value; expected {}", ty.go_name())),
            (_, Ty::Any) => true,
            (Value::Str(_), Ty::Str) => true,
            (Value::Int(_), Ty::Int) => true,
            (Value::I64(_), Ty::I64) => true,
            (Value::Float(_), Ty::Float) => true,
            (Value::Bool(_), Ty::Bool) => true,
            (Value::List(_), Ty::List) => true,
            (Value::Map(_), Ty::Map) => true,
            _ => false,
        };
        if ok {
            return Ok(v);
        }
        let got = match &v {
            Value::Nil => "interface {}".to_string(),
            v => v.type_name(),
        };
        self.errorf(format!(
            "wrong type for value; expected {}; got {}",
            ty.go_name(),
            got
        ))
    }

    fn eval_arg(&mut self, dot: &Value, ty: Ty, arg: &Arg) -> R<Value> {
        self.pos = arg.pos();
        let v = match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => {
                return match ty {
                    Ty::Any | Ty::List | Ty::Map => Ok(Value::Nil),
                    Ty::Raw => Ok(Value::Invalid),
                    _ => self.errorf(format!("cannot assign nil to {}", ty.go_name())),
                };
            }
            Arg::Field(_, idents) => {
                self.eval_field_chain(dot, dot.clone(), idents, std::slice::from_ref(arg), None)?
            }
            Arg::Variable(_, name, fields) => {
                let v = self.var(name)?;
                if fields.is_empty() {
                    v
                } else {
                    self.eval_field_chain(dot, v, fields, &[], None)?
                }
            }
            Arg::Pipe(p) => self.eval_pipeline(dot, p)?,
            Arg::Ident(_, name) => self.eval_function(dot, name, std::slice::from_ref(arg), None)?,
            Arg::Chain(_, node, fields) => {
                if matches!(**node, Arg::Nil(_)) {
                    return self.errorf(format!("indirection through explicit nil in {arg}"));
                }
                let v = self.eval_arg(dot, Ty::Raw, node)?;
                self.eval_field_chain(dot, v, fields, &[], None)?
            }
            Arg::Bool(_, b) => {
                return match ty {
                    Ty::Bool | Ty::Any | Ty::Raw => Ok(Value::Bool(*b)),
                    _ => self.const_mismatch(ty, arg),
                };
            }
            Arg::Str(_, s, _) => {
                return match ty {
                    Ty::Str | Ty::Any | Ty::Raw => Ok(Value::Str(s.clone())),
                    _ => self.const_mismatch(ty, arg),
                };
            }
            Arg::Number(_, n) => {
                return match ty {
                    Ty::Any | Ty::Raw => self.ideal_constant(n),
                    Ty::Int | Ty::I64 => match n.int {
                        Some(i)
                            if !n.text.contains(['.', 'e', 'E'])
                                || n.float.is_some_and(|f| f.fract() == 0.0) =>
                        {
                            Ok(if ty == Ty::Int {
                                Value::Int(i)
                            } else {
                                Value::I64(i)
                            })
                        }
                        _ => self.errorf(format!("expected integer; found {}", n.text)),
                    },
                    Ty::Float => match n.float {
                        Some(f) => Ok(Value::Float(f)),
                        None => self.errorf(format!("expected float; found {}", n.text)),
                    },
                    // reflect's SetUint: the constant's low 32 bits.
                    Ty::U32 => match n.int {
                        Some(i) if i >= 0 && !n.text.contains(['.', 'e', 'E']) => {
                            Ok(Value::Int(i64::from(i as u32)))
                        }
                        _ => self.errorf(format!("expected unsigned integer; found {}", n.text)),
                    },
                    _ => self.const_mismatch(ty, arg),
                };
            }
        };
        // After a parenthesized pipeline (or a chain's operand) Go reports the last node evaluated
        // inside it.
        if !matches!(arg, Arg::Pipe(_) | Arg::Chain(..)) {
            self.pos = arg.pos();
        }
        self.validate_type(v, ty)
    }

    fn const_mismatch<T>(&self, ty: Ty, arg: &Arg) -> R<T> {
        match ty {
            Ty::Str => self.errorf(format!("expected string; found {arg}")),
            Ty::Int | Ty::I64 => self.errorf(format!("expected integer; found {arg}")),
            Ty::Float => self.errorf(format!("expected float; found {arg}")),
            Ty::Bool => self.errorf(format!("expected bool; found {arg}")),
            _ => self.errorf(format!("can't handle {arg} for arg of type {}", ty.go_name())),
        }
    }

    fn eval_builtin(&mut self, dot: &Value, name: &str, args: &[Arg], final_: Option<Value>) -> R<Value> {
        let pos = self.pos;
        if name == "and" || name == "or" {
            let given = &args[1..];
            let num_in = given.len() + usize::from(final_.is_some());
            if num_in < 1 {
                return self.errorf(format!("wrong number of args for {name}: want at least 1 got 0"));
            }
            let mut v = Value::Invalid;
            for a in given {
                v = self.eval_arg(dot, Ty::Raw, a)?;
                if v.truthy() == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(f) = final_ {
                v = f;
            }
            return Ok(v);
        }
        let (params, variadic): (&[Ty], Option<Ty>) = match name {
            "not" | "len" => (&[Ty::Raw], None),
            "index" | "slice" => (&[Ty::Raw], Some(Ty::Raw)),
            "print" | "println" | "html" | "js" | "urlquery" | "printf" => (&[], Some(Ty::Any)),
            "eq" => (&[Ty::Raw], Some(Ty::Raw)),
            "ne" | "lt" | "le" | "gt" | "ge" => (&[Ty::Raw, Ty::Raw], None),
            "call" => (&[Ty::Raw], Some(Ty::Raw)),
            _ => unreachable!(),
        };
        let (params, variadic) = if name == "printf" {
            (&[Ty::Str][..], Some(Ty::Any))
        } else {
            (params, variadic)
        };
        let argv = self.eval_args(dot, name, params, variadic, args, final_)?;
        self.pos = pos;
        let r = match name {
            "not" => Ok(Value::Bool(!argv[0].truthy())),
            "len" => builtin_len(&argv[0]),
            "index" => builtin_index(&argv[0], &argv[1..]),
            "slice" => builtin_slice(&argv[0], &argv[1..]),
            "print" => Ok(Value::str(gofmt::sprint(&argv))),
            "println" => Ok(Value::str(gofmt::sprintln(&argv))),
            "printf" => Ok(Value::str(gofmt::sprintf(
                argv[0].as_str().unwrap_or_default(),
                &argv[1..],
            ))),
            "html" => Ok(Value::str(html_escape(&eval_args_string(&argv)))),
            "js" => Ok(Value::str(js_escape(&eval_args_string(&argv)))),
            "urlquery" => Ok(Value::str(query_escape(&eval_args_string(&argv)))),
            "eq" => builtin_eq(&argv[0], &argv[1..]).map(Value::Bool),
            "ne" => builtin_eq(&argv[0], &argv[1..2]).map(|b| Value::Bool(!b)),
            "lt" => builtin_lt(&argv[0], &argv[1]).map(Value::Bool),
            "le" => builtin_lt(&argv[0], &argv[1])
                .and_then(|lt| {
                    if lt {
                        Ok(true)
                    } else {
                        builtin_eq(&argv[0], &argv[1..2])
                    }
                })
                .map(Value::Bool),
            "gt" => builtin_lt(&argv[0], &argv[1])
                .and_then(|lt| {
                    if lt {
                        Ok(false)
                    } else {
                        builtin_eq(&argv[0], &argv[1..2]).map(|e| !e)
                    }
                })
                .map(Value::Bool),
            "ge" => builtin_lt(&argv[0], &argv[1]).map(|lt| Value::Bool(!lt)),
            "call" => Err(match &argv[0] {
                Value::Invalid | Value::Nil => "call of nil".to_string(),
                v => format!(
                    "non-function {} of type {}",
                    gofmt::sprint_value(v),
                    v.type_name()
                ),
            }),
            _ => unreachable!(),
        };
        match r {
            Ok(v) => Ok(v),
            Err(e) => self.errorf(format!("error calling {name}: {e}")),
        }
    }
}

fn eval_args_string(args: &[Value]) -> String {
    if args.len() == 1
        && let Value::Str(s) = &args[0]
    {
        return s.to_string();
    }
    let printable: Vec<Value> = args
        .iter()
        .map(|a| {
            if a.is_nil() {
                Value::str("<no value>")
            } else {
                a.clone()
            }
        })
        .collect();
    gofmt::sprint(&printable)
}

fn builtin_len(v: &Value) -> Result<Value, String> {
    Ok(Value::Int(match v {
        Value::Invalid | Value::Nil => return Err("len of nil pointer".into()),
        Value::Str(s) => s.len() as i64,
        Value::Bytes(b) => b.len() as i64,
        Value::List(l) => l.len() as i64,
        Value::Map(m) => m.borrow().len() as i64,
        Value::Object(o) if let Some(e) = o.entries() => e.len() as i64,
        v => return Err(format!("len of type {}", v.type_name())),
    }))
}

fn index_arg(v: &Value, cap: usize) -> Result<usize, String> {
    let i = match v {
        Value::Int(i) | Value::I64(i) => *i,
        Value::Invalid | Value::Nil => return Err("cannot index slice/array with nil".into()),
        v => return Err(format!("cannot index slice/array with type {}", v.type_name())),
    };
    if i < 0 || i as usize > cap {
        return Err(format!("index out of range: {i}"));
    }
    Ok(i as usize)
}

/// Go's `index` built-in.
pub fn builtin_index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    let mut item = item.clone();
    if item.is_nil() {
        return Err("index of untyped nil".into());
    }
    for idx in indexes {
        item = match &item {
            Value::List(l) => {
                let i = index_arg(idx, l.len())?;
                if i == l.len() {
                    return Err(format!("index out of range: {i}"));
                }
                l[i].clone()
            }
            Value::Bytes(b) => {
                let i = index_arg(idx, b.len())?;
                if i == b.len() {
                    return Err(format!("index out of range: {i}"));
                }
                Value::Int(b[i] as i64)
            }
            Value::Str(s) => {
                let i = index_arg(idx, s.len())?;
                if i == s.len() {
                    return Err(format!("index out of range: {i}"));
                }
                Value::Int(s.as_bytes()[i] as i64)
            }
            Value::Map(m) => match idx {
                Value::Str(k) => m.borrow().get(&**k).cloned().unwrap_or(Value::Nil),
                Value::Invalid | Value::Nil => return Err("value is nil; should be of type string".into()),
                v => return Err(format!("value has type {}; should be string", v.type_name())),
            },
            Value::Invalid | Value::Nil => return Err("index of nil pointer".into()),
            v => return Err(format!("can't index item of type {}", v.type_name())),
        };
    }
    Ok(item)
}

fn builtin_slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if item.is_nil() {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let cap = match item {
        Value::Str(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        Value::Bytes(b) => b.len(),
        v => return Err(format!("can't slice item of type {}", v.type_name())),
    };
    let mut idx = [0, cap];
    for (i, v) in indexes.iter().enumerate().take(2) {
        idx[i] = index_arg(v, cap)?;
    }
    if indexes.len() == 3 {
        let k = index_arg(&indexes[2], cap)?;
        if idx[1] > k {
            return Err(format!("invalid slice index: {} > {}", idx[1], k));
        }
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    Ok(match item {
        Value::Str(s) => {
            let b = &s.as_bytes()[idx[0]..idx[1]];
            Value::str(String::from_utf8_lossy(b).into_owned())
        }
        Value::List(l) => Value::list(l[idx[0]..idx[1]].to_vec()),
        Value::Bytes(b) => Value::Bytes(b[idx[0]..idx[1]].into()),
        _ => unreachable!(),
    })
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Invalid | Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::I64(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

/// Go's `eq`: true when the first argument equals any of the others.
pub fn builtin_eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let a = if matches!(a, Value::Nil) {
        &Value::Invalid
    } else {
        a
    };
    let k1 = basic_kind(a);
    for b in others {
        let b = if matches!(b, Value::Nil) {
            &Value::Invalid
        } else {
            b
        };
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if a.is_valid() && b.is_valid() {
                return Err("incompatible types for comparison".into());
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (x, y) if k1 == Kind::Int => x.as_int() == y.as_int(),
                (Value::Invalid, Value::Invalid) => true,
                (x, y) => {
                    if x.type_name() != y.type_name() {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            gofmt::sprint_value(x),
                            x.type_name(),
                            y.type_name(),
                            gofmt::sprint_value(y)
                        ));
                    }
                    return Err(format!(
                        "non-comparable type {}: {}",
                        gofmt::sprint_value(y),
                        y.type_name()
                    ));
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
pub fn builtin_lt(a: &Value, b: &Value) -> Result<bool, String> {
    let k1 = basic_kind(a);
    let k2 = basic_kind(b);
    if matches!(k1, Kind::Invalid | Kind::Other) || matches!(k2, Kind::Invalid | Kind::Other) {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return Err("incompatible types for comparison".into());
    }
    match (a, b) {
        (Value::Bool(_), _) => Err("invalid type for comparison".into()),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        (x, y) => Ok(x.as_int() < y.as_int()),
    }
}

/// `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if !c.is_ascii() && !super::fmt::quote(&c.to_string()).contains("\\u") => out.push(c),
            c if !c.is_ascii() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
