//! The conformance kit: the same checks over every adapter, so a new protocol is held to
//! what the built-in ones promise. An adapter's test calls [`check`] with its cases (one or
//! more signed or routed requests per operation it declares) and asserts the report is
//! empty.
//!
//! What it checks, per adapter:
//! - every operation the adapter declares is exercised by a case, and each case decodes to
//!   the canonical request it names;
//! - a signed-request adapter refuses each case with any one character of its body, query or
//!   headers changed, and refuses it a day early or late; the same request gives the same
//!   single-use mark twice and different requests different marks;
//! - a token-authenticated adapter at its own paths names each case's operation from the
//!   request's method and path;
//! - no input panics it: truncations, byte flips and pseudo-random bytes through
//!   `authenticate`, `decode` and `encode_error`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::{
    AdapterKind, Authentication, CanonicalRequest, Entry, ErrorView, Operation, PartnerAdapter, RawRequest, ReplayMark,
};

/// One request the adapter must understand.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: &'static str,
    /// The operation the request carries (for standard-path adapters, the one its route names).
    pub operation: Operation,
    pub request: RawRequest,
    /// The gateway's clock when the request is checked (Unix seconds).
    pub now: i64,
    /// What it must decode to.
    pub expect: CanonicalRequest,
}

/// Runs every check; each failure is one line naming the case and what went wrong.
pub fn check(kind: &dyn AdapterKind, adapter: &dyn PartnerAdapter, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    let capabilities = kind.capabilities();
    for op in capabilities.operations {
        if !cases.iter().any(|c| c.operation == *op) {
            failures.push(format!("{}: no case exercises declared operation `{}`", kind.name(), op.name()));
        }
    }
    let signed = matches!(capabilities.authentication, Authentication::SignedRequest { .. });
    let routed_by_path = !signed && capabilities.entry == Entry::PathStyle;
    let mut marks: Vec<(&'static str, ReplayMark)> = Vec::new();
    for case in cases {
        let name = format!("{}/{}", kind.name(), case.name);
        if !capabilities.carries(case.operation) {
            failures.push(format!("{name}: case for `{}`, which the adapter does not declare", case.operation.name()));
        }
        if signed {
            match adapter.authenticate(&case.request, case.now) {
                Ok(ok) if ok.operation != case.operation => failures.push(format!(
                    "{name}: recognised as `{}`, not `{}`",
                    ok.operation.name(),
                    case.operation.name()
                )),
                Ok(ok) => {
                    if ok.operation.moves_money() && ok.idempotency.is_none() {
                        failures.push(format!("{name}: a money-moving request without an idempotency reference"));
                    }
                    match adapter.authenticate(&case.request, case.now) {
                        Ok(again) if again.replay == ok.replay => {}
                        _ => failures.push(format!("{name}: the same request gave another single-use mark")),
                    }
                    if let Some((other, _)) = marks.iter().find(|(_, m)| m.key == ok.replay.key) {
                        failures.push(format!("{name}: same single-use mark as case `{other}`"));
                    }
                    marks.push((case.name, ok.replay));
                }
                Err(e) => failures.push(format!("{name}: refused: {e}")),
            }
            for shift in [-86_400, 86_400] {
                if adapter.authenticate(&case.request, case.now + shift).is_ok() {
                    failures.push(format!("{name}: accepted {shift} seconds away from its time"));
                }
            }
            failures.extend(tampering(adapter, case, &name));
        }
        if routed_by_path {
            match adapter.operation(&case.request) {
                Ok(op) if op == case.operation => {}
                Ok(op) => failures.push(format!("{name}: routed to `{}`, not `{}`", op.name(), case.operation.name())),
                Err(e) => failures.push(format!("{name}: not routed: {e}")),
            }
        }
        match adapter.decode(case.operation, &case.request) {
            Ok(decoded) if decoded == case.expect => {}
            Ok(decoded) => failures.push(format!("{name}: decoded to {decoded:?}, expected {:?}", case.expect)),
            Err(e) => failures.push(format!("{name}: decode refused: {e}")),
        }
        failures.extend(no_panics(adapter, case, &name));
    }
    failures
}

/// Each alphanumeric character of the body and query changed, one at a time, to another
/// that changes the decoded value (a digit to the next digit, a letter to the next letter
/// of the same case): every variant must be refused.
fn tampering(adapter: &dyn PartnerAdapter, case: &Case, name: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let body = case.request.body.to_vec();
    for i in 0..body.len() {
        let Some(changed) = next_alnum(body[i]) else { continue };
        let mut tampered = body.clone();
        tampered[i] = changed;
        let req = RawRequest { body: tampered.into(), ..case.request.clone() };
        if adapter.authenticate(&req, case.now).is_ok() {
            failures.push(format!("{name}: accepted with body byte {i} changed"));
        }
    }
    let case_name = name;
    for (h, (name, value)) in case.request.headers.iter().enumerate() {
        let bytes = value.as_bytes();
        for i in 0..bytes.len() {
            let Some(changed) = next_alnum(bytes[i]) else { continue };
            let mut tampered = bytes.to_vec();
            tampered[i] = changed;
            let mut req = case.request.clone();
            req.headers[h].1 = String::from_utf8_lossy(&tampered).into_owned();
            if adapter.authenticate(&req, case.now).is_ok() {
                failures.push(format!("{case_name}: accepted with header `{name}` byte {i} changed"));
            }
        }
    }
    if let Some(query) = &case.request.query {
        let bytes = query.as_bytes();
        for i in 0..bytes.len() {
            let Some(changed) = next_alnum(bytes[i]) else { continue };
            let mut tampered = bytes.to_vec();
            tampered[i] = changed;
            let req =
                RawRequest { query: Some(String::from_utf8_lossy(&tampered).into_owned()), ..case.request.clone() };
            if adapter.authenticate(&req, case.now).is_ok() {
                failures.push(format!("{name}: accepted with query byte {i} changed"));
            }
        }
    }
    failures
}

fn next_alnum(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => Some(b + 1),
        b'9' => Some(b'0'),
        b'z' => Some(b'a'),
        b'Z' => Some(b'A'),
        _ => None,
    }
}

/// Truncations, flipped bytes and pseudo-random bodies: answers or refusals, never a panic.
fn no_panics(adapter: &dyn PartnerAdapter, case: &Case, name: &str) -> Vec<String> {
    let body = case.request.body.to_vec();
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for cut in [0, 1, body.len() / 3, body.len() / 2, body.len().saturating_sub(1)] {
        inputs.push(body[..cut.min(body.len())].to_vec());
    }
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ body.len() as u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..64 {
        let mut flipped = body.clone();
        if !flipped.is_empty() {
            let at = (next() % flipped.len() as u64) as usize;
            flipped[at] = next().to_le_bytes()[0];
        }
        inputs.push(flipped);
        let len = (next() % 512) as usize;
        inputs.push((0..len).map(|_| next().to_le_bytes()[0]).collect());
    }
    let error = ErrorView {
        status: 400,
        code: "invalid_request",
        title: "The request is malformed",
        detail: "fuzz",
        request_id: "conformance",
        retry_after: None,
    };
    let mut failures = Vec::new();
    for (i, bytes) in inputs.into_iter().enumerate() {
        let req = RawRequest { body: bytes.into(), ..case.request.clone() };
        let ran = catch_unwind(AssertUnwindSafe(|| {
            let _ = adapter.authenticate(&req, case.now);
            let _ = adapter.operation(&req);
            let _ = adapter.decode(case.operation, &req);
            let _ = adapter.encode_error(Some(case.operation), &req, &error);
            let _ = adapter.encode_error(None, &req, &error);
        }));
        if ran.is_err() {
            failures.push(format!("{name}: panicked on mangled input {i}"));
        }
    }
    failures
}
