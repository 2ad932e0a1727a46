//! `serve --forward-to URL`: each flush posted to a Datadog intake in the agent's format
//! ([`crate::intake::encode`]), zstd, with the `DD-API-KEY` header, from a thread of its own
//! (a blocking HTTP client, so the pipeline task never waits on the network). Loopback only.
//!
//! A post that fails (no answer, or a status other than 2xx) is retried twice, then shown on
//! stderr and counted; nothing is dropped silently. [`Forwarder::finish`] waits until every
//! flush handed over, the stop sequence's last one included, was posted or counted failed.

use crate::intake::encode::{self, Post};
use crate::pipeline::flushed::FlushedItem;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long one post may take, all told.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of one post before it counts as failed.
const ATTEMPTS: u32 = 3;
/// Pause before a retry (a backoff in the forwarder's own thread, not a test's wait).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Where and how to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardConfig {
    /// `http://HOST:PORT`, loopback, without a trailing slash.
    pub url: String,
    pub api_key: Option<String>,
    /// The `internalHostname` of the events payload.
    pub hostname: String,
}

/// Why a URL cannot be forwarded to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --forward-to / DD_DD_URL {url:?}: {why}")]
pub struct ForwardUrlError {
    pub url: String,
    pub why: String,
}

/// Checks a forward URL: plain `http://`, a loopback host (127.0.0.0/8, `localhost`, `[::1]`),
/// an optional port; a trailing slash is dropped.
pub fn parse_url(url: &str) -> Result<String, ForwardUrlError> {
    let bad = |why: &str| ForwardUrlError {
        url: url.to_string(),
        why: why.to_string(),
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("expected http://HOST:PORT (plain HTTP: the intake is on loopback)"))?;
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') {
        return Err(bad("expected no path after the host and port"));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(bad("lastbucket posts to a loopback address only"));
    }
    Ok(format!("http://{authority}"))
}

/// What the forwarder did, in serve's stats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ForwardStats {
    pub url: String,
    /// Payloads the intake accepted, and the flushed items they carried.
    pub payloads_posted: u64,
    pub items_posted: u64,
    /// Payloads that failed after every attempt, and their items.
    pub payloads_failed: u64,
    pub items_failed: u64,
    /// Payloads accepted by endpoint path.
    pub by_endpoint: BTreeMap<String, u64>,
    /// The last failure, for people.
    pub last_error: Option<String>,
}

/// A running forwarder.
pub struct Forwarder {
    tx: Option<Sender<Vec<FlushedItem>>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Mutex<ForwardStats>>,
}

impl Forwarder {
    pub fn start(config: ForwardConfig) -> Forwarder {
        let stats = Arc::new(Mutex::new(ForwardStats {
            url: config.url.clone(),
            ..ForwardStats::default()
        }));
        let (tx, rx) = channel::<Vec<FlushedItem>>();
        let shared = stats.clone();
        let thread = std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(POST_TIMEOUT))
                .http_status_as_error(false)
                // Loopback: a proxy from the environment must not take the posts elsewhere.
                .proxy(None)
                .build()
                .into();
            for items in rx {
                for post in encode::posts(&items, &config.hostname) {
                    let outcome = post_with_retries(&agent, &config, &post);
                    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    match outcome {
                        Ok(()) => {
                            s.payloads_posted += 1;
                            s.items_posted += post.items as u64;
                            *s.by_endpoint.entry(post.path.to_string()).or_insert(0) += 1;
                        }
                        Err(e) => {
                            eprintln!(
                                "error: cannot post {} items to {}{}: {e}",
                                post.items, config.url, post.path
                            );
                            s.payloads_failed += 1;
                            s.items_failed += post.items as u64;
                            s.last_error = Some(e);
                        }
                    }
                }
            }
        });
        Forwarder {
            tx: Some(tx),
            thread: Some(thread),
            stats,
        }
    }

    /// Hands one flush over (returns at once).
    pub fn send(&self, items: &[FlushedItem]) {
        if items.is_empty() {
            return;
        }
        if let Some(tx) = &self.tx {
            if tx.send(items.to_vec()).is_err() {
                // The thread is gone (it panicked): count the items as failed, loudly.
                eprintln!(
                    "error: the forwarder stopped: {} items not posted",
                    items.len()
                );
                let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
                s.items_failed += items.len() as u64;
            }
        }
    }

    /// The stats so far.
    pub fn stats(&self) -> ForwardStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until everything handed over was posted (or failed), and returns the stats.
    pub fn finish(mut self) -> ForwardStats {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                eprintln!("error: the forwarder's thread panicked");
            }
        }
        self.stats()
    }
}

fn post_with_retries(
    agent: &ureq::Agent,
    config: &ForwardConfig,
    post: &Post,
) -> Result<(), String> {
    let body = post
        .compressed()
        .map_err(|e| format!("cannot compress the payload: {e}"))?;
    let url = format!("{}{}", config.url, post.path);
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(RETRY_PAUSE * attempt);
        }
        let mut request = agent
            .post(&url)
            .header("Content-Type", post.content_type)
            .header("Content-Encoding", "zstd");
        if let Some(key) = &config.api_key {
            request = request.header("DD-API-KEY", key);
        }
        match request.send(&body[..]) {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("the intake answered {}", r.status()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("{last} (after {ATTEMPTS} attempts)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_urls_are_accepted() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(parse_url("http://localhost:1").is_ok());
        assert!(parse_url("http://[::1]:1").is_ok());
        assert!(parse_url("https://127.0.0.1:1").is_err());
        assert!(parse_url("http://10.0.0.1:1").is_err());
        assert!(parse_url("http://example.com").is_err());
        assert!(parse_url("http://127.0.0.1:1/api").is_err());
    }
}
