//! Paths, queries and bodies of the `iso20022` adapter ⇄ canonical.

use scenegate_adapter_contract::{
    AdapterError, CanonicalRequest, CanonicalResponse, ConsentId, IdempotencyRef, Operation, PartnerAdapter as _,
    RawRequest, RawResponse,
    canonical::{BulkStage, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, SortOrder, TransactionQuery},
};

use super::{camt053, pain001, pain002};
use crate::native::Native;

/// A call of this protocol, named by its method and path below `/gw/{partner_id}/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `POST consents`
    CreateConsent,
    /// `GET` or `DELETE consents/{consent_id}`
    Consent { id: &'a str, delete: bool },
    /// `GET accounts`: the consented accounts (their ids for statements)
    Accounts,
    /// `GET camt.053/accounts/{account_id}`
    Statement { account_id: &'a str },
    /// `POST pain.001`: a bulk of credit transfers for the customer to authorise
    Initiate,
    /// `POST pain.001/{consent_id}/execution`: pay the authorised bulk
    Execute { consent_id: &'a str },
    /// `GET pain.002/{consent_id}`: the bulk's status report
    Report { consent_id: &'a str },
}

impl Route<'_> {
    pub fn operation(self) -> Operation {
        match self {
            Self::CreateConsent => Operation::CreateConsent,
            Self::Consent { delete: false, .. } => Operation::GetConsent,
            Self::Consent { delete: true, .. } => Operation::DeleteConsent,
            Self::Accounts => Operation::ListAccounts,
            Self::Statement { .. } => Operation::ListTransactions,
            Self::Initiate => Operation::InitiateBulkPayment,
            Self::Execute { .. } => Operation::ExecuteBulkPayment,
            Self::Report { .. } => Operation::GetBulkPayment,
        }
    }
}

/// The route of `method` at `rest` (the path below `/gw/{partner_id}/`), if the protocol has one.
pub fn route<'a>(method: &str, rest: &'a str) -> Option<Route<'a>> {
    let segments: Vec<&str> = rest.split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["consents"]) => Some(Route::CreateConsent),
        ("GET", ["consents", id]) if !id.is_empty() => Some(Route::Consent { id, delete: false }),
        ("DELETE", ["consents", id]) if !id.is_empty() => Some(Route::Consent { id, delete: true }),
        ("GET", ["accounts"]) => Some(Route::Accounts),
        ("GET", ["camt.053", "accounts", id]) if !id.is_empty() => Some(Route::Statement { account_id: id }),
        ("POST", ["pain.001"]) => Some(Route::Initiate),
        ("POST", ["pain.001", id, "execution"]) if !id.is_empty() => Some(Route::Execute { consent_id: id }),
        ("GET", ["pain.002", id]) if !id.is_empty() => Some(Route::Report { consent_id: id }),
        _ => None,
    }
}

pub fn route_of(req: &RawRequest) -> Option<Route<'_>> {
    route(&req.method, req.path_param("rest").unwrap_or_default())
}

pub fn operation(req: &RawRequest) -> Result<Operation, AdapterError> {
    route_of(req).map(Route::operation).ok_or_else(|| {
        let rest: String = req.path_param("rest").unwrap_or_default().chars().take(64).collect();
        AdapterError::field(
            "path",
            format!("no {} operation at `/{rest}`", req.method.chars().take(8).collect::<String>()),
        )
    })
}

/// The request as the native adapter reads it: the consent id as its `consent_id`.
fn as_native(req: &RawRequest, consent_id: Option<&str>) -> RawRequest {
    let mut native = req.clone();
    native.path_params = consent_id.map(|id| vec![("consent_id".to_owned(), id.to_owned())]).unwrap_or_default();
    native
}

pub fn decode(op: Operation, req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    let route = route_of(req).filter(|r| r.operation() == op).ok_or(AdapterError::Unsupported(op.name()))?;
    match route {
        Route::CreateConsent | Route::Accounts => Native.decode(op, &as_native(req, None)),
        Route::Consent { id, .. } => Native.decode(op, &as_native(req, Some(id))),
        Route::Statement { account_id } => {
            if !req.body.is_empty() {
                return Err(AdapterError::MalformedBody("a statement request carries no body".into()));
            }
            let account_id = account_id.parse().map_err(|e| AdapterError::field("account_id", format!("{e}")))?;
            let (query, _) = statement_query(req)?;
            Ok(CanonicalRequest::Statement(account_id, query))
        }
        Route::Initiate => {
            xml_body(req)?;
            Ok(CanonicalRequest::InitiateBulkPayment(Box::new(pain001::decode(&req.body)?)))
        }
        Route::Execute { consent_id } => {
            no_body(req)?;
            Ok(CanonicalRequest::ExecuteBulkPayment(consent_id_of(consent_id)?))
        }
        Route::Report { consent_id } => {
            no_body(req)?;
            Ok(CanonicalRequest::GetBulkPayment(consent_id_of(consent_id)?))
        }
    }
}

fn consent_id_of(text: &str) -> Result<ConsentId, AdapterError> {
    text.parse().map_err(|e| AdapterError::field("consent_id", format!("{e}")))
}

fn no_body(req: &RawRequest) -> Result<(), AdapterError> {
    if req.body.is_empty() { Ok(()) } else { Err(AdapterError::MalformedBody("this call carries no body".into())) }
}

/// A `pain.001` comes as XML.
fn xml_body(req: &RawRequest) -> Result<(), AdapterError> {
    let got = req.header("content-type").unwrap_or_default();
    let media = got.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("application/xml") || media.eq_ignore_ascii_case("text/xml") {
        Ok(())
    } else {
        Err(AdapterError::UnsupportedMediaType { expected: "application/xml", got: got.chars().take(64).collect() })
    }
}

/// The idempotency reference of a money-moving call: the `MsgId` of a `pain.001` (the
/// document is what must be the same on a retry), the consent of an execution (one
/// execution per consent).
pub fn order_reference(op: Operation, req: &RawRequest) -> Result<Option<IdempotencyRef>, AdapterError> {
    let route = route_of(req).filter(|r| r.operation() == op).ok_or(AdapterError::Unsupported(op.name()))?;
    match route {
        Route::Initiate => {
            // A document whose MsgId cannot be read is refused for what is wrong with it.
            let msg_id = match pain001::original(&req.body).message_id {
                Some(id) => id,
                None => return Err(pain001::decode(&req.body).err().map_or_else(no_message_id, AdapterError::from)),
            };
            Ok(Some(IdempotencyRef { key: key_of(&msg_id), request: req.body.to_vec() }))
        }
        Route::Execute { consent_id } => {
            let id = consent_id_of(consent_id)?;
            Ok(Some(IdempotencyRef { key: id.to_string(), request: id.to_string().into_bytes() }))
        }
        Route::CreateConsent
        | Route::Consent { .. }
        | Route::Accounts
        | Route::Statement { .. }
        | Route::Report { .. } => Ok(None),
    }
}

fn no_message_id() -> AdapterError {
    AdapterError::field("GrpHdr/MsgId", "must be 1 to 35 characters")
}

/// A message id as an idempotency key: itself when it is made of the key's characters,
/// else its SHA-256 (a `MsgId` may hold any text).
fn key_of(msg_id: &str) -> String {
    use sha2::{Digest as _, Sha256};
    if msg_id.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b)) {
        return msg_id.to_owned();
    }
    let digest = Sha256::digest(msg_id.as_bytes());
    format!("sha256.{}", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>())
}

/// The largest statement page number (`StmtPgntn/PgNb` is at most 5 digits).
const MAX_PAGE_NUMBER: u32 = 99_999;

/// `from`, `to` (RFC 3339), `limit` and `cursor` (`{page}.{gateway cursor}`) of a statement
/// request, and the number of the page asked for (1 without a cursor). Entries are always
/// oldest first.
pub fn statement_query(req: &RawRequest) -> Result<(TransactionQuery, u32), AdapterError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query.as_deref().unwrap_or_default())
        .map_err(|e| AdapterError::field("query", e.to_string()))?;
    let mut query =
        TransactionQuery { from: None, to: None, limit: DEFAULT_PAGE_LIMIT, cursor: None, order: SortOrder::Asc };
    let mut page = 1;
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &pairs {
        if seen.contains(&name.as_str()) {
            return Err(AdapterError::field(name.chars().take(40).collect::<String>(), "given more than once"));
        }
        seen.push(name);
        match name.as_str() {
            "from" | "to" => {
                if value.is_empty() || value.len() > 64 {
                    return Err(AdapterError::field(name.clone(), "must be an RFC 3339 date-time"));
                }
                if name == "from" {
                    query.from = Some(value.clone());
                } else {
                    query.to = Some(value.clone());
                }
            }
            "limit" => {
                query.limit = value.parse().ok().filter(|n| (1..=MAX_PAGE_LIMIT).contains(n)).ok_or_else(|| {
                    AdapterError::field("limit", format!("must be a whole number from 1 to {MAX_PAGE_LIMIT}"))
                })?;
            }
            "cursor" => {
                let issued = || AdapterError::field("cursor", "is not a cursor this API issued");
                let (number, cursor) = value.split_once('.').ok_or_else(issued)?;
                page = number
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (2..=MAX_PAGE_NUMBER).contains(n) && !number.starts_with('0'))
                    .ok_or_else(issued)?;
                if cursor.is_empty() || cursor.len() > 512 {
                    return Err(issued());
                }
                query.cursor = Some(cursor.to_owned());
            }
            other => {
                return Err(AdapterError::field(other.chars().take(40).collect::<String>(), "unknown parameter"));
            }
        }
    }
    Ok((query, page))
}

pub fn encode(op: Operation, req: &RawRequest, res: CanonicalResponse) -> Result<RawResponse, AdapterError> {
    match (route_of(req), res) {
        (Some(Route::Statement { .. }), CanonicalResponse::Statement(statement)) => {
            let (_, page) = statement_query(req)?;
            let mut out = RawResponse::new(200, "application/xml", camt053::render(req, page, &statement)?);
            if let Some(next) = &statement.transactions.next_cursor {
                if page >= MAX_PAGE_NUMBER {
                    return Err(AdapterError::Encode("a statement of more than 99999 pages".into()));
                }
                out.headers.push(("link".into(), format!("<{}>; rel=\"next\"", next_link(req, page + 1, next))));
            }
            Ok(out)
        }
        (
            Some(Route::Initiate | Route::Execute { .. } | Route::Report { .. }),
            CanonicalResponse::BulkPayment { bulk, stage },
        ) => {
            let body = pain002::report(req, &bulk)?;
            Ok(match stage {
                // The consent id reaches the partner as the status report's location.
                BulkStage::Initiated => {
                    let mut out = RawResponse::new(201, "application/xml", body);
                    let partner = req.path_param("partner_id").unwrap_or_default();
                    out.headers.push(("location".into(), format!("/gw/{partner}/pain.002/{}", bulk.consent_id)));
                    out
                }
                BulkStage::Executed | BulkStage::Read => RawResponse::new(200, "application/xml", body),
            })
        }
        (Some(Route::CreateConsent | Route::Consent { .. } | Route::Accounts), res) => Native.encode(op, req, res),
        _ => Err(AdapterError::Encode("this answer has no iso20022 form".into())),
    }
}

/// The path and query of the next page: the same request with `cursor={page}.{cursor}`.
fn next_link(req: &RawRequest, page: u32, cursor: &str) -> String {
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query.as_deref().unwrap_or_default()).unwrap_or_default();
    pairs.retain(|(k, _)| k != "cursor");
    pairs.push(("cursor".into(), format!("{page}.{cursor}")));
    format!("{}?{}", req.path, serde_urlencoded::to_string(&pairs).unwrap_or_default())
}
