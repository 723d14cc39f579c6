//! Arbitrary bytes as a native request's query and JSON body, for every operation: decoded
//! or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scenegate_adapter_contract::{AdapterKind, BuildContext, Operation, RawRequest};

fuzz_target!(|data: &[u8]| {
    let settings = toml::Table::new();
    let adapter = scenegate_adapters::native::Kind.build(&BuildContext::settings_only("ptn_fuzz", &settings)).unwrap();
    let (query, body) = data.split_at(data.iter().position(|b| *b == b'\n').unwrap_or(0));
    let query = String::from_utf8_lossy(query).into_owned();
    let ids = ["product_id", "consent_id", "account_id", "payment_id", "event_id"];
    let req = RawRequest {
        method: "POST".into(),
        path: "/v1/fuzz".into(),
        path_params: ids.iter().map(|k| ((*k).to_owned(), query.chars().take(70).collect())).collect(),
        query: Some(query),
        headers: vec![("content-type".into(), "application/json".into())],
        body: bytes::Bytes::copy_from_slice(body),
        received_at: 0,
    };
    for op in Operation::ALL {
        let _ = adapter.decode(*op, &req);
    }
});
