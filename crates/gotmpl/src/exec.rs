//! Executor: walks the node tree over a JSON value.

use std::borrow::Cow;

use serde_json::Value;

use crate::funcs::{self, Fail, Func};
use crate::parse::{Branch, Cmd, Node, Pipe, Span, Term, TermKind};
use crate::value::{is_true, num, sorted_entries, type_name, write_v, Num};

/// A value during execution: borrowed from the data where possible.
pub(crate) type V<'a> = Cow<'a, Value>;

static NULL: Value = Value::Null;

pub(crate) fn null<'a>() -> V<'a> {
    Cow::Borrowed(&NULL)
}

#[derive(Debug)]
pub(crate) struct ExecError {
    pub span: Span,
    pub msg: String,
}

fn fail<T>(span: Span, msg: impl Into<String>) -> Result<T, ExecError> {
    Err(ExecError { span, msg: msg.into() })
}

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) fn execute(nodes: &[Node], data: &Value) -> Result<String, ExecError> {
    let mut ex = Exec {
        vars: vec![("$", Cow::Borrowed(data))],
        out: String::new(),
    };
    ex.walk(&Cow::Borrowed(data), nodes)?;
    Ok(ex.out)
}

struct Exec<'t, 'a> {
    /// Variable stack, innermost last.
    vars: Vec<(&'t str, V<'a>)>,
    out: String,
}

/// One field step on a value: maps give the entry (nil when missing), nil gives nil.
fn lookup<'v>(v: &'v Value, name: &str) -> Result<Option<&'v Value>, String> {
    match v {
        Value::Object(m) => Ok(m.get(name)),
        Value::Null => Ok(None),
        other => Err(format!("can't evaluate field {name} in type {}", type_name(other))),
    }
}

fn field_step<'a>(recv: V<'a>, name: &str) -> Result<V<'a>, String> {
    match recv {
        Cow::Borrowed(v) => Ok(lookup(v, name)?.map_or_else(null, Cow::Borrowed)),
        Cow::Owned(Value::Object(mut m)) => Ok(Cow::Owned(m.remove(name).unwrap_or(Value::Null))),
        Cow::Owned(v) => Ok(lookup(&v, name)?.map_or_else(null, |x| Cow::Owned(x.clone()))),
    }
}

fn field_ref<'a>(recv: &V<'a>, name: &str) -> Result<V<'a>, String> {
    match recv {
        Cow::Borrowed(v) => field_step(Cow::Borrowed(v), name),
        Cow::Owned(v) => Ok(lookup(v, name)?.map_or_else(null, |x| Cow::Owned(x.clone()))),
    }
}

impl<'t, 'a> Exec<'t, 'a> {
    fn walk(&mut self, dot: &V<'a>, nodes: &'t [Node]) -> Result<Flow, ExecError> {
        for node in nodes {
            let flow = match node {
                Node::Text(text) => {
                    self.out.push_str(text);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let value = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        if value.is_null() {
                            self.out.push_str("<no value>");
                        } else {
                            write_v(&mut self.out, &value);
                        }
                    }
                    Flow::Normal
                }
                Node::If(branch) => self.walk_if(dot, branch, false)?,
                Node::With(branch) => self.walk_if(dot, branch, true)?,
                Node::Range(branch) => self.walk_range(dot, branch)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_if(&mut self, dot: &V<'a>, branch: &'t Branch, with: bool) -> Result<Flow, ExecError> {
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, &branch.pipe)?;
        let result = if is_true(&value) {
            if with {
                self.walk(&value, &branch.list)
            } else {
                self.walk(dot, &branch.list)
            }
        } else if let Some(else_list) = &branch.else_list {
            self.walk(dot, else_list)
        } else {
            Ok(Flow::Normal)
        };
        self.vars.truncate(mark);
        result
    }

    fn walk_range(&mut self, dot: &V<'a>, branch: &'t Branch) -> Result<Flow, ExecError> {
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, &branch.pipe)?;
        let mut ran = false;
        macro_rules! iterate {
            ($key:expr, $elem:expr) => {{
                ran = true;
                if let Flow::Break = self.one_iteration(branch, $key, $elem)? {
                    break;
                }
            }};
        }
        let int_count = match value.as_ref() {
            Value::Number(n) => match num(n) {
                Num::Int(count) => Some(count),
                Num::Float(_) => None,
            },
            _ => None,
        };
        if let Some(count) = int_count {
            // Go 1.22: range over an integer counts from 0.
            if branch.pipe.decl.len() > 1 {
                return fail(
                    range_span(branch),
                    format!("can't use {count} to iterate over more than one variable"),
                );
            }
            let mut i: i128 = 0;
            while i < count {
                let v: V<'a> = Cow::Owned(Value::from(i64::try_from(i).unwrap_or(i64::MAX)));
                iterate!(v.clone(), v);
                i += 1;
            }
        } else {
            match value {
                Cow::Borrowed(Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        iterate!(Cow::Owned(Value::from(i)), Cow::Borrowed(item));
                    }
                }
                Cow::Owned(Value::Array(items)) => {
                    for (i, item) in items.into_iter().enumerate() {
                        iterate!(Cow::Owned(Value::from(i)), Cow::Owned(item));
                    }
                }
                Cow::Borrowed(Value::Object(m)) => {
                    for (k, item) in sorted_entries(m) {
                        iterate!(Cow::Owned(Value::String(k.clone())), Cow::Borrowed(item));
                    }
                }
                Cow::Owned(Value::Object(m)) => {
                    let mut entries: Vec<(String, Value)> = m.into_iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    for (k, item) in entries {
                        iterate!(Cow::Owned(Value::String(k)), Cow::Owned(item));
                    }
                }
                // Ranging over nil (a nil slice or map) runs the else branch.
                Cow::Borrowed(Value::Null) | Cow::Owned(Value::Null) => {}
                other => {
                    let mut shown = String::new();
                    write_v(&mut shown, &other);
                    return fail(range_span(branch), format!("range can't iterate over {shown}"));
                }
            }
        }
        let result = if !ran {
            match &branch.else_list {
                Some(list) => self.walk(dot, list),
                None => Ok(Flow::Normal),
            }
        } else {
            Ok(Flow::Normal)
        };
        self.vars.truncate(mark);
        result
    }

    fn one_iteration(&mut self, branch: &'t Branch, key: V<'a>, elem: V<'a>) -> Result<Flow, ExecError> {
        let decl = &branch.pipe.decl;
        if !decl.is_empty() {
            let span = range_span(branch);
            if branch.pipe.is_assign {
                if let [k, v] = decl.as_slice() {
                    self.set_var(k, key, span)?;
                    self.set_var(v, elem.clone(), span)?;
                } else if let Some(v) = decl.first() {
                    self.set_var(v, elem.clone(), span)?;
                }
            } else {
                // The declared variables are on top of the stack.
                let len = self.vars.len();
                if decl.len() == 2 {
                    if let Some(slot) = len.checked_sub(2).and_then(|i| self.vars.get_mut(i)) {
                        slot.1 = key;
                    }
                }
                if let Some(slot) = len.checked_sub(1).and_then(|i| self.vars.get_mut(i)) {
                    slot.1 = elem.clone();
                }
            }
        }
        let mark = self.vars.len();
        let flow = self.walk(&elem, &branch.list);
        self.vars.truncate(mark);
        flow
    }

    fn set_var(&mut self, name: &str, value: V<'a>, span: Span) -> Result<(), ExecError> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => fail(span, format!("undefined variable: {name}")),
        }
    }

    fn var(&self, name: &str, span: Span) -> Result<&V<'a>, ExecError> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v),
            None => fail(span, format!("undefined variable: {name}")),
        }
    }

    fn eval_pipeline(&mut self, dot: &V<'a>, pipe: &'t Pipe) -> Result<V<'a>, ExecError> {
        let mut value: Option<V<'a>> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_else(null);
        for name in &pipe.decl {
            if pipe.is_assign {
                let span = pipe
                    .cmds
                    .first()
                    .and_then(|c| c.args.first())
                    .map_or(Span { start: 0, end: 0 }, |t| t.span);
                self.set_var(name, value.clone(), span)?;
            } else {
                self.vars.push((name, value.clone()));
            }
        }
        Ok(value)
    }

    fn eval_command(&mut self, dot: &V<'a>, cmd: &'t Cmd, fin: Option<V<'a>>) -> Result<V<'a>, ExecError> {
        let Some((first, rest)) = cmd.args.split_first() else {
            return fail(Span { start: 0, end: 0 }, "empty command");
        };
        if let TermKind::Func(f) = first.kind {
            return self.call(dot, f, first.span, rest, fin);
        }
        if !rest.is_empty() || fin.is_some() {
            let msg = match &first.kind {
                TermKind::Field(fields) | TermKind::Var(_, fields) | TermKind::Chain(_, fields)
                    if !fields.is_empty() =>
                {
                    format!(
                        "{} is not a method but has arguments",
                        fields.last().map_or("", |s| s.as_str())
                    )
                }
                _ => "can't give argument to non-function".to_string(),
            };
            return fail(first.span, msg);
        }
        if let TermKind::Nil = first.kind {
            return fail(first.span, "nil is not a command");
        }
        self.eval_arg(dot, first)
    }

    fn eval_fields(&self, base: &V<'a>, fields: &[String], span: Span) -> Result<V<'a>, ExecError> {
        let Some((head, tail)) = fields.split_first() else {
            return Ok(base.clone());
        };
        let mut value = field_ref(base, head).map_err(|msg| ExecError { span, msg })?;
        for name in tail {
            value = field_step(value, name).map_err(|msg| ExecError { span, msg })?;
        }
        Ok(value)
    }

    fn eval_arg(&mut self, dot: &V<'a>, term: &'t Term) -> Result<V<'a>, ExecError> {
        match &term.kind {
            TermKind::Func(f) => self.call(dot, *f, term.span, &[], None),
            TermKind::Dot => Ok(dot.clone()),
            TermKind::Nil => Ok(null()),
            TermKind::Lit(v) => Ok(Cow::Owned(v.clone())),
            TermKind::Field(fields) => self.eval_fields(dot, fields, term.span),
            TermKind::Var(name, fields) => {
                let base = self.var(name, term.span)?;
                self.eval_fields(base, fields, term.span)
            }
            TermKind::Chain(inner, fields) => {
                let base = self.eval_arg(dot, inner)?;
                self.eval_fields(&base, fields, term.span)
            }
            TermKind::Pipe(pipe) => self.eval_pipeline(dot, pipe),
        }
    }

    fn call(
        &mut self,
        dot: &V<'a>,
        f: Func,
        span: Span,
        args: &'t [Term],
        fin: Option<V<'a>>,
    ) -> Result<V<'a>, ExecError> {
        let count = args.len() + usize::from(fin.is_some());
        f.check_arity(count).map_err(|msg| ExecError { span, msg })?;
        if matches!(f, Func::And | Func::Or) {
            // Go 1.18+: evaluate arguments only until the result is known.
            let want = f == Func::Or;
            let mut last = null();
            for arg in args {
                let v = self.eval_arg(dot, arg)?;
                if is_true(&v) == want {
                    return Ok(v);
                }
                last = v;
            }
            return Ok(fin.unwrap_or(last));
        }
        let mut values = Vec::with_capacity(count);
        for arg in args {
            values.push(self.eval_arg(dot, arg)?);
        }
        values.extend(fin);
        funcs::call(f, values).map_err(|e| match e {
            Fail::Arg(msg) => ExecError { span, msg },
            Fail::Call(msg) => ExecError {
                span,
                msg: format!("error calling {}: {msg}", f.name()),
            },
        })
    }
}

/// Position used for errors about a range as a whole.
fn range_span(branch: &Branch) -> Span {
    branch
        .pipe
        .cmds
        .first()
        .and_then(|c| c.args.first())
        .map_or(Span { start: 0, end: 0 }, |t| t.span)
}
