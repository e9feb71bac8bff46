//! The file-system side of a service's environment: its directories (RuntimeDirectory=…)
//! and its mount-namespace view (ReadOnlyPaths=, ProtectSystem=, PrivateTmp=…).

use super::*;

/// Where RuntimeDirectory=, StateDirectory=, CacheDirectory= and LogsDirectory= live: /run,
/// /var/lib, /var/cache, /var/log in system mode; under the runtime directory in container
/// mode, which must not write to the host's /var.
pub(crate) fn directory_base(world: &WorldRef, kind: DirKind) -> PathBuf {
    let w = world.borrow();
    let rt = w.config.runtime_dir.clone();
    match (w.container, kind) {
        (false, DirKind::Runtime) => PathBuf::from("/run"),
        (false, DirKind::State) => PathBuf::from("/var/lib"),
        (false, DirKind::Cache) => PathBuf::from("/var/cache"),
        (false, DirKind::Logs) => PathBuf::from("/var/log"),
        (true, DirKind::Runtime) => rt.join("run"),
        (true, DirKind::State) => rt.join("state"),
        (true, DirKind::Cache) => rt.join("cache"),
        (true, DirKind::Logs) => rt.join("log"),
    }
}

/// Creates the unit's directories (owned by its user, with their modes) and returns the
/// environment variables naming them.
pub(crate) fn make_directories(
    world: &WorldRef,
    x: &ExecContext,
    ids: Option<(u32, u32)>,
) -> Result<Vec<(String, String, PathBuf)>, StartError> {
    use std::os::unix::fs::PermissionsExt;
    let mut out: Vec<(String, String, PathBuf)> = Vec::new();
    for (kind, rel) in &x.directories {
        let path = directory_base(world, *kind).join(rel);
        std::fs::create_dir_all(&path)
            .map_err(|e| StartError::Directory(path.display().to_string(), e))?;
        let mode = x
            .directory_modes
            .get(*kind as usize)
            .copied()
            .unwrap_or(0o755);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| StartError::Directory(path.display().to_string(), e))?;
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                .map_err(|e| StartError::Directory(path.display().to_string(), e))?;
        }
        let var = kind.env().to_string();
        match out.iter_mut().find(|(v, _, _)| *v == var) {
            Some((_, val, _)) => {
                val.push(':');
                val.push_str(&path.display().to_string());
            }
            None => out.push((var, path.display().to_string(), path)),
        }
    }
    Ok(out)
}

/// Removes a unit's RuntimeDirectory= when it stops (RuntimeDirectoryPreserve=no).
pub fn remove_runtime_directories(world: &WorldRef, unit: UnitId) {
    let dirs: Vec<String> = {
        let w = world.borrow();
        w.manager
            .units
            .get(unit)
            .map(|u| {
                u.config()
                    .service
                    .exec
                    .directories
                    .iter()
                    .filter(|(k, _)| *k == DirKind::Runtime)
                    .map(|(_, r)| r.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    for rel in dirs {
        let _ = std::fs::remove_dir_all(directory_base(world, DirKind::Runtime).join(rel));
    }
}

/// Empty, mode-000 nodes that InaccessiblePaths= and ProtectHome=yes mount over paths.
pub(crate) fn inaccessible_nodes(world: &WorldRef) -> Result<(PathBuf, PathBuf), StartError> {
    use std::os::unix::fs::PermissionsExt;
    let base = world.borrow().config.runtime_dir.join("inaccessible");
    let (dir, reg) = (base.join("dir"), base.join("reg"));
    let err = |e: std::io::Error| StartError::Directory(base.display().to_string(), e);
    std::fs::create_dir_all(&dir).map_err(err)?;
    if !reg.exists() {
        std::fs::write(&reg, b"").map_err(err)?;
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).map_err(err)?;
    std::fs::set_permissions(&reg, std::fs::Permissions::from_mode(0o000)).map_err(err)?;
    Ok((dir, reg))
}

/// The mount-namespace view as a list of operations for the child (systemd.exec(5)):
/// private namespace; tmpfs mounts; binds; read-only; read-write again; inaccessible.
pub(crate) fn mount_view(
    world: &WorldRef,
    x: &ExecContext,
    writable: &[PathBuf],
) -> Result<Vec<spawn::MountOp>, StartError> {
    use spawn::MountOp;
    let mut ops = Vec::new();
    if !x.needs_mount_namespace() {
        return Ok(ops);
    }
    ops.push(MountOp::Private);
    // `-path`: ignore if missing; `+path`: relative to RootDirectory= (taken as given).
    let resolve = |p: &str| -> Result<Option<String>, StartError> {
        let optional = p.starts_with('-');
        let p = p.trim_start_matches(['-', '+']);
        if Path::new(p).exists() {
            Ok(Some(p.to_string()))
        } else if optional {
            Ok(None)
        } else {
            Err(StartError::Mount(format!("{p}: no such file or directory")))
        }
    };
    let c = |s: &str| cstring(s);
    let tmpfs = |ops: &mut Vec<MountOp>, path: &str, options: &str| -> Result<(), StartError> {
        ops.push(MountOp::Tmpfs {
            path: c(path)?,
            options: c(options)?,
        });
        Ok(())
    };
    if x.private_tmp {
        tmpfs(&mut ops, "/tmp", "mode=1777")?;
        if Path::new("/var/tmp").is_dir() {
            tmpfs(&mut ops, "/var/tmp", "mode=1777")?;
        }
    }
    for t in &x.temporary_file_system {
        let (path, options) = t.split_once(':').unwrap_or((t.as_str(), "mode=0755"));
        if let Some(p) = resolve(path)? {
            tmpfs(&mut ops, &p, options)?;
        }
    }
    let homes = ["/home", "/root", "/run/user"];
    if x.protect_home == ProtectHome::Tmpfs {
        for h in homes.iter().filter(|h| Path::new(h).is_dir()) {
            tmpfs(&mut ops, h, "mode=0755")?;
        }
    }
    if x.private_devices {
        // Built aside (a tmpfs with the harmless nodes bound in from the real /dev), then
        // moved onto /dev.
        const NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
        let aside = world.borrow().config.runtime_dir.join("private-dev");
        std::fs::create_dir_all(&aside)
            .map_err(|e| StartError::Directory(aside.display().to_string(), e))?;
        let aside = aside.display().to_string();
        tmpfs(&mut ops, &aside, "mode=0755")?;
        for n in NODES
            .iter()
            .filter(|n| Path::new(&format!("/dev/{n}")).exists())
        {
            let dst = format!("{aside}/{n}");
            ops.push(MountOp::Touch { path: c(&dst)? });
            ops.push(MountOp::Bind {
                src: c(&format!("/dev/{n}"))?,
                dst: c(&dst)?,
            });
        }
        ops.push(MountOp::Move {
            src: c(&aside)?,
            dst: c("/dev")?,
        });
    }
    for (src, dst, ro) in &x.bind_paths {
        let (Some(s), Some(d)) = (resolve(src)?, resolve(dst)?) else {
            continue;
        };
        ops.push(MountOp::Bind {
            src: c(&s)?,
            dst: c(&d)?,
        });
        if *ro {
            ops.push(MountOp::ReadOnly {
                path: c(&d)?,
                ro: true,
            });
        }
    }
    let mut read_only: Vec<String> = Vec::new();
    match x.protect_system {
        ProtectSystem::No => {}
        ProtectSystem::Yes => read_only.extend(["-/usr", "-/boot", "-/efi"].map(String::from)),
        ProtectSystem::Full => {
            read_only.extend(["-/usr", "-/boot", "-/efi", "-/etc"].map(String::from))
        }
        ProtectSystem::Strict => read_only.push("/".into()),
    }
    if x.protect_home == ProtectHome::ReadOnly {
        read_only.extend(homes.iter().map(|h| format!("-{h}")));
    }
    read_only.extend(x.read_only_paths.iter().cloned());
    for p in &read_only {
        let Some(p) = resolve(p)? else { continue };
        if p != "/" {
            ops.push(MountOp::Bind {
                src: c(&p)?,
                dst: c(&p)?,
            });
        }
        ops.push(MountOp::ReadOnly {
            path: c(&p)?,
            ro: true,
        });
    }
    let mut read_write: Vec<String> = x.read_write_paths.clone();
    if x.protect_system == ProtectSystem::Strict {
        read_write.extend(["/dev", "/proc", "/sys"].map(String::from));
    }
    read_write.extend(writable.iter().map(|p| p.display().to_string()));
    for p in &read_write {
        let Some(p) = resolve(p)? else { continue };
        if !matches!(p.as_str(), "/dev" | "/proc" | "/sys") {
            ops.push(MountOp::Bind {
                src: c(&p)?,
                dst: c(&p)?,
            });
        }
        ops.push(MountOp::ReadOnly {
            path: c(&p)?,
            ro: false,
        });
    }
    let mut hidden: Vec<String> = x.inaccessible_paths.clone();
    if x.protect_home == ProtectHome::Yes {
        hidden.extend(homes.iter().map(|h| format!("-{h}")));
    }
    if !hidden.is_empty() {
        let (dir, reg) = inaccessible_nodes(world)?;
        for p in &hidden {
            let Some(p) = resolve(p)? else { continue };
            let node = if Path::new(&p).is_dir() { &dir } else { &reg };
            ops.push(MountOp::Bind {
                src: c(&node.display().to_string())?,
                dst: c(&p)?,
            });
            ops.push(MountOp::ReadOnly {
                path: c(&p)?,
                ro: true,
            });
        }
    }
    Ok(ops)
}
