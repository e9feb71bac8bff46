@0xed5a566b658d05d5;
# The control API: cairnctl <-> supervisor, Cap'n Proto RPC over RUNTIME-DIR/control.
#
# The bootstrap capability is a Control. Its `manager` method hands out the capability that can
# change state only to a peer whose SO_PEERCRED uid is 0; every other peer is refused with
# "permission denied". Capabilities are the security model: a read-only client never holds
# anything that could mutate.

using Bus = import "bus.capnp";
using Pid1 = import "pid1.capnp";

interface Control {
  whoami @0 () -> (uid :UInt32, pid :Int32, privileged :Bool);
  viewer @1 () -> (viewer :Viewer);
  manager @2 () -> (manager :Manager);
}

struct ComponentStatus {
  info @0 :Bus.ComponentInfo;
  state @1 :Text;              # running, starting, restarting
  restarts @2 :UInt32;
}

# One row of list-units.
struct UnitSummary {
  name @0 :Text;
  load @1 :Text;               # loaded, not-found, bad-setting, error, masked, not-supported
  active @2 :Text;             # active, inactive, failed, activating, deactivating, reloading
  sub @3 :Text;                # running, exited, dead, …
  description @4 :Text;
  job @5 :Text;                # "start", "stop", … or "" when none
}

struct LogLine {
  seq @0 :UInt64;
  realtimeUsec @1 :UInt64;
  pid @2 :Int32;
  priority @3 :UInt8;
  text @4 :Text;
}

struct Property {
  key @0 :Text;
  value @1 :Text;
}

struct UnitStatus {
  summary @0 :UnitSummary;
  loadReason @1 :Text;         # why bad-setting/error, else ""
  fragment @2 :Text;
  dropins @3 :List(Text);
  aliases @4 :List(Text);
  mainPid @5 :Int32;           # 0 when none
  controlPid @6 :Int32;
  sinceRealtimeUsec @7 :UInt64;
  result @8 :Text;             # success, exit-code, signal, core-dump, timeout, resources, …
  lastExit @9 :Text;           # "status=1", "signal=KILL (core dumped)", or ""
  restarts @10 :UInt32;
  conditionFailed @11 :Text;   # the condition that kept it from starting, or ""
  assertFailed @12 :Text;
  spawnError @13 :Text;
  statusText @14 :Text;        # STATUS= from sd_notify
  cgroup @15 :Text;
  tasks @16 :List(Int32);
  warnings @17 :List(Text);    # file:line: message, from loading
  log @18 :List(LogLine);      # the last lines
  serviceType @19 :Text;
  # The last failure (kept across automatic restarts): "RESULT at USEC[, EXIT]" then the last
  # log lines then, each on a line of its own starting "  | ".
  lastFailure @20 :Text;
}

# One row of list-sockets: a Listen*= line of a socket unit.
struct SocketInfo {
  listen @0 :Text;             # "/run/foo.sock", "127.0.0.1:80", "[::]:80", "@name", a FIFO's path
  type @1 :Text;               # ListenStream, ListenDatagram, …
  unit @2 :Text;
  activates @3 :Text;          # the service, or "foo@.service" for Accept=yes
  state @4 :Text;              # listening, running, dead, failed, …
  paused @5 :Bool;             # watching paused by the trigger limit (resumes by itself)
  triggers @6 :UInt64;         # activations (Accept=no) or connections accepted (Accept=yes)
  refused @7 :UInt64;          # triggers refused by the trigger limit
  connections @8 :UInt32;      # live Accept=yes instances
}

# One unit's start in this boot, for `analyze blame`.
struct UnitTiming {
  name @0 :Text;
  activatingUsec @1 :UInt64;   # realtime when it began to start (0: it never had to)
  activeUsec @2 :UInt64;       # realtime when it became active
}

# One dependency between two loaded units, for `analyze dot` and `analyze critical-chain`.
struct DepEdge {
  from @0 :Text;
  to @1 :Text;
  kind @2 :Text;               # Requires, Requisite, Wants, BindsTo, PartOf, Conflicts, After
}

struct JobInfo {
  id @0 :UInt32;
  unit @1 :Text;
  type @2 :Text;
  state @3 :Text;
}

struct DepNode {
  depth @0 :UInt32;
  name @1 :Text;
  active @2 :Text;
}

interface Viewer {
  version @0 () -> (version :Text);
  listComponents @1 () -> (components :List(ComponentStatus));
  listUnits @2 (all :Bool) -> (units :List(UnitSummary));
  status @3 (name :Text, lines :UInt32) -> (status :UnitStatus);
  show @4 (name :Text) -> (properties :List(Property));
  cat @5 (name :Text) -> (files :List(Property));   # key = path, value = contents
  listDependencies @6 (name :Text, reverse :Bool) -> (tree :List(DepNode));
  listJobs @7 () -> (jobs :List(JobInfo));
  # How the unit came to be started: each step from the anchor job (or the boot) to it.
  why @8 (name :Text) -> (chain :List(Text));
  # What kept it from starting: a job result, a condition, a conflict, a failed dependency.
  whyNot @9 (name :Text) -> (reasons :List(Text));
  # The unit's log after `after` (0: the last `lines`), and the cursor to ask from next.
  # Only records of priority maxPriority or more important (0 emerg … 7 debug), and newer
  # than sinceUsec (realtime), are returned.
  log @10 (name :Text, lines :UInt32, after :UInt64, maxPriority :UInt8 = 7, sinceUsec :UInt64)
      -> (lines :List(LogLine), cursor :UInt64);
  listSockets @11 () -> (sockets :List(SocketInfo));
  # The boot: the kernel's share (until cairn-init ran), the initrd's (until switch-root; 0
  # without one), userspace's (from then until the default target was active, 0 while it is
  # not), and each active unit's start.
  analyze @12 () -> (kernelUsec :UInt64, userspaceUsec :UInt64, target :Text,
                     units :List(UnitTiming), userspaceStartUsec :UInt64,
                     initrdUsec :UInt64);
  # Every loaded unit's forward dependencies of the kinds DepEdge names.
  graph @13 () -> (edges :List(DepEdge));
  # A component's own view, relayed by the supervisor (init and supervisor answer this way;
  # the helpers too when asked).
  componentStatus @14 (name :Text) -> (info :Bus.ComponentInfo, sections :List(Bus.Section));
  # A socket on which the helper NAME itself serves a read-only Component: the fd travels
  # beside this answer on the control connection (`socket` is its number there).
  connectComponent @15 (name :Text) -> (socket :UInt64);
}

interface Manager extends(Viewer) {
  shutdown @0 (kind :Pid1.ShutdownKind) -> ();
  # Plans and queues a job; with `wait`, answers once it finished.
  enqueue @1 (name :Text, type :Text, mode :Text, wait :Bool) -> (job :UInt32, result :Text);
  kill @2 (name :Text, signal :Int32, whom :Text) -> ();
  daemonReload @3 () -> ();
  resetFailed @4 (name :Text) -> ();
  # Leave the initramfs: stop the services the new root has no unit for, save the state,
  # and ask pid1 to make `root` the root and exec `init` there (empty: cairn-init, else
  # /sbin/init). Answers before it happens; the new supervisor adopts what kept running.
  switchRoot @5 (root :Text, init :Text) -> ();
  # Restart a helper (activator, mounter, devmon): it gets every fd back and loses nothing.
  # With `binary` (an absolute path), run that binary from now on (`component replace`).
  # Answers with the new instance's pid once it has registered.
  restartComponent @6 (name :Text, binary :Text) -> (pid :Int32);
  # Re-execute a process of cairn in place, losing nothing. `init`: cairn-init execs `binary`
  # (empty: its own) keeping its fd store and this supervisor's link. Otherwise the supervisor
  # saves its units' states, exits, and cairn-init starts the next one (from `binary` when
  # given), which puts them back.
  daemonReexec @7 (init :Bool, binary :Text) -> ();
  # Set fail point `point` of component `name` (supervisor or a helper) to `action`.
  setFailpoint @8 (name :Text, point :Text, action :Text) -> ();
  # Record which units are active now as the unit NAME.snapshot (empty: snapshot-N); started
  # or isolated, it brings that state back. It lives in the runtime directory: it survives
  # daemon-reexec, not a reboot. Answers with the snapshot's unit name.
  snapshot @9 (name :Text) -> (unit :Text);
  # Remove a snapshot (only snapshots: unit files are removed by hand or by `disable`).
  deleteSnapshot @10 (name :Text) -> ();
}
