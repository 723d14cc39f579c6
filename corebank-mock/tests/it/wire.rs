//! The wire format the gateway normalises: envelope, codes, pagination, field shapes.

use axum::http::StatusCode;
use scenegate_corebank_mock::DEMO_PASSWORD;
use serde_json::{Value, json};

use crate::support::{all_accounts, all_txns, get, get_ok, post, seeded, transfer};

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn answers_travel_in_the_envelope() {
    let core = seeded().await;
    let (status, env) = get(&core, "/core/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(env, json!({ "ret_code": "0000", "ret_msg": "success", "data": { "status": "UP" } }));

    let (status, env) = get(&core, "/core/no/such/path").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        (keys(&env), &env["ret_code"], &env["data"]),
        (vec!["data", "ret_code", "ret_msg"], &json!("E404"), &Value::Null)
    );

    let req = axum::http::Request::delete("/core/health").body(axum::body::Body::empty()).unwrap();
    let (status, env) = crate::support::call(&core, req).await;
    assert_eq!((status, &env["ret_code"]), (StatusCode::METHOD_NOT_ALLOWED, &json!("E400")));

    let (status, env) = get(&core, "/core/products/NO-SUCH-PROD").await;
    assert_eq!((status, &env["ret_code"], &env["data"]), (StatusCode::OK, &json!("E404"), &Value::Null));
    let (_, env) = get(&core, "/core/accounts/GL-CNY-CLEARING").await;
    assert_eq!(env["ret_code"], "E404", "GL accounts are not customer-visible");
}

#[tokio::test]
async fn bad_parameters_are_e400_naming_the_parameter() {
    let core = seeded().await;
    for uri in ["/core/products?limit=0", "/core/products?limit=1001", "/core/products?limit=ten"] {
        let (status, env) = get(&core, uri).await;
        assert_eq!((status, &env["ret_code"], &env["data"]), (StatusCode::OK, &json!("E400"), &Value::Null), "{uri}");
        assert!(env["ret_msg"].as_str().unwrap().contains("limit"), "{env}");
    }
    get_ok(&core, "/core/products?limit=1000").await;
    let (_, env) = get(&core, "/core/products?prod_type=MORTGAGE").await;
    assert!(env["ret_code"] == "E400" && env["ret_msg"].as_str().unwrap().contains("prod_type"), "{env}");
    let acct = all_accounts(&core).await[0]["acct_no"].as_str().unwrap().to_owned();
    for (q, name) in [
        ("start_date=20261301", "start_date"),
        ("after_seq=-1", "after_seq"),
        ("start_date=20261002&end_date=20261001", "end_date"),
        ("order=sideways", "order"),
        ("order=desc&after_seq=5", "after_seq"),
        ("before_seq=5", "before_seq"),
    ] {
        let (_, env) = get(&core, &format!("/core/accounts/{acct}/txns?{q}")).await;
        assert!(env["ret_code"] == "E400" && env["ret_msg"].as_str().unwrap().contains(name), "{q}: {env}");
    }
    let mut body = transfer("BAD-1", &acct, "GL-CNY-CLEARING", 0, "CNY");
    let (_, env) = post(&core, "/core/transfers", &body).await;
    assert!(env["ret_code"] == "E400" && env["ret_msg"].as_str().unwrap().contains("amt_fen"), "{env}");
    body["amt_fen"] = json!("100");
    assert!(post(&core, "/core/transfers", &body).await.1["ret_msg"].as_str().unwrap().contains("amt_fen"));
    body["amt_fen"] = json!(100);
    body["ccy"] = json!("USD");
    assert_eq!(post(&core, "/core/transfers", &body).await.1["ret_code"], "E415", "currency mismatch");
    body["req_seq"] = json!("x".repeat(65));
    assert_eq!(post(&core, "/core/transfers", &body).await.1["ret_code"], "E400", "req_seq over 64");
}

#[tokio::test]
async fn statements_page_newest_first_with_before_seq() {
    let core = seeded().await;
    let acct = all_accounts(&core).await[0]["acct_no"].as_str().unwrap().to_owned();
    let forward: Vec<i64> = all_txns(&core, &acct).await.iter().map(|t| t["txn_seq"].as_i64().unwrap()).collect();
    let mut backward = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let cursor = before.map(|b| format!("&before_seq={b}")).unwrap_or_default();
        let page = get_ok(&core, &format!("/core/accounts/{acct}/txns?order=desc&limit=7{cursor}")).await;
        let items = page["items"].as_array().unwrap();
        backward.extend(items.iter().map(|t| t["txn_seq"].as_i64().unwrap()));
        before = backward.last().copied();
        if page["has_more"] != json!(true) {
            break;
        }
    }
    assert!(forward.len() > 14, "several pages");
    assert_eq!(backward, forward.iter().rev().copied().collect::<Vec<_>>(), "the same lines, newest first");
    // The running balance is the line's own, whichever way the statement is read.
    let first_back = get_ok(&core, &format!("/core/accounts/{acct}/txns?order=desc&limit=1")).await;
    let last_forward = all_txns(&core, &acct).await.pop().unwrap();
    assert_eq!(first_back["items"][0]["bal_after_fen"], last_forward["bal_after_fen"]);
}

#[tokio::test]
async fn login_failures_look_the_same() {
    let core = seeded().await;
    let by_mobile = json!({ "login_id": "13800000001", "password": DEMO_PASSWORD });
    let data = post(&core, "/core/customers/verify", &by_mobile).await.1["data"].clone();
    assert_eq!(data, json!({ "cust_no": "C0001", "cust_name": "张三" }));
    let by_no = json!({ "login_id": "C0005", "password": DEMO_PASSWORD });
    assert_eq!(post(&core, "/core/customers/verify", &by_no).await.1["data"]["cust_no"], "C0005");

    let wrong =
        post(&core, "/core/customers/verify", &json!({ "login_id": "13800000001", "password": "nope" })).await.1;
    let unknown =
        post(&core, "/core/customers/verify", &json!({ "login_id": "13999999999", "password": DEMO_PASSWORD })).await.1;
    assert_eq!(wrong["ret_code"], "E401");
    assert_eq!(wrong, unknown, "unknown login and wrong password must be indistinguishable");
    let (_, env) = post(&core, "/core/customers/verify", &json!({ "login_id": "C0001" })).await;
    assert!(env["ret_code"] == "E400" && env["ret_msg"].as_str().unwrap().contains("password"), "{env}");
}

#[tokio::test]
async fn products_page_by_code_with_after() {
    let core = seeded().await;
    let all = get_ok(&core, "/core/products").await;
    let all = all["items"].as_array().unwrap().clone();
    assert_eq!(all.len(), 12);
    let codes: Vec<&str> = all.iter().map(|p| p["prod_code"].as_str().unwrap()).collect();
    assert!(codes.windows(2).all(|w| w[0] < w[1]), "ascending: {codes:?}");

    let (mut paged, mut after) = (Vec::new(), String::new());
    loop {
        let page = get_ok(&core, &format!("/core/products?limit=5&after={after}")).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 5);
        paged.extend(items.iter().cloned());
        after = items.last().map(|p| p["prod_code"].as_str().unwrap().to_owned()).unwrap_or_default();
        if page["has_more"] == json!(false) {
            break;
        }
    }
    assert_eq!(paged, all);
    let page = get_ok(&core, "/core/products?after=DEP-3Y-CNY&limit=2").await;
    assert_eq!(page["items"][0]["prod_code"], "DEP-6M-CNY");
    assert_eq!(page["has_more"], true);

    let deps = get_ok(&core, "/core/products?prod_type=DEP").await;
    assert_eq!(deps["items"].as_array().unwrap().len(), 6);
    let three_m = get_ok(&core, "/core/products/DEP-3M-CNY").await;
    assert_eq!(
        (&three_m["rate_bp"], &three_m["term_mon"], &three_m["min_amt_fen"]),
        (&json!(65), &json!(3), &json!(5000))
    );
    assert_eq!(three_m["upd_time"], "20261101080000");
    let loan = get_ok(&core, "/core/products/SLN-TAX-CNY").await;
    let fee_codes: Vec<&Value> = loan["fees"].as_array().unwrap().iter().map(|f| &f["fee_code"]).collect();
    assert_eq!(fee_codes, ["ARR", "ERP", "LATE"]);
    assert_eq!(loan["elig"]["cust_types"], "B");
    assert!(loan["rate_min_bp"].as_i64() < loan["rate_max_bp"].as_i64());
}

#[tokio::test]
async fn customers_accounts_and_history_have_the_core_shapes() {
    let core = seeded().await;
    let cust = get_ok(&core, "/core/customers/C0001").await;
    assert_eq!(keys(&cust), ["cust_name", "cust_no", "cust_type", "id_no", "id_type", "mobile"]);
    assert_eq!((cust["id_no"].as_str().unwrap().len(), &cust["mobile"]), (18, &json!("13800000001")));
    assert_eq!(get(&core, "/core/customers/C9999").await.1["ret_code"], "E404");
    assert_eq!(get(&core, "/core/customers/C9999/accounts").await.1["ret_code"], "E404");

    let accts = all_accounts(&core).await;
    assert_eq!(accts.len(), 8);
    assert!(
        accts.iter().all(|a| a["acct_no"].as_str().unwrap().len() == 19 && a["open_date"].as_str().unwrap().len() == 8)
    );
    assert_eq!(accts.iter().filter(|a| a["ccy"] == "USD").count(), 2);
    let frozen: Vec<&Value> = accts.iter().filter(|a| a["acct_status"] == "F").collect();
    assert_eq!(frozen.len(), 1);
    let frozen_no = frozen[0]["acct_no"].as_str().unwrap();
    let bal = get_ok(&core, &format!("/core/accounts/{frozen_no}/balance")).await;
    assert_eq!(bal["avail_bal_fen"], 0);
    assert!(bal["ledger_bal_fen"].as_i64().unwrap() > 0);
    assert_eq!(bal["as_of"].as_str().unwrap().len(), 14);
    let (_, env) =
        post(&core, "/core/transfers", &transfer("FROZEN-1", frozen_no, "GL-CNY-CLEARING", 100, "CNY")).await;
    assert_eq!(env["ret_code"], "E423");

    let acct = accts[0]["acct_no"].as_str().unwrap();
    let history = all_txns(&core, acct).await;
    assert!(history.len() > 40, "six months of activity");
    let t = &history[history.len() / 2];
    assert_eq!(
        keys(t),
        ["amt_fen", "bal_after_fen", "ccy", "cpty_acct", "cpty_name", "dr_cr", "memo", "txn_id", "txn_seq", "txn_time"]
    );
    let day = &t["txn_time"].as_str().unwrap()[..8];
    let same_day = get_ok(&core, &format!("/core/accounts/{acct}/txns?start_date={day}&end_date={day}")).await;
    let items = same_day["items"].as_array().unwrap();
    assert!(items.contains(t), "inclusive date range finds {t}");
    assert!(items.iter().all(|i| i["txn_time"].as_str().unwrap().starts_with(day)));
    assert_eq!(get(&core, "/core/accounts/6222020000000000999/txns").await.1["ret_code"], "E404");

    // 李四 is paid by 北京云杉科技: the counterparty is that customer's current account.
    let li_si = get_ok(&core, "/core/customers/C0002/accounts").await["items"][0]["acct_no"].clone();
    let pay = all_txns(&core, li_si.as_str().unwrap()).await.into_iter().find(|t| t["memo"] == "工资").unwrap();
    assert_eq!((&pay["dr_cr"], &pay["cpty_name"]), (&json!("C"), &json!("北京云杉科技有限公司")));
    // Payroll runs at 09:xx Beijing time on the 10th; UTC would read 01:xx.
    let paid_at = pay["txn_time"].as_str().unwrap();
    assert_eq!((&paid_at[6..8], &paid_at[8..10]), ("10", "09"), "{paid_at}");
    let payer = get_ok(&core, &format!("/core/accounts/{}", pay["cpty_acct"].as_str().unwrap())).await;
    assert_eq!((&payer["cust_no"], &payer["acct_type"]), (&json!("C0005"), &json!("CUR")));
}
