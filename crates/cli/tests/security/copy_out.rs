//! (issue 13) `cp` between a container and the host: what a running container
//! does to its own files during a copy never brings host files into the
//! archive, and what a copy writes into the container stays inside its root.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::{need, with_busybox, Berth};

/// A directory in the host's `/` with a random name, holding one file with a
/// random name and content; removed on drop.
struct HostMarker {
    dir: PathBuf,
    name: String,
    content: String,
}

impl HostMarker {
    fn new() -> HostMarker {
        let dir = Path::new("/").join(format!("berth-cp-{:016x}", rand::random::<u64>()));
        let name = format!("host-secret-{:016x}", rand::random::<u64>());
        let content = format!("HOST-ONLY-{:032x}", rand::random::<u128>());
        std::fs::create_dir(&dir).expect("create the host marker's directory");
        std::fs::write(dir.join(&name), &content).expect("write the host marker");
        HostMarker { dir, name, content }
    }
}

impl Drop for HostMarker {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A static program that swaps two paths for ever (renameat2 RENAME_EXCHANGE),
/// which busybox cannot do.
fn build_swapper(dir: &Path) -> PathBuf {
    crate::static_program(
        dir,
        "swap",
        "#define _GNU_SOURCE\n#include <fcntl.h>\n#include <sys/syscall.h>\n#include <unistd.h>\n\
         int main(int argc, char **argv) {\n  if (argc != 3) return 2;\n  for (;;)\n    \
         syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], 2 /* RENAME_EXCHANGE */);\n}\n",
    )
}

/// Runs `berth cp CTR:SRC -` into a file and returns (succeeded, archive
/// bytes, stderr). A run that never ends (the old code could walk into the
/// host's /proc) is killed; what it wrote is still examined.
fn cp_out(berth: &Berth, src: &str, out: &Path) -> (bool, Vec<u8>, String) {
    let file = std::fs::File::create(out).expect("create archive file");
    let mut child = berth
        .cmd(&["cp", src, "-"])
        .stdout(file)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth cp");
    let mut stderr = String::new();
    let mut pipe = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let _ = pipe.read_to_string(&mut stderr);
        stderr
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let stderr = reader.join().unwrap_or_default();
    let bytes = std::fs::read(out).expect("read archive");
    (status.is_some_and(|s| s.success()), bytes, stderr)
}

/// Every entry of a (possibly truncated) tar: (path, link name, content).
fn entries(bytes: &[u8]) -> Vec<(String, String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut archive = tar::Archive::new(bytes);
    let Ok(iter) = archive.entries() else {
        return found;
    };
    for entry in iter {
        let Ok(mut entry) = entry else { break };
        let path = entry
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let link = entry
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut content = Vec::new();
        let _ = entry.read_to_end(&mut content);
        found.push((path, link, content));
    }
    found
}

#[test]
fn cp_out_of_a_container_swapping_a_directory_for_a_host_link_never_reads_the_host() {
    if !need("gcc") {
        return;
    }
    let Some(berth) = with_busybox() else { return };
    let marker = HostMarker::new();
    let swapper = build_swapper(berth.dir.path());
    // The link names the host's marker directory: inside the container that
    // path is nothing, but a copy that follows it by path from the host finds
    // the marker.
    let script = format!(
        "mkdir -p /dir/data/inner && echo CONTAINER-OWN > /dir/data/inner/own && ln -s {} /dir/link && \
         exec /swap /dir/data /dir/link",
        marker.dir.display()
    );
    let id = berth.ok(&["create", "busybox", "sh", "-c", &script]);
    let id = id.trim();
    berth.ok(&["cp", &swapper.to_string_lossy(), &format!("{id}:/swap")]);
    berth.ok(&["start", id]);

    let archive = berth.path("out.tar");
    let (mut own, mut failed, mut leaked) = (0, 0, Vec::new());
    for run in 0..200 {
        let (ok, bytes, stderr) = cp_out(&berth, &format!("{id}:/dir"), &archive);
        assert!(!stderr.contains("panicked"), "run {run}: {stderr}");
        if !ok {
            failed += 1;
        }
        for (path, link, content) in entries(&bytes) {
            let named = path.contains(&marker.name) || link.contains(&marker.name);
            let carried = content
                .windows(marker.content.len())
                .any(|w| w == marker.content.as_bytes());
            if named || carried {
                leaked.push(format!("run {run}: {path}"));
            }
            if path.ends_with("inner/own") && content == b"CONTAINER-OWN\n" {
                own += 1;
            }
        }
    }
    eprintln!("{own} copies of the container's own file in 200 runs, {failed} runs failed");
    assert!(
        leaked.is_empty(),
        "{} archives hold the host's {}/{}: {leaked:?}",
        leaked.len(),
        marker.dir.display(),
        marker.name
    );
    assert!(own > 0, "no run copied the container's own content ({failed} failed)");
    berth.ok(&["rm", "-f", id]);
}

#[test]
fn cp_into_a_container_keeps_hard_links_inside_the_destination() {
    let Some(berth) = with_busybox() else { return };
    let id = berth.ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let id = id.trim();
    // Made by exec, not by the container's command, which may not have run yet when cp does.
    berth.ok(&["exec", id, "mkdir", "/hl"]);
    // A directory, a file, and a second name for the file in the directory.
    let mut stream = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_size(0);
    dir.set_mode(0o755);
    stream
        .append_data(&mut dir, "sub", std::io::empty())
        .expect("append sub");
    let mut file = tar::Header::new_gnu();
    file.set_size(7);
    file.set_mode(0o644);
    stream.append_data(&mut file, "a", &b"linked\n"[..]).expect("append a");
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Link);
    link.set_size(0);
    link.set_mode(0o644);
    stream.append_link(&mut link, "sub/b", "a").expect("append b");
    let tarball = stream.into_inner().expect("tar");
    let out = berth.run_stdin(&["cp", "-", &format!("{id}:/hl")], &tarball);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let listing = berth.ok(&["exec", id, "ls", "-i", "/hl/a", "/hl/sub/b"]);
    let inodes: Vec<&str> = listing.split_whitespace().step_by(2).collect();
    assert_eq!(inodes.len(), 2, "{listing}");
    assert_eq!(inodes[0], inodes[1], "/hl/a and /hl/sub/b are not one file: {listing}");
    assert_eq!(berth.ok(&["exec", id, "cat", "/hl/sub/b"]), "linked\n");

    // Copied back out, the second name is a hard link to the first.
    let (ok, bytes, stderr) = cp_out(&berth, &format!("{id}:/hl"), &berth.path("hl.tar"));
    assert!(ok, "{stderr}");
    let found = entries(&bytes);
    let names: Vec<&str> = found.iter().map(|(p, _, _)| p.as_str()).collect();
    let links = found.iter().filter(|(_, link, _)| link.starts_with("hl/")).count();
    assert_eq!(links, 1, "one name should be a hard link to the other: {names:?}");

    // And copied to the host under another name, the link follows the rename.
    let host = berth.path("renamed");
    berth.ok(&["cp", &format!("{id}:/hl"), &host.to_string_lossy()]);
    let (a, b) = (host.join("a"), host.join("sub/b"));
    let inode = |p: &Path| std::fs::metadata(p).expect("stat the copy").ino();
    assert_eq!(inode(&a), inode(&b), "the copies of /hl/a and /hl/sub/b are two files");
    assert_eq!(std::fs::read_to_string(&b).expect("read"), "linked\n");

    // A link that names a file outside the destination is refused, and creates nothing.
    for target in ["../etc/passwd", "/etc/passwd"] {
        let mut escape = tar::Builder::new(Vec::new());
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Link);
        link.set_size(0);
        link.set_mode(0o644);
        // The tar crate refuses `..` in link names it writes; put the bytes in the header directly.
        let name = &mut link.as_old_mut().linkname;
        name[..target.len()].copy_from_slice(target.as_bytes());
        escape
            .append_data(&mut link, "stolen", std::io::empty())
            .expect("append");
        let out = berth.run_stdin(&["cp", "-", &format!("{id}:/hl")], &escape.into_inner().expect("tar"));
        assert!(!out.status.success(), "a hard link to {target} was accepted");
        let ls = berth.run(&["exec", id, "ls", "/hl/stolen"]);
        assert!(!ls.status.success(), "a hard link to {target} was created");
    }
    berth.ok(&["rm", "-f", id]);
}

#[test]
fn cp_a_file_onto_a_symlink_writes_its_target_inside_the_container() {
    let Some(berth) = with_busybox() else { return };
    let evil = format!("evil-{:016x}", rand::random::<u64>());
    let script = format!("mkdir -p /a/b /etc && ln -s /etc/x /lnk && ln -s ../../../../tmp/{evil} /a/b/up");
    let id = berth.ok(&["create", "busybox", "sh", "-c", &script]);
    let id = id.trim();
    berth.ok(&["start", "-a", id]);
    let input = berth.path("in.txt");
    std::fs::write(&input, "through the link\n").expect("write");
    let input = input.to_string_lossy().into_owned();

    berth.ok(&["cp", &input, &format!("{id}:/lnk")]);
    berth.ok(&["cp", &input, &format!("{id}:/a/b/up")]);

    let read = |path: &str| -> Vec<(String, String, Vec<u8>)> {
        let (ok, bytes, stderr) = cp_out(&berth, &format!("{id}:{path}"), &berth.path("check.tar"));
        assert!(ok, "cp {path}: {stderr}");
        entries(&bytes)
    };
    // The links are still links, and their targets hold the file.
    assert_eq!(read("/lnk")[0].1, "/etc/x");
    assert_eq!(read("/a/b/up")[0].1, format!("../../../../tmp/{evil}"));
    assert_eq!(read("/etc/x")[0].2, b"through the link\n");
    assert_eq!(read(&format!("/tmp/{evil}"))[0].2, b"through the link\n");
    assert!(
        !Path::new("/tmp").join(&evil).exists(),
        "the copy followed the link out to the host's /tmp"
    );
    berth.ok(&["rm", "-f", id]);
}
