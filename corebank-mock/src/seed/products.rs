//! The product catalogue: deposits at rates close to Chinese large banks' late-2026 boards,
//! consumer (CLN) and SME (SLN) credit with rate and term ranges, fees and eligibility.

use rusqlite::{Connection, params};

use crate::wire::{Elig, Fee, Product};

const UPD_TIME: &str = "20261101080000";

fn dep(
    code: &str,
    name: &str,
    desc: &str,
    ccy: &str,
    rate_bp: i64,
    term_mon: Option<i64>,
    min_amt_fen: i64,
) -> Product {
    Product {
        prod_code: code.into(),
        prod_type: "DEP".into(),
        prod_name: name.into(),
        prod_desc: desc.into(),
        ccy: ccy.into(),
        rate_bp: Some(rate_bp),
        term_mon,
        min_amt_fen,
        max_amt_fen: None,
        rate_min_bp: None,
        rate_max_bp: None,
        term_min_mon: None,
        term_max_mon: None,
        fees: Vec::new(),
        elig: None,
        upd_time: UPD_TIME.into(),
    }
}

struct Credit {
    code: &'static str,
    prod_type: &'static str,
    name: &'static str,
    desc: &'static str,
    rate_bp: (i64, i64),
    term_mon: (i64, i64),
    amt_fen: (i64, i64),
    arr: Fee,
    elig: Elig,
}

fn credit(c: Credit) -> Product {
    Product {
        prod_code: c.code.into(),
        prod_type: c.prod_type.into(),
        prod_name: c.name.into(),
        prod_desc: c.desc.into(),
        ccy: "CNY".into(),
        rate_bp: None,
        term_mon: None,
        min_amt_fen: c.amt_fen.0,
        max_amt_fen: Some(c.amt_fen.1),
        rate_min_bp: Some(c.rate_bp.0),
        rate_max_bp: Some(c.rate_bp.1),
        term_min_mon: Some(c.term_mon.0),
        term_max_mon: Some(c.term_mon.1),
        fees: vec![
            c.arr,
            fee("ERP", "Early repayment: 1% of the principal repaid early", None, Some(100)),
            fee("LATE", "Late payment: penalty interest at 150% of the contract rate", None, Some(5000)),
        ],
        elig: Some(c.elig),
        upd_time: UPD_TIME.into(),
    }
}

fn fee(code: &str, desc: &str, amt_fen: Option<i64>, rate_bp: Option<i64>) -> Fee {
    Fee { fee_code: code.into(), fee_desc: desc.into(), fee_amt_fen: amt_fen, fee_rate_bp: rate_bp }
}

fn elig(ages: Option<(i64, i64)>, cust_types: &str, min_income_fen: Option<i64>, min_trade_years: Option<i64>) -> Elig {
    Elig {
        age_min: ages.map(|a| a.0),
        age_max: ages.map(|a| a.1),
        cust_types: cust_types.into(),
        min_income_fen,
        min_trade_years,
    }
}

pub(crate) fn catalogue() -> Vec<Product> {
    let no_arr = || fee("ARR", "No arrangement fee", Some(0), None);
    vec![
        dep(
            "DEP-DEMAND-CNY",
            "活期储蓄",
            "Demand savings in CNY, withdraw any time; interest settled quarterly.",
            "CNY",
            5,
            None,
            100,
        ),
        dep(
            "DEP-3M-CNY",
            "三个月整存整取",
            "Three-month fixed-term deposit in CNY; early withdrawal earns the demand rate.",
            "CNY",
            65,
            Some(3),
            5000,
        ),
        dep(
            "DEP-6M-CNY",
            "六个月整存整取",
            "Six-month fixed-term deposit in CNY; early withdrawal earns the demand rate.",
            "CNY",
            85,
            Some(6),
            5000,
        ),
        dep(
            "DEP-1Y-CNY",
            "一年整存整取",
            "One-year fixed-term deposit in CNY; early withdrawal earns the demand rate.",
            "CNY",
            95,
            Some(12),
            5000,
        ),
        dep(
            "DEP-3Y-CNY",
            "三年整存整取",
            "Three-year fixed-term deposit in CNY; early withdrawal earns the demand rate.",
            "CNY",
            125,
            Some(36),
            5000,
        ),
        dep(
            "DEP-1Y-USD",
            "美元一年定期存款",
            "One-year fixed-term deposit in USD for holders of a USD savings account.",
            "USD",
            250,
            Some(12),
            10000,
        ),
        credit(Credit {
            code: "CLN-SALARY-CNY",
            prod_type: "CLN",
            name: "薪享贷",
            desc: "Unsecured consumer loan for salaried customers paid through the bank; monthly instalments.",
            rate_bp: (320, 1800),
            term_mon: (6, 60),
            amt_fen: (100_000, 30_000_000),
            arr: no_arr(),
            elig: elig(Some((22, 60)), "P", Some(500_000), None),
        }),
        credit(Credit {
            code: "CLN-CAR-CNY",
            prod_type: "CLN",
            name: "乐享车贷",
            desc: "Car purchase loan secured on the vehicle, up to 80% of its price.",
            rate_bp: (350, 900),
            term_mon: (12, 60),
            amt_fen: (5_000_000, 50_000_000),
            arr: fee("ARR", "Arrangement fee, flat", Some(50_000), None),
            elig: elig(Some((18, 65)), "P", Some(400_000), None),
        }),
        credit(Credit {
            code: "CLN-RENO-CNY",
            prod_type: "CLN",
            name: "安居装修贷",
            desc: "Home renovation loan paid directly to the contractor against invoices.",
            rate_bp: (360, 1200),
            term_mon: (12, 96),
            amt_fen: (3_000_000, 100_000_000),
            arr: no_arr(),
            elig: elig(Some((22, 65)), "P", Some(600_000), None),
        }),
        credit(Credit {
            code: "SLN-OWNER-CNY",
            prod_type: "SLN",
            name: "小微经营贷",
            desc: "Working-capital loan for sole proprietors and micro businesses, owner guarantee.",
            rate_bp: (400, 1800),
            term_mon: (12, 60),
            amt_fen: (1_000_000, 100_000_000),
            arr: fee("ARR", "Arrangement fee: 0.5% of the amount drawn", None, Some(50)),
            elig: elig(Some((22, 60)), "P,B", None, Some(1)),
        }),
        credit(Credit {
            code: "SLN-SETTLE-CNY",
            prod_type: "SLN",
            name: "结算流水贷",
            desc: "Revolving SME credit line sized on 12 months of settlement turnover with the bank.",
            rate_bp: (380, 1200),
            term_mon: (6, 36),
            amt_fen: (5_000_000, 500_000_000),
            arr: no_arr(),
            elig: elig(None, "B", None, Some(2)),
        }),
        credit(Credit {
            code: "SLN-TAX-CNY",
            prod_type: "SLN",
            name: "税e贷",
            desc: "Online SME loan priced on tax filing history; drawn and repaid in the app.",
            rate_bp: (350, 1500),
            term_mon: (3, 36),
            amt_fen: (1_000_000, 300_000_000),
            arr: no_arr(),
            elig: elig(None, "B", None, Some(2)),
        }),
    ]
}

pub(crate) fn insert(conn: &Connection) -> anyhow::Result<()> {
    for p in catalogue() {
        conn.execute(
            "INSERT INTO products (prod_code, prod_type, body) VALUES (?1, ?2, ?3)",
            params![&p.prod_code, &p.prod_type, serde_json::to_string(&p)?],
        )?;
    }
    Ok(())
}
