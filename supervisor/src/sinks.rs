//! Where services' log records go besides the per-unit ring: a persistent append-only file
//! (rotated by size), /dev/kmsg, and a syslog daemon's socket (RFC 3164 or RFC 5424 datagrams
//! with the unit's identifier). Configured in the manager's RON file (`--config`, by default
//! /etc/cairn/cairn.ron in system mode).

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::manager::log::Record;

/// The manager's configuration file (RON). Every field has a default.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ManagerConfig {
    /// The persistent log; None: `/var/log/cairn/cairn.log` in system mode (once /var is
    /// writable), `RUNTIME-DIR/log/cairn.log` in container mode.
    pub log_file: Option<PathBuf>,
    /// Rotate (to `.1`) past this size.
    pub log_file_max_bytes: u64,
    /// Copy records to the kernel log (never in container mode: /dev is the host's).
    pub log_kmsg: bool,
    pub kmsg_path: PathBuf,
    /// A syslog daemon's socket to forward records to (where the daemon listens).
    pub syslog_socket: Option<PathBuf>,
    /// How records are written for it: `Rfc3164` (`<PRI>TAG[PID]: MSG`, what /dev/log readers
    /// expect; the default) or `Rfc5424` (`<PRI>1 TIMESTAMP HOST APP PID - - MSG`).
    pub syslog_format: SyslogFormat,
    /// The syslog socket cairn owns and reads (None: `/dev/log` in system mode, none in
    /// container mode, whose /dev is the host's).
    pub syslog_listen: Option<PathBuf>,
    /// The fstab the mounter reads into mount units (None: `/etc/fstab` in system mode, none
    /// in container mode, whose fstab is the host's).
    pub fstab: Option<PathBuf>,
    /// The SysV init scripts read into service units (None: `/etc/init.d` in system mode,
    /// none in container mode); their runlevel links are the `rcN.d` directories beside it.
    pub sysv_init_d: Option<PathBuf>,
    /// The system bus socket the supervisor connects to once dbus.service is active
    /// (Type=dbus, bus activation). None: `/run/dbus/system_bus_socket` in system mode, no bus
    /// in container mode.
    pub system_bus: Option<PathBuf>,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            log_file: None,
            log_file_max_bytes: 10 << 20,
            log_kmsg: false,
            kmsg_path: PathBuf::from("/dev/kmsg"),
            syslog_socket: None,
            syslog_format: SyslogFormat::Rfc3164,
            syslog_listen: None,
            fstab: None,
            sysv_init_d: None,
            system_bus: None,
        }
    }
}

/// The syslog message format for forwarded records.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum SyslogFormat {
    Rfc3164,
    Rfc5424,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: ron::error::SpannedError,
    },
}

impl ManagerConfig {
    /// Reads the file; a missing default file is the default configuration.
    pub fn load(path: &Path, must_exist: bool) -> Result<ManagerConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                return Ok(ManagerConfig::default())
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        ron::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })
    }
}

/// The open sinks.
pub struct Sinks {
    file_path: PathBuf,
    file: Option<std::fs::File>,
    max_bytes: u64,
    kmsg: Option<std::fs::File>,
    syslog: Option<(UnixDatagram, PathBuf)>,
    syslog_format: SyslogFormat,
    /// RFC 5424's HOSTNAME field.
    hostname: String,
    /// Records kept while the syslog daemon is not there yet, forwarded when it is.
    syslog_backlog: std::collections::VecDeque<Vec<u8>>,
}

/// Records kept for a syslog daemon that has not started yet.
pub const SYSLOG_BACKLOG: usize = 10_000;

impl Sinks {
    pub fn new(cfg: &ManagerConfig, container: bool, runtime_dir: &Path) -> Sinks {
        let file_path = cfg.log_file.clone().unwrap_or_else(|| {
            if container {
                runtime_dir.join("log/cairn.log")
            } else {
                PathBuf::from("/var/log/cairn/cairn.log")
            }
        });
        let kmsg = (cfg.log_kmsg && !container)
            .then(|| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&cfg.kmsg_path)
                    .ok()
            })
            .flatten();
        let syslog = cfg
            .syslog_socket
            .as_ref()
            .and_then(|p| UnixDatagram::unbound().ok().map(|s| (s, p.clone())));
        Sinks {
            file_path,
            file: None,
            max_bytes: cfg.log_file_max_bytes,
            kmsg,
            syslog,
            syslog_format: cfg.syslog_format,
            hostname: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .map(|h| header_field(&h, 255))
                .unwrap_or_else(|| "-".into()),
            syslog_backlog: std::collections::VecDeque::new(),
        }
    }

    /// The persistent log opens once its directory can be made (early in boot /var may be
    /// read-only or not mounted: records wait in the rings until then).
    fn file(&mut self) -> Option<&mut std::fs::File> {
        if self.file.is_none() {
            if let Some(dir) = self.file_path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            self.file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.file_path)
                .ok();
        }
        self.file.as_mut()
    }

    fn rotate_if_needed(&mut self) {
        let big = self
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .is_some_and(|m| m.len() >= self.max_bytes);
        if big {
            let mut old = self.file_path.clone().into_os_string();
            old.push(".1");
            let _ = std::fs::rename(&self.file_path, old);
            self.file = None;
        }
    }

    /// The persistent file only (messages that came through the syslog socket).
    pub fn write_file(&mut self, unit: &str, records: &[Record]) {
        let mut text = String::new();
        for r in records {
            text.push_str(&format!(
                "{} {unit}[{}]: <{}>{}\n",
                r.realtime_usec, r.pid, r.priority, r.text
            ));
        }
        if let Some(f) = self.file() {
            let _ = f.write_all(text.as_bytes());
        }
        self.rotate_if_needed();
    }

    /// Queues a datagram for the syslog daemon as it came, and sends what it can.
    pub fn forward_raw(&mut self, datagram: &[u8]) {
        if self.syslog.is_none() {
            return;
        }
        if self.syslog_backlog.len() >= SYSLOG_BACKLOG {
            self.syslog_backlog.pop_front();
        }
        self.syslog_backlog.push_back(datagram.to_vec());
        self.flush_syslog();
    }

    /// Writes records of `unit` (identified as `ident` to syslog) to every sink.
    pub fn write(&mut self, unit: &str, ident: &str, facility: u8, records: &[Record]) {
        if records.is_empty() {
            return;
        }
        let mut text = String::new();
        for r in records {
            text.push_str(&format!(
                "{} {unit}[{}]: <{}>{}\n",
                r.realtime_usec, r.pid, r.priority, r.text
            ));
        }
        if let Some(f) = self.file() {
            let _ = f.write_all(text.as_bytes());
        }
        self.rotate_if_needed();
        if let Some(k) = self.kmsg.as_mut() {
            for r in records {
                // One write per record: the kernel takes each write as one message.
                let _ = k.write_all(
                    format!("<{}>{ident}[{}]: {}\n", r.priority, r.pid, r.text).as_bytes(),
                );
            }
        }
        if self.syslog.is_some() {
            for r in records {
                let pri = u32::from(facility) * 8 + u32::from(r.priority);
                let msg = match self.syslog_format {
                    SyslogFormat::Rfc3164 => format!("<{pri}>{ident}[{}]: {}", r.pid, r.text),
                    SyslogFormat::Rfc5424 => format!(
                        "<{pri}>1 {} {} {} {} - - {}",
                        rfc3339_utc(r.realtime_usec),
                        self.hostname,
                        header_field(ident, 48),
                        r.pid,
                        r.text
                    ),
                }
                .into_bytes();
                if self.syslog_backlog.len() >= SYSLOG_BACKLOG {
                    self.syslog_backlog.pop_front();
                }
                self.syslog_backlog.push_back(msg);
            }
            self.flush_syslog();
        }
    }

    /// Sends what waits for the syslog daemon; stops at the first refusal (not there yet, or
    /// its queue is full) and keeps the rest.
    pub fn flush_syslog(&mut self) {
        let Some((sock, path)) = &self.syslog else {
            return;
        };
        while let Some(msg) = self.syslog_backlog.front() {
            if sock.send_to(msg, path).is_err() {
                return;
            }
            self.syslog_backlog.pop_front();
        }
    }

    pub fn syslog_waiting(&self) -> usize {
        self.syslog_backlog.len()
    }
}

/// An RFC 5424 header field: printable US-ASCII without spaces (others become `_`), at most
/// `max` characters, `-` (the nil value) when empty.
fn header_field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    if f.is_empty() {
        "-".into()
    } else {
        f
    }
}

/// `2026-11-28T23:59:01.123456Z` from microseconds since the epoch.
fn rfc3339_utc(usec: u64) -> String {
    let (y, mo, d, h, mi, s, us) = proto::procinfo::utc_fields(usec);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_timestamps() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000000Z");
        // date -u -d @951782400 : 2000-02-29 (a leap day in a century leap year)
        assert_eq!(
            rfc3339_utc(951_782_400_000_007),
            "2000-02-29T00:00:00.000007Z"
        );
        // date -u -d @1795996799
        assert_eq!(
            rfc3339_utc(1_795_996_799_500_000),
            "2026-11-29T23:59:59.500000Z"
        );
        assert_eq!(
            rfc3339_utc(4_107_542_400_000_000),
            "2100-03-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn rfc5424_records() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("syslog.sock");
        let daemon = UnixDatagram::bind(&path).unwrap();
        let cfg: ManagerConfig = ron::from_str(&format!(
            "(syslog_socket: Some({:?}), syslog_format: Rfc5424)",
            path.display().to_string()
        ))
        .unwrap();
        let mut s = Sinks::new(&cfg, true, d.path());
        s.hostname = "box".into();
        let mut r = rec("hello there", 4);
        r.realtime_usec = 1_795_996_799_500_000;
        s.write("a b.service", "a b", 3, &[r]);
        let mut buf = [0u8; 256];
        let n = daemon.recv(&mut buf).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&buf[..n]),
            "<28>1 2026-11-29T23:59:59.500000Z box a_b 42 - - hello there"
        );
        assert_eq!(header_field("", 48), "-");
        assert_eq!(header_field(&"x".repeat(60), 48).len(), 48);
    }

    fn rec(text: &str, priority: u8) -> Record {
        Record {
            seq: 0,
            realtime_usec: 1,
            pid: 42,
            priority,
            text: text.into(),
        }
    }

    #[test]
    fn config_defaults_and_parse_errors_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cairn.ron");
        assert_eq!(
            ManagerConfig::load(&p, false).unwrap(),
            ManagerConfig::default()
        );
        std::fs::write(&p, "(log_kmsg: true, syslog_socket: Some(\"/dev/log\"))").unwrap();
        let c = ManagerConfig::load(&p, true).unwrap();
        assert!(c.log_kmsg);
        assert_eq!(c.syslog_socket, Some(PathBuf::from("/dev/log")));
        std::fs::write(&p, "(log_kmsg: maybe)").unwrap();
        let e = ManagerConfig::load(&p, true).unwrap_err();
        assert!(e.to_string().contains("cairn.ron"), "{e}");
    }

    #[test]
    fn the_file_sink_appends_and_rotates() {
        let d = tempfile::tempdir().unwrap();
        let cfg = ManagerConfig {
            log_file: Some(d.path().join("log/cairn.log")),
            log_file_max_bytes: 64,
            ..Default::default()
        };
        let mut s = Sinks::new(&cfg, true, d.path());
        s.write("a.service", "a", 3, &[rec("first line of text", 6)]);
        s.write(
            "a.service",
            "a",
            3,
            &[rec("second line of text, long enough", 3)],
        );
        s.write("a.service", "a", 3, &[rec("third", 6)]);
        let old = std::fs::read_to_string(d.path().join("log/cairn.log.1")).unwrap();
        assert!(
            old.contains("a.service[42]: <6>first line of text"),
            "{old}"
        );
        let new = std::fs::read_to_string(d.path().join("log/cairn.log")).unwrap();
        assert!(new.contains("third") && !new.contains("first"), "{new}");
    }

    #[test]
    fn kmsg_gets_one_write_per_record_in_system_mode_only() {
        let d = tempfile::tempdir().unwrap();
        let kmsg = d.path().join("kmsg");
        std::fs::write(&kmsg, "").unwrap();
        let cfg = ManagerConfig {
            log_kmsg: true,
            kmsg_path: kmsg.clone(),
            log_file: Some(d.path().join("f.log")),
            ..Default::default()
        };
        let mut s = Sinks::new(&cfg, false, d.path());
        s.write("a.service", "a", 3, &[rec("hello", 4)]);
        assert_eq!(std::fs::read_to_string(&kmsg).unwrap(), "<4>a[42]: hello\n");
        let mut c = Sinks::new(&cfg, true, d.path());
        c.write("a.service", "a", 3, &[rec("again", 4)]);
        assert_eq!(
            std::fs::read_to_string(&kmsg).unwrap(),
            "<4>a[42]: hello\n",
            "container mode never writes the host's kernel log"
        );
    }

    #[test]
    fn syslog_records_wait_for_the_daemon_then_arrive_in_order() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("syslog.sock");
        let cfg = ManagerConfig {
            syslog_socket: Some(path.clone()),
            ..Default::default()
        };
        let mut s = Sinks::new(&cfg, true, d.path());
        s.write("a.service", "a", 3, &[rec("early", 6), rec("bad", 3)]);
        assert_eq!(s.syslog_waiting(), 2, "no daemon yet: kept");
        let daemon = UnixDatagram::bind(&path).unwrap();
        s.write("a.service", "a", 3, &[rec("late", 6)]);
        let mut buf = [0u8; 256];
        let got: Vec<String> = (0..3)
            .map(|_| {
                let n = daemon.recv(&mut buf).unwrap();
                String::from_utf8_lossy(&buf[..n]).into_owned()
            })
            .collect();
        assert_eq!(
            got,
            vec!["<30>a[42]: early", "<27>a[42]: bad", "<30>a[42]: late"]
        );
        assert_eq!(s.syslog_waiting(), 0);
    }
}
