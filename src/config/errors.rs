//! [`ConfigError`] and the plumbing that gives every config error a file, line, column and
//! field: TOML parsing with byte spans, span → `line:column`, span → dotted field path.
//!
//! Positions are 1-based; the column counts characters, not bytes. An error that has no
//! place in a file (a file or directory that cannot be read) has line and column 0.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One thing wrong with the configuration, precise enough to fix without reading code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: `{field}`: {reason}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the offending key, e.g. `rate_limit.burst` or `redirect_uris[1]`.
    pub field: String,
    pub reason: String,
}

impl ConfigError {
    /// An error about a file or directory as a whole (it cannot be read): line and column 0.
    pub fn unplaced(file: &Path, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { file: file.to_path_buf(), line: 0, column: 0, field: field.into(), reason: reason.into() }
    }
}

/// Field named in syntax errors that cannot be tied to a key.
const SYNTAX_FIELD: &str = "(syntax)";

/// One file's text, for turning byte spans into positions and TOML into typed structs.
pub(super) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl<'a> Source<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Self { path, text }
    }

    /// An error at `span` (byte offsets into the text).
    pub fn error(&self, span: Range<usize>, field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError { file: self.path.to_path_buf(), line, column, field: field.into(), reason: reason.into() }
    }

    /// Parses the text into `T`, reporting every shape error in one run: an unknown key or a
    /// value of the wrong type is reported, taken out of the document, and parsing tries
    /// again, so one round of edits fixes them all. A missing required key ends the attempts
    /// (nothing can stand in for it), as does a syntax error: of several only the first in the
    /// file is kept, because the parser's recovery after it produces follow-on errors that
    /// mislead more than they help.
    ///
    /// Returns `T` when what is left of the document parsed, so the caller can check values
    /// and report those errors beside these.
    pub fn parse_all<T: DeserializeOwned>(&self) -> (Option<T>, Vec<ConfigError>) {
        let (mut doc, mut syntax) = DeTable::parse_recoverable(self.text);
        if !syntax.is_empty() {
            syntax.sort_by_key(|e| e.span().map_or(0, |s| s.start));
            let first = &syntax[0];
            let span = first.span().unwrap_or(0..0);
            let field = key_before(doc.get_ref(), self.text, span.start).unwrap_or_else(|| SYNTAX_FIELD.to_owned());
            return (None, vec![self.error(span, field, format!("invalid TOML: {}", first.message()))]);
        }
        let mut errors = Vec::new();
        // Each round removes one key; a file cannot have more wrong keys than this sensibly.
        for _ in 0..MAX_SHAPE_ERRORS {
            let e = match T::deserialize(toml::de::Deserializer::from(doc.clone())) {
                Ok(parsed) => return (Some(parsed), errors),
                Err(e) => e,
            };
            errors.push(self.shape_error(&e));
            let removable = missing_field(e.message()).is_none();
            if !removable || !e.span().is_some_and(|span| remove_at(doc.get_mut(), &span)) {
                break;
            }
        }
        (None, errors)
    }

    fn shape_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let message = e.message();
        let parent = DeTable::parse(self.text).ok().and_then(|doc| field_path(doc.get_ref(), &span));
        let field = match (parent, missing_field(message)) {
            (Some(table), Some(name)) => format!("{table}.{name}"),
            (None, Some(name)) => name.to_owned(),
            (Some(path), None) => path,
            (None, None) => SYNTAX_FIELD.to_owned(),
        };
        self.error(span, field, message)
    }

    /// Span of the key at `path` (table keys only), to point an error found after parsing
    /// (e.g. by an adapter reading its own settings) at the key that caused it.
    pub fn key_span(&self, path: &[&str]) -> Option<Range<usize>> {
        let doc = DeTable::parse(self.text).ok()?;
        let mut table = doc.get_ref();
        let mut found = None;
        for (i, segment) in path.iter().enumerate() {
            let (key, value) = table.get_key_value(*segment)?;
            found = Some(key.span());
            if i + 1 < path.len() {
                table = value.get_ref().as_table()?;
            }
        }
        found
    }
}

/// Shape errors reported from one file before giving up on it.
const MAX_SHAPE_ERRORS: usize = 50;

/// Removes the deepest key (or the key holding the deepest array item) that `span` falls
/// on. False when the span falls on no key.
fn remove_at(table: &mut DeTable<'_>, span: &Range<usize>) -> bool {
    let mut doomed = None;
    for (key, value) in table.iter_mut() {
        let inside = match value.get_mut() {
            DeValue::Table(inner) => remove_at(inner, span),
            _ => false,
        };
        if inside {
            return true;
        }
        if hits(span, &key.span()) || hits(span, &value.span()) || array_hit(value.get_ref(), span) {
            doomed = Some(key.clone());
            break;
        }
    }
    doomed.is_some_and(|key| table.remove(&key).is_some())
}

/// Whether `span` falls on an item of `value` (an array), however deep.
fn array_hit(value: &DeValue<'_>, span: &Range<usize>) -> bool {
    match value {
        DeValue::Array(items) => items.iter().any(|item| hits(span, &item.span()) || array_hit(item.get_ref(), span)),
        DeValue::Table(table) => {
            table.iter().any(|(k, v)| hits(span, &k.span()) || hits(span, &v.span()) || array_hit(v.get_ref(), span))
        }
        _ => false,
    }
}

/// The name in serde's "missing field \`x\`" message.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// 1-based line and character column of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The dotted path of the deepest key or value the span falls on, if any.
fn field_path(table: &DeTable<'_>, span: &Range<usize>) -> Option<String> {
    let mut segments = Vec::new();
    search_table(table, span, &mut segments).then(|| render(&segments))
}

/// For a syntax error: the last key on the error's line that starts before it (the recovered
/// document's spans are not reliable enough for more).
fn key_before(table: &DeTable<'_>, text: &str, offset: usize) -> Option<String> {
    let line = line_col(text, offset).0;
    let mut keys = Vec::new();
    collect_keys(table, &mut Vec::new(), &mut keys);
    keys.into_iter()
        .filter(|(start, _)| *start <= offset && line_col(text, *start).0 == line)
        .max_by_key(|(start, _)| *start)
        .map(|(_, path)| path)
}

fn collect_keys(table: &DeTable<'_>, path: &mut Vec<Segment>, out: &mut Vec<(usize, String)>) {
    for (key, value) in table {
        path.push(Segment::Key(key.get_ref().to_string()));
        out.push((key.span().start, render(path)));
        if let DeValue::Table(inner) = value.get_ref() {
            collect_keys(inner, path, out);
        }
        path.pop();
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

fn render(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Key(key) if out.is_empty() => out.push_str(key),
            Segment::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Segment::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// Does `span` fall on `other`? An empty span (a position) hits only an identical span, so
/// the document-level `0..0` of "missing field" does not land on the first key.
fn hits(span: &Range<usize>, other: &Range<usize>) -> bool {
    if span.is_empty() { span == other } else { span.start < other.end && other.start < span.end }
}

fn search_table(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<Segment>) -> bool {
    for (key, value) in table {
        path.push(Segment::Key(key.get_ref().to_string()));
        // Children first: a `[section]` header's span does not cover its keys, and the
        // deepest match names the field most precisely.
        if search_value(value, span, path) || hits(span, &key.span()) || hits(span, &value.span()) {
            return true;
        }
        path.pop();
    }
    false
}

fn search_value(value: &Spanned<DeValue<'_>>, span: &Range<usize>, path: &mut Vec<Segment>) -> bool {
    match value.get_ref() {
        DeValue::Table(table) => search_table(table, span, path),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                if search_value(item, span, path) || hits(span, &item.span()) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}
