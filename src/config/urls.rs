//! URL rules shared by partner files (redirect and webhook URLs) and the gateway file
//! (its public URL and the core bank's base URL).

use url::Url;

use super::partner::Environment;

/// A partner's redirect or webhook URL: absolute, no fragment, no credentials; `https` in
/// production, and in the sandbox plain `http` only to this machine (local development).
pub(super) fn check_partner_url(text: &str, environment: Environment) -> Result<(), String> {
    let url = parse_absolute(text)?;
    if url.fragment().is_some() {
        return Err("must not have a fragment (`#...`)".to_owned());
    }
    match (url.scheme(), environment) {
        ("https", _) => Ok(()),
        ("http", Environment::Sandbox) if is_loopback(&url) => Ok(()),
        ("http", Environment::Sandbox) => {
            Err("must use https; plain http is allowed in the sandbox only for localhost or 127.0.0.1".to_owned())
        }
        ("http", Environment::Production) => Err("must use https in production".to_owned()),
        (other, _) => Err(format!("scheme `{other}` is not accepted; use https")),
    }
}

/// A URL the gateway serves on or calls: absolute `http(s)`, no query or fragment. Returned
/// without a trailing `/`, so paths can be appended with `format!("{base}/path")`.
pub(super) fn check_service_url(text: &str) -> Result<String, String> {
    let url = parse_absolute(text)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme `{}` is not accepted; use http or https", url.scheme()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or a fragment".to_owned());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn parse_absolute(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not an absolute URL: {e}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (`user:password@`)".to_owned());
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1"))
}
