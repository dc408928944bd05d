"""SASL OAUTHBEARER's built-in OAuth/OIDC token provider from Python: the
Java client's ``sasl.oauthbearer.*`` and ``sasl.login.*`` keys, spelt with
``_``, reach the Rust token provider; bad values are ``TypeError`` or
``ValueError`` naming the key, checked before anything connects."""

import warnings

import pytest

from ferrokafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from ferrokafka._config import admin_settings

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def oidc(**extra):
    """A client_credentials configuration of the built-in provider."""
    configs = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "OAUTHBEARER",
        "sasl_oauthbearer_token_endpoint_url": "https://idp.example/oauth2/token",
        "sasl_oauthbearer_client_credentials_client_id": "billing-service",
        "sasl_oauthbearer_client_credentials_client_secret": "s3cret",
        "sasl_oauthbearer_scope": "kafka",
    }
    configs.update(extra)
    return configs


def test_java_keys_pass_through_as_the_rust_config_takes_them():
    pairs, _ = admin_settings(oidc(
        sasl_oauthbearer_method="OIDC",
        sasl_oauthbearer_jwt_retriever_class="org.apache.kafka.common.security.oauthbearer.ClientCredentialsJwtRetriever",
        sasl_oauthbearer_header_urlencode=True,
        sasl_login_refresh_window_factor=0.8,
        sasl_login_refresh_buffer_seconds=30,
        sasl_login_connect_timeout_ms=2500,
        sasl_oauthbearer_assertion_algorithm="es256",
    ))
    pairs = dict(pairs)
    assert pairs["sasl_oauthbearer_token_endpoint_url"] == "https://idp.example/oauth2/token"
    assert pairs["sasl_oauthbearer_client_credentials_client_id"] == "billing-service"
    assert pairs["sasl_oauthbearer_method"] == "oidc"
    assert pairs["sasl_oauthbearer_header_urlencode"] == "true"
    assert pairs["sasl_login_refresh_window_factor"] == "0.8"
    assert pairs["sasl_login_refresh_buffer_seconds"] == "30"
    assert pairs["sasl_login_connect_timeout_ms"] == "2500"
    assert pairs["sasl_oauthbearer_assertion_algorithm"] == "ES256"


def test_every_client_takes_the_keys(bootstrap, group):
    # PLAINTEXT: the keys are parsed and checked by the Rust config but no
    # token is needed, so the clients connect to the test broker.
    keys = {k: v for k, v in oidc().items() if k.startswith("sasl_oauthbearer")}
    KafkaProducer(bootstrap_servers=bootstrap, **keys).close()
    KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, **keys).close()
    KafkaAdminClient(bootstrap_servers=bootstrap, **keys).close()


@pytest.mark.parametrize(
    "missing, pattern",
    [
        # The message starts with the key to change...
        ("sasl_oauthbearer_client_credentials_client_secret", "^sasl_oauthbearer_client_credentials_client_secret: "),
        ("sasl_oauthbearer_client_credentials_client_id", "^sasl_oauthbearer_client_credentials_client_id: "),
        # ...or, with no endpoint, says a provider or an endpoint is needed.
        ("sasl_oauthbearer_token_endpoint_url", "^sasl_oauth_token_provider: .*sasl_oauthbearer_token_endpoint_url"),
    ],
)
def test_the_rust_token_provider_names_what_it_lacks(bootstrap, missing, pattern):
    configs = oidc(bootstrap_servers=bootstrap)
    del configs[missing]
    with pytest.raises(ValueError, match=pattern):
        KafkaAdminClient(**configs)
    with pytest.raises(ValueError, match=pattern):
        KafkaProducer(**configs)


def test_an_encrypted_assertion_key_is_refused_naming_the_passphrase(bootstrap, tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    configs = oidc(
        bootstrap_servers=bootstrap,
        sasl_oauthbearer_grant_type=JWT_BEARER,
        sasl_oauthbearer_assertion_private_key_file=key,
        sasl_oauthbearer_assertion_private_key_passphrase="hunter2",
    )
    with pytest.raises(ValueError, match="^sasl_oauthbearer_assertion_private_key_passphrase: ") as refused:
        KafkaAdminClient(**configs)
    assert "hunter2" not in str(refused.value)


def test_an_encrypted_pem_key_file_is_refused_naming_the_file_key(bootstrap, tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    configs = oidc(
        bootstrap_servers=bootstrap,
        sasl_oauthbearer_grant_type=JWT_BEARER,
        sasl_oauthbearer_assertion_private_key_file=str(key),
    )
    with pytest.raises(ValueError, match="^sasl_oauthbearer_assertion_private_key_file: .*encrypted"):
        KafkaAdminClient(**configs)


def test_a_token_endpoint_that_is_not_http_is_refused(bootstrap):
    with pytest.raises(ValueError, match="sasl_oauthbearer_token_endpoint_url"):
        KafkaAdminClient(**oidc(bootstrap_servers=bootstrap, sasl_oauthbearer_token_endpoint_url="ftp://idp/token"))


@pytest.mark.parametrize(
    "key, value, error",
    [
        ("sasl_oauthbearer_method", "magic", ValueError),
        ("sasl_oauthbearer_method", 1, TypeError),
        ("sasl_oauthbearer_grant_type", "password", ValueError),
        ("sasl_oauthbearer_jwt_retriever_class", "com.example.MyRetriever", ValueError),
        ("sasl_oauthbearer_assertion_algorithm", "HS256", ValueError),
        ("sasl_oauthbearer_client_credentials_client_secret", 1234, TypeError),
        ("sasl_oauthbearer_header_urlencode", "yes", TypeError),
        ("sasl_oauthbearer_assertion_claim_exp_seconds", -1, ValueError),
        ("sasl_oauthbearer_assertion_claim_nbf_seconds", 3601, ValueError),
        ("sasl_login_refresh_window_factor", 0.2, ValueError),
        ("sasl_login_refresh_window_factor", "0.8", TypeError),
        ("sasl_login_refresh_window_jitter", 0.5, ValueError),
        ("sasl_login_refresh_buffer_seconds", 3601, ValueError),
        ("sasl_login_retry_backoff_ms", -5, ValueError),
    ],
)
def test_bad_values_name_the_key(key, value, error):
    with pytest.raises(error, match=key):
        admin_settings(oidc(**{key: value}))


def test_a_secret_never_shows_in_a_type_error():
    with pytest.raises(TypeError) as refused:
        admin_settings(oidc(sasl_oauthbearer_client_credentials_client_secret=b"bytes-secret"))
    assert "bytes-secret" not in str(refused.value)


def test_a_python_token_provider_object_is_refused_pointing_at_the_keys():
    class Provider:
        def token(self):
            return "eyJ..."

    with pytest.raises(ValueError, match="sasl_oauth_token_provider") as refused:
        admin_settings({"sasl_oauth_token_provider": Provider()})
    assert "sasl_oauthbearer_token_endpoint_url" in str(refused.value)


def test_broker_side_keys_are_accepted_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs, _ = admin_settings(oidc(sasl_oauthbearer_jwks_endpoint_url="https://idp.example/jwks"))
    assert "sasl_oauthbearer_jwks_endpoint_url" not in dict(pairs)
    assert any("sasl_oauthbearer_jwks_endpoint_url" in str(w.message) for w in caught)
