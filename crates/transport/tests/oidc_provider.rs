//! The built-in OAUTHBEARER token provider against a scripted token
//! endpoint on 127.0.0.1 (plain HTTP, one canned answer per request): what
//! it sends, which failures it retries, and that it fetches the next token
//! before the current one expires without being asked.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::sasl::oidc::OAuthBearerSettings;
use ferrokafka_transport::sasl::{SaslError, TokenProvider};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// An unsigned JWT for `sub` that expires `lifetime` seconds from now.
fn token(sub: &str, lifetime: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = format!(r#"{{"sub":"{sub}","iat":{now},"exp":{}}}"#, now + lifetime);
    format!("eyJhbGciOiJub25lIn0.{}.", URL_SAFE_NO_PAD.encode(claims))
}

/// A token endpoint answering each request with the next of `answers`
/// (status, body); every request it reads goes to the returned channel.
async fn endpoint(answers: Vec<(u16, String)>) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth2/token", listener.local_addr().unwrap());
    let (seen, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for (status, body) in answers {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as much body as Content-Length says.
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
                assert!(n > 0, "the client hung up mid-request");
            }
            let _ = seen.send(String::from_utf8_lossy(&request).to_string());
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(reply.as_bytes()).await.unwrap();
        }
    });
    (url, requests)
}

fn provider(url: &str, extra: &[(&str, &str)]) -> std::sync::Arc<dyn TokenProvider> {
    let mut pairs = vec![
        ("bootstrap_servers", "127.0.0.1:9092"),
        ("security_protocol", "SASL_PLAINTEXT"),
        ("sasl_mechanism", "OAUTHBEARER"),
        ("sasl.oauthbearer.token.endpoint.url", url),
        ("sasl.oauthbearer.client.credentials.client.id", "app"),
        (
            "sasl.oauthbearer.client.credentials.client.secret",
            "p@ss word",
        ),
        ("sasl.oauthbearer.scope", "kafka write"),
        ("sasl.login.retry.backoff.ms", "10"),
    ];
    pairs.extend_from_slice(extra);
    let config = ClientConfig::from_pairs(pairs).unwrap();
    match config.credentials().unwrap() {
        Some(ferrokafka_transport::sasl::Credentials::OAuthBearer(provider)) => provider,
        other => panic!("expected OAUTHBEARER credentials, got {other:?}"),
    }
}

fn access(token: &str) -> String {
    format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":300}}"#)
}

#[tokio::test]
async fn client_credentials_go_in_basic_auth_and_the_form() {
    let issued = token("app", 300);
    let (url, mut requests) = endpoint(vec![(200, access(&issued))]).await;
    let provider = provider(&url, &[]);
    assert_eq!(provider.token().await.unwrap().expose(), issued);
    let request = requests.recv().await.unwrap();
    assert!(
        request.starts_with("POST /oauth2/token HTTP/1.1\r\n"),
        "{request}"
    );
    let basic = STANDARD.encode("app:p@ss word");
    assert!(
        request.contains(&format!("authorization: Basic {basic}")),
        "{request}"
    );
    assert!(
        request.contains("content-type: application/x-www-form-urlencoded"),
        "{request}"
    );
    assert!(
        request.ends_with("grant_type=client_credentials&scope=kafka+write"),
        "{request}"
    );
    // A second connection gets the same token without a second request.
    assert_eq!(provider.token().await.unwrap().expose(), issued);
}

#[tokio::test]
async fn server_errors_are_retried_and_refusals_are_not() {
    let issued = token("app", 300);
    let (url, _requests) = endpoint(vec![
        (503, "{}".into()),
        (500, "{}".into()),
        (200, access(&issued)),
    ])
    .await;
    assert_eq!(provider(&url, &[]).token().await.unwrap().expose(), issued);

    let (url, _requests) = endpoint(vec![
        (401, r#"{"error":"invalid_client"}"#.into()),
        (200, access(&issued)),
    ])
    .await;
    let error = provider(&url, &[]).token().await.unwrap_err();
    let SaslError::Token { reason } = &error else {
        panic!("expected a token error, got {error:?}");
    };
    assert!(reason.contains("HTTP 401"), "{reason}");
    assert!(reason.contains("invalid_client"), "{reason}");
}

#[tokio::test]
async fn answers_that_are_not_tokens_say_what_is_wrong() {
    let (url, _requests) = endpoint(vec![
        (200, r#"{"token_type":"Bearer"}"#.into()),
        (200, access("opaque-not-a-jwt")),
    ])
    .await;
    let provider = provider(&url, &[("sasl.login.retry.backoff.max.ms", "0")]);
    let error = provider.token().await.unwrap_err().to_string();
    assert!(error.contains("no access_token"), "{error}");
    let error = provider.token().await.unwrap_err().to_string();
    assert!(error.contains("dot-separated parts"), "{error}");
    assert!(
        !error.contains("opaque-not-a-jwt"),
        "the token leaked: {error}"
    );
}

#[tokio::test]
async fn the_next_token_is_fetched_before_the_current_one_expires() {
    // A 3 s token: with the buffers dropped for so short a life, the next
    // fetch is due at 80-85 % of it, about 2.5 s on.
    let first = token("app", 3);
    let second = token("app", 300);
    let (url, mut requests) = endpoint(vec![(200, access(&first)), (200, access(&second))]).await;
    let provider = provider(&url, &[]);
    assert_eq!(provider.token().await.unwrap().expose(), first);
    requests.recv().await.unwrap();
    let refreshed = tokio::time::timeout(Duration::from_secs(3), requests.recv())
        .await
        .expect("no refresh within the token's life");
    assert!(refreshed.is_some());
    // The refreshed token is stored once the answer is read.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        if provider.token().await.unwrap().expose() == second {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new token was not kept"
        );
        tokio::task::yield_now().await;
    }
}

#[test]
fn settings_that_cannot_work_are_named() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("sasl_oauthbearer_token_endpoint_url", "https://idp/token")],
            "client_credentials_client_id",
        ),
        (
            &[
                ("sasl_oauthbearer_token_endpoint_url", "https://idp/token"),
                (
                    "sasl_oauthbearer_grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer",
                ),
            ],
            "sasl_oauthbearer_assertion_file",
        ),
        (
            &[
                ("sasl_oauthbearer_token_endpoint_url", "ftp://idp/token"),
                ("sasl_oauthbearer_client_id", "a"),
                ("sasl_oauthbearer_client_secret", "b"),
            ],
            "http, https or file",
        ),
        (&[("sasl_oauthbearer_method", "oidc")], "token_endpoint_url"),
    ];
    for (extra, complaint) in cases {
        let mut pairs = vec![
            ("bootstrap_servers", "127.0.0.1:9092"),
            ("security_protocol", "SASL_SSL"),
            ("sasl_mechanism", "OAUTHBEARER"),
        ];
        pairs.extend_from_slice(extra);
        let error = ClientConfig::from_pairs(pairs).unwrap_err();
        assert!(error.to_string().contains(complaint), "{extra:?}: {error}");
    }
    let mut settings = OAuthBearerSettings::default();
    for (key, value) in [
        ("sasl_login_refresh_window_factor", "1.5"),
        ("sasl_login_refresh_window_jitter", "0.3"),
        ("sasl_login_refresh_min_period_seconds", "901"),
        ("sasl_login_refresh_buffer_seconds", "3601"),
        ("sasl_oauthbearer_assertion_algorithm", "HS256"),
        ("sasl_oauthbearer_method", "magic"),
    ] {
        let error = settings.set(key, value).unwrap_err();
        assert_eq!(error.key, key);
    }
}
