//! Storage connection strings and the account shared access signature made from their key.
//!
//! The checkpoint store talks to Blob storage over REST with a SAS query string: either the one the
//! connection string carries (`SharedAccessSignature=...`), or one signed here from `AccountKey` (HMAC-SHA256
//! of the account SAS fields, version 2019-12-12), renewed well before it expires. Signing a SAS is a
//! few lines, where Shared Key signing of every request would need the full request canonicalisation.

use crate::cloud::https::percent_encode as encode;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use kaudit_engine::fields::time::civil;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Azurite's and the storage emulator's fixed development account (public, documented by Microsoft).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// The SAS version signed here, and the REST version requests ask for.
pub const VERSION: &str = "2019-12-12";
/// How long a signed SAS is valid, and how long before that it is replaced.
const SAS_LIFETIME: Duration = Duration::from_secs(24 * 3600);
const SAS_RENEW_AFTER: Duration = Duration::from_secs(3600);

/// How requests are authorised.
#[derive(Clone, PartialEq)]
enum Auth {
    Key { account: String, key: Vec<u8> },
    Sas(String),
}

/// A parsed storage connection string.
#[derive(Clone, PartialEq)]
pub struct StorageAccount {
    /// The blob service URL without a trailing slash, e.g. `https://acct.blob.core.windows.net`.
    pub blob_endpoint: String,
    auth: Auth,
}

impl std::fmt::Debug for StorageAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StorageAccount({})", self.blob_endpoint)
    }
}

impl StorageAccount {
    /// Parses `Key=Value;...` as Azure's SDKs do (keys case-insensitive, values may contain `=`).
    pub fn parse(cs: &str) -> Result<StorageAccount, String> {
        let mut kv = std::collections::HashMap::new();
        for part in cs.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(format!(
                    "the storage connection string has a part without '=' ({} characters)",
                    part.len()
                ));
            };
            kv.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let get = |k: &str| kv.get(k).filter(|v| !v.is_empty()).cloned();
        if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            let endpoint = get("developmentstorageproxyuri")
                .map(|p| format!("{}/{DEV_ACCOUNT}", p.trim_end_matches('/')))
                .unwrap_or_else(|| DEV_BLOB_ENDPOINT.into());
            return Ok(StorageAccount {
                blob_endpoint: endpoint,
                auth: Auth::Key {
                    account: DEV_ACCOUNT.into(),
                    key: STANDARD.decode(DEV_KEY).map_err(|e| e.to_string())?,
                },
            });
        }
        let account = get("accountname");
        let endpoint = match (get("blobendpoint"), &account) {
            (Some(e), _) => e.trim_end_matches('/').to_string(),
            (None, Some(a)) => format!(
                "{}://{a}.blob.{}",
                get("defaultendpointsprotocol").unwrap_or_else(|| "https".into()),
                get("endpointsuffix").unwrap_or_else(|| "core.windows.net".into())
            ),
            (None, None) => {
                return Err(
                    "the storage connection string has neither AccountName nor BlobEndpoint".into(),
                )
            }
        };
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(
                "the storage connection string's blob endpoint is not an http(s) URL".into(),
            );
        }
        let auth = match (get("sharedaccesssignature"), get("accountkey"), account) {
            (Some(sas), _, _) => Auth::Sas(sas.trim_start_matches('?').to_string()),
            (None, Some(key), Some(account)) => Auth::Key {
                account,
                key: STANDARD
                    .decode(key)
                    .map_err(|_| "the storage connection string's AccountKey is not base64")?,
            },
            _ => {
                return Err(
                    "the storage connection string needs AccountName and AccountKey, or SharedAccessSignature"
                        .into(),
                )
            }
        };
        Ok(StorageAccount {
            blob_endpoint: endpoint,
            auth,
        })
    }

    /// A SAS query string (without `?`) valid from `now` on, and when to replace it (`None`: never,
    /// a SAS given in the connection string).
    pub fn sas(&self, now: SystemTime) -> (String, Option<SystemTime>) {
        match &self.auth {
            Auth::Sas(s) => (s.clone(), None),
            Auth::Key { account, key } => {
                let expiry = now + SAS_LIFETIME;
                let protocol = if self.blob_endpoint.starts_with("https://") {
                    "https"
                } else {
                    ""
                };
                (
                    account_sas(account, key, expiry, protocol),
                    Some(now + SAS_RENEW_AFTER),
                )
            }
        }
    }
}

/// An account SAS for Blob storage granting read, write and create on containers and blobs.
pub fn account_sas(account: &str, key: &[u8], expiry: SystemTime, protocol: &str) -> String {
    let (sp, ss, srt) = ("rwc", "b", "co");
    let se = iso8601(expiry);
    // The fields in the order the service checks them: account, permissions, services, resource
    // types, start, expiry, IP range, protocol, version; each followed by a newline.
    let to_sign = format!("{account}\n{sp}\n{ss}\n{srt}\n\n{se}\n\n{protocol}\n{VERSION}\n");
    let sig = hmac_sha256(key, to_sign.as_bytes());
    let mut q = format!("sv={VERSION}&ss={ss}&srt={srt}&sp={sp}&se={}", encode(&se));
    if !protocol.is_empty() {
        q.push_str(&format!("&spr={protocol}"));
    }
    q.push_str(&format!("&sig={}", encode(&STANDARD.encode(sig))));
    q
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&k, data).as_ref().to_vec()
}

/// `2026-01-02T03:04:05Z`.
fn iso8601(t: SystemTime) -> String {
    let ns = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() * 1_000_000_000);
    let c = civil(ns, 0);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings() {
        let a = StorageAccount::parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(a.blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        let a = StorageAccount::parse(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(a.blob_endpoint, "https://acct.blob.core.windows.net");
        assert!(
            a.auth
                == Auth::Key {
                    account: "acct".into(),
                    key: b"key".to_vec()
                }
        );
        let a = StorageAccount::parse(
            "BlobEndpoint=http://127.0.0.1:5/devstoreaccount1/;SharedAccessSignature=?sv=1&sig=a%3D",
        )
        .unwrap();
        assert_eq!(a.blob_endpoint, "http://127.0.0.1:5/devstoreaccount1");
        assert_eq!(a.sas(UNIX_EPOCH).0, "sv=1&sig=a%3D");
        assert!(StorageAccount::parse("AccountName=a").is_err());
        assert!(StorageAccount::parse("AccountName=a;AccountKey=!!").is_err());
        assert!(StorageAccount::parse("BlobEndpoint=ftp://x;SharedAccessSignature=s").is_err());
        assert!(
            !format!(
                "{:?}",
                StorageAccount::parse("AccountName=a;AccountKey=a2V5").unwrap()
            )
            .contains("a2V5"),
            "no key in debug output"
        );
    }

    /// The signature of a fixed input, computed independently (HMAC-SHA256 over the string-to-sign with
    /// the decoded development key, `openssl dgst -sha256 -mac HMAC -macopt hexkey:...`).
    #[test]
    fn account_sas_signature_is_stable() {
        let key = STANDARD.decode(DEV_KEY).unwrap();
        let expiry = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let q = account_sas(DEV_ACCOUNT, &key, expiry, "");
        assert!(
            q.starts_with("sv=2019-12-12&ss=b&srt=co&sp=rwc&se=2027-01-15T08%3A00%3A00Z&sig="),
            "{q}"
        );
        // base64 "aP8pYuHmlTHRkOrawFTXZCe2SIQCqEUkm5T3NHbx+pQ=", percent-encoded.
        assert!(
            q.ends_with("&sig=aP8pYuHmlTHRkOrawFTXZCe2SIQCqEUkm5T3NHbx%2BpQ%3D"),
            "{q}"
        );
        let q = account_sas("a", b"k", expiry, "https");
        assert!(q.contains("&spr=https&sig="), "{q}");
    }
}
