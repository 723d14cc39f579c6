//! The audit trail of a running gateway, as an auditor and a tamperer would meet it: partner
//! file changes, consents and staff commands are recorded, `scenegate audit verify` passes,
//! and an edit made directly in the database is found at the record it touched.

use std::time::Duration;

use crate::support::{
    Stack,
    customer::{REDIRECT_URI, a2_partner_toml, authorise},
    eventually, http, partner_toml,
};

fn tail(stack: &Stack) -> String {
    let out = stack.gw.cli(&["audit", "tail", "--limit", "100"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn partner_changes_consents_and_staff_commands_are_chained_and_tampering_is_found() {
    let stack = Stack::start_with(|o| o.partners.push(("a2one".into(), a2_partner_toml("ptn_a2one", REDIRECT_URI))));

    // A consent created, authorised by its customer and withdrawn by the partner.
    let p = stack.gw.partner("ptn_a2one");
    let consent = authorise(&p, &stack.gw.issuer(), "C0002").await.consent_id;
    let token = p.consents_token().await;
    let withdrawn =
        http().delete(stack.gw.url(&format!("/v1/consents/{consent}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(withdrawn.status(), 204);

    // Staff: a partner file edited, an emergency stop.
    stack.gw.write_partner("alpha", &partner_toml("ptn_alpha", "suspended", ""));
    assert!(stack.gw.cli(&["partner", "suspend", "ptn_beta", "--reason", "fraud alert"]).status.success());

    let expected = [
        "partner.added",
        "consent.created",
        "consent.status_changed",
        "partner.changed",
        "staff.partner_suspended",
        "audit.checkpoint",
    ];
    let all_there = eventually(Duration::from_secs(5), || async {
        let t = tail(&stack);
        expected.iter().all(|a| t.contains(a)) && t.contains(&consent)
    })
    .await;
    let t = tail(&stack);
    assert!(all_there, "missing records:\n{t}\n{}", stack.gw.log());
    let changed = t.lines().find(|l| l.contains("partner.changed")).unwrap();
    assert!(changed.contains("ptn_alpha") && changed.contains("status: active → suspended"), "{changed}");
    let stop = t.lines().find(|l| l.contains("staff.partner_suspended")).unwrap();
    assert!(stop.contains("staff:") && stop.contains("fraud alert"), "{stop}");
    assert!(!t.contains("BEGIN PRIVATE KEY") && !t.contains(&token), "no secret in the trail");

    let verified = stack.gw.cli(&["audit", "verify"]);
    let said = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(verified.status.success(), "{said}{}", String::from_utf8_lossy(&verified.stderr));
    assert!(said.contains("records: OK") && said.contains("1 signed checkpoints verified"), "{said}");

    // Someone with the database's password rewrites the withdrawal's outcome.
    let path = stack.gw.dir.path().join("data/gateway.sqlite");
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let seq: i64 = sqlx::query_scalar(
        "SELECT seq FROM audit_records WHERE chain = 'records' AND action = 'consent.status_changed'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    sqlx::raw_sql(
        r#"DROP TRIGGER audit_records_append_only;
         UPDATE audit_records SET detail = replace(detail, '"status":"', '"status":"not_')
         WHERE action = 'consent.status_changed'"#,
    )
    .execute(&db)
    .await
    .unwrap();
    let verified = stack.gw.cli(&["audit", "verify"]);
    let said = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert_eq!(verified.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("records: BROKEN: record {seq}: its content does not match its hash")), "{said}");
}
