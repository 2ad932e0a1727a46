//! The intake's HTTP server: tiny_http on 127.0.0.1, on threads of its own (no async runtime),
//! so a black-box check can run it beside anything.
//!
//! Every request is answered and counted: a decoded payload is 202 (its items kept, or handed
//! to a sink as they arrive); a body that does not decode is 400 (413 when over the limit) and
//! recorded as an error with its endpoint and offset, never as an empty payload; any other path
//! is 202 and counted as an unknown endpoint; `/api/v1/validate` answers `{"valid": true}`.

use super::body::MAX_BODY;
use super::decode::{decode_payload, Endpoint};
use super::decode_error::{DecodeError, Within};
use crate::pipeline::flushed::FlushedItem;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// How many threads answer requests: one decodes while the other reads the next body.
const THREADS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the intake listens on loopback only, not {0}")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {message}")]
    Bind { addr: SocketAddr, message: String },
}

/// Per endpoint: payloads decoded and the items they held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EndpointCounts {
    pub payloads: u64,
    pub items: u64,
}

/// Everything received so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Received {
    /// Decoded items in arrival order (empty when a sink takes them).
    #[serde(skip)]
    pub items: Vec<FlushedItem>,
    /// Decoded payloads by endpoint path.
    pub payloads: BTreeMap<String, EndpointCounts>,
    /// Requests to paths the intake does not know, by path.
    pub unknown: BTreeMap<String, u64>,
    /// Bodies that could not be decoded, in arrival order.
    pub errors: Vec<DecodeError>,
    /// `/api/v1/validate` requests (not payloads: a server that only validated posted nothing).
    pub validations: u64,
    /// Requests that carried a `DD-API-KEY` header, and those that did not (the agent always
    /// sends one).
    pub with_api_key: u64,
    pub without_api_key: u64,
}

impl Received {
    pub fn payload_total(&self) -> u64 {
        self.payloads.values().map(|c| c.payloads).sum()
    }

    pub fn item_total(&self) -> u64 {
        self.payloads.values().map(|c| c.items).sum()
    }

    pub fn unknown_total(&self) -> u64 {
        self.unknown.values().sum()
    }
}

struct Shared {
    received: Mutex<Received>,
    sink: Option<Mutex<Sender<Vec<FlushedItem>>>>,
}

impl Shared {
    /// The lock, even after a panic elsewhere: the counts stay usable.
    fn lock(&self) -> MutexGuard<'_, Received> {
        self.received.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running intake.
pub struct Intake {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Intake {
    /// Starts an intake on `addr` (loopback only; port 0 picks a free port, see
    /// [`Intake::addr`]) that keeps the decoded items.
    pub fn start(addr: SocketAddr) -> Result<Intake, IntakeError> {
        Self::start_inner(addr, None)
    }

    /// Starts an intake that sends each payload's decoded items to `sink` as they arrive,
    /// instead of keeping them (a long-running `lastbucket intake` must not grow).
    pub fn start_streaming(
        addr: SocketAddr,
        sink: Sender<Vec<FlushedItem>>,
    ) -> Result<Intake, IntakeError> {
        Self::start_inner(addr, Some(sink))
    }

    fn start_inner(
        addr: SocketAddr,
        sink: Option<Sender<Vec<FlushedItem>>>,
    ) -> Result<Intake, IntakeError> {
        if !addr.ip().is_loopback() {
            return Err(IntakeError::NotLoopback(addr));
        }
        let server = tiny_http::Server::http(addr).map_err(|e| IntakeError::Bind {
            addr,
            message: e.to_string(),
        })?;
        let bound = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| IntakeError::Bind {
                addr,
                message: "the server has no IP address".into(),
            })?;
        let server = Arc::new(server);
        let shared = Arc::new(Shared {
            received: Mutex::new(Received::default()),
            sink: sink.map(Mutex::new),
        });
        let threads = (0..THREADS)
            .map(|_| {
                let server = server.clone();
                let shared = shared.clone();
                std::thread::spawn(move || {
                    // `recv` fails once the server is unblocked by `stop`.
                    while let Ok(request) = server.recv() {
                        handle(&shared, request);
                    }
                })
            })
            .collect();
        Ok(Intake {
            addr: bound,
            server,
            shared,
            threads,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, as a server's `DD_DD_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of everything received so far.
    pub fn snapshot(&self) -> Received {
        self.shared.lock().clone()
    }

    /// The items received so far, taken out (the counts stay).
    pub fn take_items(&self) -> Vec<FlushedItem> {
        std::mem::take(&mut self.shared.lock().items)
    }

    /// Stops accepting requests, waits for the requests being answered, and returns
    /// everything received.
    pub fn stop(mut self) -> Received {
        self.shutdown();
        std::mem::take(&mut *self.shared.lock())
    }

    fn shutdown(&mut self) {
        for _ in 0..self.threads.len() {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn header<'a>(request: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn respond(request: tiny_http::Request, status: u16, body: &str) {
    let json = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]);
    let mut response = tiny_http::Response::from_string(body).with_status_code(status);
    if let Ok(h) = json {
        response = response.with_header(h);
    }
    // A client that went away before its answer is not the intake's problem.
    let _ = request.respond(response);
}

fn handle(shared: &Shared, mut request: tiny_http::Request) {
    let url = request.url().to_string();
    let path = url.split(['?', '#']).next().unwrap_or("").to_string();
    {
        let mut r = shared.lock();
        if header(&request, "DD-API-KEY").is_some_and(|k| !k.is_empty()) {
            r.with_api_key += 1;
        } else {
            r.without_api_key += 1;
        }
    }
    let Some(endpoint) = Endpoint::of(&path) else {
        *shared.lock().unknown.entry(path).or_insert(0) += 1;
        respond(request, 202, "{}");
        return;
    };
    if endpoint == Endpoint::Validate {
        shared.lock().validations += 1;
        respond(request, 200, r#"{"valid": true}"#);
        return;
    }
    let refuse = |request: tiny_http::Request, status: u16, e: DecodeError| {
        let body = serde_json::json!({"errors": [e.to_string()]}).to_string();
        shared.lock().errors.push(e);
        respond(request, status, &body);
    };
    if let Some(declared) = request.body_length() {
        if declared as u64 > MAX_BODY {
            let e = DecodeError::new(
                endpoint.path(),
                MAX_BODY,
                Within::Body,
                format!(
                    "declared body of {declared} bytes exceeds the limit of {MAX_BODY} bytes (64 MiB)"
                ),
            );
            refuse(request, 413, e);
            return;
        }
    }
    let encoding = header(&request, "Content-Encoding").map(str::to_string);
    let mut body = Vec::new();
    if let Err(e) = request
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
    {
        let e = DecodeError::new(
            endpoint.path(),
            body.len() as u64,
            Within::Body,
            format!("cannot read the body: {e}"),
        );
        refuse(request, 400, e);
        return;
    }
    match decode_payload(&path, encoding.as_deref(), &body) {
        Ok(items) => {
            let mut r = shared.lock();
            let c = r.payloads.entry(endpoint.path().to_string()).or_default();
            c.payloads += 1;
            c.items += items.len() as u64;
            match &shared.sink {
                // Sent under the lock, so the sink sees payloads in the order they were
                // counted. A sink whose reader is gone drops the items; they were counted.
                Some(sink) => {
                    let _ = sink.lock().unwrap_or_else(|p| p.into_inner()).send(items);
                }
                None => r.items.extend(items),
            }
            drop(r);
            respond(request, 202, "{}");
        }
        Err(e) => {
            let status = if e.is_over_limit() { 413 } else { 400 };
            refuse(request, status, e);
        }
    }
}
