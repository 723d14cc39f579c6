//! Arbitrary bytes as an `iso20022` request's method, path, query and body: routed, decoded
//! or refused, and any refusal rendered, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scenegate_adapter_contract::{AdapterKind, BuildContext, ErrorView, Operation, RawRequest};

fuzz_target!(|data: &[u8]| {
    let settings = toml::Table::new();
    let adapter =
        scenegate_adapters::iso20022::Kind.build(&BuildContext::settings_only("ptn_fuzz", &settings)).unwrap();
    // First line: `METHOD rest?query`; the rest is the body.
    let (line, body) = data.split_at(data.iter().position(|b| *b == b'\n').unwrap_or(data.len()));
    let line = String::from_utf8_lossy(line).into_owned();
    let (method, target) = line.split_once(' ').unwrap_or(("GET", line.as_str()));
    let (rest, query) = match target.split_once('?') {
        Some((rest, query)) => (rest, Some(query.to_owned())),
        None => (target, None),
    };
    let req = RawRequest {
        method: method.to_owned(),
        path: format!("/gw/ptn_fuzz/{rest}"),
        path_params: vec![("partner_id".into(), "ptn_fuzz".into()), ("rest".into(), rest.to_owned())],
        query,
        headers: vec![("content-type".into(), "application/json".into())],
        body: bytes::Bytes::copy_from_slice(body),
        received_at: 0,
    };
    let _ = adapter.operation(&req);
    for op in Operation::ALL {
        let _ = adapter.order_reference(*op, &req);
        let _ = adapter.decode(*op, &req);
    }
    let error = ErrorView { status: 400, code: "fuzz", title: "fuzz", detail: &line, request_id: "r", retry_after: None };
    let _ = adapter.encode_error(None, &req, &error);
});
