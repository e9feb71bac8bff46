//! The switch_root dance (ARCHITECTURE.md §8). The initramfs is rootfs, which cannot be
//! pivoted away or unmounted: move the API file systems under the new root, make the new root
//! `/` by moving its mount there, chroot into it, and delete everything left in the initramfs
//! (its memory is freed only that way) — through an fd opened on it before the move, never
//! crossing into another file system.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::dir::{Dir, Type};
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fstatat, Mode};
use nix::unistd::UnlinkatFlags;

/// The API file systems that move with the root, in this order (systemd's list).
const MOVED: [&str; 4] = ["/dev", "/proc", "/sys", "/run"];

const RAMFS_MAGIC: i64 = 0x8584_58f6;
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Whether `/` is an initramfs (ramfs or tmpfs): the one case where its contents may go.
pub fn root_is_initramfs() -> bool {
    nix::sys::statfs::statfs("/")
        .map(|s| {
            #[allow(clippy::unnecessary_cast)] // c_long: i64 here, not on every target
            let t = s.filesystem_type().0 as i64;
            t == RAMFS_MAGIC || t == TMPFS_MAGIC
        })
        .unwrap_or(false)
}

/// Makes `new_root` the root. Errors before the move leave the old root as it was (but for
/// API mounts already moved, which are moved back).
pub fn switch_root(new_root: &Path) -> Result<(), String> {
    let err = |what: &str, e: nix::Error| format!("{what}: {e}");
    // Moving /dev, /proc and /sys away is only ever right for the machine's init.
    if std::process::id() != 1 {
        return Err("only PID 1 switches root".into());
    }
    if new_root == Path::new("/") || !new_root.is_absolute() {
        return Err(format!(
            "{}: the new root must be an absolute path other than /",
            new_root.display()
        ));
    }
    let old = nix::sys::stat::stat("/").map_err(|e| err("stat /", e))?;
    let new = nix::sys::stat::stat(new_root)
        .map_err(|e| err(&format!("stat {}", new_root.display()), e))?;
    let parent = nix::sys::stat::stat(&new_root.join(".."))
        .map_err(|e| err(&format!("stat {}/..", new_root.display()), e))?;
    if new.st_dev == parent.st_dev {
        return Err(format!(
            "{} is not a mount point (mount the real root there first)",
            new_root.display()
        ));
    }
    let delete = root_is_initramfs();
    // Opened before the move: afterwards "/" is the new root.
    let old_root = nix::fcntl::open(
        "/",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("open /", e))?;
    let mut moved = Vec::new();
    for api in MOVED {
        let target = new_root.join(api.trim_start_matches('/'));
        let _ = std::fs::create_dir_all(&target);
        match mount(
            Some(api),
            &target,
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        ) {
            Ok(()) => moved.push((api, target)),
            // Not a mount point here (e.g. /run on the initramfs itself): nothing to move.
            Err(nix::Error::EINVAL) => {}
            Err(e) => {
                // As systemd: what cannot be moved is detached, not left behind half-visible.
                eprintln!(
                    "cairn-init: switch-root: cannot move {api} to {}: {e}; detaching it",
                    target.display()
                );
                let _ = umount2(api, MntFlags::MNT_DETACH);
            }
        }
    }
    let undo = |moved: &[(&str, std::path::PathBuf)]| {
        for (api, target) in moved {
            let _ = mount(
                Some(target),
                *api,
                None::<&str>,
                MsFlags::MS_MOVE,
                None::<&str>,
            );
        }
    };
    if let Err(e) = std::env::set_current_dir(new_root) {
        undo(&moved);
        return Err(format!("chdir {}: {e}", new_root.display()));
    }
    if let Err(e) = mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>) {
        let _ = std::env::set_current_dir("/");
        undo(&moved);
        return Err(err(&format!("moving {} onto /", new_root.display()), e));
    }
    nix::unistd::chroot(".").map_err(|e| err("chroot", e))?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    if delete {
        let removed = remove_children(&old_root, old.st_dev);
        eprintln!("cairn-init: switch-root: freed the initramfs ({removed} entries deleted)");
    }
    Ok(())
}

/// Deletes everything under the directory `dir` that lives on file system `dev`, depth first;
/// other file systems (mount points) are left alone. Returns how many entries went.
pub fn remove_children(dir: &OwnedFd, dev: u64) -> usize {
    let Ok(dup) = nix::unistd::dup(dir) else {
        return 0;
    };
    let Ok(mut d) = Dir::from_fd(dup) else {
        return 0;
    };
    let mut names = Vec::new();
    for e in d.iter().flatten() {
        let name = e.file_name().to_owned();
        if name.as_bytes() == b"." || name.as_bytes() == b".." {
            continue;
        }
        names.push((name, e.file_type()));
    }
    drop(d);
    let mut removed = 0;
    for (name, kind) in names {
        let Ok(st) = fstatat(dir, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) else {
            continue;
        };
        if st.st_dev != dev {
            continue;
        }
        let is_dir = kind == Some(Type::Directory) || (st.st_mode & libc::S_IFMT) == libc::S_IFDIR;
        if is_dir {
            let Ok(sub) = nix::fcntl::openat(
                dir,
                name.as_c_str(),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) else {
                continue;
            };
            removed += remove_children(&sub, dev);
            if nix::unistd::unlinkat(dir, name.as_c_str(), UnlinkatFlags::RemoveDir).is_ok() {
                removed += 1;
            }
        } else if nix::unistd::unlinkat(dir, name.as_c_str(), UnlinkatFlags::NoRemoveDir).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_stays_on_its_file_system() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("a/b/c/f"), "x").unwrap();
        std::fs::write(root.join("top"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link-out")).unwrap();
        // A "mount point": a directory claimed to be on another device is kept whole.
        let fd =
            nix::fcntl::open(root, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let dev = nix::sys::stat::stat(root).unwrap().st_dev;
        let removed = remove_children(&fd, dev);
        assert_eq!(removed, 6, "a, a/b, a/b/c, a/b/c/f, top, link-out");
        assert_eq!(std::fs::read_dir(root).unwrap().count(), 0);
        // The symlink's target is untouched.
        assert!(Path::new("/etc").is_dir());
        std::fs::create_dir(root.join("other")).unwrap();
        std::fs::write(root.join("other/keep"), "x").unwrap();
        assert_eq!(remove_children(&fd, dev.wrapping_add(1)), 0);
        assert!(root.join("other/keep").exists());
    }

    #[test]
    fn only_pid_1_switches_root() {
        // Tests never run as PID 1; the VM tier switches root for real.
        let e = switch_root(Path::new("/tmp")).unwrap_err();
        assert_eq!(e, "only PID 1 switches root");
    }
}
