//! Real etcd servers for the tests: started on free loopback ports with
//! their data in a temp dir, waited for with a bound, stopped on drop, their
//! log printed when a test fails. A machine without etcd fails the tests
//! saying what to install: they never pass by skipping.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use confd_fleet::Client;

/// The etcd binary: `etcd` on the `PATH`.
fn etcd_binary() -> PathBuf {
    let binary = PathBuf::from("etcd");
    let found = Command::new(&binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "the fleet tests need a real etcd server and `{}` cannot be run: install Debian's \
         `etcd-server` (`apt-get install etcd-server`)",
        binary.display()
    );
    binary
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// One etcd member.
pub struct Member {
    pub name: String,
    pub client_url: String,
    peer_url: String,
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    stopped: bool,
}

/// A cluster of one or more members, all stopped on drop.
pub struct Etcd {
    _dir: tempfile::TempDir,
    pub members: Vec<Member>,
    cluster: String,
}

impl Etcd {
    /// One member, healthy.
    pub fn start() -> Self {
        Self::cluster(1)
    }

    /// `n` members on loopback, healthy.
    pub fn cluster(n: usize) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client_url: format!("http://127.0.0.1:{}", free_port()),
                peer_url: format!("http://127.0.0.1:{}", free_port()),
                data: dir.path().join(format!("m{i}.etcd")),
                log: dir.path().join(format!("m{i}.log")),
                child: None,
                stopped: false,
            })
            .collect();
        let cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        let mut etcd = Etcd {
            _dir: dir,
            members,
            cluster,
        };
        for i in 0..n {
            etcd.spawn(i, "new");
        }
        for i in 0..n {
            etcd.wait_healthy(i);
        }
        etcd
    }

    fn spawn(&mut self, i: usize, state: &str) {
        let binary = etcd_binary();
        let m = &mut self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .expect("log file");
        let child = Command::new(binary)
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&m.data)
            .args(["--listen-client-urls", &m.client_url])
            .args(["--advertise-client-urls", &m.client_url])
            .args(["--listen-peer-urls", &m.peer_url])
            .args(["--initial-advertise-peer-urls", &m.peer_url])
            .args(["--initial-cluster", &self.cluster])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", "confd-fleet-test"])
            // Fast elections: a killed leader is replaced within a second.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        m.child = Some(child);
        m.stopped = false;
    }

    /// Waits (at most 20 s) until member `i` answers a read.
    pub fn wait_healthy(&self, i: usize) {
        let m = &self.members[i];
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = Client::connect(std::slice::from_ref(&m.client_url), Duration::from_secs(1))
                .and_then(|c| c.get("/health-probe"))
                .is_ok();
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd member {} did not become healthy within 20 s; its log:\n{}",
                m.name,
                std::fs::read_to_string(&m.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The client URL of every member.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// A client of the whole cluster.
    pub fn client(&self) -> Client {
        Client::connect(&self.endpoints(), Duration::from_secs(5)).expect("client")
    }

    /// Writes `key` unconditionally; the revision written.
    pub fn put(&self, key: &str, value: &str) -> i64 {
        self.client().put(key, value.as_bytes()).expect("put")
    }

    /// Freezes member `i` (SIGSTOP): it keeps its port, the kernel accepts
    /// connections, and nothing answers.
    pub fn freeze(&mut self, i: usize) {
        self.signal(i, "-STOP");
        self.members[i].stopped = true;
    }

    /// Thaws a frozen member (SIGCONT).
    pub fn thaw(&mut self, i: usize) {
        self.signal(i, "-CONT");
        self.members[i].stopped = false;
    }

    fn signal(&self, i: usize, signal: &str) {
        let pid = self.members[i].child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Kills member `i` (SIGKILL) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed member again on its data dir.
    pub fn restart(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "member {i} is running");
        self.spawn(i, "existing");
    }

    /// The index of the current leader, asked of the running members.
    pub fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let client = self.client();
            for (endpoint, status) in client.status_of_each() {
                if let Ok(s) = status
                    && s.is_leader
                {
                    return self
                        .members
                        .iter()
                        .position(|m| m.client_url == endpoint)
                        .expect("a member");
                }
            }
            assert!(Instant::now() < deadline, "no leader within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many gRPC calls of `method` (`Txn`, `Range`) member `i` has
    /// received, from its Prometheus metrics.
    pub fn calls(&self, i: usize, method: &str) -> u64 {
        let address = self.members[i].client_url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("metrics connection");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(stream, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("request");
        let mut body = String::new();
        stream.read_to_string(&mut body).expect("metrics");
        let wanted = format!("grpc_method=\"{method}\"");
        body.lines()
            .filter(|l| l.starts_with("grpc_server_started_total") && l.contains(&wanted))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    }

    /// The log of member `i`.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.members[i].log).unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        for i in 0..self.members.len() {
            if self.members[i].stopped {
                self.thaw(i);
            }
            self.kill(i);
            if failed {
                eprintln!(
                    "--- etcd member {} log ---\n{}",
                    self.members[i].name,
                    self.log(i)
                );
            }
        }
    }
}

/// A temporary state dir whose `conf.d/fleet` names `endpoints`.
pub struct Host {
    pub dir: tempfile::TempDir,
}

impl Host {
    pub fn new(endpoints: &[String], extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let host = Host { dir };
        let list = endpoints
            .iter()
            .map(|e| format!("\"{e}\""))
            .collect::<Vec<_>>()
            .join(", ");
        host.write(
            "fleet",
            &format!("endpoints = [{list}]\nnode = \"h1\"\n{extra}"),
        );
        host
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.root().join("etc/conf.d").join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// A loader of this host with an empty environment, asking `source`.
    pub fn loader(&self, source: &std::sync::Arc<confd_fleet::EtcdFleet>) -> confd::Loader {
        confd::Loader::new()
            .state_dir(self.root())
            .env(std::iter::empty::<(String, String)>())
            .fleet(std::sync::Arc::clone(source) as std::sync::Arc<dyn confd::fleet::FleetSource>)
    }
}
