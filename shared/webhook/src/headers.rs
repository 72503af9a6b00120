//! Header lookup: one small trait so callers can hand over an [`http::HeaderMap`] or a plain
//! list of `(name, value bytes)` pairs, and the helpers every scheme uses to read them safely.

use super::WebhookError;

/// The longest header value a scheme reads, in bytes. Longer values are rejected as malformed
/// before they are parsed, so a hostile megabyte-long header costs one length check. 8 KiB
/// holds well over a hundred signature entries (rotation needs two or three).
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// The most signature entries looked at in one request (across duplicated headers). More is
/// rejected as malformed: it bounds the work (an ed25519 check per entry and key).
pub const MAX_SIGNATURE_ENTRIES: usize = 32;

/// Where a verifier reads request headers from. Names are matched ASCII case-insensitively;
/// values are raw bytes (they need not be UTF-8).
pub trait HeaderSource {
    /// Every value of the header `name`, in the order received (empty if absent).
    fn header_values(&self, name: &str) -> Vec<&[u8]>;
}

impl HeaderSource for ::http::HeaderMap {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        // `get_all` with a `&str` never panics: an invalid name simply finds nothing.
        self.get_all(name).iter().map(|v| v.as_bytes()).collect()
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> HeaderSource for [(N, V)] {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.iter()
            .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_ref())
            .collect()
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>, const K: usize> HeaderSource for [(N, V); K] {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.as_slice().header_values(name)
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> HeaderSource for Vec<(N, V)> {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.as_slice().header_values(name)
    }
}

impl<T: HeaderSource + ?Sized> HeaderSource for &T {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        (**self).header_values(name)
    }
}

/// `true` if the header is present at all (whatever its value).
pub(crate) fn present<H: HeaderSource + ?Sized>(headers: &H, name: &str) -> bool {
    !headers.header_values(name).is_empty()
}

/// The one value of a header that must appear at most once, trimmed of surrounding spaces and
/// tabs. Duplicates and over-long values are malformed.
pub(crate) fn optional<'h, H: HeaderSource + ?Sized>(
    headers: &'h H,
    name: &'static str,
) -> Result<Option<&'h [u8]>, WebhookError> {
    match headers.header_values(name).as_slice() {
        [] => Ok(None),
        [value] if value.len() <= MAX_HEADER_LEN => Ok(Some(trim(value))),
        _ => Err(WebhookError::MalformedHeader(name)),
    }
}

/// Like [`optional`], but absence is [`WebhookError::MissingHeader`].
pub(crate) fn required<'h, H: HeaderSource + ?Sized>(
    headers: &'h H,
    name: &'static str,
) -> Result<&'h [u8], WebhookError> {
    optional(headers, name)?.ok_or(WebhookError::MissingHeader(name))
}

/// An optional header as text (an id to deduplicate on); not UTF-8 or empty is malformed.
pub(crate) fn optional_text<H: HeaderSource + ?Sized>(
    headers: &H,
    name: &'static str,
) -> Result<Option<String>, WebhookError> {
    match optional(headers, name)? {
        None => Ok(None),
        Some(value) => text(value, name).map(Some),
    }
}

/// Non-empty UTF-8 text, else malformed.
pub(crate) fn text(value: &[u8], name: &'static str) -> Result<String, WebhookError> {
    match std::str::from_utf8(value) {
        Ok(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(WebhookError::MalformedHeader(name)),
    }
}

/// Unix seconds: ASCII digits only (no sign, no spaces inside), fitting in an `i64`.
pub(crate) fn unix_seconds(value: &[u8], name: &'static str) -> Result<i64, WebhookError> {
    let malformed = WebhookError::MalformedHeader(name);
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(malformed);
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(malformed)
}

/// Strips leading and trailing spaces and tabs (HTTP's optional whitespace).
pub(crate) fn trim(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// A `key=value` list carrying one timestamp and any number of signatures (Stripe's
/// `t=…,v1=…`, Paddle's `ts=…;h1=…`), items split on `separator`, spaces around keys and values
/// ignored, other keys and items without `=` ignored. Returns the timestamp as sent and the
/// signatures; a missing or repeated timestamp, or more than [`MAX_SIGNATURE_ENTRIES`]
/// signatures, is malformed.
pub(crate) fn timestamped_list<'h>(
    value: &'h [u8],
    separator: u8,
    (ts_key, signature_key): (&[u8], &[u8]),
    name: &'static str,
) -> Result<(&'h [u8], Vec<&'h [u8]>), WebhookError> {
    let malformed = || WebhookError::MalformedHeader(name);
    let (mut timestamp, mut signatures) = (None, Vec::new());
    for item in value.split(|&b| b == separator) {
        let Some(eq) = item.iter().position(|&b| b == b'=') else {
            continue; // not a key=value pair: ignored like an unknown version
        };
        let (key, value) = (trim(&item[..eq]), trim(&item[eq + 1..]));
        if key == ts_key {
            if timestamp.replace(value).is_some() {
                return Err(malformed());
            }
        } else if key == signature_key {
            signatures.push(value);
            if signatures.len() > MAX_SIGNATURE_ENTRIES {
                return Err(malformed());
            }
        }
    }
    Ok((timestamp.ok_or_else(malformed)?, signatures))
}
