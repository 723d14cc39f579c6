//! What payments need on top of the original demo data: the demo partners' settlement
//! accounts (business customers with a CNY current account, so a payment can name them as
//! creditor) and every customer's payment limits.
//!
//! Written once, behind its own mark, so a data file seeded before payments existed gains
//! them at its next open.

use rusqlite::{Connection, params};

use super::people::{CUSTOMERS, DemoCustomer, acct_no, id_no};
use crate::Holding;

/// Business customers C0006–C0009, one per kind of demo partner.
pub(crate) const MERCHANTS: [DemoCustomer; 4] = [
    DemoCustomer {
        cust_no: "C0006",
        name: "上海天游旅行科技有限公司",
        cust_type: "B",
        id_type: "21",
        id_body: "91310115MA1K4T8Q2",
        mobile: "13800000006",
    },
    DemoCustomer {
        cust_no: "C0007",
        name: "深圳泊易停车管理有限公司",
        cust_type: "B",
        id_type: "21",
        id_body: "91440300MA5G2P7X1",
        mobile: "13800000007",
    },
    DemoCustomer {
        cust_no: "C0008",
        name: "杭州速充网络科技有限公司",
        cust_type: "B",
        id_type: "21",
        id_body: "91330106MA2H3N6R4",
        mobile: "13800000008",
    },
    DemoCustomer {
        cust_no: "C0009",
        name: "北京城市公共缴费服务有限公司",
        cust_type: "B",
        id_type: "21",
        id_body: "91110105MA7L9W2D5",
        mobile: "13800000009",
    },
];

/// Card serials of the settlement accounts, in `MERCHANTS` order (after the eight of
/// `people::ACCOUNTS`): 6222020000000000091, …0109, …0117, …0125.
pub(crate) const MERCHANT_SERIALS: [u32; 4] = [9, 10, 11, 12];
const MERCHANT_OPENED: &str = "20230601";

/// (customer type, currency, per-payment limit, daily limit), in fen.
pub(crate) const LIMITS: [(&str, &str, i64, i64); 4] = [
    ("P", "CNY", 5_000_000, 20_000_000),
    ("P", "USD", 500_000, 2_000_000),
    ("B", "CNY", 100_000_000, 500_000_000),
    ("B", "USD", 10_000_000, 50_000_000),
];

/// `hashes` are the merchants' password hashes, in `MERCHANTS` order. Every merchant and
/// every customer's limits; the settlement accounts `holding` holds.
pub(crate) fn insert(conn: &Connection, hashes: &[String], holding: &Holding) -> rusqlite::Result<()> {
    for ((c, hash), serial) in MERCHANTS.iter().zip(hashes).zip(MERCHANT_SERIALS) {
        conn.execute(
            "INSERT INTO customers (cust_no, cust_name, cust_type, id_type, id_no, mobile, password_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![c.cust_no, c.name, c.cust_type, c.id_type, id_no(c), c.mobile, hash],
        )?;
        if !holding.holds(&acct_no(serial)) {
            continue;
        }
        conn.execute(
            "INSERT INTO accounts (acct_no, cust_no, acct_name, ccy, acct_type, acct_status, open_date)
             VALUES (?1, ?2, ?3, 'CNY', 'CUR', 'N', ?4)",
            params![acct_no(serial), c.cust_no, c.name, MERCHANT_OPENED],
        )?;
    }
    for c in CUSTOMERS.iter().chain(&MERCHANTS) {
        for (_, ccy, per_txn, daily) in LIMITS.iter().filter(|l| l.0 == c.cust_type) {
            conn.execute(
                "INSERT OR IGNORE INTO cust_limits (cust_no, ccy, per_txn_fen, daily_fen) VALUES (?1, ?2, ?3, ?4)",
                params![c.cust_no, ccy, per_txn, daily],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_settlement_account_numbers() {
        let numbers: Vec<String> = MERCHANT_SERIALS.into_iter().map(acct_no).collect();
        assert_eq!(
            numbers,
            ["6222020000000000091", "6222020000000000109", "6222020000000000117", "6222020000000000125"]
        );
    }

    #[test]
    fn every_customer_type_has_limits_in_both_currencies() {
        for t in ["P", "B"] {
            let ccys: Vec<&str> = LIMITS.iter().filter(|l| l.0 == t).map(|l| l.1).collect();
            assert_eq!(ccys, ["CNY", "USD"], "{t}");
        }
        assert!(LIMITS.iter().all(|l| 0 < l.2 && l.2 <= l.3));
    }
}
