@0xcbb1ae9af36ca471;
# The link between cairn-init (PID 1) and the supervisor.
#
# One SOCK_SEQPACKET socketpair; every packet is exactly one message in Cap'n Proto's plain
# (unpacked) serialization, so pid1 needs no RPC runtime. File descriptors ride on the packet
# that names them, as SCM_RIGHTS, in the order the message lists their names. A packet carries
# at most 253 fds (SCM_MAX_FD): larger sets go in numbered chunks.

enum ShutdownKind {
  poweroff @0;
  reboot @1;
  halt @2;
}

# What pid1 says to the supervisor.
struct ToSupervisor {
  union {
    hello @0 :Hello;           # the first packet a new supervisor receives
    fdChunk @1 :FdChunk;       # part of the fd store being handed back; fds attached
    childExited @2 :ChildExit; # a process reparented to pid1 has exited
    signal @3 :Int32;          # pid1 received a signal the supervisor acts on (SIGINT = ctrl-alt-del)
    status @4 :InitStatus;     # answer to ToInit.introspect
  }
}

struct Hello {
  generation @0 :UInt32;       # 1 for the first supervisor, +1 at each restart
  systemMode @1 :Bool;
  storedFds @2 :UInt32;        # how many fds follow in fdChunk packets
  chunks @3 :UInt32;           # how many fdChunk packets follow (0 if none)
}

struct FdChunk {
  index @0 :UInt32;            # 0-based chunk number
  names @1 :List(Text);        # one name per attached fd, in order
}

struct ChildExit {
  pid @0 :Int32;
  # Exactly as waitpid(2) reports it: exited with `code`, or killed by `signal`.
  code @1 :Int32;
  signal @2 :Int32;
  coreDumped @3 :Bool;
}

struct InitStatus {
  pid @0 :Int32;
  version @1 :Text;
  startedRealtimeUsec @2 :UInt64;
  rssBytes @3 :UInt64;
  openFds @4 :UInt32;
  storedFds @5 :UInt32;
  reapedOrphans @6 :UInt64;
  supervisorRestarts @7 :UInt32;
  binary @8 :Text;
  storedNames @9 :List(Text);  # the fd store's names, in order
}

# What the supervisor says to pid1.
struct ToInit {
  union {
    storeFds @0 :List(Text);   # names of the attached fds, in order; an existing name is replaced
    removeFds @1 :List(Text);
    shutdown @2 :ShutdownKind; # the final act: kill what is left, sync, reboot(2)
    introspect @3 :Void;       # pid1 answers with ToSupervisor.status
    taken @4 :Void;            # the supervisor has the fd store: exits may now be forwarded
    # Kill this supervisor, move the API file systems under `root`, delete the initramfs,
    # make `root` the root and exec `init` there (a path inside it) with the fd store and the
    # exits not yet forwarded; the new cairn-init starts a new supervisor. On failure pid1
    # restarts a supervisor in the old root.
    switchRoot @5 :SwitchRoot;
    # Exec this binary (empty: pid1's own) in place of pid1, keeping the fd store, the exits
    # not yet forwarded and this supervisor with its link (`cairnctl daemon-reexec --init`).
    reexec @6 :Text;
    # Start the supervisor from this binary from now on (`cairnctl daemon-reexec --binary`).
    supervisorBinary @7 :Text;
  }
}

struct SwitchRoot {
  root @0 :Text;
  init @1 :Text;
}
