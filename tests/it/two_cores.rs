//! Two core systems behind one gateway, as separate processes in their own wire formats: a
//! legacy core (products, customers, most accounts) and a new core holding one range of
//! account numbers. Partners cannot tell which core served them; a payment between the two
//! is booked once on each, and undone on the first when the second cannot take it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    GatewayOptions, Proc, Stack,
    customer::{Customer, a2_partners, location_params, param, selectable_accounts, tokens},
    get_json, http,
    payments::{authorise_payment, client_token, ledger, pay_partner_toml, signed},
    spawn,
};

const RANGE: &str = "6222020000000000050..=6222020000000000089";
/// 王芳's CNY account (legacy core) and USD account (new core).
const WANG_CNY: &str = "6222020000000000042";
const WANG_USD: &str = "6222020000000000059";
/// 赵磊's CNY account: in the new core, frozen.
const ZHAO_FROZEN: &str = "6222020000000000067";
/// 北京云杉科技's two accounts, both in the new core.
const YUNSHAN_SAVINGS: &str = "6222020000000000075";
const YUNSHAN_CURRENT: &str = "6222020000000000083";

struct TwoCores {
    stack: Stack,
    modern: Proc,
    _modern_dir: tempfile::TempDir,
}

impl TwoCores {
    fn start(partners: Vec<(String, String)>) -> Self {
        let legacy_dir = tempfile::tempdir().unwrap();
        let modern_dir = tempfile::tempdir().unwrap();
        let dir = |d: &tempfile::TempDir| d.path().to_str().unwrap().to_owned();
        let legacy = spawn(
            &["core-mock", "--listen", "127.0.0.1:0", "--data-dir", &dir(&legacy_dir), "--accounts-except", RANGE],
            legacy_dir.path(),
        );
        let modern = spawn(
            &[
                "core-mock",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                &dir(&modern_dir),
                "--dialect",
                "modern",
                "--accounts-only",
                RANGE,
            ],
            modern_dir.path(),
        );
        let mut opts = GatewayOptions::new(&legacy.url);
        opts.partners = partners;
        opts.extra_toml = format!(
            "[[core.systems]]\nname = \"new-core\"\ndialect = \"modern\"\nbase_url = \"{}\"\n\
             accounts = [{{ from = \"6222020000000000050\", to = \"6222020000000000089\" }}]\n",
            modern.url
        );
        let gw = crate::support::Gateway::start(opts);
        Self { stack: Stack { gw, core: legacy, core_dir: legacy_dir }, modern, _modern_dir: modern_dir }
    }

    fn legacy_url(&self) -> &str {
        &self.stack.core.url
    }

    /// An account's booked balance in minor units, asked of the core holding it in its own
    /// wire format.
    async fn core_balance(&self, acct: &str) -> i64 {
        if acct.as_bytes() >= b"6222020000000000050".as_slice() && acct.as_bytes() <= b"6222020000000000089".as_slice()
        {
            let b = get(&format!("{}/api/v2/accounts/{acct}/balance", self.modern.url)).await;
            let (units, cents) = b["booked"].as_str().unwrap().split_once('.').unwrap();
            units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
        } else {
            let b = get(&format!("{}/core/accounts/{acct}/balance", self.legacy_url())).await;
            b["data"]["ledger_bal_fen"].as_i64().unwrap()
        }
    }

    /// Both ledgers balance; their transaction counts (legacy, new).
    async fn ledgers(&self) -> (i64, i64) {
        let legacy = ledger(self.legacy_url()).await["txn_count"].as_i64().unwrap();
        let modern = get(&format!("{}/api/v2/ledger/check", self.modern.url)).await;
        assert_eq!(modern["balanced"], true, "the new core's ledger is out of balance: {modern}");
        (legacy, modern["transaction_count"].as_i64().unwrap())
    }

    async fn freeze(&self, core_url: &str, acct: &str) {
        let res = http()
            .post(format!("{core_url}/core/admin/accounts/{acct}/status"))
            .json(&json!({"acct_status": "F"}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }

    async fn delay_postings(&self, core_url: &str, ms: u64) {
        let res = http()
            .post(format!("{core_url}/core/admin/faults"))
            .json(&json!({"payment_delay_ms": ms}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }
}

/// A partner's read, waiting out the partner's rate limit (`Retry-After`) if it bites: this
/// test reads a lot in a second, which is not what it is about.
async fn read(url: &str, token: &str) -> Value {
    loop {
        let res = http().get(url).bearer_auth(token).send().await.unwrap();
        if res.status() == 429 {
            let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        assert_eq!(res.status(), 200, "{url}");
        return res.json().await.unwrap();
    }
}

/// The payment at `url` once the reconciler has settled it (within 30 s), polled gently: the
/// partner's rate limit applies to this loop too.
async fn settled(url: &str, token: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let read = get_json(url, token).await;
        if read["status"] != "pending" {
            return read;
        }
        assert!(std::time::Instant::now() < deadline, "the reconciler settles the payment: {read}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn get(url: &str) -> Value {
    let res = http().get(url).send().await.unwrap();
    assert!(res.status().is_success(), "{url}: {}", res.status());
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_customer_with_accounts_in_both_cores_sees_one_list_and_each_cores_figures() {
    let cores = TwoCores::start(a2_partners());
    let base = cores.stack.gw.issuer();
    let alpha = cores.stack.gw.partner("ptn_alpha");
    let consent_id = alpha
        .create_consent_with(json!({
            "permissions": ["ReadAccountsDetail", "ReadBalances", "ReadTransactionsDetail"],
            "purpose": "Household budget"
        }))
        .await;
    let pushed = alpha.push(consent_id).await;
    let customer = Customer::new(&base);
    let page = customer.consent_page(&customer.authorize_url(&alpha.id, &pushed.request_uri), "13800000003").await;
    let offered = selectable_accounts(&page);
    assert_eq!(offered.len(), 2, "both cores' accounts are offered: {offered:?}");
    let res = customer.decide(&page, "approve", &offered).await;
    let (_, params) = location_params(&res);
    let token = tokens(&alpha, param(&params, "code").unwrap(), &pushed.verifier).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let list = read(&format!("{base}/v1/accounts"), &token).await;
    let accounts = list["data"].as_array().unwrap();
    let numbers: Vec<&str> = accounts.iter().map(|a| a["account_number"].as_str().unwrap()).collect();
    assert_eq!(numbers, [WANG_CNY, WANG_USD], "{list}");
    // The same shape whichever core holds the account: partners cannot tell.
    let keys = |a: &Value| a.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&accounts[0]), keys(&accounts[1]));
    assert_eq!((accounts[0]["currency"].as_str(), accounts[1]["currency"].as_str()), (Some("CNY"), Some("USD")));

    for (account, number) in accounts.iter().zip([WANG_CNY, WANG_USD]) {
        let id = account["account_id"].as_str().unwrap();
        let balances = read(&format!("{base}/v1/accounts/{id}/balances"), &token).await;
        let booked = balances["data"][0]["booked"]["amount"].as_str().unwrap().replace('.', "");
        assert_eq!(booked.parse::<i64>().unwrap(), cores.core_balance(number).await, "{number}: {balances}");
        let got = read(&format!("{base}/v1/accounts/{id}/transactions?limit=2"), &token).await;
        let lines = got["data"].as_array().unwrap();
        assert_eq!(lines.len(), 2, "{number}: {got}");
        assert!(lines.windows(2).all(|w| w[0]["booked_at"].as_str() >= w[1]["booked_at"].as_str()));
        assert!(
            lines.iter().all(|t| t["booked_at"].as_str().unwrap().ends_with('Z') && t["balance_after"].is_object())
        );
        // The next page continues where this one stopped, in whichever core.
        let next = got["links"]["next"].as_str().unwrap();
        let more = read(&format!("{base}{next}"), &token).await;
        let first_ids: Vec<&Value> = lines.iter().map(|t| &t["transaction_id"]).collect();
        assert!(more["data"].as_array().unwrap().iter().all(|t| !first_ids.contains(&&t["transaction_id"])));
    }
}

fn account_payment(creditor: &str, amount: &str) -> Value {
    json!({
        "type": "single",
        "instructed_amount": {"amount": amount, "currency": "CNY"},
        "creditor": {"account_number": creditor, "name": "北京云杉科技有限公司"},
        "remittance_reference": "INV-2026-1204",
        "scenario": {"code": "bill_payment"}
    })
}

/// A payment of `amount` from 张三's CNY account (legacy core) to `creditor`, consented and
/// approved by him; the payment as first answered.
async fn pay(cores: &TwoCores, key: &str, creditor: &str, amount: &str) -> Value {
    let partner = cores.stack.gw.partner("ptn_pay");
    let write = client_token(&partner, "payments:write").await;
    let consents = cores.stack.gw.url("/v1/payment-consents");
    let (status, consent) = signed(&consents, &write, &format!("c-{key}"), &account_payment(creditor, amount)).await;
    assert_eq!(status, 201, "{consent}");
    let consent_id = consent["consent_id"].as_str().unwrap().to_owned();
    let token = authorise_payment(&cores.stack, &partner, &consent_id, "13800000001").await;
    let body = json!({"consent_id": consent_id, "instructed_amount": {"amount": amount, "currency": "CNY"}});
    let (status, payment) = signed(&cores.stack.gw.url("/v1/payments"), &token, key, &body).await;
    assert_eq!(status, 201, "{payment}");
    payment
}

const PAYER: &str = "6222020000000000018";

fn pay_stack() -> TwoCores {
    TwoCores::start(vec![("pay".into(), pay_partner_toml("ptn_pay", ""))])
}

/// A down core that holds only some accounts leaves the gateway ready (load balancers keep
/// it; products, logins and the other accounts still work) and says so; a down core that
/// holds the products and the customers makes it unready.
#[tokio::test]
async fn a_down_account_core_degrades_readiness_and_a_down_products_core_ends_it() {
    let mut cores = TwoCores::start(a2_partners());
    let ready = |cores: &TwoCores| {
        let url = cores.stack.gw.url("/readyz");
        async move {
            let res = http().get(url).send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = ready(&cores).await;
    assert_eq!((status, &body["core"]["state"]), (200, &json!("up")), "{body}");

    cores.modern.kill();
    let (status, body) = ready(&cores).await;
    assert_eq!(status, 200, "an account core's outage does not take the gateway out of service: {body}");
    assert_eq!(body["core"]["state"], "degraded", "{body}");
    let systems = body["core"]["systems"].as_array().unwrap();
    let state = |name: &str| systems.iter().find(|s| s["name"] == name).map(|s| s["state"].clone());
    assert_eq!((state("core"), state("new-core")), (Some(json!("up")), Some(json!("unreachable"))), "{body}");
    let token = cores.stack.gw.partner("ptn_alpha").access_token().await;
    let product =
        http().get(cores.stack.gw.url("/v1/products/prd_DEP-3M-CNY")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(product.status(), 200, "products are still served");

    cores.stack.core.kill();
    let (status, body) = ready(&cores).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("`core`"), "names the core: {body}");
}

#[tokio::test]
async fn a_payment_between_cores_is_booked_once_on_each_and_both_ledgers_balance() {
    let cores = pay_stack();
    let (payer_before, payee_before) = (cores.core_balance(PAYER).await, cores.core_balance(YUNSHAN_CURRENT).await);
    let counts = cores.ledgers().await;
    let payment = pay(&cores, "p-1", YUNSHAN_CURRENT, "1234.56").await;
    assert_eq!((payment["status"].as_str(), payment["status_code"].as_str()), (Some("completed"), Some("ACSC")));
    assert_eq!(cores.ledgers().await, (counts.0 + 1, counts.1 + 1), "one posting on each core");
    assert_eq!(cores.core_balance(PAYER).await, payer_before - 123_456);
    assert_eq!(cores.core_balance(YUNSHAN_CURRENT).await, payee_before + 123_456);

    // Each side's statement names the other party, as a transfer from another bank would.
    let lines =
        get(&format!("{}/api/v2/accounts/{YUNSHAN_CURRENT}/transactions?limit=1&order=desc", cores.modern.url)).await;
    let line = &lines["transactions"][0];
    assert_eq!((line["direction"].as_str(), line["amount"].as_str()), (Some("credit"), Some("1234.56")), "{line}");
    assert_eq!(line["counterparty"]["account_number"], PAYER);

    // A payee the new core cannot credit is refused before anything moves anywhere.
    let refused = pay(&cores, "p-2", ZHAO_FROZEN, "10.00").await;
    assert_eq!(refused["status_code"], "RJCT", "{refused}");
    assert_eq!(refused["status_reason"]["code"], "AC06");
    assert_eq!(cores.ledgers().await, (counts.0 + 1, counts.1 + 1));
    assert_eq!(cores.core_balance(PAYER).await, payer_before - 123_456);
}

#[tokio::test]
async fn a_credit_that_fails_after_the_debit_is_undone_on_the_payers_core_and_recorded() {
    let cores = pay_stack();
    let payer_before = cores.core_balance(PAYER).await;
    let counts = cores.ledgers().await;
    // The debit's answer is lost (the legacy core answers after the gateway's 1 s timeout,
    // having booked it); before the reconciler comes, the payee's account is frozen.
    cores.delay_postings(cores.legacy_url(), 1_500).await;
    let payment = pay(&cores, "p-1", YUNSHAN_SAVINGS, "88.00").await;
    assert_eq!(payment["status"], "pending", "{payment}");
    cores.delay_postings(cores.legacy_url(), 0).await;
    cores.freeze(&cores.modern.url, YUNSHAN_SAVINGS).await;

    let url = cores.stack.gw.url(&format!("/v1/payments/{}", payment["payment_id"].as_str().unwrap()));
    let write = client_token(&cores.stack.gw.partner("ptn_pay"), "payments:write").await;
    let read = settled(&url, &write).await;
    assert_eq!(
        (read["status_code"].as_str(), read["status_reason"]["code"].as_str()),
        (Some("RJCT"), Some("AC06")),
        "{read}"
    );
    // The payer's core shows the debit and its reversal; the payee's core shows nothing.
    assert_eq!(cores.ledgers().await, (counts.0 + 2, counts.1));
    assert_eq!(cores.core_balance(PAYER).await, payer_before);
    let reversal =
        get(&format!("{}/core/payments/{}-rv", cores.legacy_url(), payment["payment_id"].as_str().unwrap())).await;
    assert_eq!(reversal["data"]["status"], "S", "the reversal is on the payer's core's books: {reversal}");
}

#[tokio::test]
async fn a_credit_whose_answer_is_lost_is_found_booked_not_booked_again() {
    let cores = pay_stack();
    let payee_before = cores.core_balance(YUNSHAN_SAVINGS).await;
    let counts = cores.ledgers().await;
    // The new core books the credit but answers after the gateway's 1 s timeout, twice (the
    // first try and the immediate retry): the gateway cannot know, so the payment is pending.
    cores.delay_postings(&cores.modern.url, 1_500).await;
    let payment = pay(&cores, "p-1", YUNSHAN_SAVINGS, "66.60").await;
    assert_eq!(payment["status"], "pending", "{payment}");
    cores.delay_postings(&cores.modern.url, 0).await;

    let id = payment["payment_id"].as_str().unwrap().to_owned();
    let url = cores.stack.gw.url(&format!("/v1/payments/{id}"));
    let write = client_token(&cores.stack.gw.partner("ptn_pay"), "payments:write").await;
    let read = settled(&url, &write).await;
    assert_eq!(read["status_code"], "ACSC", "the credit was found booked: {read}");
    assert_eq!(cores.ledgers().await, (counts.0 + 1, counts.1 + 1), "one posting on each core, however often sent");
    assert_eq!(cores.core_balance(YUNSHAN_SAVINGS).await, payee_before + 6_660);
    let credit = get(&format!("{}/api/v2/postings/{id}-in", cores.modern.url)).await;
    assert_eq!(credit["status"], "booked", "{credit}");
}

#[tokio::test]
async fn a_payment_from_the_new_core_to_a_merchant_and_its_refund_cross_back_exactly() {
    let cores = pay_stack();
    let merchant = crate::support::payments::MERCHANT_ACCOUNT;
    let (payer_before, merchant_before) =
        (cores.core_balance(YUNSHAN_SAVINGS).await, cores.core_balance(merchant).await);
    let counts = cores.ledgers().await;
    let partner = cores.stack.gw.partner("ptn_pay");
    let write = client_token(&partner, "payments:write").await;
    let consent = json!({
        "type": "single",
        "instructed_amount": {"amount": "300.00", "currency": "CNY"},
        "creditor": {"merchant": "skytrip"},
        "remittance_reference": "TRIP-2026-88",
        "scenario": {"code": "travel", "merchant_category_code": "4722"}
    });
    let (status, consent) = signed(&cores.stack.gw.url("/v1/payment-consents"), &write, "c-1", &consent).await;
    assert_eq!(status, 201, "{consent}");
    let consent_id = consent["consent_id"].as_str().unwrap().to_owned();
    // 北京云杉科技 pays from its savings account, which the new core holds.
    let token = authorise_payment(&cores.stack, &partner, &consent_id, "13800000005").await;
    let body = json!({"consent_id": consent_id, "instructed_amount": {"amount": "300.00", "currency": "CNY"}});
    let (status, payment) = signed(&cores.stack.gw.url("/v1/payments"), &token, "p-1", &body).await;
    assert_eq!((status, payment["status_code"].as_str()), (201, Some("ACSC")), "{payment}");
    assert_eq!(cores.core_balance(YUNSHAN_SAVINGS).await, payer_before - 30_000);
    assert_eq!(cores.core_balance(merchant).await, merchant_before + 30_000);

    let refunds = cores.stack.gw.url(&format!("/v1/payments/{}/refunds", payment["payment_id"].as_str().unwrap()));
    let refund = json!({"amount": {"amount": "120.00", "currency": "CNY"}, "reason": "one night cancelled"});
    let (status, r) = signed(&refunds, &write, "r-1", &refund).await;
    assert_eq!((status, r["status"].as_str()), (201, Some("completed")), "{r}");
    assert_eq!(cores.core_balance(YUNSHAN_SAVINGS).await, payer_before - 18_000);
    assert_eq!(cores.core_balance(merchant).await, merchant_before + 18_000);
    // Payment and refund: two postings on each core, both ledgers balanced.
    assert_eq!(cores.ledgers().await, (counts.0 + 2, counts.1 + 2));
}
