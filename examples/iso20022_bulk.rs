//! A corporate customer's treasury system pays three suppliers in one ISO 20022 batch
//! through the Scenegate demo, on its own paths under `/gw/ptn_ledgerline`:
//!
//! 1. `POST pain.001` (a `pain.001.001.09`, signed with a detached JWS like every
//!    money-moving call): the bank answers a `pain.002` (`GrpSts` `ACTC`) and, in
//!    `Location`, the status report's path, which ends in the bulk's consent id;
//! 2. the customer authorises the whole bulk once on the bank's pages (one-time code);
//! 3. `POST pain.001/{consent_id}/execution` with the consent-bound token: one payment per
//!    transfer, answered with a `pain.002` per transaction (`TxSts`, reason codes);
//! 4. `GET pain.002/{consent_id}` reads the report again; the same `pain.001` sent again
//!    gets its first answer (`MsgId` is the duplicate-detection key), and a tampered control
//!    sum is refused with `AM10`.
//!
//! ```sh
//! cargo run --release -- demo                      # in one terminal
//! SANDBOX_CUSTOMER=C0005 cargo run --example iso20022_bulk
//! ```
//! Without `SANDBOX_CUSTOMER` it prints a link for the demo's corporate customer 北京云杉科技
//! (mobile `13800000005`, password `Scenegate#2026`) to approve; the one-time code arrives on
//! the demo "phone" at http://127.0.0.1:9090/core/sms-outbox.
//!
//! Settings: `SCENEGATE_URL`, and `CLIENT_ID`, `KEY_FILE`, `KEY_ID` (default the demo's
//! `ptn_ledgerline`).

#[path = "common/authorize.rs"]
mod authorize;
// The examples' shared helpers; this one takes its OAuth defaults from `from_env_or` only.
#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "common/signing.rs"]
mod signing;
#[path = "common/xml.rs"]
mod xml;

use signing::Signer;
use xml::{at, elements};

/// The demo merchants' settlement accounts at the bank: the suppliers paid here.
const SUPPLIERS: [(&str, &str, &str, &str); 3] = [
    ("INV-0042", "12500.00", "6222020000000000091", "上海天游旅行科技有限公司"),
    ("INV-0043", "3000.50", "6222020000000000109", "深圳泊易停车管理有限公司"),
    ("INV-0044", "88.00", "6222020000000000117", "杭州速充网络科技有限公司"),
];

/// A `pain.001.001.09` of the three transfers, counts and control sums re-derived.
fn pain001(msg_id: &str) -> String {
    let txs: String = SUPPLIERS
        .iter()
        .map(|(id, amount, acct, name)| {
            format!(
                "<CdtTrfTxInf><PmtId><EndToEndId>{id}</EndToEndId></PmtId>\
                 <Amt><InstdAmt Ccy=\"CNY\">{amount}</InstdAmt></Amt><Cdtr><Nm>{name}</Nm></Cdtr>\
                 <CdtrAcct><Id><Othr><Id>{acct}</Id></Othr></Id></CdtrAcct>\
                 <RmtInf><Ustrd>货款 {id}</Ustrd></RmtInf></CdtTrfTxInf>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\"><CstmrCdtTrfInitn>\
         <GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>2026-12-04T09:30:00+08:00</CreDtTm><NbOfTxs>3</NbOfTxs>\
         <CtrlSum>15588.50</CtrlSum><InitgPty><Nm>北京云杉科技有限公司</Nm></InitgPty></GrpHdr>\
         <PmtInf><PmtInfId>{msg_id}-1</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>3</NbOfTxs><CtrlSum>15588.50</CtrlSum>\
         <Dbtr><Nm>北京云杉科技有限公司</Nm></Dbtr>{txs}</PmtInf></CstmrCdtTrfInitn></Document>"
    )
}

/// The status, headers and XML of a signed POST (`body` empty for an execution).
async fn post(
    http: &reqwest::Client,
    signer: &Signer,
    url: &str,
    token: &str,
    body: &str,
) -> Result<(u16, reqwest::header::HeaderMap, String), Box<dyn std::error::Error>> {
    let mut req = http.post(url).bearer_auth(token).header("x-jws-signature", signer.sign(body.as_bytes())?);
    if !body.is_empty() {
        req = req.header("content-type", "application/xml").body(body.to_owned());
    }
    let res = req.send().await?;
    Ok((res.status().as_u16(), res.headers().clone(), res.text().await?))
}

/// `GrpSts` and, when refused, the group's reason code.
fn group(xml: &str) -> Result<String, Box<dyn std::error::Error>> {
    let all = elements(xml)?;
    let status = at(&all, &["OrgnlGrpInfAndSts", "GrpSts"]).concat();
    let reason = at(&all, &["OrgnlGrpInfAndSts", "StsRsnInf", "Rsn", "Cd"]).concat();
    Ok(if reason.is_empty() { status } else { format!("{status} {reason}") })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partner = common::Partner::from_env_or(
        "ptn_ledgerline",
        "config/demo-keys/ptn_ledgerline.private.pem",
        "ledgerline-2026-12",
    )?;
    let signer = Signer::of(&partner);
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(15)).build()?;
    let prefix = format!("{}/gw/{}", partner.base, partner.client_id);

    // 1. The batch, with the partner's own token. A fresh MsgId per run: it is the key
    //    under which the bank recognises a document it has seen.
    let token = partner
        .post_form(&http, "/oauth2/token", &[("grant_type", "client_credentials"), ("scope", "payments:write")])
        .await?;
    let own = token["access_token"].as_str().ok_or("no access_token")?;
    let msg_id = format!("LL-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis());
    let document = pain001(&msg_id);
    let (status, headers, answer) = post(&http, &signer, &format!("{prefix}/pain.001"), own, &document).await?;
    if status != 201 {
        return Err(format!("pain.001 refused ({status}): {}", group(&answer)?).into());
    }
    let location = headers.get("location").and_then(|l| l.to_str().ok()).ok_or("no Location")?.to_owned();
    let consent_id = location.rsplit('/').next().unwrap_or_default().to_owned();
    println!("pain.001 {msg_id}: {} (3 transfers, CNY 15588.50); consent {consent_id}", group(&answer)?);

    // The same document again: the first answer, not a second bulk.
    let (_, headers, again) = post(&http, &signer, &format!("{prefix}/pain.001"), own, &document).await?;
    let replayed = headers.get("idempotent-replayed").is_some() && again == answer;
    println!("the same pain.001 again: {}", if replayed { "the first answer, replayed" } else { "a NEW answer" });
    if !replayed {
        return Err("the same MsgId was not recognised".into());
    }

    // A control sum that does not add up: refused as a whole.
    let tampered = document.replacen("<CtrlSum>15588.50</CtrlSum>", "<CtrlSum>15588.51</CtrlSum>", 1);
    let tampered = tampered.replace(&msg_id, &format!("{msg_id}-X"));
    let (status, _, refused) = post(&http, &signer, &format!("{prefix}/pain.001"), own, &tampered).await?;
    println!("tampered control sum ({status}): {}", group(&refused)?);

    // 2. The customer approves the bulk once; the code becomes a token bound to it.
    let tokens = authorize::authorise(&partner, &http, &consent_id, "payments:initiate").await?;
    let access = tokens["access_token"].as_str().ok_or("no access_token")?;

    // 3. Execute: one payment per transfer.
    let url = format!("{prefix}/pain.001/{consent_id}/execution");
    let (status, _, report) = post(&http, &signer, &url, access, "").await?;
    if status != 200 {
        return Err(format!("execution refused ({status}): {report}").into());
    }
    let all = elements(&report)?;
    let ids = at(&all, &["TxInfAndSts", "OrgnlEndToEndId"]);
    let statuses = at(&all, &["TxInfAndSts", "TxSts"]);
    let payments = at(&all, &["TxInfAndSts", "AcctSvcrRef"]);
    for ((id, status), payment) in ids.iter().zip(&statuses).zip(&payments) {
        println!("  {id}: {status} ({payment})");
    }
    println!("bulk {consent_id} executed: {}", group(&report)?);

    // 4. The report as it stands, any time later.
    let res = http.get(format!("{prefix}/pain.002/{consent_id}")).bearer_auth(own).send().await?;
    println!("pain.002 read again: {}", group(&res.text().await?)?);
    Ok(())
}
