//! The demo customers and their accounts: fixed data, so the gateway's tests and demos can
//! name them. Account and identity numbers carry real check digits (Luhn for cards,
//! GB 11643 for resident ids, GB 32100 for the business credit code) so validators accept them.

use rusqlite::{Connection, params};

use crate::Holding;

pub(crate) struct DemoCustomer {
    pub cust_no: &'static str,
    pub name: &'static str,
    pub cust_type: &'static str,
    /// `01` resident identity card; `21` unified social credit code (businesses).
    pub id_type: &'static str,
    /// Without its final check character, which is computed.
    pub id_body: &'static str,
    pub mobile: &'static str,
}

pub(crate) const CUSTOMERS: [DemoCustomer; 5] = [
    DemoCustomer {
        cust_no: "C0001",
        name: "张三",
        cust_type: "P",
        id_type: "01",
        id_body: "11010519900307123",
        mobile: "13800000001",
    },
    DemoCustomer {
        cust_no: "C0002",
        name: "李四",
        cust_type: "P",
        id_type: "01",
        id_body: "31011519950812457",
        mobile: "13800000002",
    },
    DemoCustomer {
        cust_no: "C0003",
        name: "王芳",
        cust_type: "P",
        id_type: "01",
        id_body: "44030519880521246",
        mobile: "13800000003",
    },
    DemoCustomer {
        cust_no: "C0004",
        name: "赵磊",
        cust_type: "P",
        id_type: "01",
        id_body: "33010619920115357",
        mobile: "13800000004",
    },
    DemoCustomer {
        cust_no: "C0005",
        name: "北京云杉科技有限公司",
        cust_type: "B",
        id_type: "21",
        id_body: "91110108MA01C5YK3",
        mobile: "13800000005",
    },
];

pub(crate) struct DemoAccount {
    /// Serial inside the card number; also how the history generator names accounts.
    pub serial: u32,
    pub cust: usize,
    pub ccy: &'static str,
    pub acct_type: &'static str,
    pub open_date: &'static str,
    pub opening_fen: i64,
}

pub(crate) const ACCOUNTS: [DemoAccount; 8] = [
    DemoAccount { serial: 1, cust: 0, ccy: "CNY", acct_type: "SAV", open_date: "20190318", opening_fen: 5_800_000 },
    DemoAccount { serial: 2, cust: 0, ccy: "USD", acct_type: "SAV", open_date: "20210906", opening_fen: 320_000 },
    DemoAccount { serial: 3, cust: 1, ccy: "CNY", acct_type: "SAV", open_date: "20240115", opening_fen: 1_200_000 },
    DemoAccount { serial: 4, cust: 2, ccy: "CNY", acct_type: "SAV", open_date: "20170703", opening_fen: 8_600_000 },
    DemoAccount { serial: 5, cust: 2, ccy: "USD", acct_type: "SAV", open_date: "20220411", opening_fen: 500_000 },
    DemoAccount { serial: 6, cust: 3, ccy: "CNY", acct_type: "SAV", open_date: "20230220", opening_fen: 900_000 },
    DemoAccount { serial: 7, cust: 4, ccy: "CNY", acct_type: "SAV", open_date: "20200810", opening_fen: 30_000_000 },
    DemoAccount { serial: 8, cust: 4, ccy: "CNY", acct_type: "CUR", open_date: "20200810", opening_fen: 80_000_000 },
];

/// Serial of the account frozen at the end of seeding (赵磊's savings), after its history.
pub(crate) const FROZEN_SERIAL: u32 = 6;

/// Internal clearing accounts, the counterpart of every flow to or from outside the bank.
pub(crate) const GL_ACCOUNTS: [(&str, &str, &str); 2] =
    [("GL-CNY-CLEARING", "CNY", "Clearing account CNY"), ("GL-USD-CLEARING", "USD", "Clearing account USD")];

pub(crate) fn gl(ccy: &str) -> &'static str {
    GL_ACCOUNTS.iter().find(|(_, c, _)| *c == ccy).map_or("GL-CNY-CLEARING", |(no, _, _)| no)
}

/// `622202` (a UnionPay debit BIN), twelve-digit serial, Luhn check digit: 19 digits.
pub(crate) fn acct_no(serial: u32) -> String {
    let body = format!("622202{serial:012}");
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match i % 2 {
                0 if d * 2 > 9 => d * 2 - 9,
                0 => d * 2,
                _ => d,
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// The full identity number: `id_body` plus its check character.
pub(crate) fn id_no(c: &DemoCustomer) -> String {
    let check = match c.id_type {
        "21" => uscc_check(c.id_body),
        _ => resident_id_check(c.id_body),
    };
    format!("{}{check}", c.id_body)
}

fn resident_id_check(body: &str) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.bytes().zip(W).map(|(b, w)| u32::from(b - b'0') * w).sum();
    char::from(b"10X98765432"[(sum % 11) as usize])
}

fn uscc_check(body: &str) -> char {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W: [usize; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let value = |b: u8| CHARS.iter().position(|c| *c == b).unwrap_or(0);
    let sum: usize = body.bytes().zip(W).map(|(b, w)| value(b) * w).sum();
    char::from(CHARS[(31 - sum % 31) % 31])
}

/// GL accounts exist in every core, seeded or not, so transfers always have a counterpart.
pub(crate) fn ensure_gl(conn: &Connection) -> rusqlite::Result<()> {
    for (acct_no, ccy, name) in GL_ACCOUNTS {
        conn.execute(
            "INSERT OR IGNORE INTO accounts
             (acct_no, cust_no, acct_name, ccy, acct_type, acct_status, open_date)
             VALUES (?1, NULL, ?2, ?3, 'GL', 'N', '20150101')",
            params![acct_no, name, ccy],
        )?;
    }
    Ok(())
}

/// Every demo customer; of their accounts, those `holding` holds.
pub(crate) fn insert(conn: &Connection, hashes: &[String], holding: &Holding) -> rusqlite::Result<()> {
    for (c, hash) in CUSTOMERS.iter().zip(hashes) {
        conn.execute(
            "INSERT INTO customers (cust_no, cust_name, cust_type, id_type, id_no, mobile, password_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![c.cust_no, c.name, c.cust_type, c.id_type, id_no(c), c.mobile, hash],
        )?;
    }
    for a in ACCOUNTS.iter().filter(|a| holding.holds(&acct_no(a.serial))) {
        let c = &CUSTOMERS[a.cust];
        conn.execute(
            "INSERT INTO accounts (acct_no, cust_no, acct_name, ccy, acct_type, acct_status, open_date)
             VALUES (?1, ?2, ?3, ?4, ?5, 'N', ?6)",
            params![acct_no(a.serial), c.cust_no, c.name, a.ccy, a.acct_type, a.open_date],
        )?;
    }
    Ok(())
}
