//! Six months of account activity before the anchor date, drawn from a fixed-seed RNG so
//! every run produces the same ledger. Every entry goes through `ledger::post`, the same
//! path as live transfers, so the seed can break no invariant the API could not.
//!
//! A core holding only some accounts ([`Holding`]) draws the same entries in the same order
//! and keeps every customer balance in memory, so it skips exactly the spends the unsharded
//! core would. An entry with one side held here and the other elsewhere is booked against
//! the currency's clearing account, with the other account (its holder's name and number)
//! as counterparty: the held account's statement reads as in the unsharded core and this
//! core's ledger balances by itself. An entry with neither side held is skipped.

use jiff::ToSpan;
use jiff::civil::{Date, date};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::Connection;

use std::collections::HashMap;

use super::people::{ACCOUNTS, CUSTOMERS, acct_no, gl};
use crate::error::CoreError;
use crate::ledger::{self, Posting, TransferSpec};
use crate::{Holding, clock};

/// The day the demo data ends; fixed rather than the wall clock so the data never drifts.
pub(crate) fn anchor() -> Date {
    date(2026, 11, 1)
}

const DAYS: i32 = 180;
const RNG_SEED: u64 = 20261101;

/// Card spend: merchant, smallest and largest ticket in yuan.
const MERCHANTS: [(&str, i64, i64); 10] = [
    ("美团外卖", 18, 120),
    ("滴滴出行", 12, 90),
    ("12306 铁路", 54, 933),
    ("京东商城", 30, 2_600),
    ("星巴克", 28, 80),
    ("盒马鲜生", 40, 400),
    ("中国石化加油站", 200, 500),
    ("携程旅行", 300, 3_800),
    ("瑞幸咖啡", 9, 30),
    ("拼多多", 10, 300),
];
const USD_MERCHANTS: [&str; 4] = ["Amazon.com", "Apple.com/bill", "Booking.com", "Uniqlo Tokyo"];
const P2P_MEMOS: [&str; 4] = ["转账", "AA 聚餐", "还款", "生日红包"];

/// (account serial, paid from, employer shown on the statement, monthly salary in fen).
/// 李四 and 赵磊 work for 北京云杉科技 (serial 8), so their pay is a customer-to-customer transfer.
const PAYROLL: [(u32, Option<u32>, &str, i64); 4] = [
    (1, None, "北京星河互联科技有限公司", 2_850_000),
    (4, None, "上海浦江医疗器械有限公司", 2_130_000),
    (3, Some(8), "北京云杉科技有限公司", 1_580_000),
    (6, Some(8), "北京云杉科技有限公司", 1_260_000),
];
const SPENDERS: [u32; 4] = [1, 3, 4, 6];
const USD_SPENDERS: [u32; 2] = [2, 5];

struct Entry {
    at_unix: i64,
    dr: String,
    cr: String,
    amt_fen: i64,
    ccy: &'static str,
    memo: String,
    cpty: Option<String>,
}

/// Where the seed stands: what every demo account would hold in the unsharded core, and
/// which of them this core holds.
struct Book<'a> {
    holding: &'a Holding,
    /// Balance of every demo customer account (held here or not), in fen.
    balances: HashMap<String, i64>,
    /// Each demo customer account's holder name, the counterparty shown across cores.
    names: HashMap<String, &'static str>,
    n: u32,
}

pub(crate) fn run(conn: &Connection, holding: &Holding) -> anyhow::Result<()> {
    let mut book = Book {
        holding,
        balances: ACCOUNTS.iter().map(|a| (acct_no(a.serial), 0)).collect(),
        names: ACCOUNTS.iter().map(|a| (acct_no(a.serial), CUSTOMERS[a.cust].name)).collect(),
        n: 0,
    };
    // Oldest account first, so postings are in time order from the very first one.
    let mut opening: Vec<_> = ACCOUNTS.iter().collect();
    opening.sort_by_key(|a| (a.open_date, a.serial));
    for a in opening {
        let opened = clock::parse_date(a.open_date).unwrap_or(anchor());
        let e = entry(at(opened, 10 * 3600), gl(a.ccy).into(), acct_no(a.serial), a.opening_fen, a.ccy, "开户存入");
        post(conn, &mut book, e)?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(RNG_SEED);
    for back in (1..=DAYS).rev() {
        let day = anchor().checked_sub(back.days())?;
        let mut entries = day_entries(&mut rng, day);
        entries.sort_by_key(|e| e.at_unix);
        for e in entries {
            post(conn, &mut book, e)?;
        }
    }
    Ok(())
}

/// Posts one entry; a spend the account cannot cover is skipped, exactly as the core would
/// refuse it, which keeps every customer balance at or above zero. The entry's number is
/// taken whether or not it posts here, so every core names an entry alike.
fn post(conn: &Connection, book: &mut Book<'_>, e: Entry) -> anyhow::Result<()> {
    book.n += 1;
    let n = book.n;
    if book.balances.get(&e.dr).is_some_and(|bal| *bal < e.amt_fen) {
        return Ok(());
    }
    for (acct, delta) in [(&e.dr, -e.amt_fen), (&e.cr, e.amt_fen)] {
        if let Some(bal) = book.balances.get_mut(acct) {
            *bal += delta;
        }
    }
    // GL accounts are in every core; a demo account only where the holding says.
    let demo = |acct: &str| book.balances.contains_key(acct);
    let elsewhere = |acct: &str| demo(acct) && !book.holding.holds(acct);
    let name = |acct: &str| book.names.get(acct).map(|s| (*s).to_owned());
    let (dr, cr, cpty_name, cpty_acct) = match (elsewhere(&e.dr), elsewhere(&e.cr)) {
        (false, false) => (e.dr, e.cr, e.cpty, None),
        (false, true) if demo(&e.dr) => (e.dr, gl(e.ccy).to_owned(), name(&e.cr), Some(e.cr)),
        (true, false) if demo(&e.cr) => (gl(e.ccy).to_owned(), e.cr, name(&e.dr), Some(e.dr)),
        // Between the clearing account and an account elsewhere, or two accounts elsewhere.
        _ => return Ok(()),
    };
    let spec = TransferSpec {
        req_seq: format!("SEED-{n:06}"),
        dr_acct: dr,
        cr_acct: cr,
        amt_fen: e.amt_fen,
        ccy: e.ccy.into(),
        memo: e.memo,
        cpty_name,
        cpty_acct,
        at_unix: e.at_unix,
        extra_fingerprint: None,
    };
    match ledger::post(conn, &spec) {
        Ok(_) | Err(Posting::Refused(CoreError::InsufficientFunds)) => Ok(()),
        Err(Posting::Refused(e)) => Err(anyhow::anyhow!("seed transfer {}: {e}", spec.req_seq)),
        Err(Posting::Lost) => Err(anyhow::anyhow!("seed req_seq {} collided", spec.req_seq)),
    }
}

fn day_entries(rng: &mut ChaCha8Rng, day: Date) -> Vec<Entry> {
    let mut out = Vec::new();
    let time = |rng: &mut ChaCha8Rng, from_h: i64, to_h: i64| at(day, rng.random_range(from_h * 3600..to_h * 3600));
    if day.day() == 10 {
        for (serial, from, employer, salary) in PAYROLL {
            let jitter = rng.random_range(-salary / 20..=salary / 20);
            let dr = from.map_or_else(|| gl("CNY").into(), acct_no);
            let cpty = from.is_none().then(|| employer.to_owned());
            out.push(Entry { cpty, ..entry(time(rng, 9, 10), dr, acct_no(serial), salary + jitter, "CNY", "工资") });
        }
    }
    if day.day() == 5 || day.day() == 20 {
        let amt = rng.random_range(8_000_000..=25_000_000);
        let e = entry(time(rng, 9, 17), gl("CNY").into(), acct_no(8), amt, "CNY", "货款");
        out.push(Entry { cpty: Some("杭州青禾商贸有限公司".into()), ..e });
    }
    if day.day() == 1 {
        let rent = entry(time(rng, 9, 12), acct_no(8), gl("CNY").into(), 4_500_000, "CNY", "办公室租金");
        out.push(Entry { cpty: Some("北京国贸物业管理有限公司".into()), ..rent });
        out.push(entry(time(rng, 15, 17), acct_no(8), acct_no(7), 5_000_000, "CNY", "资金归集"));
    }
    for serial in SPENDERS {
        if rng.random_ratio(3, 10) {
            let (merchant, lo, hi) = *MERCHANTS.choose(rng).unwrap_or(&MERCHANTS[0]);
            let amt = rng.random_range(lo * 100..=hi * 100);
            let e = entry(time(rng, 7, 23), acct_no(serial), gl("CNY").into(), amt, "CNY", merchant);
            out.push(Entry { cpty: Some(merchant.into()), ..e });
        }
    }
    if rng.random_ratio(1, 10) {
        let from = *SPENDERS.choose(rng).unwrap_or(&1);
        let to = *SPENDERS.iter().filter(|s| **s != from).collect::<Vec<_>>().choose(rng).copied().unwrap_or(&3);
        let memo = *P2P_MEMOS.choose(rng).unwrap_or(&"转账");
        let amt = rng.random_range(50..=2_000) * 100;
        out.push(entry(time(rng, 8, 22), acct_no(from), acct_no(to), amt, "CNY", memo));
    }
    for serial in USD_SPENDERS {
        if rng.random_ratio(1, 20) {
            let merchant = *USD_MERCHANTS.choose(rng).unwrap_or(&USD_MERCHANTS[0]);
            let amt = rng.random_range(1_000..=30_000);
            let e = entry(time(rng, 0, 24), acct_no(serial), gl("USD").into(), amt, "USD", merchant);
            out.push(Entry { cpty: Some(merchant.into()), ..e });
        }
    }
    out
}

fn entry(at_unix: i64, dr: String, cr: String, amt_fen: i64, ccy: &'static str, memo: &str) -> Entry {
    Entry { at_unix, dr, cr, amt_fen, ccy, memo: memo.into(), cpty: None }
}

fn at(day: Date, second_of_day: i64) -> i64 {
    clock::day_start(day) + second_of_day
}
