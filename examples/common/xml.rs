//! Reading a bank's ISO 20022 answer in an example: every element's text with where it is.
//! Included by the ISO 20022 examples.

use quick_xml::{Reader, events::Event};

/// An element's text and the names of the elements it is in (itself last).
pub type Element = (Vec<String>, String);

/// Every element's text with the names of the elements it is in, references resolved.
pub fn elements(xml: &str) -> Result<Vec<Element>, Box<dyn std::error::Error>> {
    let mut reader = Reader::from_str(xml);
    let (mut stack, mut text, mut out) = (Vec::<String>::new(), String::new(), Vec::new());
    loop {
        match reader.read_event()? {
            Event::Start(e) => {
                stack.push(e.name().0.to_owned());
                text.clear();
            }
            Event::End(_) => {
                out.push((stack.clone(), std::mem::take(&mut text)));
                stack.pop();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => text.push_str(&quick_xml::escape::unescape(&format!("&{};", r.xml10_content()))?),
            Event::DocType(_) => return Err("a document type declaration in a bank answer".into()),
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

pub fn at<'a>(all: &'a [Element], path: &[&str]) -> Vec<&'a str> {
    all.iter()
        .filter(|(p, _)| p.ends_with(&path.iter().map(|s| s.to_string()).collect::<Vec<_>>()))
        .map(|(_, t)| t.as_str())
        .collect()
}
