//! The open-platform signing string (P1 Alipay OpenAPI 2.0, the parameter half of ICBC's, the
//! legacy MD5/SM3 forms of P6 before their `&key=`).

/// The open-platform signing string: every (key, value) except those named in `skip`, and (if
/// `skip_empty`) those with an empty value, sorted by key (byte order; stable for equal keys),
/// joined as `k=v` with `&`, values raw (not URL-encoded).
///
/// Verification must run on exactly these bytes: decode the form or query first, then call
/// this, and never re-encode values (Alipay signs `biz_content`'s JSON text as sent).
pub fn sorted_params<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    skip: &[&str],
    skip_empty: bool,
) -> String {
    let mut kept: Vec<(&str, &str)> =
        params.into_iter().filter(|(k, _)| !skip.contains(k)).filter(|(_, v)| !(skip_empty && v.is_empty())).collect();
    // `str`'s order is byte order; `sort_by` is stable, so repeated keys keep their order.
    kept.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(kept.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (k, v)) in kept.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}
