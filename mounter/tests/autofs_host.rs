//! Root-only tests against the host kernel's autofs. Each test unshares a mount namespace for
//! its own thread (namespaces are per task) and makes `/` rprivate, so nothing reaches the
//! host; blocked children are SIGKILLed after a timeout, never waited for forever. Without
//! root the tests print why and pass vacuously.
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use cairn_mounter::autofs::*;
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

const TIMEOUT: Duration = Duration::from_secs(10);
const HELPER_ENV: &str = "CAIRN_AUTOFS_HELPER";
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// Exit code of a toucher that reached the mount but did not find a tmpfs there.
const NOT_TMPFS: i32 = 100;

struct Sandbox {
    base: PathBuf,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = umount2(&self.base, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.base);
    }
}

fn sandbox(name: &str) -> Option<Sandbox> {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping {name}: needs root");
        return None;
    }
    let fs = std::fs::read_to_string("/proc/filesystems").unwrap();
    if !fs.contains("autofs") {
        let _ = Command::new("modprobe").arg("autofs4").status();
    }
    // SAFETY: unshare(2) with a flag only; affects this test's thread.
    let unshared = unsafe { libc::unshare(libc::CLONE_NEWNS) };
    assert_eq!(unshared, 0, "{}", Errno::last());
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, private, None::<&str>).unwrap();
    let base = std::env::temp_dir().join(format!("cairn-autofs-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    mount(
        Some("t"),
        &base,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=4m"),
    )
    .unwrap();
    Some(Sandbox { base })
}

/// Forked processes (each in its own process group, so not in autofs "oz mode").
#[derive(Default)]
struct Kids(Vec<Pid>);

impl Drop for Kids {
    fn drop(&mut self) {
        for p in self.0.drain(..) {
            let _ = kill(p, Signal::SIGKILL);
            let _ = waitpid(p, None);
        }
    }
}

impl Kids {
    /// `statfs(dir/.)` (triggers the automount), then `stat(dir/file)` if given. Exits 0 when
    /// a tmpfs is there, with the errno of a failed call, or `NOT_TMPFS`.
    fn touch(&mut self, dir: &Path, file: Option<&str>) -> Pid {
        let dot = CString::new(format!("{}/.", dir.display())).unwrap();
        let file = file.map(|f| CString::new(format!("{}/{f}", dir.display())).unwrap());
        // SAFETY: the child only makes async-signal-safe calls and leaves with _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                // SAFETY: plain syscalls on local buffers; _exit never returns.
                unsafe {
                    libc::setpgid(0, 0);
                    libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                    let mut sf: libc::statfs = std::mem::zeroed();
                    if libc::statfs(dot.as_ptr(), &mut sf) != 0 {
                        libc::_exit(*libc::__errno_location());
                    }
                    let mut st: libc::stat = std::mem::zeroed();
                    if let Some(f) = &file {
                        if libc::stat(f.as_ptr(), &mut st) != 0 {
                            libc::_exit(*libc::__errno_location());
                        }
                    }
                    libc::_exit(if sf.f_type == TMPFS_MAGIC {
                        0
                    } else {
                        NOT_TMPFS
                    })
                }
            }
            ForkResult::Parent { child } => {
                self.0.push(child);
                child
            }
        }
    }

    /// Exit code of `pid`; SIGKILLs it and panics when it does not finish within TIMEOUT.
    fn wait(&mut self, pid: Pid) -> i32 {
        let start = Instant::now();
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)).unwrap() {
                WaitStatus::Exited(_, code) => {
                    self.0.retain(|p| *p != pid);
                    return code;
                }
                WaitStatus::StillAlive if start.elapsed() < TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                other => {
                    let _ = kill(pid, Signal::SIGKILL);
                    panic!("child {pid} did not finish: {other:?}");
                }
            }
        }
    }
}

/// Kernel functions the threads of `pid` sleep in (`/proc/PID/task/*/wchan`).
fn wchan(pid: u32) -> String {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten();
    let chans = tasks.map(|t| std::fs::read_to_string(t.path().join("wchan")).unwrap_or_default());
    chans.collect::<Vec<_>>().join(",")
}

/// Waits until `pid` sleeps in autofs (the kernel holds it for our answer).
fn wait_blocked(pid: u32) {
    let start = Instant::now();
    while !wchan(pid).contains("autofs") {
        assert!(
            start.elapsed() < TIMEOUT,
            "{pid} not blocked in autofs: {}",
            wchan(pid)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn next_packet(m: &AutofsMount) -> Packet {
    let start = Instant::now();
    loop {
        if let Some(p) = read_packet(m).unwrap() {
            return p;
        }
        assert!(start.elapsed() < TIMEOUT, "no autofs packet");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn top_fstype(dir: &Path) -> String {
    topmost(&mounts_at(dir).unwrap())
        .map(|e| e.fstype.clone())
        .unwrap_or_default()
}

#[test]
fn missing_request_then_ready_shows_tmpfs_mounted_on_top() {
    let Some(sb) = sandbox("ready") else { return };
    let dir = sb.base.join("a/b");
    let m = mount_direct(&dir, None, 0o750).unwrap();
    let stack = mounts_at(&dir).unwrap();
    assert_eq!(
        topmost(&stack).map(|e| (e.fstype.as_str(), e.dev)),
        Some(("autofs", m.dev))
    );
    let mut kids = Kids::default();
    let pid = kids.touch(&dir, Some("x"));
    wait_blocked(pid.as_raw() as u32);
    // The kernel writes sizeof(struct autofs_v5_packet) per request, one per read.
    let mut buf = [0u8; 1024];
    let start = Instant::now();
    let n = loop {
        match nix::unistd::read(&m.pipe_r, &mut buf) {
            Err(Errno::EAGAIN) if start.elapsed() < TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5))
            }
            r => break r.unwrap(),
        }
    };
    assert_eq!(n, PACKET_SIZE);
    let Packet::Missing {
        token,
        pid: who,
        uid,
        ..
    } = parse_packet(&buf[..n]).unwrap()
    else {
        panic!("not a missing packet")
    };
    assert_eq!((who, uid), (pid.as_raw(), 0));
    assert!(read_packet(&m).unwrap().is_none());
    // fsconfig errors carry the kernel's message.
    let err = mount_on_top(&m, "tmpfs", "cairn", "size=bogus", 0).unwrap_err();
    assert!(err.to_string().contains("size"), "{err}");
    let attr = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
    mount_on_top(&m, "tmpfs", "cairn-test", "size=1m,mode=0755", attr).unwrap();
    std::fs::write(dir.join("x"), b"hi").unwrap(); // we are in oz mode: no trigger
    assert_eq!(top_fstype(&dir), "tmpfs");
    ready(&m, token).unwrap();
    assert_eq!(kids.wait(pid), 0);
    // Mounted now: no further request.
    let pid = kids.touch(&dir, Some("x"));
    assert_eq!(kids.wait(pid), 0);
    assert!(read_packet(&m).unwrap().is_none());
    m.umount().unwrap();
    assert!(mounts_at(&dir).unwrap().is_empty());
}

#[test]
fn fail_gives_enoent_and_the_trap_stays_armed() {
    let Some(sb) = sandbox("fail") else { return };
    let dir = sb.base.join("f");
    let m = mount_direct(&dir, Some(Duration::from_secs(30)), 0o755).unwrap();
    let mut kids = Kids::default();
    for _ in 0..2 {
        let pid = kids.touch(&dir, None);
        let p = next_packet(&m);
        assert!(matches!(p, Packet::Missing { pid: who, .. } if who == pid.as_raw()));
        fail(&m, p.token()).unwrap();
        assert_eq!(kids.wait(pid), libc::ENOENT);
    }
    // An unknown token is refused by the kernel.
    assert!(ready(&m, 0xdead_beef).is_err());
    m.umount().unwrap();
}

#[test]
fn twenty_blocked_children_are_all_answered() {
    let Some(sb) = sandbox("twenty") else { return };
    let dir = sb.base.join("many");
    let m = mount_direct(&dir, None, 0o755).unwrap();
    let mut kids = Kids::default();
    let pids: Vec<Pid> = (0..20).map(|_| kids.touch(&dir, None)).collect();
    for p in &pids {
        wait_blocked(p.as_raw() as u32); // all 20 held by the kernel at once
    }
    let mut pending = Pending::new(TIMEOUT);
    let (mut packets, mut mounted) = (0, false);
    let start = Instant::now();
    while !(mounted && pending.is_empty()) {
        assert!(
            start.elapsed() < TIMEOUT,
            "{packets} packets, still pending"
        );
        for p in read_packets(&m).unwrap() {
            packets += 1;
            if pending.on_packet(&p, Instant::now()) == Action::StartMount && !mounted {
                mount_on_top(&m, "tmpfs", "cairn", "size=1m", 0).unwrap();
                mounted = true;
            }
        }
        if mounted {
            assert!(answer(&m, &pending.on_mounted(), true).is_empty());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for p in pids {
        assert_eq!(kids.wait(p), 0);
    }
    eprintln!("20 blocked children produced {packets} packet(s)");
    assert!((1..=20).contains(&packets));
    m.umount().unwrap();
}

#[test]
fn reattach_through_dev_autofs_answers_a_pending_request() {
    let Some(sb) = sandbox("reattach") else {
        return;
    };
    let dir = sb.base.join("re");
    let src = sb.base.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("y"), b"y").unwrap();
    let m = mount_direct(&dir, None, 0o755).unwrap();
    let mut kids = Kids::default();
    let pid = kids.touch(&dir, Some("y"));
    wait_blocked(pid.as_raw() as u32);
    // "Restart": only the pipe survives; the ioctl fd comes back via /dev/autofs OPENMOUNT.
    let AutofsMount {
        path,
        pipe_r,
        ioctl_fd,
        dev,
    } = m;
    drop(ioctl_fd);
    let wrong = OwnedFd::from(std::fs::File::open(&sb.base).unwrap());
    let pipe_dup = pipe_r.try_clone().unwrap();
    assert!(matches!(
        reattach(&path, pipe_dup, Some(wrong)),
        Err(AutofsError::NotAutofs(_))
    ));
    let m = reattach(&path, pipe_r, None).unwrap();
    assert_eq!(m.dev, dev);
    let token = next_packet(&m).token();
    bind_onto(&m, &src, false, libc::MOUNT_ATTR_RDONLY).unwrap();
    ready(&m, token).unwrap();
    assert_eq!(kids.wait(pid), 0);
    let vfs = nix::sys::statvfs::statvfs(&dir).unwrap();
    assert!(vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    m.umount().unwrap();
    assert!(mounts_at(&dir).unwrap().is_empty());
}

/// Runs this test binary as a "restarted daemon" in a new process group, with the mount's
/// pipe and ioctl fd at fds 10 and 11 (None: no ioctl fd).
fn spawn_helper(mode: &str, m: &AutofsMount, with_ioctl: bool) -> Helper {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "helper_entry", "--nocapture", "--test-threads=1"]);
    cmd.env(HELPER_ENV, mode)
        .env("CAIRN_AUTOFS_PATH", &m.path)
        .process_group(0);
    cmd.stdout(std::process::Stdio::null()); // keep its libtest summary out of ours
    let (p, i) = (m.pipe_r.as_raw_fd(), m.ioctl_fd.as_raw_fd());
    // SAFETY: dup2 is async-signal-safe; the fds stay open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(p, 10) < 0 || (with_ioctl && libc::dup2(i, 11) < 0) {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    Helper(cmd.spawn().unwrap())
}

/// A helper process, SIGKILLed if the test ends (or panics) before it exits.
struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_helper(h: &mut Helper) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(st) = h.0.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        if start.elapsed() > TIMEOUT * 2 {
            panic!("helper hung: {}", wchan(h.0.id()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn restarted_daemon_in_new_pgrp_answers_through_stored_fds() {
    let Some(sb) = sandbox("restart") else { return };
    let dir = sb.base.join("r");
    let m = mount_direct(&dir, None, 0o755).unwrap();
    let mut kids = Kids::default();
    let pid = kids.touch(&dir, None);
    wait_blocked(pid.as_raw() as u32);
    let mut helper = spawn_helper("restart", &m, true);
    let path = m.path.clone();
    drop(m); // the "old daemon" is gone; the helper holds the only pipe read end
    assert_eq!(wait_helper(&mut helper), 0);
    assert_eq!(kids.wait(pid), 0);
    assert_eq!(top_fstype(&path), "tmpfs");
    umount_autofs(&path).unwrap();
    assert!(mounts_at(&path).unwrap().is_empty());
}

#[test]
fn openmount_from_another_pgrp_blocks_while_a_request_is_pending() {
    let Some(sb) = sandbox("openmount") else {
        return;
    };
    let dir = sb.base.join("o");
    let m = mount_direct(&dir, None, 0o755).unwrap();
    let mut kids = Kids::default();
    let pid = kids.touch(&dir, None);
    wait_blocked(pid.as_raw() as u32);
    let mut helper = spawn_helper("openmount", &m, false);
    wait_blocked(helper.0.id()); // its OPENMOUNT path walk sleeps in autofs_d_manage
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        helper.0.try_wait().unwrap().is_none(),
        "helper finished while the request pended"
    );
    fail(&m, next_packet(&m).token()).unwrap(); // releases the helper's path walk too...
    assert_eq!(wait_helper(&mut helper), libc::ENOENT); // ...which fails with the answer
    assert_eq!(kids.wait(pid), libc::ENOENT);
    m.umount().unwrap();
}

#[test]
fn take_over_from_new_pgrp_fails_pending_and_owns_new_requests() {
    let Some(sb) = sandbox("takeover") else {
        return;
    };
    let dir = sb.base.join("t");
    let m = mount_direct(&dir, None, 0o755).unwrap();
    let mut kids = Kids::default();
    let pid = kids.touch(&dir, None);
    wait_blocked(pid.as_raw() as u32);
    let mut helper = spawn_helper("takeover", &m, true);
    assert_eq!(wait_helper(&mut helper), 0);
    assert_eq!(kids.wait(pid), libc::ENOENT); // catatonic released it
                                              // The old pipe still holds the request made before the take-over, then EOF.
    assert!(matches!(read_packet(&m), Ok(Some(Packet::Missing { .. }))));
    assert!(matches!(read_packet(&m), Err(AutofsError::PipeClosed)));
    assert_eq!(top_fstype(&dir), "tmpfs");
    m.umount().unwrap();
}

#[test]
fn expire_multi_sends_expire_after_idle_timeout() {
    let Some(sb) = sandbox("expire") else { return };
    let dir = sb.base.join("e");
    let m = mount_direct(&dir, Some(Duration::from_secs(1)), 0o755).unwrap();
    let mut kids = Kids::default();
    let pid = kids.touch(&dir, None);
    let token = next_packet(&m).token();
    mount_on_top(&m, "tmpfs", "cairn", "size=1m", 0).unwrap();
    ready(&m, token).unwrap();
    assert_eq!(kids.wait(pid), 0);
    assert!(
        !expire(&m, false).unwrap(),
        "used within the timeout: nothing to expire"
    );
    std::thread::sleep(Duration::from_millis(2100));
    let expirer = spawn_expire(&m, false).unwrap();
    let p = next_packet(&m);
    assert!(matches!(p, Packet::Expire { .. }), "{p:?}");
    assert!(!expirer.is_finished(), "EXPIRE_MULTI waits for our answer");
    umount_on_top(&m).unwrap();
    ready(&m, p.token()).unwrap();
    assert!(expirer.join().unwrap().unwrap());
    assert_eq!(top_fstype(&dir), "autofs");
    // Still armed: a new access asks again.
    let pid = kids.touch(&dir, None);
    fail(&m, next_packet(&m).token()).unwrap();
    assert_eq!(kids.wait(pid), libc::ENOENT);
    // A busy mount (open fd inside) is not expired even with AUTOFS_EXP_IMMEDIATE.
    mount_on_top(&m, "tmpfs", "cairn", "size=1m", 0).unwrap();
    let busy = std::fs::File::open(&dir).unwrap();
    assert!(!expire(&m, true).unwrap());
    drop(busy);
    // So is the autofs mount while a second open file (not a dup) refers to it.
    let second = reattach(&m.path, m.pipe_r.try_clone().unwrap(), None).unwrap();
    assert!(!expire(&m, true).unwrap());
    drop(second);
    let expirer = spawn_expire(&m, true).unwrap();
    let p = next_packet(&m);
    fail(&m, p.token()).unwrap(); // refuse: the mount stays
    assert_eq!(
        expirer.join().unwrap().unwrap_err().errno(),
        Some(Errno::ENOENT)
    );
    assert_eq!(top_fstype(&dir), "tmpfs");
    m.umount().unwrap();
}

#[test]
fn umount_releases_waiters_and_removes_the_stack() {
    let Some(sb) = sandbox("umount") else { return };
    let dir = sb.base.join("u");
    let m = mount_direct(&dir, None, 0o755).unwrap();
    let mut kids = Kids::default();
    let pid = kids.touch(&dir, None);
    wait_blocked(pid.as_raw() as u32);
    m.umount().unwrap();
    assert_eq!(kids.wait(pid), libc::ENOENT);
    assert!(mounts_at(&dir).unwrap().is_empty());
    assert!(dir.is_dir());
    umount_autofs(&dir).unwrap(); // nothing left: no-op
    let m = mount_direct(&dir, None, 0o755).unwrap();
    mount_on_top(&m, "tmpfs", "cairn", "", 0).unwrap();
    assert_eq!(mounts_at(&dir).unwrap().len(), 2);
    m.umount().unwrap();
    assert!(mounts_at(&dir).unwrap().is_empty());
    // Without a pipe reader the next request fails: catatonic, ENOENT, no hang.
    let AutofsMount {
        pipe_r, ioctl_fd, ..
    } = mount_direct(&dir, None, 0o755).unwrap();
    drop(pipe_r);
    let pid = kids.touch(&dir, None);
    assert_eq!(kids.wait(pid), libc::ENOENT);
    drop(ioctl_fd);
    umount_autofs(&dir).unwrap();
    assert!(mounts_at(&dir).unwrap().is_empty());
}

/// Not a test on its own: the body of the helper processes spawned above (a no-op otherwise).
#[test]
fn helper_entry() {
    let Ok(mode) = std::env::var(HELPER_ENV) else {
        return;
    };
    let path = PathBuf::from(std::env::var("CAIRN_AUTOFS_PATH").unwrap());
    // SAFETY: fd 10 (and 11) were dup2()ed for us by spawn_helper; nothing else owns them.
    let pipe = unsafe { OwnedFd::from_raw_fd(10) };
    match mode.as_str() {
        "restart" => {
            // SAFETY: as above.
            let m = reattach(&path, pipe, Some(unsafe { OwnedFd::from_raw_fd(11) })).unwrap();
            let token = next_packet(&m).token();
            // Not in oz mode: only fd-based calls; a path walk here would wait for ourselves.
            mount_on_top(&m, "tmpfs", "cairn", "size=1m", 0).unwrap();
            ready(&m, token).unwrap();
        }
        "openmount" => {
            // Blocks until the parent answers; then fails with the answer's ENOENT.
            let err = reattach(&path, pipe, None).unwrap_err();
            std::process::exit(err.errno().map_or(1, |e| e as i32));
        }
        "takeover" => {
            // SAFETY: as above.
            let m = reattach(&path, pipe, Some(unsafe { OwnedFd::from_raw_fd(11) })).unwrap();
            let m = take_over(m).unwrap();
            let mut kids = Kids::default();
            let pid = kids.touch(&path, None);
            let token = next_packet(&m).token();
            // Now in oz mode: plain mount(2) by path works.
            mount(
                Some("t"),
                &path,
                Some("tmpfs"),
                MsFlags::empty(),
                Some("size=1m"),
            )
            .unwrap();
            ready(&m, token).unwrap();
            assert_eq!(kids.wait(pid), 0);
        }
        other => panic!("unknown helper mode {other}"),
    }
}
