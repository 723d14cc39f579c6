//! The problem catalogue served by the gateway: every problem `type` a partner receives
//! (`https://scenegate.dev/problems/<slug>`) has its page at `/problems/<slug>` on every
//! gateway, as HTML for a developer's browser and as JSON for tools (`Accept:
//! application/json`). The text is `openapi/problems.md`, compiled in: one source for the
//! repository, the OpenAPI description and the running gateway.

use axum::{
    Json,
    extract::Path,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::problem::{self, Kind, Problem};

const CATALOGUE: &str = include_str!("../../openapi/problems.md");
const CSP: &str = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The catalogue's section for `slug`: its text up to the next section.
fn section(slug: &str) -> Option<&'static str> {
    let heading = format!("\n## {slug}\n");
    let start = CATALOGUE.find(&heading)? + heading.len();
    let rest = &CATALOGUE[start..];
    Some(rest[..rest.find("\n## ").unwrap_or(rest.len())].trim())
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"))
}

fn json_of(kind: &Kind) -> serde_json::Value {
    serde_json::json!({
        "type": kind.type_uri(),
        "slug": kind.slug,
        "title": kind.title,
        "description": section(kind.slug).unwrap_or_default(),
        "href": format!("/problems/{}", kind.slug),
    })
}

#[derive(askama::Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · Scenegate problem types</title>
<link rel="stylesheet" href="/static/scenegate.css"></head>
<body><main>
<p><a href="/problems">Problem types</a></p>
{% for entry in entries %}<section id="{{ entry.slug }}">
<h2><a href="/problems/{{ entry.slug }}">{{ entry.slug }}</a></h2>
<p class="lead">{{ entry.title }}</p>
<p><code>{{ entry.uri }}</code></p>
{% if !entry.text.is_empty() %}<pre class="card">{{ entry.text }}</pre>{% endif %}
</section>
{% endfor %}</main></body></html>
"#
)]
struct CataloguePage<'a> {
    title: &'a str,
    entries: Vec<PageEntry>,
}

struct PageEntry {
    slug: &'static str,
    title: &'static str,
    uri: String,
    text: &'static str,
}

fn page(title: &str, kinds: &[Kind], with_text: bool) -> Response {
    use askama::Template as _;
    let entries = kinds
        .iter()
        .map(|k| PageEntry {
            slug: k.slug,
            title: k.title,
            uri: k.type_uri(),
            text: if with_text { section(k.slug).unwrap_or_default() } else { "" },
        })
        .collect();
    let html = CataloguePage { title, entries }.render().unwrap_or_default();
    let mut res = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    res
}

/// `GET /problems`: every problem type.
pub async fn index(headers: HeaderMap) -> Response {
    if wants_json(&headers) {
        return Json(problem::ALL.iter().map(json_of).collect::<Vec<_>>()).into_response();
    }
    page("Problem types", problem::ALL, true)
}

/// `GET /problems/{slug}`: one problem type; an unknown slug is a 404 problem.
pub async fn one(Path(slug): Path<String>, headers: HeaderMap) -> Response {
    let Some(kind) = problem::ALL.iter().find(|k| k.slug == slug) else {
        return Problem::new(axum::http::StatusCode::NOT_FOUND, problem::NOT_FOUND, "no such problem type")
            .into_response();
    };
    if wants_json(&headers) {
        return Json(json_of(kind)).into_response();
    }
    page(kind.slug, std::slice::from_ref(kind), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_type_has_its_text() {
        for k in problem::ALL {
            let text = section(k.slug).unwrap_or_else(|| panic!("no section for {}", k.slug));
            assert!(text.starts_with("**"), "{}: the section starts with its status: {text}", k.slug);
        }
    }
}
