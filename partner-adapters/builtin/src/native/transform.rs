//! Native requests to canonical ones (query, path, body) and canonical responses to native
//! status and body. Bodies are read into and written from the [`wire`] types only; the
//! field-by-field mapping is in `convert`.

use scenegate_adapter_contract::{
    AdapterError, CanonicalRequest, RawRequest,
    canonical::{
        CanonicalResponse, DEFAULT_PAGE_LIMIT, EventQuery, MAX_PAGE_LIMIT, ProductQuery, ProductType, SortOrder,
        TransactionQuery,
    },
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    convert::each,
    wire::{
        self, AccountList, BalanceList, EventList, PageLinks, PageMeta, ProductList, RefundList, TransactionList,
        query::{ListEventsQuery, ListProductsQuery, ListTransactionsQuery, NoQuery},
    },
};

fn query<T: DeserializeOwned>(req: &RawRequest) -> Result<T, AdapterError> {
    serde_urlencoded::from_str(req.query.as_deref().unwrap_or_default())
        .map_err(|e| AdapterError::field("query", e.to_string()))
}

/// A typed id from a path parameter; the error names the parameter.
fn path_id<T: std::str::FromStr<Err = scenegate_adapter_contract::IdError>>(
    req: &RawRequest,
    name: &str,
) -> Result<T, AdapterError> {
    req.path_param(name).unwrap_or_default().parse().map_err(|e| AdapterError::field(name, format!("{e}")))
}

fn limit(raw: Option<&str>) -> Result<u32, AdapterError> {
    match raw {
        None => Ok(DEFAULT_PAGE_LIMIT),
        Some(s) => {
            s.parse::<u32>().ok().filter(|n| (1..=MAX_PAGE_LIMIT).contains(n)).ok_or_else(|| {
                AdapterError::field("limit", format!("must be a whole number from 1 to {MAX_PAGE_LIMIT}"))
            })
        }
    }
}

fn cursor(raw: Option<String>) -> Result<Option<String>, AdapterError> {
    match raw {
        Some(c) if c.is_empty() || c.len() > 512 => {
            Err(AdapterError::field("cursor", "is not a cursor this API issued"))
        }
        other => Ok(other),
    }
}

pub fn list_products_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    let q: ListProductsQuery = query(req)?;
    let product_type = q.product_type.as_deref().map(parse_product_type).transpose()?;
    Ok(CanonicalRequest::ListProducts(ProductQuery {
        product_type,
        limit: limit(q.limit.as_deref())?,
        cursor: cursor(q.cursor)?,
    }))
}

pub fn get_product_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    query::<NoQuery>(req)?;
    Ok(CanonicalRequest::GetProduct(path_id(req, "product_id")?))
}

pub fn create_consent_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    Ok(CanonicalRequest::CreateConsent(json_body::<wire::ConsentRequest>(req)?.into()))
}

pub fn consent_request(req: &RawRequest, delete: bool) -> Result<CanonicalRequest, AdapterError> {
    query::<NoQuery>(req)?;
    let id = path_id(req, "consent_id")?;
    Ok(if delete { CanonicalRequest::DeleteConsent(id) } else { CanonicalRequest::GetConsent(id) })
}

/// The body as JSON into its wire type, sent as `application/json` (a `charset` other than UTF-8 refused): a
/// body in another media type is refused before it is read, whatever it looks like.
fn json_body<T: DeserializeOwned>(req: &RawRequest) -> Result<T, AdapterError> {
    let content_type = req.header("content-type").unwrap_or_default();
    if !is_json(content_type) {
        let got = if content_type.is_empty() { "no Content-Type".to_owned() } else { format!("`{content_type}`") };
        return Err(AdapterError::UnsupportedMediaType { expected: "application/json", got });
    }
    serde_json::from_slice(&req.body).map_err(|e| AdapterError::MalformedBody(e.to_string()))
}

/// `application/json`, with at most a UTF-8 `charset` parameter, any case and spacing.
pub(crate) fn is_json(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    media.eq_ignore_ascii_case("application/json")
        && parts.all(|param| match param.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            _ => param.is_empty(),
        })
}

pub fn create_payment_consent_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    query::<NoQuery>(req)?;
    Ok(CanonicalRequest::CreatePaymentConsent(Box::new(json_body::<wire::PaymentConsentRequest>(req)?.into())))
}

pub fn payment_consent_request(req: &RawRequest, revoke: bool) -> Result<CanonicalRequest, AdapterError> {
    query::<NoQuery>(req)?;
    let id = path_id(req, "consent_id")?;
    Ok(if revoke { CanonicalRequest::RevokePaymentConsent(id) } else { CanonicalRequest::GetPaymentConsent(id) })
}

pub fn create_payment_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    query::<NoQuery>(req)?;
    Ok(CanonicalRequest::CreatePayment(Box::new(json_body::<wire::PaymentRequest>(req)?.into())))
}

pub fn payment_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    query::<NoQuery>(req)?;
    Ok(CanonicalRequest::GetPayment(path_id(req, "payment_id")?))
}

pub fn create_refund_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    query::<NoQuery>(req)?;
    let body = json_body::<wire::RefundRequest>(req)?;
    Ok(CanonicalRequest::CreateRefund(path_id(req, "payment_id")?, Box::new(body.into())))
}

pub fn list_refunds_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    query::<NoQuery>(req)?;
    Ok(CanonicalRequest::ListRefunds(path_id(req, "payment_id")?))
}

pub fn list_events_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    let q: ListEventsQuery = query(req)?;
    Ok(CanonicalRequest::ListEvents(EventQuery { limit: limit(q.limit.as_deref())?, cursor: cursor(q.cursor)? }))
}

pub fn ack_event_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    query::<NoQuery>(req)?;
    let id = req.path_param("event_id").unwrap_or_default();
    let ok = id
        .strip_prefix("evt_")
        .is_some_and(|b| !b.is_empty() && b.len() <= 64 && b.bytes().all(|c| c.is_ascii_alphanumeric()));
    if !ok {
        return Err(AdapterError::field("event_id", "must start with `evt_` followed by 1 to 64 letters or digits"));
    }
    Ok(CanonicalRequest::AckEvent(id.to_owned()))
}

pub fn list_accounts_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    query::<NoQuery>(req)?;
    Ok(CanonicalRequest::ListAccounts)
}

pub fn account_request(req: &RawRequest, balances: bool) -> Result<CanonicalRequest, AdapterError> {
    query::<NoQuery>(req)?;
    let id = path_id(req, "account_id")?;
    Ok(if balances { CanonicalRequest::GetBalances(id) } else { CanonicalRequest::GetAccount(id) })
}

pub fn list_transactions_request(req: &RawRequest) -> Result<CanonicalRequest, AdapterError> {
    let q: ListTransactionsQuery = query(req)?;
    let id = path_id(req, "account_id")?;
    let order = match q.order.as_deref() {
        None => SortOrder::default(),
        Some(s) => SortOrder::parse(s).ok_or_else(|| AdapterError::field("order", "must be asc or desc"))?,
    };
    let tq = TransactionQuery {
        from: q.from,
        to: q.to,
        limit: limit(q.limit.as_deref())?,
        cursor: cursor(q.cursor)?,
        order,
    };
    Ok(CanonicalRequest::ListTransactions(id, tq))
}

fn parse_product_type(s: &str) -> Result<ProductType, AdapterError> {
    ProductType::parse(s)
        .ok_or_else(|| AdapterError::field("type", "must be one of deposit, consumer_credit, sme_credit"))
}

/// `links.self` and `links.next` of a page, keeping the partner's other parameters.
fn page_links(req: &RawRequest, next_cursor: Option<&str>) -> (PageLinks, PageMeta) {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query.as_deref().unwrap_or_default()).unwrap_or_default();
    let limit = limit(pairs.iter().find(|(k, _)| k == "limit").map(|(_, v)| v.as_str())).unwrap_or(DEFAULT_PAGE_LIMIT);
    let current = pairs.iter().find(|(k, _)| k == "cursor").map(|(_, v)| v.clone());
    let kept: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "cursor").collect();
    let link = |cursor: Option<&str>| {
        let mut pairs = kept.clone();
        if let Some(c) = cursor {
            pairs.push(("cursor".into(), c.into()));
        }
        let qs = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if qs.is_empty() { req.path.clone() } else { format!("{}?{qs}", req.path) }
    };
    (PageLinks { self_: link(current.as_deref()), next: next_cursor.map(|c| link(Some(c))) }, PageMeta { limit })
}

/// Status and JSON body (None: no body) of a canonical response, written from its wire type.
pub fn response_body(req: &RawRequest, res: CanonicalResponse) -> Result<(u16, Option<Vec<u8>>), serde_json::Error> {
    fn json(body: impl Serialize) -> Result<Option<Vec<u8>>, serde_json::Error> {
        serde_json::to_vec(&body).map(Some)
    }
    let created = |created: bool| if created { 201 } else { 200 };
    Ok(match res {
        CanonicalResponse::ProductPage(page) => {
            let (links, meta) = page_links(req, page.next_cursor.as_deref());
            (200, json(ProductList { data: each(page.items), links, meta })?)
        }
        CanonicalResponse::Product(p) => (200, json(wire::Product::from(*p))?),
        CanonicalResponse::Consent { consent, created: c } => (created(c), json(wire::ConsentView::from(*consent))?),
        CanonicalResponse::ConsentDeleted => (204, None),
        CanonicalResponse::AccountList(accounts) => (200, json(AccountList::from(accounts))?),
        CanonicalResponse::Account(a) => (200, json(wire::Account::from(*a))?),
        CanonicalResponse::Balances(balances) => (200, json(BalanceList::from(balances))?),
        CanonicalResponse::TransactionPage(page) => {
            let (links, meta) = page_links(req, page.next_cursor.as_deref());
            (200, json(TransactionList { data: each(page.items), links, meta })?)
        }
        CanonicalResponse::PaymentConsent { consent, created: c } => {
            (created(c), json(wire::PaymentConsentView::from(*consent))?)
        }
        CanonicalResponse::PaymentConsentRevoked(_) => (204, None),
        CanonicalResponse::Payment { payment, created: c } => (created(c), json(wire::PaymentView::from(*payment))?),
        CanonicalResponse::Refund(refund) => (201, json(wire::RefundView::from(*refund))?),
        CanonicalResponse::RefundList(refunds) => (200, json(RefundList::from(refunds))?),
        CanonicalResponse::EventPage(page) => {
            let (links, meta) = page_links(req, page.next_cursor.as_deref());
            (200, json(EventList { data: each(page.items), links, meta })?)
        }
        CanonicalResponse::EventAcked => (204, None),
        // The standard API lists transactions and balances apart; it never asks for one.
        CanonicalResponse::Statement(_) => {
            return Err(serde::ser::Error::custom("the standard API has no statement form"));
        }
        // Bulk payments are ISO 20022's (`pain.001`); the standard API has no bulk form yet.
        CanonicalResponse::BulkPayment { .. } => {
            return Err(serde::ser::Error::custom("the standard API has no bulk payment form"));
        }
    })
}
