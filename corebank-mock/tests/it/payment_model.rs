//! Random sequences of payments, refunds, replays, voids and freezes, checked step by step
//! against a model of balances, limits and refundable amounts; the ledger must stay
//! balanced throughout.

use std::collections::BTreeMap;

use proptest::prelude::*;
use scenegate_corebank_mock::CoreBank;
use serde_json::{Value, json};

use crate::support::{
    CITYPAY, LI_CNY, PARKEASE, SKYTRIP, WANG_CNY, ZHANG_CNY, away_from_midnight, balance, external_payment, get,
    payment, post, post_ok, refund, seeded, set_limits,
};

const PAYERS: [(&str, &str); 3] = [(ZHANG_CNY, "C0001"), (LI_CNY, "C0002"), (WANG_CNY, "C0003")];
const MERCHANTS: [&str; 3] = [SKYTRIP, PARKEASE, CITYPAY];
const PER_TXN: i64 = 30_000;
const DAILY: i64 = 60_000;

#[derive(Debug, Clone)]
enum Op {
    /// `merchant: None` pays someone at another bank.
    Pay {
        payer: usize,
        merchant: Option<usize>,
        amt_fen: i64,
    },
    /// Refunds part (or more than all) of the `nth` accepted payment.
    Refund {
        nth: usize,
        percent: i64,
    },
    /// Sends an earlier accepted request again, unchanged.
    Replay {
        nth: usize,
    },
    /// Voids a fresh req_seq, then tries to pay with it.
    VoidThenPay {
        payer: usize,
    },
    ToggleFreeze {
        payer: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3_usize, proptest::option::weighted(0.8, 0..3_usize), 1..40_000_i64)
            .prop_map(|(payer, merchant, amt_fen)| Op::Pay { payer, merchant, amt_fen }),
        4 => (0..64_usize, 1..=120_i64).prop_map(|(nth, percent)| Op::Refund { nth, percent }),
        1 => (0..64_usize).prop_map(|nth| Op::Replay { nth }),
        1 => (0..3_usize).prop_map(|payer| Op::VoidThenPay { payer }),
        1 => (0..3_usize).prop_map(|payer| Op::ToggleFreeze { payer }),
    ]
}

struct Paid {
    req_seq: String,
    payer: usize,
    /// Debited by a refund: the merchant account, or clearing.
    creditor: Option<usize>,
    amt_fen: i64,
    refunded: i64,
}

#[derive(Default)]
struct Model {
    bal: BTreeMap<&'static str, i64>,
    used_today: [i64; 3],
    frozen: [bool; 3],
    paid: Vec<Paid>,
    /// Every accepted request: body and its receipt.
    sent: Vec<(Value, Value)>,
}

async fn send(core: &CoreBank, body: &Value) -> (String, Value) {
    let (_, env) = post(core, "/core/payments", body).await;
    (env["ret_code"].as_str().unwrap().to_owned(), env["data"].clone())
}

async fn step(core: &CoreBank, m: &mut Model, i: usize, op: Op) {
    let seq = format!("M-{i}");
    match op {
        Op::Pay { payer, merchant, amt_fen } => {
            let dr = PAYERS[payer].0;
            let body = match merchant {
                Some(k) => payment(&seq, dr, MERCHANTS[k], amt_fen),
                None => external_payment(&seq, dr, amt_fen, "CNY"),
            };
            let want = if m.frozen[payer] {
                "E423"
            } else if amt_fen > PER_TXN {
                "E451"
            } else if m.used_today[payer] + amt_fen > DAILY {
                "E452"
            } else if m.bal[dr] < amt_fen {
                "E402"
            } else {
                "0000"
            };
            let (code, data) = send(core, &body).await;
            assert_eq!(code, want, "{body}");
            if code == "0000" {
                m.used_today[payer] += amt_fen;
                *m.bal.get_mut(dr).unwrap() -= amt_fen;
                if let Some(k) = merchant {
                    *m.bal.get_mut(MERCHANTS[k]).unwrap() += amt_fen;
                }
                m.paid.push(Paid { req_seq: seq, payer, creditor: merchant, amt_fen, refunded: 0 });
                m.sent.push((body, data));
            }
        }
        Op::Refund { nth, percent } if !m.paid.is_empty() => {
            let k = nth % m.paid.len();
            let p = &m.paid[k];
            let amt_fen = (p.amt_fen * percent / 100).max(1);
            let body = refund(&seq, &p.req_seq, amt_fen);
            let from = p.creditor.map(|c| MERCHANTS[c]);
            let want = if m.frozen[p.payer] {
                "E423"
            } else if amt_fen > p.amt_fen - p.refunded {
                "E453"
            } else if from.is_some_and(|f| m.bal[f] < amt_fen) {
                "E402"
            } else {
                "0000"
            };
            let (code, data) = send(core, &body).await;
            assert_eq!(code, want, "{body}");
            if code == "0000" {
                *m.bal.get_mut(PAYERS[p.payer].0).unwrap() += amt_fen;
                if let Some(f) = from {
                    *m.bal.get_mut(f).unwrap() -= amt_fen;
                }
                m.paid[k].refunded += amt_fen;
                m.sent.push((body, data));
            }
        }
        Op::Replay { nth } if !m.sent.is_empty() => {
            let (body, receipt) = &m.sent[nth % m.sent.len()];
            assert_eq!(send(core, body).await, ("0000".to_owned(), receipt.clone()), "{body}");
        }
        Op::VoidThenPay { payer } => {
            let voided = post_ok(core, &format!("/core/payments/{seq}/void"), &json!({})).await;
            assert_eq!(voided["status"], "V");
            let (code, _) = send(core, &payment(&seq, PAYERS[payer].0, SKYTRIP, 1)).await;
            assert_eq!(code, "E410");
        }
        Op::ToggleFreeze { payer } => {
            m.frozen[payer] = !m.frozen[payer];
            let status = if m.frozen[payer] { "F" } else { "N" };
            let path = format!("/core/admin/accounts/{}/status", PAYERS[payer].0);
            post_ok(core, &path, &json!({ "acct_status": status })).await;
        }
        Op::Refund { .. } | Op::Replay { .. } => {}
    }
}

async fn run_model(ops: Vec<Op>) {
    let core = seeded().await;
    away_from_midnight(&core);
    let before = core.ledger_check().await.unwrap();
    let mut m = Model::default();
    for (acct, cust) in PAYERS {
        set_limits(&core, cust, "CNY", PER_TXN, DAILY).await;
        m.bal.insert(acct, balance(&core, acct).await);
    }
    for acct in MERCHANTS {
        m.bal.insert(acct, 0);
    }
    let n = ops.len();
    for (i, op) in ops.into_iter().enumerate() {
        step(&core, &mut m, i, op).await;
    }

    for (acct, bal) in &m.bal {
        assert_eq!(balance(&core, acct).await, *bal, "{acct}: model and core disagree");
    }
    for (_, receipt) in &m.sent {
        let seq = receipt["req_seq"].as_str().unwrap();
        assert_eq!(&get(&core, &format!("/core/payments/{seq}")).await.1["data"], receipt);
    }
    assert!(m.paid.iter().all(|p| p.refunded <= p.amt_fen));
    let after = core.ledger_check().await.unwrap();
    assert!(after.balanced, "{after:?} after {n} steps");
    assert_eq!(after.totals_by_ccy, before.totals_by_ccy);
    assert_eq!(after.txn_count, before.txn_count + i64::try_from(m.sent.len()).unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn random_payments_and_refunds_keep_every_invariant(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run_model(ops));
    }
}
