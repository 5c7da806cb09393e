//! Who may read the store: its owner only. The history names every connection with its
//! verdicts, and the outbox holds alerts not yet sent; systemd's `StateDirectory=` gives the
//! service a directory of its own, but outside systemd (`keywarden run` by hand, a container, a
//! path of the operator's choosing) the umask decided, and 0755 / 0644 let every local user read
//! it all.
//!
//! The directory is created 0700 and an existing one is restricted to its owner; sled's own
//! files in it (`conf`, `db`, `snap.*`, `blobs/`) are restricted after opening, for stores
//! created by earlier versions. Files sled creates later follow the umask, but nobody else can
//! reach them through a 0700 directory. Only permission bits are taken away, never added: a
//! read-only directory stays read-only.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700 when it does not exist yet.
pub(super) fn create_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Takes the group's and others' permissions off `dir` and sled's files in it. A failure (a
/// directory owned by someone else, a read-only filesystem) is logged, not fatal: the store
/// still works, and the warning says what the operator should fix.
pub(super) fn restrict(dir: &Path) {
    restrict_one(dir);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name == "conf" || name == "db" || name == "blobs" || name.starts_with("snap.");
        if !ours {
            continue;
        }
        let path = entry.path();
        restrict_one(&path);
        if name == "blobs" {
            for blob in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                restrict_one(&blob.path());
            }
        }
    }
}

fn restrict_one(path: &Path) {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return;
    };
    if metadata.file_type().is_symlink() {
        return;
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return;
    }
    let private = mode & !0o077;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(private)) {
        tracing::warn!(
            "{}: other users may read the history store (mode {mode:04o}) and it cannot be \
             restricted to {private:04o}: {e}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_directory_is_private_and_existing_ones_lose_only_group_and_other_bits() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("a/state");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);

        let old = scratch.path().join("old");
        std::fs::create_dir(&old).unwrap();
        for (name, before) in [
            ("conf", 0o644),
            ("db", 0o664),
            ("snap.0000000000000001", 0o444),
            ("not-sled.txt", 0o644),
        ] {
            let path = old.join(name);
            std::fs::write(&path, "x").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(before)).unwrap();
        }
        std::fs::create_dir(old.join("blobs")).unwrap();
        std::fs::write(old.join("blobs/7"), "x").unwrap();
        std::fs::set_permissions(old.join("blobs/7"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
        restrict(&old);
        assert_eq!(mode(&old), 0o700);
        assert_eq!(mode(&old.join("conf")), 0o600);
        assert_eq!(mode(&old.join("db")), 0o600);
        assert_eq!(mode(&old.join("snap.0000000000000001")), 0o400);
        assert_eq!(mode(&old.join("blobs")), 0o700);
        assert_eq!(mode(&old.join("blobs/7")), 0o600);
        assert_eq!(
            mode(&old.join("not-sled.txt")),
            0o644,
            "not ours: left alone"
        );

        // Bits are only taken away: a read-only directory stays read-only.
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o555)).unwrap();
        restrict(&old);
        assert_eq!(mode(&old), 0o500);
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}
