//! The legacy core: a `ret_code` envelope (business refusals come with HTTP 200), integer
//! fen, basis points and Beijing-time `yyyyMMddHHmmss` stamps, under `/core/...`. It holds
//! the product catalogue and the customer master (logins, one-time codes) besides accounts.

mod accounts;
mod payments;
pub mod transform;
mod wire;

use async_trait::async_trait;
use scenegate_adapter_contract::{
    ProductId,
    canonical::{Page, Product, ProductQuery},
};
use serde::de::DeserializeOwned;

use super::{
    ClientSetupError, CoreError,
    connector::{CoreConnector, Dialect},
    http::{Answer, ConnectorSettings, HttpCore},
    model::{CoreAccount, CoreBalance, CoreCustomer, CoreTxnPage, TxnQuery},
    posting::{OtpCheck, OtpSent, PostingOrder, PostingOutcome, Settlement},
};

pub struct LegacyCore {
    http: HttpCore,
}

impl LegacyCore {
    pub fn new(system: &str, settings: &ConnectorSettings) -> Result<Self, ClientSetupError> {
        Ok(Self { http: HttpCore::new(system, settings)? })
    }

    async fn read<T: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, CoreError> {
        self.http.read(op, path, query, envelope).await
    }

    async fn write<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &str,
        body: &B,
    ) -> Result<T, CoreError> {
        self.http.write(op, path, body, envelope).await
    }
}

/// Every answer is an envelope, whatever its status below 500: read `ret_code`.
fn envelope<T: DeserializeOwned>(answer: Answer) -> Result<T, CoreError> {
    let envelope: wire::Envelope<T> =
        serde_json::from_slice(&answer.body).map_err(|e| CoreError::Decode(e.to_string()))?;
    envelope.into_result()
}

#[async_trait]
impl CoreConnector for LegacyCore {
    fn dialect(&self) -> Dialect {
        Dialect::Legacy
    }

    fn breaker_state(&self) -> &'static str {
        self.http.breaker_state()
    }

    async fn health(&self) -> Result<(), CoreError> {
        self.read::<serde_json::Value>("health", "/core/health", &[]).await.map(|_| ())
    }

    async fn list_products(&self, q: &ProductQuery) -> Result<Page<Product>, CoreError> {
        let mut params: Vec<(&str, String)> = vec![("limit", q.limit.to_string())];
        if let Some(t) = q.product_type {
            params.push(("prod_type", transform::core_product_type(t).into()));
        }
        if let Some(c) = &q.cursor {
            params.push(("after", transform::decode_cursor(c)?));
        }
        let page: wire::ProductPage = self.read("list_products", "/core/products", &params).await?;
        transform::product_page(page)
    }

    async fn get_product(&self, id: &ProductId) -> Result<Product, CoreError> {
        let path = format!("/core/products/{}", id.key());
        let p: wire::Product = self.read("get_product", &path, &[]).await?;
        transform::product(p)
    }

    async fn identify_customer(&self, login_id: &str) -> Result<Option<String>, CoreError> {
        self.identify(login_id).await
    }

    async fn verify_customer(&self, login_id: &str, password: &str) -> Result<CoreCustomer, CoreError> {
        self.verify(login_id, password).await
    }

    async fn send_otp(&self, cust_no: &str, purpose: &str, reference: &str) -> Result<OtpSent, CoreError> {
        self.otp_send(cust_no, purpose, reference).await
    }

    async fn verify_otp(&self, otp_id: &str, code: &str) -> Result<OtpCheck, CoreError> {
        self.otp_verify(otp_id, code).await
    }

    async fn customer_accounts(&self, cust_no: &str) -> Result<Vec<CoreAccount>, CoreError> {
        self.accounts_of(cust_no).await
    }

    async fn account(&self, acct_no: &str) -> Result<CoreAccount, CoreError> {
        self.one_account(acct_no).await
    }

    async fn balance(&self, acct_no: &str) -> Result<CoreBalance, CoreError> {
        self.one_balance(acct_no).await
    }

    async fn transactions(&self, acct_no: &str, q: &TxnQuery) -> Result<CoreTxnPage, CoreError> {
        self.statement(acct_no, q).await
    }

    async fn post(&self, order: &PostingOrder) -> Result<PostingOutcome, CoreError> {
        self.post_order(order).await
    }

    async fn posting_status(&self, req_seq: &str) -> Result<Settlement, CoreError> {
        self.status_of(req_seq).await
    }

    async fn void(&self, req_seq: &str) -> Result<Settlement, CoreError> {
        self.void_posting(req_seq).await
    }
}

#[cfg(test)]
mod tls_tests;
