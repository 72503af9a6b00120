//! Verifies a Slack request and a Twilio request, then shows a rejected one.
//!
//!     cargo run -p edge-webhook --example verify

use edge_webhook::{sign, Scheme, SignInput, Verifier};

fn main() -> Result<(), edge_webhook::WebhookError> {
    let now = 1_700_000_000;
    let body = br#"{"type":"event_callback","event":{"type":"app_mention"}}"#;

    // A Slack request: `X-Slack-Signature` and `X-Slack-Request-Timestamp`.
    let input = SignInput {
        body,
        timestamp: now,
        ..SignInput::default()
    };
    let slack_headers = sign(Scheme::Slack, "slack_signing_secret", &input)?;
    let slack = Verifier::new(Scheme::Slack, &["slack_signing_secret"])?;
    let verified = slack.verify(&slack_headers, body, now + 5)?;
    println!("slack: verified, signed at {:?}", verified.timestamp);

    // Twilio signs the URL it requested and the sorted form parameters.
    let url = "https://example.com/twilio/sms?tenant=7";
    let form = b"From=%2B14155550100&Body=hello";
    let input = SignInput {
        body: form,
        url: Some(url),
        ..SignInput::default()
    };
    let headers = sign(Scheme::Twilio, "twilio_auth_token", &input)?;
    let twilio = Verifier::new(Scheme::Twilio, &["twilio_auth_token"])?;
    twilio.verify_request(&headers, form, Some(url), now)?;
    println!("twilio: verified");

    // A changed body fails with a stable code, and the message never shows the secret.
    let err = slack.verify(&slack_headers, b"{}", now).unwrap_err();
    println!("tampered: {} ({err})", err.code());
    Ok(())
}
