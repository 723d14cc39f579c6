//! The committed OpenAPI document is exactly what the code generates, and every example
//! in it is valid against its own schema.

use serde_json::Value;

#[test]
fn committed_adapter_matrix_matches_the_code() {
    let generated = scenegate::api::adapters::capability_matrix();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/adapters.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        generated == committed,
        "openapi/adapters.md is out of date: run `cargo run -q -- adapters > openapi/adapters.md`"
    );
    for name in ["native", "open-platform", "signed-rest", "legacy-mac", "iso20022"] {
        assert!(generated.contains(&format!("`{name}`")), "{name} listed");
    }
}

#[test]
fn committed_spec_matches_the_code() {
    let generated = scenegate::openapi::spec_json();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/scenegate.v1.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if generated != committed {
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        panic!(
            "openapi/scenegate.v1.json is out of date: run `cargo run -q -- openapi > openapi/scenegate.v1.json` (or UPDATE_OPENAPI=1 cargo test committed_spec)"
        );
    }
}

/// Every object that carries an `example` next to schema keywords, with its JSON pointer.
fn schemas_with_examples(v: &Value, pointer: String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) => {
            let is_schema =
                ["type", "$ref", "properties", "allOf", "oneOf", "anyOf"].iter().any(|k| map.contains_key(*k));
            if is_schema && let Some(example) = map.get("example") {
                out.push((pointer.clone(), example.clone()));
            }
            for (k, child) in map {
                if k != "example" && k != "examples" {
                    schemas_with_examples(child, format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                schemas_with_examples(child, format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_example_validates_against_its_schema() {
    let spec: Value = serde_json::from_str(&scenegate::openapi::spec_json()).unwrap();
    let mut found = Vec::new();
    schemas_with_examples(&spec, String::new(), &mut found);
    assert!(found.len() >= 8, "expected examples on the main schemas, found {}", found.len());
    let mut failures = Vec::new();
    for (pointer, example) in &found {
        // The whole document is the root, so `#/components/schemas/…` references resolve.
        let mut root = spec.clone();
        root["$ref"] = Value::String(format!("#{pointer}"));
        let validator = jsonschema::options().with_draft(jsonschema::Draft::Draft202012).build(&root).unwrap();
        for error in validator.iter_errors(example) {
            failures.push(format!("{pointer}: {error} at {}", error.instance_path));
        }
    }
    assert!(failures.is_empty(), "examples that do not match their schema:\n{}", failures.join("\n"));
}

#[test]
fn every_operation_documents_security_errors_and_problem_bodies() {
    let spec: Value = serde_json::from_str(&scenegate::openapi::spec_json()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            // Public by design: the adapters' capability matrix is the same for everyone.
            let public = method == "get" && path == "/v1/adapters";
            if path.starts_with("/v1/") && !public {
                assert!(op["security"].as_array().is_some_and(|s| !s.is_empty()), "{method} {path} has no security");
                for status in ["401", "403", "429"] {
                    assert!(responses.contains_key(status), "{method} {path} lacks {status}");
                }
            }
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        r["content"].get("application/problem+json").is_some(),
                        "{method} {path} {status} is not a problem"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_spec_and_docs_are_served_without_any_cdn() {
    let stack = crate::support::Stack::start();
    let client = crate::support::http();
    let served: Value = client.get(stack.gw.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let generated: Value = serde_json::from_str(&scenegate::openapi::spec_json()).unwrap();
    assert_eq!(served, generated);

    let page = client.get(stack.gw.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "{html}");
    assert!(!html.contains("https://") && !html.contains("http://"), "docs must load nothing from elsewhere:\n{html}");
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css", "swagger-initializer.js"] {
        let res = client.get(stack.gw.url(&format!("/docs/{asset}"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "{asset} is bundled");
    }
}
