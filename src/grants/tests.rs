use std::sync::Arc;

use super::*;
use crate::auth::ManualClock;

async fn grants(clock: Arc<ManualClock>) -> (Grants, crate::store::test_support::TestStores) {
    let stores = crate::store::test_support::current().await;
    (Grants::new(stores.grants.clone(), stores.sessions.clone(), Arc::new(LocalThrottle::default()), clock), stores)
}

fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn pushed(challenge: &str) -> PushedRequest {
    PushedRequest {
        client_id: "ptn_a".into(),
        redirect_uri: "https://a.example/cb".into(),
        code_challenge: challenge.into(),
        state: "s".into(),
        consent_id: "cns_1".into(),
        locale: "zh-CN".into(),
        expires_at: 0,
    }
}

fn is_invalid_grant(r: Result<impl std::fmt::Debug, ApiError>) -> bool {
    matches!(r, Err(ApiError::OAuth(OAuthError::InvalidGrant(_))))
}

#[test]
fn pkce_follows_rfc_7636_appendix_b() {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    assert!(pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    assert!(!pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
    assert!(valid_code_verifier(verifier) && !valid_code_verifier("short"));
    assert!(valid_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    assert!(!valid_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"));
}

async fn a_pushed_request_is_single_use_and_expires() {
    let clock = Arc::new(ManualClock::at(1_000));
    let (g, _dir) = grants(clock.clone()).await;
    let (uri, ttl) = g.push(pushed("c")).await.unwrap();
    assert_eq!(ttl, REQUEST_TTL_SECS);
    assert!(uri.starts_with(REQUEST_URI_PREFIX));
    assert!(g.pushed("ptn_b", &uri).await.unwrap().is_none(), "another client's request is not found");
    assert!(g.pushed("ptn_a", &uri).await.unwrap().is_some());
    assert!(g.consume(&uri).await.unwrap());
    assert!(!g.consume(&uri).await.unwrap(), "second use refused");
    assert!(g.pushed("ptn_a", &uri).await.unwrap().is_none());

    let (uri, _) = g.push(pushed("c")).await.unwrap();
    clock.advance(REQUEST_TTL_SECS);
    assert!(g.pushed("ptn_a", &uri).await.unwrap().is_none(), "expired");
    assert!(!g.consume(&uri).await.unwrap());
}

async fn a_replayed_code_is_refused_and_revokes_its_tokens() {
    let clock = Arc::new(ManualClock::at(1_000));
    let (g, _dir) = grants(clock.clone()).await;
    replay_revokes(&g, "jti-1").await;
    // The embedded default remembers live tokens; the replay must still bite on the next check.
    let (g, _dir) = grants(clock).await;
    replay_revokes(&g.cached(Arc::new(crate::kept::SingleWriter)), "jti-2").await;
}

async fn replay_revokes(g: &Grants, jti: &str) {
    let verifier = random_secret();
    let req = pushed(&challenge_of(&verifier));
    let code = g.issue_code(&req, "C0001").await.unwrap();

    assert!(is_invalid_grant(g.redeem_code("ptn_b", &code, &req.redirect_uri, &verifier).await), "other client");
    assert!(is_invalid_grant(g.redeem_code("ptn_a", &code, "https://a.example/other", &verifier).await));
    assert!(is_invalid_grant(g.redeem_code("ptn_a", &code, &req.redirect_uri, &random_secret()).await), "PKCE");

    let (grant, key) = g.redeem_code("ptn_a", &code, &req.redirect_uri, &verifier).await.unwrap();
    assert_eq!(grant.customer_id, "C0001");
    let consent = grant.consent_id.as_str();
    let refresh = g.record_issued(&key, "ptn_a", consent, jti, 2_000, Some(5_000)).await.unwrap().unwrap();
    assert!(!revoked(g, jti, consent).await);
    assert!(!revoked(g, jti, consent).await, "asked twice: the second may be remembered");
    assert!(g.refresh("ptn_a", &refresh).await.is_ok());
    assert!(is_invalid_grant(g.refresh("ptn_b", &refresh).await));

    assert!(is_invalid_grant(g.redeem_code("ptn_a", &code, &req.redirect_uri, &verifier).await), "replay");
    assert!(revoked(g, jti, consent).await, "the replay revoked the access token");
    assert!(is_invalid_grant(g.refresh("ptn_a", &refresh).await), "and the refresh token");
    assert!(!revoked(g, "some-other-jti", consent).await);
}

/// `is_revoked` as the pipeline asks it: the consent's stamp observed first.
async fn revoked(g: &Grants, jti: &str, consent: &str) -> bool {
    let observed = crate::kept::Observation::of(&crate::kept::SingleWriter, consent).await;
    g.is_revoked(jti, &observed).await.unwrap()
}

async fn codes_live_sixty_seconds() {
    let clock = Arc::new(ManualClock::at(1_000));
    let (g, _dir) = grants(clock.clone()).await;
    let verifier = random_secret();
    let req = pushed(&challenge_of(&verifier));
    let code = g.issue_code(&req, "C0001").await.unwrap();
    clock.advance(CODE_TTL_SECS);
    assert!(is_invalid_grant(g.redeem_code("ptn_a", &code, &req.redirect_uri, &verifier).await));
}

async fn sessions_time_out_when_idle_and_absolutely() {
    let clock = Arc::new(ManualClock::at(1_000));
    let (g, _dir) = grants(clock.clone()).await;
    let (id, s) = g.start_session("C0001").await.unwrap();
    assert_eq!(g.session(&id).await.unwrap().unwrap().csrf, s.csrf);
    assert!(g.session("not-a-session").await.unwrap().is_none());
    // Kept alive by use until the absolute limit.
    for _ in 0..4 {
        clock.advance(SESSION_IDLE_SECS - 60);
        assert!(g.session(&id).await.unwrap().is_some());
    }
    // 3,360 s in, last used 0 s ago: 300 s more passes the absolute limit, not the idle one.
    clock.advance(300);
    assert!(g.session(&id).await.unwrap().is_none(), "absolute timeout");

    let (id, _) = g.start_session("C0001").await.unwrap();
    clock.advance(SESSION_IDLE_SECS);
    assert!(g.session(&id).await.unwrap().is_none(), "idle timeout");
}

#[tokio::test]
async fn the_throttle_locks_after_five_failures_until_the_window_passes() {
    let t = LocalThrottle::default();
    let key = ThrottleKey::login(" C0001 ");
    for i in 0..4 {
        t.record_failure(&key, 100 + i).await;
        assert_eq!(t.locked_until(&key, 100 + i).await, None);
    }
    t.record_failure(&key, 104).await;
    assert_eq!(t.locked_until(&ThrottleKey::login("c0001"), 105).await, Some(100 + 900));
    assert_eq!(t.locked_until(&key, 999).await, Some(1000));
    assert_eq!(t.locked_until(&key, 1000).await, None, "the oldest failure left the window");

    let ip = ThrottleKey::Ip("10.0.0.1".parse().unwrap());
    for i in 0..19 {
        t.record_failure(&ip, i).await;
    }
    assert_eq!(t.locked_until(&ip, 20).await, None);
    t.record_failure(&ip, 20).await;
    assert!(t.locked_until(&ip, 21).await.is_some());
    t.clear(&key).await;
    assert_eq!(t.locked_until(&key, 105).await, None);
}

fn sca(customer: &str) -> ScaChallenge {
    ScaChallenge {
        customer_id: customer.into(),
        consent_id: "cns_1".into(),
        debtor: "6222020000000000018".into(),
        otp_id: "otp_1".into(),
        masked_mobile: "138****0001".into(),
        request: pushed("c"),
        expires_at: 0,
    }
}

async fn an_sca_challenge_is_the_sessions_own_ends_once_and_expires() {
    let clock = Arc::new(ManualClock::at(1_000));
    let (g, _dir) = grants(clock.clone()).await;
    let started = g.start_sca("session-a", sca("C1")).await.unwrap();
    assert_eq!(started.expires_at, 1_000 + SCA_TTL_SECS);
    assert_eq!(g.sca("session-a", "C1").await.unwrap(), Some(started.clone()));
    assert!(g.sca("session-b", "C1").await.unwrap().is_none(), "another session sees nothing");
    assert!(g.sca("session-a", "C2").await.unwrap().is_none(), "another customer sees nothing");
    assert!(g.end_sca("session-a").await.unwrap());
    assert!(!g.end_sca("session-a").await.unwrap(), "ends once");
    assert!(g.sca("session-a", "C1").await.unwrap().is_none());

    g.start_sca("session-a", sca("C1")).await.unwrap();
    clock.advance(SCA_TTL_SECS);
    assert!(g.sca("session-a", "C1").await.unwrap().is_none(), "expired");
    assert!(g.purge().await.unwrap() >= 1);
}

crate::store::test_support::on_every_engine!(
    a_pushed_request_is_single_use_and_expires,
    a_replayed_code_is_refused_and_revokes_its_tokens,
    codes_live_sixty_seconds,
    sessions_time_out_when_idle_and_absolutely,
    an_sca_challenge_is_the_sessions_own_ends_once_and_expires,
);
