//! A component's facts, owned (the capnp reader borrows its message).

use proto::bus_capnp::component_info;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub pid: i32,
    pub version: String,
    pub binary: String,
    pub started_realtime_usec: u64,
    pub rss_bytes: u64,
    pub open_fds: u32,
    pub calls_served: u64,
}

impl Info {
    pub fn read(r: component_info::Reader<'_>) -> capnp::Result<Info> {
        Ok(Info {
            name: r.get_name()?.to_str()?.to_string(),
            pid: r.get_pid(),
            version: r.get_version()?.to_str()?.to_string(),
            binary: r.get_binary()?.to_str()?.to_string(),
            started_realtime_usec: r.get_started_realtime_usec(),
            rss_bytes: r.get_rss_bytes(),
            open_fds: r.get_open_fds(),
            calls_served: r.get_calls_served(),
        })
    }

    pub fn write(&self, mut b: component_info::Builder<'_>) {
        b.set_name(self.name.as_str());
        b.set_pid(self.pid);
        b.set_version(self.version.as_str());
        b.set_binary(self.binary.as_str());
        b.set_started_realtime_usec(self.started_realtime_usec);
        b.set_rss_bytes(self.rss_bytes);
        b.set_open_fds(self.open_fds);
        b.set_calls_served(self.calls_served);
    }

    /// The calling process.
    pub fn own(name: &str, started_realtime_usec: u64, calls_served: u64) -> Info {
        Info {
            name: name.to_string(),
            pid: i32::try_from(std::process::id()).unwrap_or(-1),
            version: proto::VERSION.to_string(),
            binary: proto::procinfo::binary_path(),
            started_realtime_usec,
            rss_bytes: proto::procinfo::rss_bytes(),
            open_fds: proto::procinfo::open_fds(),
            calls_served,
        }
    }
}
