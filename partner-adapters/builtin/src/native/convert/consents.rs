//! Account-access consents: canonical ⇄ native wire.

use scenegate_adapter_contract::canonical;

use super::each;
use crate::native::wire;

same_variants!(Permission {
    ReadAccountsBasic,
    ReadAccountsDetail,
    ReadBalances,
    ReadTransactionsBasic,
    ReadTransactionsDetail,
});

same_variants!(ConsentStatus { AwaitingAuthorisation, Authorised, Rejected, Revoked, Expired, Consumed });

impl From<wire::ConsentRequest> for canonical::ConsentRequest {
    fn from(r: wire::ConsentRequest) -> Self {
        let wire::ConsentRequest { permissions, expiration, transaction_from, transaction_to, purpose } = r;
        Self { permissions: each(permissions), expiration, transaction_from, transaction_to, purpose }
    }
}

impl From<canonical::ConsentRequest> for wire::ConsentRequest {
    fn from(r: canonical::ConsentRequest) -> Self {
        let canonical::ConsentRequest { permissions, expiration, transaction_from, transaction_to, purpose } = r;
        Self { permissions: each(permissions), expiration, transaction_from, transaction_to, purpose }
    }
}

impl From<canonical::ConsentView> for wire::ConsentView {
    fn from(v: canonical::ConsentView) -> Self {
        let canonical::ConsentView {
            consent_id,
            status,
            permissions,
            expiration,
            transaction_from,
            transaction_to,
            purpose,
            created_at,
            status_updated_at,
        } = v;
        Self {
            consent_id,
            status: status.into(),
            permissions: each(permissions),
            expiration,
            transaction_from,
            transaction_to,
            purpose,
            created_at,
            status_updated_at,
        }
    }
}

impl From<wire::ConsentView> for canonical::ConsentView {
    fn from(v: wire::ConsentView) -> Self {
        let wire::ConsentView {
            consent_id,
            status,
            permissions,
            expiration,
            transaction_from,
            transaction_to,
            purpose,
            created_at,
            status_updated_at,
        } = v;
        Self {
            consent_id,
            status: status.into(),
            permissions: each(permissions),
            expiration,
            transaction_from,
            transaction_to,
            purpose,
            created_at,
            status_updated_at,
        }
    }
}
