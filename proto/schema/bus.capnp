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
}

interface Component {
  introspect @0 () -> (info :ComponentInfo);
  # Finish what is in flight and exit.
  shutdown @1 () -> ();
}
