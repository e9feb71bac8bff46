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

interface Viewer {
  version @0 () -> (version :Text);
  listComponents @1 () -> (components :List(ComponentStatus));
}

interface Manager extends(Viewer) {
  shutdown @0 (kind :Pid1.ShutdownKind) -> ();
}
