//! A blocking etcd client with a deadline on every call.
//!
//! The etcd client is async (tonic); bricks call confd from plain threads
//! at construction time. Each [`Client`] owns a small current-thread tokio
//! runtime and blocks on it for each call, so nothing async leaks out of
//! this crate, and every call is bounded by the fleet's `timeout_ms`: a
//! server that accepts the connection and then never answers (a stopped
//! process) costs the timeout, never more.

use std::time::Duration;

use etcd_client::{Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp, TxnOpResponse};

use crate::FleetError;

/// One key's value as etcd holds it. `Debug` shows the value's size, not
/// the value, which may hold secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The full key.
    pub key: String,
    /// The raw value (a brick's TOML text, if it is valid).
    pub value: Vec<u8>,
    /// The revision that last changed the key.
    pub mod_revision: i64,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("mod_revision", &self.mod_revision)
            .finish()
    }
}

/// The result of a compare-and-swap write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Swap {
    /// Written at this revision.
    Written(i64),
    /// The key had changed: its current revision (0: it is gone).
    Conflict(i64),
}

/// A connection to an etcd cluster, used from blocking code: one
/// connection per member, a read asked of one member at a time (each with
/// an equal share of the time left, so a member that accepts and never
/// answers costs a share, not the call), starting with the member that
/// answered last; a write sent to that member.
pub struct Client {
    runtime: Runtime,
    members: Vec<etcd_client::Client>,
    preferred: std::sync::atomic::AtomicUsize,
    endpoints: Vec<String>,
    timeout: Duration,
}

/// A current-thread runtime that, dropped, does not wait for work it could
/// not finish: a name lookup stuck in the resolver's thread must not hold a
/// boot past its timeout.
pub(crate) struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    pub(crate) fn new() -> Result<Self, FleetError> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|r| Runtime(Some(r)))
            .map_err(|e| FleetError::Runtime(e.to_string()))
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.0
            .as_ref()
            .expect("present until dropped")
            .block_on(future)
    }

    pub(crate) fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0
            .as_ref()
            .expect("present until dropped")
            .spawn(future)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.endpoints)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The options every connection uses: HTTP/2 keep-alive pings, so a watch
/// notices a server that went silent. No timeout of tonic's own: every call
/// is bounded by ours (`bounded`, or the watch's), which then reports it as
/// a timeout, and two racing deadlines would make the message a lottery.
pub(crate) fn connect_options(timeout: Duration) -> ConnectOptions {
    ConnectOptions::new()
        .with_keep_alive(timeout.max(Duration::from_millis(500)), timeout)
        .with_keep_alive_while_idle(true)
}

impl Client {
    /// Connects to `endpoints`; every later call, this one included, gives
    /// up after `timeout`.
    pub fn connect(endpoints: &[String], timeout: Duration) -> Result<Self, FleetError> {
        let runtime = Runtime::new()?;
        let mut members = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let one = std::slice::from_ref(endpoint);
            members.push(bounded(
                &runtime,
                one,
                timeout,
                etcd_client::Client::connect(one, Some(connect_options(timeout))),
            )?);
        }
        if members.is_empty() {
            return Err(FleetError::Etcd {
                endpoints: String::new(),
                message: "no endpoint to ask".to_owned(),
            });
        }
        Ok(Client {
            runtime,
            members,
            // Processes start with different members: a fleet's boots
            // spread over the cluster.
            preferred: std::sync::atomic::AtomicUsize::new(spread()),
            endpoints: endpoints.to_vec(),
            timeout,
        })
    }

    /// The same client with another deadline per call.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The endpoints this client asks.
    #[must_use]
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    fn preferred(&self) -> usize {
        self.preferred.load(std::sync::atomic::Ordering::Relaxed) % self.members.len()
    }

    /// A write, sent to the member that answered last, with the whole
    /// timeout. Never sent again to another: whether a write that got no
    /// answer was applied is unknown, and its compare-and-swap decides.
    fn write<T, Fut>(&self, call: impl FnOnce(etcd_client::Client) -> Fut) -> Result<T, FleetError>
    where
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let member = self.preferred();
        let one = std::slice::from_ref(&self.endpoints[member]);
        bounded(
            &self.runtime,
            one,
            self.timeout,
            call(self.members[member].clone()),
        )
    }

    /// A read, asked of one member at a time from the one that answered
    /// last, each with an equal share of the time left; the member that
    /// answers is asked first next time.
    fn read<T, F, Fut>(&self, call: F) -> Result<T, FleetError>
    where
        F: Fn(etcd_client::Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = std::time::Instant::now() + self.timeout;
        let count = self.members.len();
        let first = self.preferred();
        let mut refused = None;
        for i in 0..count {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let share = left / u32::try_from(count - i).unwrap_or(u32::MAX);
            let member = (first + i) % count;
            let one = std::slice::from_ref(&self.endpoints[member]);
            match bounded(
                &self.runtime,
                one,
                share,
                call(self.members[member].clone()),
            ) {
                Ok(value) => {
                    self.preferred
                        .store(member, std::sync::atomic::Ordering::Relaxed);
                    return Ok(value);
                }
                Err(FleetError::Timeout { .. }) => {}
                Err(e) => refused = Some(e),
            }
        }
        // Said of every member and the whole wait: each was asked.
        Err(match refused {
            Some(FleetError::Etcd { message, .. }) => FleetError::Etcd {
                endpoints: self.endpoints.join(", "),
                message,
            },
            Some(other) => other,
            None => FleetError::Timeout {
                endpoints: self.endpoints.join(", "),
                timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            },
        })
    }

    /// Every key under each of `prefixes`, read in one transaction (one
    /// round trip, one consistent revision): the revision and the entries of
    /// each prefix.
    pub fn read_prefixes(&self, prefixes: &[String]) -> Result<(i64, Vec<Vec<Entry>>), FleetError> {
        self.read(|client| async move { read_prefixes(&client, prefixes).await })
    }

    /// One key's entry, if it exists, and the cluster's revision.
    pub fn get(&self, key: &str) -> Result<(i64, Option<Entry>), FleetError> {
        let response =
            self.read(|client| async move { client.kv_client().get(key.as_bytes(), None).await })?;
        let revision = response
            .header()
            .map_or(0, etcd_client::ResponseHeader::revision);
        Ok((revision, response.kvs().first().map(entry)))
    }

    /// Writes `value` at `key` if the key is still at `expected` (its
    /// `mod_revision`; 0 for a key that must not exist yet).
    pub fn put_if(&self, key: &str, value: &[u8], expected: i64) -> Result<Swap, FleetError> {
        let guard = if expected == 0 {
            Compare::version(key.as_bytes(), CompareOp::Equal, 0)
        } else {
            Compare::mod_revision(key.as_bytes(), CompareOp::Equal, expected)
        };
        self.swap(key, guard, TxnOp::put(key.as_bytes(), value, None))
    }

    /// Writes `key` whatever it holds (tests, benchmarks and tools that
    /// own the key); the revision written.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<i64, FleetError> {
        let response = self.write(|client| async move {
            client.kv_client().put(key.as_bytes(), value, None).await
        })?;
        Ok(response
            .header()
            .map_or(0, etcd_client::ResponseHeader::revision))
    }

    /// Deletes `key` if it is still at `expected`; the outcome as for [`Client::put_if`].
    pub fn delete_if(&self, key: &str, expected: i64) -> Result<Swap, FleetError> {
        let guard = Compare::mod_revision(key.as_bytes(), CompareOp::Equal, expected);
        self.swap(key, guard, TxnOp::delete(key.as_bytes(), None))
    }

    /// Runs `op` on `key` if `guard` holds, in one transaction that reads the
    /// key back when it does not: the revision written, or the key's
    /// `mod_revision` now (0: absent).
    fn swap(&self, key: &str, guard: Compare, op: TxnOp) -> Result<Swap, FleetError> {
        let txn = Txn::new()
            .when([guard])
            .and_then([op])
            .or_else([TxnOp::get(key.as_bytes(), None)]);
        let response = self.write(|client| async move { client.kv_client().txn(txn).await })?;
        let revision = response
            .header()
            .map_or(0, etcd_client::ResponseHeader::revision);
        if response.succeeded() {
            return Ok(Swap::Written(revision));
        }
        let current = response
            .op_responses()
            .into_iter()
            .find_map(|op| match op {
                TxnOpResponse::Get(get) => {
                    Some(get.kvs().first().map_or(0, |kv| kv.mod_revision()))
                }
                _ => None,
            })
            .unwrap_or(0);
        Ok(Swap::Conflict(current))
    }

    /// Compacts the cluster's history up to `revision` (operators do this
    /// routinely; a watch from before it must start over).
    pub fn compact(&self, revision: i64) -> Result<(), FleetError> {
        self.write(|client| async move { client.kv_client().compact(revision, None).await })
            .map(drop)
    }

    /// Each endpoint's answer to a status request: its revision, or why
    /// it did not answer. Each is asked on its own connection, all at once,
    /// so the whole takes at most the timeout.
    #[must_use]
    pub fn status_of_each(&self) -> Vec<(String, Result<Status, FleetError>)> {
        let timeout = self.timeout;
        let asked: Vec<_> = self
            .endpoints
            .iter()
            .map(|endpoint| {
                let endpoint = endpoint.clone();
                self.runtime.spawn(async move {
                    let one = std::slice::from_ref(&endpoint);
                    let call = async {
                        let mut client =
                            etcd_client::Client::connect(one, Some(connect_options(timeout)))
                                .await?;
                        client.status().await
                    };
                    let answer = match tokio::time::timeout(timeout, call).await {
                        Ok(Ok(status)) => Ok(Status {
                            revision: status
                                .header()
                                .map_or(0, etcd_client::ResponseHeader::revision),
                            version: status.version().to_owned(),
                            is_leader: status
                                .header()
                                .is_some_and(|h| h.member_id() == status.leader()),
                        }),
                        Ok(Err(e)) => Err(FleetError::Etcd {
                            endpoints: endpoint.clone(),
                            message: e.to_string(),
                        }),
                        Err(_) => Err(FleetError::Timeout {
                            endpoints: endpoint.clone(),
                            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                        }),
                    };
                    (endpoint, answer)
                })
            })
            .collect();
        self.runtime.block_on(async {
            let mut answers = Vec::with_capacity(asked.len());
            for task in asked {
                if let Ok(answer) = task.await {
                    answers.push(answer);
                }
            }
            answers
        })
    }
}

/// A number that differs between processes, to start with another member.
fn spread() -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (std::process::id() ^ nanos) as usize
}

/// What one member says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The cluster revision it has applied.
    pub revision: i64,
    /// Its etcd version.
    pub version: String,
    /// Whether it is the leader.
    pub is_leader: bool,
}

/// [`Client::read_prefixes`] for async code (the watch thread).
pub(crate) async fn read_prefixes(
    client: &etcd_client::Client,
    prefixes: &[String],
) -> Result<(i64, Vec<Vec<Entry>>), etcd_client::Error> {
    let ops: Vec<TxnOp> = prefixes
        .iter()
        .map(|p| TxnOp::get(p.as_bytes(), Some(GetOptions::new().with_prefix())))
        .collect();
    let mut kv = client.kv_client();
    let response = kv.txn(Txn::new().and_then(ops)).await?;
    let revision = response
        .header()
        .map_or(0, etcd_client::ResponseHeader::revision);
    let mut ranges = Vec::new();
    for op in response.op_responses() {
        if let TxnOpResponse::Get(get) = op {
            ranges.push(get.kvs().iter().map(entry).collect());
        }
    }
    Ok((revision, ranges))
}

pub(crate) fn entry(kv: &etcd_client::KeyValue) -> Entry {
    Entry {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        mod_revision: kv.mod_revision(),
    }
}

/// Runs `call` on `runtime`, giving up after `timeout`.
pub(crate) fn bounded<T>(
    runtime: &Runtime,
    endpoints: &[String],
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, FleetError> {
    match runtime.block_on(async { tokio::time::timeout(timeout, call).await }) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(FleetError::Etcd {
            endpoints: endpoints.join(", "),
            message: e.to_string(),
        }),
        Err(_) => Err(FleetError::Timeout {
            endpoints: endpoints.join(", "),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}
