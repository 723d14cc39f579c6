//! Reading ISO 20022 XML a partner sent: a small element tree, within bounds.
//!
//! The document is read whole into memory (it is small: the bounds below), so the checks
//! that follow can look anywhere in it. Nothing is fetched or expanded: a document type
//! declaration (and so any entity of its own, the way to XXE and entity-expansion bombs) is
//! refused, only XML's predefined entities and character references are resolved.

use quick_xml::{Reader, XmlVersion, events::Event};

/// Largest document accepted, in bytes.
pub const MAX_BYTES: usize = 512 * 1024;
/// Deepest nesting of elements (a `pain.001` needs 9).
pub const MAX_DEPTH: usize = 16;
/// Most elements in one document (100 transactions need about 2,500).
pub const MAX_ELEMENTS: usize = 8_000;
/// Longest text of one element, in bytes (ISO's longest text here is 140 characters).
pub const MAX_TEXT: usize = 2_048;

/// One element: its local name (without a namespace prefix), attributes, text and children.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("the document is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("elements are nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("the document has more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error("an element's text is longer than {MAX_TEXT} bytes")]
    TextTooLong,
    #[error("a document type declaration is not accepted")]
    DocType,
    #[error("not well-formed XML: {0}")]
    Malformed(String),
}

impl Node {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at `path` below this one (each step the first child of that name).
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, name| node.child(name))
    }

    /// The trimmed text of the element at `path`, if there is one.
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).map(|n| n.text.trim())
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn local(name: &str) -> String {
    name.rsplit_once(':').map_or(name, |(_, local)| local).to_owned()
}

/// The document's root element.
pub fn parse(bytes: &[u8]) -> Result<Node, TreeError> {
    if bytes.len() > MAX_BYTES {
        return Err(TreeError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| TreeError::Malformed("not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    let malformed = |e: quick_xml::Error| TreeError::Malformed(e.to_string().chars().take(200).collect());
    // Open elements, innermost last; the finished root.
    let mut open: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut count = 0usize;
    loop {
        let event = reader.read_event().map_err(malformed)?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(TreeError::Malformed("content after the root element".into()));
                }
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(TreeError::TooManyElements);
                }
                if open.len() >= MAX_DEPTH {
                    return Err(TreeError::TooDeep);
                }
                let mut node = Node { name: local(e.name().as_ref()), ..Node::default() };
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| TreeError::Malformed(e.to_string()))?;
                    let value = attr.normalized_value(XmlVersion::Implicit1_0).map_err(malformed)?;
                    node.attrs.push((local(attr.key.as_ref()), value.into_owned()));
                }
                if matches!(event, Event::Empty(_)) {
                    close(&mut open, &mut root, node);
                } else {
                    open.push(node);
                }
            }
            Event::End(_) => {
                let node = open.pop().ok_or_else(|| TreeError::Malformed("an end without a start".into()))?;
                close(&mut open, &mut root, node);
            }
            Event::Text(t) => push_text(&mut open, &t.xml10_content())?,
            Event::CData(t) => push_text(&mut open, &t.xml10_content())?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(malformed)? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::unescape(&format!("&{};", r.xml10_content()))
                        .map_err(|e| TreeError::Malformed(e.to_string()))?
                        .into_owned(),
                };
                push_text(&mut open, &resolved)?;
            }
            Event::DocType(_) => return Err(TreeError::DocType),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !open.is_empty() {
        return Err(TreeError::Malformed("the document ends inside an element".into()));
    }
    root.ok_or_else(|| TreeError::Malformed("no root element".into()))
}

fn close(open: &mut [Node], root: &mut Option<Node>, node: Node) {
    match open.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

fn push_text(open: &mut [Node], text: &str) -> Result<(), TreeError> {
    let Some(node) = open.last_mut() else {
        // Whitespace around the root is fine; anything else is not XML.
        return if text.trim().is_empty() { Ok(()) } else { Err(TreeError::Malformed("text outside the root".into())) };
    };
    if node.text.len() + text.len() > MAX_TEXT {
        return Err(TreeError::TextTooLong);
    }
    node.text.push_str(text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_names_without_prefixes_attributes_and_references() {
        let doc =
            parse(br#"<?xml version="1.0"?><p:A xmlns:p="urn:x"><B Ccy="CNY">1&amp;2&#x4E2D;</B><C/></p:A>"#).unwrap();
        assert_eq!(doc.name, "A");
        assert_eq!(doc.text_at(&["B"]), Some("1&2中"));
        assert_eq!(doc.at(&["B"]).unwrap().attr("Ccy"), Some("CNY"));
        assert!(doc.child("C").is_some());
    }

    #[test]
    fn document_types_and_their_entities_are_refused() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        assert_eq!(parse(xxe), Err(TreeError::DocType));
        assert!(matches!(parse(b"<a>&x;</a>"), Err(TreeError::Malformed(_))));
    }

    #[test]
    fn bounds_hold() {
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 1), "</a>".repeat(MAX_DEPTH + 1));
        assert_eq!(parse(deep.as_bytes()), Err(TreeError::TooDeep));
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
        let wide = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert_eq!(parse(wide.as_bytes()), Err(TreeError::TooManyElements));
        let long = format!("<a>{}</a>", "x".repeat(MAX_TEXT + 1));
        assert_eq!(parse(long.as_bytes()), Err(TreeError::TextTooLong));
        assert_eq!(parse(&vec![b' '; MAX_BYTES + 1]), Err(TreeError::TooLarge));
    }

    #[test]
    fn unbalanced_documents_are_refused() {
        for bad in [&b"<a><b></a>"[..], b"<a>", b"", b"<a/><b/>", b"text"] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    proptest! {
        #[test]
        fn no_bytes_panic_it(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn no_nesting_panics_it(depth in 0usize..64) {
            let doc = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
            prop_assert_eq!(parse(doc.as_bytes()).is_ok(), (1..=MAX_DEPTH).contains(&depth));
        }
    }
}
