//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{timestamp}:{body}")>` with
//! `X-Slack-Request-Timestamp: <unix seconds>`. The timestamp must lie within the tolerance
//! (Slack recommends five minutes). Slack sends no delivery id.

use super::{Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// The `X-Slack-Signature` value for `body` sent at `timestamp`: `v0=<hex>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    super::v0_sign(secret, timestamp, body)
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    super::v0_verify((SIGNATURE_HEADER, TIMESTAMP_HEADER), r)
}

#[cfg(test)]
mod tests {
    use crate::{Scheme, Verifier};

    // Slack's published example ("Verifying requests from Slack", api.slack.com/authentication/verifying-requests-from-slack).
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: i64 = 1_531_420_618;
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn published_example_verifies() {
        assert_eq!(super::sign(SECRET, TS, BODY.as_bytes()), SIGNATURE);
        let verifier = Verifier::new(Scheme::Slack, &[SECRET]).unwrap();
        let headers = [
            ("X-Slack-Signature", SIGNATURE.to_owned()),
            ("X-Slack-Request-Timestamp", TS.to_string()),
        ];
        let verified = verifier.verify(&headers, BODY.as_bytes(), TS + 10).unwrap();
        assert_eq!((verified.id, verified.timestamp), (None, Some(TS)));
        let err = verifier
            .verify(&headers, BODY.as_bytes(), TS + 301)
            .unwrap_err();
        assert_eq!(err.code(), "timestamp_out_of_tolerance");
    }
}
