@0xcc174c7e3769185e;
# The bus between the supervisor and its helpers (activator, mounter, devmon).
#
# Cap'n Proto RPC (two-party) over the Unix stream socket the helper gets on fd 3. The
# supervisor's bootstrap capability is a Registry; the helper calls `register` with its own
# Component capability. File descriptors travel on the same stream as SCM_RIGHTS; an `fd` field
# is the fd's index in the order this connection has carried fds in that direction (see
# proto::fdstream).

struct ComponentInfo {
  name @0 :Text;
  pid @1 :Int32;
  version @2 :Text;
  binary @3 :Text;
  startedRealtimeUsec @4 :UInt64;
  rssBytes @5 :UInt64;
  openFds @6 :UInt32;
  callsServed @7 :UInt64;
}

struct NamedFd {
  name @0 :Text;
  fd @1 :UInt64;               # index among the fds this connection has carried, sender to receiver
}

interface Registry {
  # The first call of a helper. `restored` are the fds this helper's earlier instances stored
  # (empty on the first start); more may follow through `restoreMore` when there are over 253.
  register @0 (info :ComponentInfo, component :Component) -> (restored :List(NamedFd), more :Bool);
  restoreMore @1 () -> (restored :List(NamedFd), more :Bool);
  # Keep these fds for this helper (in the supervisor and in pid1's store) across its restarts.
  # At most 253 a call.
  storeFds @2 (fds :List(NamedFd)) -> ();
  removeFds @3 (names :List(Text)) -> ();
  # The activator offers its capability; the supervisor answers with where to report traffic.
  attachActivator @4 (activator :Activator) -> (activations :Activations);
  # The mounter offers its capability; the supervisor answers with where to report changes.
  attachMounter @5 (mounter :Mounter) -> (events :MountEvents);
  # devmon offers its capability; the supervisor answers with where to report devices.
  attachDevmon @6 (devmon :Devmon) -> (events :DeviceEvents);
}

# One fact of a component's own view (`cairnctl component status`), grouped in sections.
struct Fact {
  key @0 :Text;
  value @1 :Text;
}

struct Section {
  title @0 :Text;
  facts @1 :List(Fact);
}

interface Component {
  introspect @0 () -> (info :ComponentInfo);
  # Finish what is in flight and exit.
  shutdown @1 () -> ();
  # What this component holds, in its own words: the activator its sockets, the mounter its
  # automount points and mounts, devmon its devices and event counters.
  details @2 () -> (sections :List(Section));
  # Serve a read-only Component (introspect and details; shutdown and serve are refused) on
  # this socket, straight to a client: `cairnctl component status` talks to the helper
  # itself, not through the supervisor.
  serve @3 (socket :NamedFd) -> ();
  # Set a fail point of this process (proto::failpoint); refused on a read-only facet and in
  # builds without fail points.
  failpoint @4 (point :Text, action :Text) -> ();
}

# ---- The activator (issue 5) -------------------------------------------------------------
#
# The supervisor parses socket units and decides; the activator creates the sockets and watches
# them. After `register`, the activator calls `Registry.attachActivator` with its Activator
# capability and gets the Activations sink it reports traffic to. The supervisor keeps a copy
# of every socket it is handed (and parks one in pid1's store), so a dead activator loses no
# socket: the next one is given them again with `watch`.

enum ListenKind {
  stream @0;
  datagram @1;
  seqPacket @2;
  fifo @3;
  special @4;
  netlink @5;
}

struct ListenAddress {
  union {
    unix @0 :Text;             # a file-system AF_UNIX path
    abstract @1 :Data;         # an abstract AF_UNIX name, without the leading NUL
    inet :group {              # AF_INET / AF_INET6
      address @2 :Text;        # "127.0.0.1:80", "[::1]:80"
      interface @3 :Text;      # the `%iface` of an IPv6 address, or empty
    }
    path @4 :Text;             # ListenFIFO= / ListenSpecial=
    netlink :group {
      protocol @5 :Int32;
      group @6 :UInt32;
    }
  }
}

enum BindIpv6Only {
  default @0;
  both @1;
  ipv6Only @2;
}

# One Listen*= line with the unit's socket options; an absent option is 0 / -1 / empty.
struct ListenSpec {
  kind @0 :ListenKind;
  address @1 :ListenAddress;
  backlog @2 :UInt32;
  socketMode @3 :UInt32;
  directoryMode @4 :UInt32;
  uid @5 :Int64 = -1;
  gid @6 :Int64 = -1;
  bindIpv6Only @7 :BindIpv6Only;
  bindToDevice @8 :Text;
  reusePort @9 :Bool;
  freeBind @10 :Bool;
  transparent @11 :Bool;
  broadcast @12 :Bool;
  passCredentials @13 :Bool;
  passSecurity @14 :Bool;
  keepAlive @15 :Bool;
  keepAliveTimeSec @16 :UInt64;
  noDelay @17 :Bool;
  priority @18 :Int32 = -1;
  receiveBuffer @19 :UInt64;
  sendBuffer @20 :UInt64;
  ipTos @21 :Int32 = -1;
  ipTtl @22 :Int32 = -1;
  mark @23 :Int64 = -1;
  pipeSize @24 :UInt64;
  symlinks @25 :List(Text);
}

struct WatchedSocket {
  unit @0 :Text;
  fds @1 :UInt32;
  accept @2 :Bool;
  triggers @3 :UInt64;          # readiness reported (Accept=no) or connections accepted (yes)
}

interface Activator {
  # Creates, binds and (for streams) listens; the fds come back in the order of `listen`.
  # A socket that cannot be made fails the whole call with an error naming its address.
  open @0 (unit :Text, listen :List(ListenSpec)) -> (fds :List(UInt64));
  # Watches these sockets (copies the supervisor sends, in `fds`) for traffic: with
  # `accept` false the first readiness is reported once with `Activations.triggered` and the
  # unit is no longer watched; with `accept` true each connection is accepted and handed over
  # with `Activations.accepted`. A second `watch` of a unit replaces the first.
  watch @1 (unit :Text, fds :List(UInt64), accept :Bool) -> ();
  unwatch @2 (unit :Text) -> ();
  # RemoveOnStop=: unlinks socket files, FIFOs and their Symlinks=.
  remove @3 (listen :List(ListenSpec)) -> ();
  list @4 () -> (sockets :List(WatchedSocket));
}

interface Activations {
  triggered @0 (unit :Text) -> ();
  # A connection accepted on an Accept=yes socket: `conn` is the fd's index, `local` and
  # `remote` as systemd writes them into instance names.
  accepted @1 (unit :Text, conn :UInt64, local :Text, remote :Text, peerPid :Int32, peerUid :Int64) -> ();
}

# ---- The mounter (issue 6) ---------------------------------------------------------------
#
# The supervisor decides which file systems are mounted and when; the mounter reads fstab,
# runs fsck, calls mount(2)/umount(2), and watches /proc/self/mountinfo. After `register` it
# calls `Registry.attachMounter` with its Mounter capability and gets the MountEvents sink.

struct FstabEntry {
  line @0 :UInt32;
  what @1 :Text;               # after UUID=/LABEL=/… mapping to /dev/disk/by-*
  where @2 :Text;
  type @3 :Text;
  options @4 :Text;            # as written (x-systemd.* included)
  passno @5 :UInt32;
}

struct MountRequest {
  what @0 :Text;
  where @1 :Text;
  type @2 :Text;
  options @3 :Text;
  sloppy @4 :Bool;
  directoryMode @5 :UInt32;
  fsck @6 :Bool;               # run `fsck -a` on `what` first (the fstab pass number asked)
  readWriteOnly @7 :Bool;      # no read-only fallback
  deviceTimeoutMsec @8 :UInt64; # wait this long for `what` to appear (0: not at all)
  makefs @9 :Bool;             # mkfs.TYPE `what` first when it holds no file system
  growfs @10 :Bool;            # grow the file system to its device once mounted
}

struct MountPoint {
  where @0 :Text;
  what @1 :Text;
  type @2 :Text;
  options @3 :Text;            # the mount's and the superblock's options, as mountinfo has them
}

interface Mounter {
  # Parses an fstab; bad lines come back as "PATH:LINE: reason" and are skipped.
  fstab @0 (path :Text) -> (entries :List(FstabEntry), errors :List(Text));
  # Mounts (fsck first when asked); a failure is an error naming the step and the reason.
  mount @1 (request :MountRequest) -> (fsckResult :Text);
  # Unmounts; busy mounts are reported with the pids that hold them.
  unmount @2 (where :Text, lazy :Bool, force :Bool) -> ();
  # What is mounted now.
  mounts @3 () -> (mounts :List(MountPoint));
  # Sets up a direct autofs point at `where` (an existing one of ours is kept) whose requests
  # come as `MountEvents.requested`; idle mounts on it expire after `timeoutIdleSec` (0: never).
  automount @4 (where :Text, timeoutIdleSec :UInt64, directoryMode :UInt32) -> ();
  # Answers the kernel for these requests: ready (the mount is up) or fail (ENOENT).
  answer @5 (where :Text, tokens :List(UInt32), ready :Bool) -> ();
  # Removes the autofs point (and forgets its fds).
  unautomount @6 (where :Text) -> ();
}

interface MountEvents {
  # The mount table changed; this is all of it now.
  changed @0 (mounts :List(MountPoint)) -> ();
  # A process touched an automount point and waits for `token` to be answered. The mounter
  # reports each token before it does anything else with it: the kernel cannot list pending
  # tokens, so a new mounter answers the ones the supervisor recorded.
  requested @1 (where :Text, token :UInt32, pid :Int32) -> ();
  # The kernel asks to unmount the idle file system on an automount point; `token` is
  # answered once it is unmounted.
  expire @2 (where :Text, token :UInt32) -> ();
}

# ---- devmon (issue 7) ----------------------------------------------------------------------
#
# devmon reads kernel uevents and /sys; the supervisor turns what it reports into device units.
# After `register`, devmon calls `Registry.attachDevmon` and reports to the DeviceEvents sink.

struct Device {
  syspath @0 :Text;            # /sys/devices/…
  subsystem @1 :Text;
  devname @2 :Text;            # /dev/… or ""
  ifname @3 :Text;             # a network interface's name, or ""
  ready @4 :Bool;              # present and ready (a loop device with a file attached, …)
  wants @5 :List(Text);        # SYSTEMD_WANTS
  properties @6 :List(Text);   # KEY=VALUE, as the uevent had them
}

interface Devmon {
  # The unit-worthy devices now (a fresh walk of /sys).
  list @0 () -> (devices :List(Device));
}

interface DeviceEvents {
  # The complete set, after devmon's start (coldplug): anything not in it is gone.
  coldplug @0 (devices :List(Device)) -> ();
  # One device appeared, changed (readiness may change on `change`) or went (`present` false).
  changed @1 (device :Device, present :Bool, action :Text) -> ();
}
