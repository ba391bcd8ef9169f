//! OAuth 2 access tokens for Google APIs, found the way Google's client libraries find them
//! ("application default credentials"): `credentials_file`, else `GOOGLE_APPLICATION_CREDENTIALS`, else
//! gcloud's `application_default_credentials.json`, else the metadata server (GCE, GKE workload
//! identity). A service-account key signs a JWT (RS256, with `ring`) that the token endpoint exchanges for
//! an access token; an `authorized_user` file trades its refresh token. Tokens are reused until a minute
//! before they expire. With `PUBSUB_EMULATOR_HOST` set there are no credentials at all.

use super::http::Http;
use crate::cloud::https::percent_encode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use hyper::Method;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls::pki_types::{pem::PemObject, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// Covers Pub/Sub and the Container API.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Credential files and token answers are small.
const MAX_SMALL: usize = 1024 * 1024;

enum Kind {
    /// The Pub/Sub emulator: no `authorization` header.
    Anonymous,
    ServiceAccount {
        email: String,
        key_id: String,
        key: Box<RsaKeyPair>,
        token_uri: String,
    },
    AuthorizedUser {
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
    },
    MetadataServer {
        url: String,
    },
}

pub struct Credentials {
    kind: Kind,
    http: Http,
    cached: Mutex<Option<(String, Instant)>>,
    /// Where the credentials came from, for messages.
    pub origin: String,
}

impl Credentials {
    /// No credentials (emulator).
    pub fn anonymous(http: Http) -> Credentials {
        Credentials {
            kind: Kind::Anonymous,
            http,
            cached: Mutex::new(None),
            origin: "none (emulator)".into(),
        }
    }

    /// Application default credentials, `file` first.
    pub fn find(file: Option<&Path>, http: Http) -> Result<Credentials, String> {
        let env = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let well_known = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".config/gcloud/application_default_credentials.json"));
        let path = match (file, env) {
            (Some(f), _) => Some(f.to_path_buf()),
            (None, Some(e)) => Some(e),
            (None, None) => well_known.filter(|p| p.is_file()),
        };
        let kind = match &path {
            Some(p) => from_file(p)?,
            None => {
                let host = std::env::var("GCE_METADATA_HOST")
                    .unwrap_or_else(|_| "metadata.google.internal".into());
                Kind::MetadataServer {
                    url: format!(
                        "http://{host}/computeMetadata/v1/instance/service-accounts/default/token"
                    ),
                }
            }
        };
        Ok(Credentials {
            kind,
            http,
            cached: Mutex::new(None),
            origin: match path {
                Some(p) => p.display().to_string(),
                None => "the metadata server".into(),
            },
        })
    }

    /// The `authorization` header value, `None` for the emulator.
    pub async fn header(&self) -> Result<Option<String>, String> {
        if matches!(self.kind, Kind::Anonymous) {
            return Ok(None);
        }
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(Some(format!("Bearer {token}")));
            }
        }
        let (token, lifetime) = self.fetch().await?;
        // Renew a minute early so a token never expires in flight.
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        *cached = Some((token.clone(), until));
        Ok(Some(format!("Bearer {token}")))
    }

    async fn fetch(&self) -> Result<(String, Duration), String> {
        let answer = match &self.kind {
            Kind::Anonymous => return Err("no credentials".into()),
            Kind::ServiceAccount {
                email,
                key_id,
                key,
                token_uri,
            } => {
                let jwt = signed_jwt(email, key_id, key, token_uri, unix_now())?;
                let form = format!(
                    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}"
                );
                self.form(token_uri, form).await?
            }
            Kind::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => {
                let form = format!(
                    "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
                    percent_encode(client_id),
                    percent_encode(client_secret),
                    percent_encode(refresh_token)
                );
                self.form(token_uri, form).await?
            }
            Kind::MetadataServer { url } => self
                .http
                .call(
                    Method::GET,
                    url,
                    &[("metadata-flavor", "Google")],
                    None,
                    CALL_TIMEOUT,
                    MAX_SMALL,
                )
                .await?
                .json("metadata server token")?,
        };
        let token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() < 8192)
            .ok_or("the token answer has no access_token")?
            .to_string();
        let lifetime = answer
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(3600)
            .clamp(60, 86_400);
        Ok((token, Duration::from_secs(lifetime)))
    }

    async fn form(&self, url: &str, form: String) -> Result<Value, String> {
        self.http
            .call(
                Method::POST,
                url,
                &[("content-type", "application/x-www-form-urlencoded")],
                Some(Bytes::from(form)),
                CALL_TIMEOUT,
                MAX_SMALL,
            )
            .await?
            .json("OAuth token request")
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn from_file(path: &Path) -> Result<Kind, String> {
    let at = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("credentials file {at}: {e}"))?;
    if meta.len() > MAX_SMALL as u64 {
        return Err(format!("credentials file {at}: larger than 1 MiB"));
    }
    let text = std::fs::read(path).map_err(|e| format!("credentials file {at}: {e}"))?;
    let v: Value = serde_json::from_slice(&text)
        .map_err(|e| format!("credentials file {at}: not JSON: {e}"))?;
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let token_uri = Some(s("token_uri"))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_TOKEN_URI.into());
    match v.get("type").and_then(Value::as_str) {
        Some("service_account") => {
            let der = PrivatePkcs8KeyDer::from_pem_slice(s("private_key").as_bytes())
                .map_err(|e| format!("credentials file {at}: private_key: {e}"))?;
            let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
                .map_err(|e| format!("credentials file {at}: private_key: {e}"))?;
            let email = s("client_email");
            if email.is_empty() {
                return Err(format!("credentials file {at}: no client_email"));
            }
            Ok(Kind::ServiceAccount {
                email,
                key_id: s("private_key_id"),
                key: Box::new(key),
                token_uri,
            })
        }
        Some("authorized_user") => Ok(Kind::AuthorizedUser {
            client_id: s("client_id"),
            client_secret: s("client_secret"),
            refresh_token: s("refresh_token"),
            token_uri,
        }),
        other => Err(format!(
            "credentials file {at}: type {other:?} is not supported (service_account or authorized_user)"
        )),
    }
}

/// The signed JWT a service account exchanges for an access token (RFC 7523).
pub fn signed_jwt(
    email: &str,
    key_id: &str,
    key: &RsaKeyPair,
    audience: &str,
    now: u64,
) -> Result<String, String> {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": key_id});
    let claims = json!({
        "iss": email,
        "scope": SCOPE,
        "aud": audience,
        "iat": now,
        "exp": now + 3600,
    });
    let mut text = URL_SAFE_NO_PAD.encode(header.to_string());
    text.push('.');
    text.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        text.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "signing the token request failed".to_string())?;
    text.push('.');
    text.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A token endpoint on loopback that checks the JWT (signature with the key's public half, claims)
    /// and answers with a token; counts the requests.
    fn token_endpoint(public_key: Vec<u8>, hits: Arc<AtomicUsize>) -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let mut r = BufReader::new(conn);
                let mut len = 0;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                let body = String::from_utf8(body).unwrap();
                let jwt = body
                    .strip_prefix("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=")
                    .expect("a JWT-bearer grant");
                let parts: Vec<&str> = jwt.split('.').collect();
                assert_eq!(parts.len(), 3);
                let signed = format!("{}.{}", parts[0], parts[1]);
                let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    &public_key,
                )
                .verify(signed.as_bytes(), &sig)
                .expect("signed with the service account's key");
                let header: Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
                let claims: Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
                assert_eq!(header["alg"], "RS256");
                assert_eq!(header["kid"], "key-1");
                assert_eq!(claims["iss"], "kaudit@demo.iam.gserviceaccount.com");
                assert_eq!(claims["scope"], SCOPE);
                assert_eq!(claims["aud"], format!("http://127.0.0.1:{port}/token"));
                assert_eq!(
                    claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
                    3600
                );
                hits.fetch_add(1, Ordering::SeqCst);
                let answer =
                    r#"{"access_token":"ya29.test-token","expires_in":3599,"token_type":"Bearer"}"#;
                let mut c = r.into_inner();
                write!(c, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}", answer.len()).unwrap();
            }
        });
        port
    }

    #[tokio::test]
    async fn a_service_account_key_signs_the_token_request_and_the_token_is_reused() {
        let dir = std::env::temp_dir().join(format!("kaudit-gke-sa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem = dir.join("key.pem");
        // A throwaway key made for this test (ring cannot generate RSA keys).
        let st = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&pem)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is needed to make a test key");
        assert!(st.success());
        let pem_text = std::fs::read_to_string(&pem).unwrap();
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem_text.as_bytes()).unwrap();
        let public = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .unwrap()
            .public()
            .as_ref()
            .to_vec();
        let hits = Arc::new(AtomicUsize::new(0));
        let port = token_endpoint(public, hits.clone());
        let file = dir.join("sa.json");
        std::fs::write(
            &file,
            json!({
                "type": "service_account",
                "project_id": "demo",
                "private_key_id": "key-1",
                "private_key": pem_text,
                "client_email": "kaudit@demo.iam.gserviceaccount.com",
                "token_uri": format!("http://127.0.0.1:{port}/token"),
            })
            .to_string(),
        )
        .unwrap();
        let creds = Credentials::find(Some(&file), Http::new().unwrap()).unwrap();
        assert_eq!(
            creds.header().await.unwrap().as_deref(),
            Some("Bearer ya29.test-token")
        );
        assert_eq!(
            creds.header().await.unwrap().as_deref(),
            Some("Bearer ya29.test-token")
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "the token is reused until it nears expiry"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unsupported_and_broken_files_are_named() {
        let dir = std::env::temp_dir().join(format!("kaudit-gke-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.json");
        std::fs::write(&f, r#"{"type":"external_account"}"#).unwrap();
        let e = from_file(&f).err().unwrap();
        assert!(e.contains("external_account"), "{e}");
        std::fs::write(
            &f,
            r#"{"type":"service_account","client_email":"a@b","private_key":"x"}"#,
        )
        .unwrap();
        let e = from_file(&f).err().unwrap();
        assert!(e.contains("private_key"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
