//! Paths, queries and bodies of the `iso20022` adapter ⇄ canonical.

use scenegate_adapter_contract::{
    AdapterError, CanonicalRequest, CanonicalResponse, Operation, PartnerAdapter as _, RawRequest, RawResponse,
    canonical::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, SortOrder, TransactionQuery},
};

use super::camt053;
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
}

impl Route<'_> {
    pub fn operation(self) -> Operation {
        match self {
            Self::CreateConsent => Operation::CreateConsent,
            Self::Consent { delete: false, .. } => Operation::GetConsent,
            Self::Consent { delete: true, .. } => Operation::DeleteConsent,
            Self::Accounts => Operation::ListAccounts,
            Self::Statement { .. } => Operation::ListTransactions,
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
    }
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
