//! Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1(auth token, url + params)>`.
//!
//! For a form body (`application/x-www-form-urlencoded`, Twilio's default) `params` is every
//! decoded form parameter, sorted by name (as JavaScript sorts strings: by UTF-16 units), each
//! written as name then value; a repeated name contributes each distinct value, sorted. For a
//! JSON body Twilio appends `bodySHA256=<hex SHA-256 of the body>` to the URL's query and signs
//! the URL alone; the body must then hash to that value. The URL is the one Twilio requested,
//! query string included, passed to [`Verifier::verify_request`](crate::Verifier::verify_request);
//! as in Twilio's own libraries, the form with the scheme's default port (`:443`, `:80`) and the
//! form without it both count. No timestamp; `I-Twilio-Idempotency-Token` (not signed) is
//! returned as [`Verified::id`].

use super::crypto::{bytes_match, decode_base64, encode_base64, hmac_sha1, sha256};
use super::headers;
use super::secret::Secret;
use super::{Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
/// The idempotency token header, returned as [`Verified::id`].
pub const IDEMPOTENCY_HEADER: &str = "i-twilio-idempotency-token";

/// The `bodySHA256` query parameter of `url`, if it has one.
fn body_sha256(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "bodySHA256")
        .map(|(_, value)| value.into_owned())
}

/// The signed data: the URL, then (for a form body) the sorted parameters.
fn signed_data(url: &str, body: &[u8]) -> Vec<u8> {
    let mut data = url.as_bytes().to_vec();
    if body_sha256(url).is_some() {
        return data;
    }
    let mut params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    // As JavaScript compares strings: by UTF-16 code units (no allocation per comparison).
    let js_order = |a: &str, b: &str| a.encode_utf16().cmp(b.encode_utf16());
    params.sort_by(|a, b| js_order(&a.0, &b.0).then_with(|| js_order(&a.1, &b.1)));
    params.dedup();
    for (name, value) in params {
        data.extend_from_slice(name.as_bytes());
        data.extend_from_slice(value.as_bytes());
    }
    data
}

/// `url` with its scheme's default port added (when it has no port) or removed (when it has the
/// default one); `None` if neither applies.
fn toggle_default_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let port = match scheme.to_ascii_lowercase().as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let userinfo = &authority[..authority.len() - host_port.len()];
    let toggled = match host_port.strip_suffix(port) {
        Some(host) => host.to_owned(),
        None if host_port.ends_with(']') || !host_port.contains(':') => {
            format!("{host_port}{port}")
        }
        None => return None,
    };
    Some(format!("{scheme}://{userinfo}{toggled}{tail}"))
}

/// The `X-Twilio-Signature` value for `body` (a form body, or any body when `url` carries
/// `bodySHA256`) requested at `url`.
pub fn sign(auth_token: &str, url: &str, body: &[u8]) -> String {
    encode_base64(&hmac_sha1(
        auth_token.as_bytes(),
        &[&signed_data(url, body)],
    ))
}

/// `url` with `bodySHA256=<hex SHA-256 of body>` appended to its query, as Twilio requests a
/// JSON body's URL.
pub fn url_with_body_sha256(url: &str, body: &[u8]) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}bodySHA256={}", hex::encode(sha256(body)))
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let (secrets, headers, body, url) = (r.secrets, r.headers, r.body, r.url);
    let value = headers::required(headers, SIGNATURE_HEADER)?;
    let id = headers::optional_text(headers, IDEMPOTENCY_HEADER)?;
    let url = url.ok_or(WebhookError::MissingUrl)?;
    let candidate = decode_base64(value).ok_or(WebhookError::NoMatchingSignature)?;
    if let Some(expected) = body_sha256(url) {
        if !bytes_match(hex::encode(sha256(body)).as_bytes(), expected.as_bytes()) {
            return Err(WebhookError::NoMatchingSignature);
        }
    }
    let urls = [Some(url.to_owned()), toggle_default_port(url)];
    for url in urls.iter().flatten() {
        let data = signed_data(url, body);
        let matched = secrets
            .iter()
            .filter_map(Secret::hmac_key)
            .any(|key| bytes_match(&hmac_sha1(key, &[&data]), &candidate));
        if matched {
            return Ok(Verified {
                id,
                timestamp: None,
            });
        }
    }
    Err(WebhookError::NoMatchingSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_toggle() {
        let cases = [
            (
                "https://example.com/a?b=1",
                Some("https://example.com:443/a?b=1"),
            ),
            ("https://example.com:443/a", Some("https://example.com/a")),
            ("http://u:p@example.com", Some("http://u:p@example.com:80")),
            ("https://example.com:8443/a", None),
            ("https://[::1]/x", Some("https://[::1]:443/x")),
            ("ftp://example.com/", None),
            ("no scheme", None),
        ];
        for (url, toggled) in cases {
            assert_eq!(toggle_default_port(url).as_deref(), toggled, "{url}");
        }
    }
}
