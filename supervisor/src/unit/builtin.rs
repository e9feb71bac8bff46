//! The standard targets cairn ships (systemd.special(7)), embedded in the supervisor so that
//! a sandbox's unit path is its unit directory plus these, and an installed system needs no
//! files for them. They are the lowest-priority source: a file of the same name in any unit
//! directory overrides one; `cairnctl cat` shows them under /usr/lib/cairn/system.

/// (name, contents). A contents of the form `@alias NAME` makes `name` an alias of NAME.
pub const UNITS: &[(&str, &str)] = &[
    ("default.target", "@alias multi-user.target"),
    ("ctrl-alt-del.target", "@alias reboot.target"),
    ("runlevel0.target", "@alias poweroff.target"),
    ("runlevel1.target", "@alias rescue.target"),
    ("runlevel2.target", "@alias multi-user.target"),
    ("runlevel3.target", "@alias multi-user.target"),
    ("runlevel4.target", "@alias multi-user.target"),
    ("runlevel5.target", "@alias graphical.target"),
    ("runlevel6.target", "@alias reboot.target"),
    (
        "basic.target",
        "[Unit]\nDescription=Basic System\nRequires=sysinit.target\n\
         Wants=sockets.target timers.target paths.target slices.target\n\
         After=sysinit.target sockets.target paths.target slices.target tmp.mount\n",
    ),
    (
        "sysinit.target",
        "[Unit]\nDescription=System Initialization\nConflicts=emergency.service emergency.target\n\
         Wants=local-fs.target swap.target\n\
         After=local-fs.target swap.target emergency.service emergency.target\n",
    ),
    (
        "local-fs.target",
        "[Unit]\nDescription=Local File Systems\nDefaultDependencies=no\n\
         Conflicts=shutdown.target\nAfter=local-fs-pre.target\nOnFailure=emergency.target\n\
         OnFailureJobMode=replace-irreversibly\n",
    ),
    ("local-fs-pre.target", "[Unit]\nDescription=Preparation for Local File Systems\nDefaultDependencies=no\nRefuseManualStart=yes\n"),
    ("remote-fs.target", "[Unit]\nDescription=Remote File Systems\nAfter=remote-fs-pre.target\n"),
    ("remote-fs-pre.target", "[Unit]\nDescription=Preparation for Remote File Systems\nRefuseManualStart=yes\n"),
    ("swap.target", "[Unit]\nDescription=Swaps\n"),
    ("sockets.target", "[Unit]\nDescription=Sockets\n"),
    ("timers.target", "[Unit]\nDescription=Timer Units\nDefaultDependencies=no\nConflicts=shutdown.target\n"),
    ("paths.target", "[Unit]\nDescription=Path Units\n"),
    ("slices.target", "[Unit]\nDescription=Slice Units\n"),
    ("network-pre.target", "[Unit]\nDescription=Preparation for Network\nRefuseManualStart=yes\n"),
    ("network.target", "[Unit]\nDescription=Network\nAfter=network-pre.target\nRefuseManualStart=yes\n"),
    ("network-online.target", "[Unit]\nDescription=Network is Online\nRequires=network.target\nAfter=network.target\n"),
    ("nss-lookup.target", "[Unit]\nDescription=Host and Network Name Lookups\nRefuseManualStart=yes\n"),
    ("time-sync.target", "[Unit]\nDescription=System Time Synchronized\nRefuseManualStart=yes\n"),
    ("getty.target", "[Unit]\nDescription=Login Prompts\n"),
    (
        "multi-user.target",
        "[Unit]\nDescription=Multi-User System\nRequires=basic.target\n\
         Conflicts=rescue.service rescue.target\n\
         After=basic.target rescue.service rescue.target\nAllowIsolate=yes\n",
    ),
    (
        "graphical.target",
        "[Unit]\nDescription=Graphical Interface\nRequires=multi-user.target\n\
         Conflicts=rescue.service rescue.target\n\
         After=multi-user.target rescue.service rescue.target\nAllowIsolate=yes\n",
    ),
    (
        "rescue.target",
        "[Unit]\nDescription=Rescue Mode\nRequires=sysinit.target rescue.service\n\
         After=sysinit.target rescue.service\nConflicts=multi-user.target\nAllowIsolate=yes\n",
    ),
    (
        "emergency.target",
        "[Unit]\nDescription=Emergency Mode\nRequires=emergency.service\nAfter=emergency.service\n\
         AllowIsolate=yes\n",
    ),
    // A shell on the console (systemd runs sulogin; cairn's initramfs has no passwords to ask
    // for). When it exits, the default target is tried again, as systemd-sulogin-shell does.
    (
        "emergency.service",
        "[Unit]\nDescription=Emergency Shell\nDefaultDependencies=no\n\
         Conflicts=shutdown.target rescue.service\nBefore=shutdown.target rescue.service\n\
         [Service]\nEnvironment=HOME=/root\nWorkingDirectory=-/root\n\
         ExecStartPre=-/bin/sh -c 'echo \"cairn: emergency mode. cairnctl list-units shows what failed, \
         cairnctl why-not UNIT why; leave the shell to try the default target again.\"'\n\
         ExecStart=-/bin/sh\n\
         ExecStopPost=-cairnctl start --no-block --job-mode=fail default.target\n\
         StandardInput=tty-force\n\
         KillMode=process\nIgnoreSIGPIPE=no\nSendSIGHUP=yes\n",
    ),
    (
        "rescue.service",
        "[Unit]\nDescription=Rescue Shell\nDefaultDependencies=no\n\
         Conflicts=shutdown.target\nAfter=sysinit.target\nBefore=shutdown.target\n\
         [Service]\nEnvironment=HOME=/root\nWorkingDirectory=-/root\n\
         ExecStartPre=-/bin/sh -c 'echo \"cairn: rescue mode; leave the shell to go on to the default target.\"'\n\
         ExecStart=-/bin/sh\n\
         ExecStopPost=-cairnctl start --no-block --job-mode=fail default.target\n\
         StandardInput=tty-force\n\
         KillMode=process\nIgnoreSIGPIPE=no\nSendSIGHUP=yes\n",
    ),
    // The initrd (ARCHITECTURE.md §8): the boot unit when /etc/initrd-release exists. The
    // root file system named by root= is generated as sysroot.mount, required by
    // initrd-root-fs.target; then initrd-switch-root.service leaves for it.
    (
        "initrd.target",
        "[Unit]\nDescription=Initrd Default Target\nConditionPathExists=/etc/initrd-release\n\
         Requires=basic.target initrd-root-fs.target\nAfter=basic.target initrd-root-fs.target\n\
         Wants=initrd-switch-root.service\nAllowIsolate=yes\n\
         OnFailure=emergency.target\nOnFailureJobMode=replace-irreversibly\n",
    ),
    (
        "initrd-root-fs.target",
        "[Unit]\nDescription=Initrd Root File System\nDefaultDependencies=no\n\
         ConditionPathExists=/etc/initrd-release\n\
         OnFailure=emergency.target\nOnFailureJobMode=replace-irreversibly\n",
    ),
    (
        "initrd-switch-root.service",
        "[Unit]\nDescription=Switch Root\nDefaultDependencies=no\n\
         ConditionPathExists=/etc/initrd-release\n\
         Requires=initrd-root-fs.target\nAfter=initrd-root-fs.target basic.target\n\
         [Service]\nType=oneshot\nExecStart=cairnctl switch-root /sysroot\n",
    ),
    (
        "shutdown.target",
        "[Unit]\nDescription=Shutdown\nDefaultDependencies=no\nRefuseManualStart=yes\n",
    ),
    ("umount.target", "[Unit]\nDescription=Unmount All Filesystems\nDefaultDependencies=no\nConflicts=shutdown.target\n"),
    ("final.target", "[Unit]\nDescription=Late Shutdown Services\nDefaultDependencies=no\nRefuseManualStart=yes\nAfter=shutdown.target umount.target\n"),
    (
        "poweroff.target",
        "[Unit]\nDescription=Power-Off\nDefaultDependencies=no\nAfter=shutdown.target umount.target final.target\nAllowIsolate=yes\n",
    ),
    (
        "reboot.target",
        "[Unit]\nDescription=Reboot\nDefaultDependencies=no\nAfter=shutdown.target umount.target final.target\nAllowIsolate=yes\n",
    ),
    (
        "halt.target",
        "[Unit]\nDescription=System Halt\nDefaultDependencies=no\nAfter=shutdown.target umount.target final.target\nAllowIsolate=yes\n",
    ),
];

/// Where the shipped targets are shown to come from.
pub const PATH: &str = "/usr/lib/cairn/system";
