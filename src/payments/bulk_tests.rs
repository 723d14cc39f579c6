//! Bulk payments against a real core-bank mock and each store engine: one execution pays
//! each listed transaction once, whatever races it or comes back with the same message.

use std::sync::Arc;

use scenegate_adapter_contract::{
    Currency, Money,
    canonical::{BulkPaymentRequest, BulkTransaction, ConsentStatus, Creditor, Iso20022Status},
};

use super::tests::{World, world};
use super::*;
use crate::idempotency::{self, Begin, IdempotencyKey};

/// Seeded merchant settlement accounts of the core mock (they start at zero).
const PAYEES: [&str; 3] = ["6222020000000000109", "6222020000000000117", "6222020000000000125"];

fn request(message_id: &str, fen: &[i64]) -> BulkPaymentRequest {
    BulkPaymentRequest {
        message_id: message_id.into(),
        payment_info_id: format!("PMT-{message_id}"),
        currency: Currency::Cny,
        debtor_account_id: None,
        transactions: fen
            .iter()
            .enumerate()
            .map(|(i, minor)| BulkTransaction {
                end_to_end_id: format!("E2E-{i}"),
                amount: Money::from_minor(*minor, Currency::Cny),
                creditor: Creditor {
                    merchant: None,
                    account_number: Some(PAYEES[i % PAYEES.len()].into()),
                    name: Some(format!("Supplier {i}")),
                    bank_code: None,
                },
                remittance_reference: format!("Invoice {i}"),
            })
            .collect(),
    }
}

impl World {
    /// A bulk the customer C0001 authorised from their CNY account.
    async fn authorised_bulk(&self, message_id: &str, fen: &[i64]) -> Consent {
        let view = self.payments.create_bulk(&self.partner, request(message_id, fen)).await.unwrap();
        assert_eq!(view.consent_status, ConsentStatus::AwaitingAuthorisation);
        self.consents.authorise(&view.consent_id, "C0001", vec![self.debtor.clone()]).await.unwrap()
    }

    /// One execution under its own idempotency key (as distinct requests would be).
    async fn execute(&self, consent: &Consent, key: &str) -> Result<BulkPaymentView, PaymentError> {
        let key = IdempotencyKey::parse(Some(key)).unwrap();
        let fingerprint = idempotency::fingerprint("ADAPTED", "execute_bulk_payment", consent.id.as_str().as_bytes());
        let Begin::Claimed(claim) = self.idem.begin("ptn_pay", &key, &fingerprint, self.clock.now()).await.unwrap()
        else {
            panic!("a fresh key is claimed")
        };
        let done = self.payments.execute_bulk(&self.partner, consent, &consent.id, &claim).await;
        if done.is_err() {
            self.idem.release(&claim).await.unwrap();
        }
        done
    }
}

use scenegate_adapter_contract::canonical::BulkPaymentView;

fn statuses(view: &BulkPaymentView) -> Vec<Option<Iso20022Status>> {
    view.transactions.iter().map(|t| t.payment.as_ref().map(|p| p.status)).collect()
}

async fn an_executed_bulk_paid_each_transaction_once_and_is_consumed() {
    let w = world(2_000).await;
    let before = w.txn_count().await;
    let consent = w.authorised_bulk("MSG-1", &[1_250, 300_050, 8_800]).await;
    let view = w.execute(&consent, "exec-1").await.unwrap();
    assert_eq!(statuses(&view), vec![Some(Iso20022Status::Acsc); 3]);
    assert_eq!(view.consent_status, ConsentStatus::Consumed);
    assert_eq!(w.txn_count().await, before + 3, "one posting per transaction");

    // Another request (a new key) finds the consent consumed and pays nothing.
    match w.execute(&consent, "exec-2").await {
        Err(PaymentError::Refused(Refused::ConsentState(ConsentStatus::Consumed))) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(w.txn_count().await, before + 3);
    // A single payment cannot spend a bulk consent either.
    let read = w.payments.bulk("ptn_pay", &consent.id).await.unwrap();
    assert_eq!(read, view);
}

async fn racing_executions_pay_each_transaction_exactly_once() {
    let w = Arc::new(world(2_000).await);
    let before = w.txn_count().await;
    let consent = w.authorised_bulk("MSG-RACE", &[1_000, 2_000, 3_000, 4_000]).await;
    let runs: Vec<_> = (0..10)
        .map(|i| {
            let (w, consent) = (w.clone(), consent.clone());
            tokio::spawn(async move { w.execute(&consent, &format!("race-{i}")).await })
        })
        .collect();
    let mut won = 0;
    for run in runs {
        match run.await.unwrap() {
            Ok(view) => {
                won += 1;
                assert!(view.transactions.iter().all(|t| t.payment.is_some()));
            }
            Err(PaymentError::Refused(Refused::ConsentState(ConsentStatus::Consumed))) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1, "one execution records the payments");
    assert_eq!(w.txn_count().await, before + 4, "each transaction posted once");
}

/// A second bulk under the same message id (its idempotency record long gone) names the same
/// transactions: their payments are the same and cannot be made again.
async fn the_same_message_can_never_pay_its_transactions_twice() {
    let w = world(2_000).await;
    let before = w.txn_count().await;
    let first = w.authorised_bulk("MSG-AGAIN", &[1_000, 2_000]).await;
    w.execute(&first, "again-1").await.unwrap();
    let second = w.authorised_bulk("MSG-AGAIN", &[1_000, 2_000]).await;
    match w.execute(&second, "again-2").await {
        Err(PaymentError::Refused(Refused::ConsentState(ConsentStatus::Consumed))) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(w.txn_count().await, before + 2);
    let view = w.payments.bulk("ptn_pay", &second.id).await.unwrap();
    assert_eq!(view.consent_status, ConsentStatus::Authorised, "nothing of the refused execution was kept");
    assert!(view.transactions.iter().all(|t| t.payment.is_none()));
}

/// The store's own rule, whatever the code above it does: one payment per transaction.
async fn the_store_refuses_a_second_payment_for_a_transaction() {
    let w = world(2_000).await;
    let consent = w.authorised_bulk("MSG-INDEX", &[1_000]).await;
    let view = w.execute(&consent, "index-1").await.unwrap();
    let paid = view.transactions[0].payment.as_ref().unwrap().payment_id.clone();
    let (c, p) = (consent.id.as_str(), paid.as_str());
    let refused = match &w._stores.engine {
        crate::store::Engine::Sqlite(db) => {
            sqlx::query("INSERT INTO bulk_payments (consent_id, end_to_end_id, payment_id) VALUES (?1, 'E2E-0', ?2)")
                .bind(c)
                .bind(p)
                .execute(db.writer.pool())
                .await
                .map(drop)
        }
        crate::store::Engine::Postgres(pool) => {
            sqlx::query("INSERT INTO bulk_payments (consent_id, end_to_end_id, payment_id) VALUES ($1, 'E2E-0', $2)")
                .bind(c)
                .bind(p)
                .execute(pool)
                .await
                .map(drop)
        }
    };
    match refused {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
        other => panic!("a second row for one transaction was accepted: {other:?}"),
    }
}

async fn a_bulk_is_checked_like_single_payments() {
    let w = world(2_000).await;
    let over = w.payments.create_bulk(&w.partner, request("MSG-BIG", &[1_000, 500_001])).await;
    assert!(matches!(over, Err(PaymentError::InvalidField { field: "instructed_amount", .. })), "{over:?}");
    let mut usd = request("MSG-USD", &[1_000]);
    usd.currency = Currency::Usd;
    usd.transactions[0].amount = Money::from_minor(1_000, Currency::Usd);
    assert!(matches!(
        w.payments.create_bulk(&w.partner, usd).await,
        Err(PaymentError::InvalidField { field: "currency", .. })
    ));
    // A bulk consent is paid by its execution, not by a single payment.
    let consent = w.authorised_bulk("MSG-SINGLE", &[1_000]).await;
    let key = IdempotencyKey::parse(Some("single-on-bulk")).unwrap();
    let Begin::Claimed(claim) = w.idem.begin("ptn_pay", &key, "fp", w.clock.now()).await.unwrap() else { panic!() };
    let req = scenegate_adapter_contract::canonical::PaymentRequest {
        consent_id: consent.id.clone(),
        instructed_amount: Money::from_minor(1_000, Currency::Cny),
        remittance_reference: None,
    };
    assert!(matches!(
        w.payments.initiate(&w.partner, &consent, req, &claim, None).await,
        Err(PaymentError::InvalidField { field: "consent_id", .. })
    ));
}

crate::store::test_support::on_every_engine!(
    an_executed_bulk_paid_each_transaction_once_and_is_consumed,
    racing_executions_pay_each_transaction_exactly_once,
    the_same_message_can_never_pay_its_transactions_twice,
    the_store_refuses_a_second_payment_for_a_transaction,
    a_bulk_is_checked_like_single_payments,
);
