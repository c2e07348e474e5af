//! HTTP(S) outputs: Splunk's HTTP Event Collector (`/services/collector/event`)
//! and the Elasticsearch / OpenSearch `_bulk` API.
//!
//! Records are batched into POST bodies of at most `max_batch_bytes`,
//! gzip-compressed by default. The secret (HEC token, Elasticsearch API key
//! or password) comes from a file or an environment variable, never from the
//! config or the command line; the file is read again after a 401/403, so a
//! rotated token is picked up without a restart.
//!
//! What is retried, with exponential back-off and jitter: connection errors,
//! 408, 429 and 5xx, and 401/403 (loudly: someone must fix the token). A 413
//! splits the body. What the receiver refuses for good (HEC 400 "invalid
//! data format", a `_bulk` item with a mapping error) is logged and counted
//! as rejected: sending it again would never succeed and would hold up
//! everything behind it. Elasticsearch documents get an `_id` derived from
//! their content and are sent with `create`, so a batch sent again after a
//! lost answer adds no duplicates (409 means "already there").

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use flate2::write::GzEncoder;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::policy::{OutputFilter, RedactConfig};
use super::queue::QueueConfig;
use super::tls::{Tls, TlsConfig};
use super::{Backoff, Flush, Records, Sink};
use crate::format::siem::SiemOptions;
use crate::format::Encoding;

/// Which API the receiver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Splunk HTTP Event Collector: concatenated event envelopes.
    Hec,
    /// Elasticsearch / OpenSearch `_bulk`: an action line before each document.
    Bulk,
}

/// The settings both HTTP outputs share.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `https://splunk:8088/services/collector/event`, `https://es:9200`.
    pub url: String,
    /// A file holding the secret (mode 0600, owned by the service user).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// An environment variable holding the secret (systemd `LoadCredential=`
    /// or `Environment=` from a drop-in).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Elasticsearch basic authentication: this user, the secret as password
    /// (without it the secret is an API key).
    #[serde(default)]
    pub username: Option<String>,
    /// Elasticsearch index or data stream.
    #[serde(default = "default_index")]
    pub index: String,
    #[serde(default = "yes")]
    pub gzip: bool,
    #[serde(default = "default_batch")]
    pub max_batch_bytes: usize,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// CA file, client certificate, pinned fingerprints (server_name comes from the URL).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// `hec` for Splunk (the default there); `ecs` (the default) or `json`
    /// for Elasticsearch.
    #[serde(default)]
    pub encoding: Option<Encoding>,
    #[serde(default)]
    pub options: SiemOptions,
    /// Which events this output takes.
    #[serde(default)]
    pub filter: OutputFilter,
    /// What personal data is hidden before it leaves.
    #[serde(default)]
    pub redact: Option<RedactConfig>,
    /// Memory queue, spool and `when_full`.
    #[serde(default)]
    pub queue: QueueConfig,
}

fn default_index() -> String {
    "sipannotate".into()
}
fn yes() -> bool {
    true
}
fn default_batch() -> usize {
    1 << 20
}
fn default_timeout() -> u64 {
    30
}

impl HttpConfig {
    /// Checks what can be checked without the network; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        split_url(&self.url)?;
        if self.token_file.is_some() && self.token_env.is_some() {
            return Err("give token_file or token_env, not both".into());
        }
        if self.tls.as_ref().is_some_and(|t| t.server_name.is_some()) {
            return Err("tls.server_name: an HTTP output checks the host of its url".into());
        }
        if self.max_batch_bytes < 1024 {
            return Err("max_batch_bytes: at least 1024".into());
        }
        Ok(())
    }
}

/// `(https?, host:port)` of a URL.
fn split_url(url: &str) -> Result<(bool, String), String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!(
            "url: \"{url}\" must start with http:// or https://"
        ));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "url: \"{url}\" needs a host (and no user:password; use token_file or token_env)"
        ));
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()) && !authority.ends_with(']'));
    let hostport = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    };
    Ok((tls, hostport))
}

/// Where the secret comes from.
#[derive(Debug, Clone)]
enum Secret {
    None,
    File(PathBuf),
    Env(String),
}

impl Secret {
    fn read(&self) -> io::Result<Option<String>> {
        let value = match self {
            Secret::None => return Ok(None),
            Secret::File(p) => std::fs::read_to_string(p).map_err(|e| {
                io::Error::new(e.kind(), format!("token_file {}: {e}", p.display()))
            })?,
            Secret::Env(v) => std::env::var(v).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("token_env: ${v} is not set"),
                )
            })?,
        };
        let value = value.trim().to_string();
        if value.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the token is empty",
            ));
        }
        Ok(Some(value))
    }
}

/// A Splunk HEC or Elasticsearch `_bulk` receiver.
pub struct HttpSink {
    api: Api,
    endpoint: String,
    config: HttpConfig,
    agent: ureq::Agent,
    secret: Secret,
    authorization: Option<String>,
    /// `_bulk`: the action line up to the document's `_id` value.
    action: Vec<u8>,
    /// Encoded records (with their line breaks) not yet delivered.
    records: Records,
    backoff: Backoff,
}

/// What one POST came to.
enum Outcome {
    /// Everything delivered, or refused for good (counted).
    Done,
    /// Retry these records (indices into the body's records) after a back-off.
    Retry(Vec<usize>, String),
    /// Credentials refused: read the secret again, then retry.
    Unauthorized(String),
    /// Too large: split.
    TooLarge,
}

impl HttpSink {
    /// A sink for `config`; the secret is read now (a missing token is a
    /// start-up error), the network is first used at the first flush.
    pub fn new(api: Api, config: &HttpConfig) -> io::Result<HttpSink> {
        let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
        config.validate().map_err(invalid)?;
        let (https, hostport) = split_url(&config.url).map_err(invalid)?;
        let mut builder = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .user_agent(concat!("sipannotate/", env!("CARGO_PKG_VERSION")));
        if https {
            let tls = Tls::new(
                config.tls.as_ref().unwrap_or(&TlsConfig::default()),
                &hostport,
            )?;
            builder = builder.tls_config(tls.client_config());
        }
        let endpoint = match api {
            Api::Hec => config.url.clone(),
            Api::Bulk => format!("{}/_bulk", config.url.trim_end_matches('/')),
        };
        let secret = match (&config.token_file, &config.token_env) {
            (Some(p), _) => Secret::File(p.clone()),
            (_, Some(v)) => Secret::Env(v.clone()),
            _ => Secret::None,
        };
        if api == Api::Hec && matches!(secret, Secret::None) {
            return Err(invalid(
                "Splunk HEC needs a token: set token_file or token_env".into(),
            ));
        }
        let mut action = b"{\"create\":{\"_index\":".to_vec();
        crate::format::json::push_str(&mut action, &config.index);
        action.extend_from_slice(b",\"_id\":\"");
        let mut sink = HttpSink {
            api,
            endpoint,
            config: config.clone(),
            agent: builder.build(),
            secret,
            authorization: None,
            action,
            records: Records::default(),
            backoff: Backoff::new(),
        };
        sink.authorization = sink.authorization_header()?;
        Ok(sink)
    }

    fn authorization_header(&self) -> io::Result<Option<String>> {
        let Some(secret) = self.secret.read()? else {
            return Ok(None);
        };
        Ok(Some(match (self.api, &self.config.username) {
            (Api::Hec, _) => format!("Splunk {secret}"),
            (Api::Bulk, Some(user)) => {
                format!("Basic {}", BASE64.encode(format!("{user}:{secret}")))
            }
            (Api::Bulk, None) => format!("ApiKey {secret}"),
        }))
    }

    /// The request body for these records (by index).
    fn body(&self, records: &[usize]) -> Vec<u8> {
        let mut body = Vec::new();
        for &i in records {
            let r = self.records.get(i);
            let r = r.strip_suffix(b"\n").unwrap_or(r);
            if self.api == Api::Bulk {
                let id = Sha256::digest(r);
                body.extend_from_slice(&self.action);
                for b in &id[..16] {
                    let _ = write!(body, "{b:02x}");
                }
                body.extend_from_slice(b"\"}}\n");
            }
            body.extend_from_slice(r);
            body.push(b'\n');
        }
        body
    }

    /// Sends the records once.
    fn post(&self, ctx: &Flush<'_>, records: &[usize]) -> Outcome {
        let body = self.body(records);
        let mut req = self.agent.post(&self.endpoint).set(
            "Content-Type",
            match self.api {
                Api::Hec => "application/json",
                Api::Bulk => "application/x-ndjson",
            },
        );
        if let Some(a) = &self.authorization {
            req = req.set("Authorization", a);
        }
        let sent = if self.config.gzip {
            let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let compressed = gz.write_all(&body).and_then(|()| gz.finish());
            match compressed {
                Ok(z) => req.set("Content-Encoding", "gzip").send_bytes(&z),
                Err(e) => return Outcome::Retry(records.to_vec(), format!("gzip: {e}")),
            }
        } else {
            req.send_bytes(&body)
        };
        match sent {
            Ok(resp) => match self.api {
                Api::Hec => Outcome::Done,
                Api::Bulk => {
                    let text = resp.into_string().unwrap_or_default();
                    self.bulk_items(ctx, records, &text)
                }
            },
            Err(ureq::Error::Status(code, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                let why = format!("HTTP {code}: {}", one_line(&text));
                match code {
                    401 | 403 => Outcome::Unauthorized(why),
                    413 => Outcome::TooLarge,
                    408 | 429 | 500..=599 => Outcome::Retry(records.to_vec(), why),
                    _ => {
                        self.reject(ctx, records.len(), &why);
                        Outcome::Done
                    }
                }
            }
            Err(ureq::Error::Transport(t)) => Outcome::Retry(records.to_vec(), t.to_string()),
        }
    }

    /// Reads a `_bulk` answer: items that failed for a passing reason are
    /// retried, the others counted as rejected.
    fn bulk_items(&self, ctx: &Flush<'_>, records: &[usize], text: &str) -> Outcome {
        let Ok(answer) = serde_json::from_str::<serde_json::Value>(text) else {
            return Outcome::Retry(
                records.to_vec(),
                format!("not a _bulk answer: {}", one_line(text)),
            );
        };
        if answer["errors"] != serde_json::Value::Bool(true) {
            return Outcome::Done;
        }
        let items = answer["items"].as_array().map_or(&[][..], Vec::as_slice);
        let mut retry = Vec::new();
        let mut rejected = 0;
        let mut first_reason = String::new();
        for (k, &i) in records.iter().enumerate() {
            let item = items
                .get(k)
                .and_then(|it| it.as_object())
                .and_then(|o| o.values().next());
            let status = item.and_then(|v| v["status"].as_u64()).unwrap_or(500);
            match status {
                200..=299 | 409 => {}
                429 | 500..=599 => retry.push(i),
                _ => {
                    rejected += 1;
                    if first_reason.is_empty() {
                        first_reason =
                            item.map_or(String::new(), |v| one_line(&v["error"].to_string()));
                    }
                }
            }
        }
        if rejected > 0 {
            self.reject(ctx, rejected, &format!("status 4xx: {first_reason}"));
        }
        if retry.is_empty() {
            Outcome::Done
        } else {
            let why = format!("{} document(s) refused for now (429/5xx)", retry.len());
            Outcome::Retry(retry, why)
        }
    }

    fn reject(&self, ctx: &Flush<'_>, n: usize, why: &str) {
        (ctx.rejected)(n as u64);
        eprintln!(
            "sipannotate: {}: {n} record(s) refused by the receiver and dropped: {why}",
            self.describe()
        );
    }

    fn back_off(&mut self, ctx: &Flush<'_>, why: &str, first: &mut bool) -> io::Result<()> {
        if *first {
            eprintln!(
                "sipannotate: {}: {why}; retrying with back-off",
                self.describe()
            );
            *first = false;
        }
        self.backoff.wait(ctx)
    }

    /// Delivers the records in `todo` (consecutive runs within the size cap).
    fn deliver(&mut self, ctx: &Flush<'_>) -> io::Result<()> {
        let mut cap = self.config.max_batch_bytes;
        let mut todo: Vec<usize> = (0..self.records.len()).collect();
        let mut first = true;
        let mut failed = false;
        while !todo.is_empty() {
            (ctx.heartbeat)();
            // The longest prefix within the cap (always at least one record).
            let mut size = 0;
            let n = todo
                .iter()
                .position(|&i| {
                    size += self.records.get(i).len() + 80;
                    size > cap
                })
                .unwrap_or(todo.len())
                .max(1);
            let chunk: Vec<usize> = todo[..n].to_vec();
            match self.post(ctx, &chunk) {
                Outcome::Done => {
                    todo.drain(..n);
                    self.backoff.reset();
                    if failed {
                        eprintln!("sipannotate: {}: delivering again", self.describe());
                        failed = false;
                        first = true;
                    }
                }
                Outcome::Retry(again, why) => {
                    failed = true;
                    // Keep order: the records to retry, then the rest.
                    todo.splice(..n, again);
                    self.back_off(ctx, &why, &mut first)?;
                }
                Outcome::Unauthorized(why) => {
                    failed = true;
                    self.back_off(
                        ctx,
                        &format!("credentials refused ({why}); fix the token"),
                        &mut first,
                    )?;
                    match self.authorization_header() {
                        Ok(a) => self.authorization = a,
                        Err(e) => eprintln!("sipannotate: {}: {e}", self.describe()),
                    }
                }
                Outcome::TooLarge if n > 1 => cap = (cap / 2).max(1024),
                Outcome::TooLarge => {
                    self.reject(
                        ctx,
                        1,
                        "HTTP 413: one record is larger than the receiver takes",
                    );
                    todo.drain(..1);
                }
            }
        }
        Ok(())
    }
}

impl Sink for HttpSink {
    fn describe(&self) -> String {
        match self.api {
            Api::Hec => format!("hec {}", self.config.url),
            Api::Bulk => format!("elasticsearch {}", self.config.url),
        }
    }

    fn write(&mut self, record: &[u8]) -> io::Result<()> {
        self.records.push(record);
        Ok(())
    }

    fn flush(&mut self, ctx: &Flush<'_>) -> io::Result<()> {
        if self.records.is_empty() {
            return Ok(());
        }
        self.deliver(ctx)?;
        self.records.clear();
        Ok(())
    }
}

/// A receiver's answer on one line, cut to a readable length.
fn one_line(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_scheme_and_port_and_refuse_credentials() {
        assert_eq!(
            split_url("https://splunk:8088/services/collector/event").unwrap(),
            (true, "splunk:8088".into())
        );
        assert_eq!(split_url("http://es").unwrap(), (false, "es:80".into()));
        assert_eq!(
            split_url("https://[::1]").unwrap(),
            (true, "[::1]:443".into())
        );
        assert!(split_url("es:9200").is_err());
        assert!(split_url("https://elastic:secret@es:9200").is_err());
    }
}
