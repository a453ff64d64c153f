//! Helpers shared by the integration tests: a real `mxgate daemon` on
//! loopback ports with its own spool, and real clients (Python's smtplib,
//! swaks, raw sockets).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mxgate");

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running daemon.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub mta: u16,
    pub msa: u16,
    pub smtps: u16,
    pub mc: PathBuf,
}

/// What the test config needs beyond the listeners and the spool.
pub struct Setup<'a> {
    /// Extra .mc lines (FEATUREs, defines).
    pub mc: &'a str,
    /// Tables to build: (file name, text, map type) → makemap into the temp dir.
    pub tables: &'a [(&'a str, &'a str)],
    /// TLS: generate a certificate with openssl.
    pub tls: bool,
}

impl Daemon {
    pub fn start(setup: Setup<'_>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, text) in setup.tables {
            std::fs::write(d.join(name), text).unwrap();
            let out = Command::new(BIN)
                .args(["makemap", "lmdb"])
                .arg(d.join(name))
                .stdin(std::fs::File::open(d.join(name)).unwrap())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "makemap {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (mta, msa, smtps) = (free_port(), free_port(), free_port());
        let mut mc = format!(
            "divert(-1)\ndivert(0)dnl\nOSTYPE(`linux')dnl\n\
             define(`confDOMAIN_NAME', `gw.example.com')dnl\n\
             define(`QUEUE_DIR', `{q}')dnl\n\
             define(`confMXGATE_LOG_FILE', `{log}')dnl\n\
             define(`confHOSTS_FILE', `{hosts}')dnl\n\
             define(`confSERVICE_SWITCH_FILE', `{switch}')dnl\n\
             define(`confMXGATE_NAMESERVERS', `127.0.0.1:9')dnl\n\
             DAEMON_OPTIONS(`Port={mta}, Addr=127.0.0.1, Name=MTA')dnl\n\
             DAEMON_OPTIONS(`Port={msa}, Addr=127.0.0.1, Name=MSA, M=Ea')dnl\n",
            q = d.join("spool").display(),
            log = d.join("maillog").display(),
            hosts = d.join("hosts").display(),
            switch = d.join("service.switch").display(),
        );
        std::fs::write(d.join("hosts"), "127.0.0.1 localhost\n127.0.0.2 stranger.example.org\n192.0.2.1 example.org relay.example.org\n").unwrap();
        std::fs::write(d.join("service.switch"), "hosts files\n").unwrap();
        if setup.tls {
            let out = Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=gw.example.com",
                    "-keyout",
                ])
                .arg(d.join("key.pem"))
                .arg("-out")
                .arg(d.join("cert.pem"))
                .output()
                .expect("openssl");
            assert!(out.status.success());
            mc += &format!(
                "define(`confSERVER_CERT', `{}')dnl\ndefine(`confSERVER_KEY', `{}')dnl\n\
                 DAEMON_OPTIONS(`Port={smtps}, Addr=127.0.0.1, Name=SMTPS, M=sa')dnl\n",
                d.join("cert.pem").display(),
                d.join("key.pem").display()
            );
        }
        mc += &setup.mc.replace("@DIR@", &d.display().to_string());
        mc += "MAILER(`local')dnl\nMAILER(`smtp')dnl\n";
        let mc_path = d.join("test.mc");
        std::fs::write(&mc_path, mc).unwrap();
        let mut daemon = Daemon {
            dir,
            child: None,
            mta,
            msa,
            smtps,
            mc: mc_path,
        };
        daemon.spawn();
        daemon
    }

    pub fn spawn(&mut self) {
        let child = Command::new(BIN)
            .args(["daemon", "--config"])
            .arg(&self.mc)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", self.mta)).is_ok() {
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("daemon exited {st}: {}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not start: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    pub fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Files in a spool state directory.
    pub fn queued(&self, state: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("spool").join(state))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            Command::new("kill")
                .args([&format!("-{sig}"), &c.id().to_string()])
                .status()
                .unwrap();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A raw SMTP conversation: send lines, read replies (multi-line aware).
pub struct Raw {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        Raw::connect_from("127.0.0.1", port)
    }

    /// Connect from a chosen loopback source address (127.0.0.2 = an untrusted client).
    pub fn connect_from(src: &str, port: u16) -> Raw {
        let sock = socket_from(src, port);
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let w = sock.try_clone().unwrap();
        Raw {
            r: BufReader::new(sock),
            w,
        }
    }

    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.r.read_line(&mut line).unwrap_or(0) == 0 {
                all += "<eof>";
                return all;
            }
            all += &line;
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return all.trim_end().to_string();
            }
        }
    }

    pub fn send(&mut self, data: &str) {
        self.w.write_all(data.as_bytes()).unwrap();
    }

    /// Send a command line and return its reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n"));
        self.reply()
    }

    pub fn rest(&mut self) -> String {
        let mut s = String::new();
        let _ = self.r.read_to_string(&mut s);
        s
    }
}

/// A TCP connection from `src` (a 127/8 address) to 127.0.0.1:port.
pub fn socket_from(src: &str, port: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&local.into()).unwrap();
    let remote: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    sock.connect(&remote.into()).unwrap();
    sock.into()
}

/// Run a Python snippet (smtplib), returning its output; panics with its stderr on failure.
pub fn python(script: &str) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3")
}

/// Run swaks with arguments.
pub fn swaks(args: &[&str]) -> Output {
    Command::new("swaks")
        .args(args)
        .output()
        .expect("swaks is installed by .ci/run")
}
