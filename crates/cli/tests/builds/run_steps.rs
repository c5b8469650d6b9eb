//! RUN steps: `--mount` (bind, cache, tmpfs, secret), and apt-get on a debootstrapped Debian.

use crate::common::*;
use crate::{build, context};

#[test]
fn run_mounts_bind_cache_and_tmpfs() {
    let Some(berth) = with_busybox() else { return };
    let dir = context(
        &berth,
        "ctx",
        &[
            ("data/x.txt", "from the context\n"),
            (
                "Dockerfile",
                "FROM busybox\n\
                 RUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/x.txt > /from-bind\n\
                 RUN --mount=type=bind,source=data,target=/mnt/rw,rw sh -c 'echo scribble > /mnt/rw/x.txt'\n\
                 RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/log; wc -l < /cache/log > /count'\n\
                 RUN --mount=type=tmpfs,target=/scratch sh -c 'touch /scratch/tmp; ls /scratch > /listed'\n",
            ),
        ],
    );
    build(&berth, &dir, "mounts:1");
    let run = |cmd: &str| berth.ok(&["run", "--rm", "mounts:1", "sh", "-c", cmd]);
    assert_eq!(run("cat /from-bind"), "from the context\n");
    assert_eq!(run("cat /listed"), "tmp\n");
    // Mounted things are not in the image, and a writable bind never writes back to the context.
    // (Their mount points stay as empty directories, as with BuildKit.)
    assert_eq!(run("busybox find /mnt /cache /scratch -type f | wc -l").trim(), "0");
    assert_eq!(
        std::fs::read_to_string(dir.join("data/x.txt")).expect("read"),
        "from the context\n"
    );
    // The cache directory outlives the build.
    assert_eq!(run("cat /count").trim(), "1");
    berth.ok(&["build", "--no-cache", "-t", "mounts:2", dir.to_str().expect("path")]);
    assert_eq!(berth.ok(&["run", "--rm", "mounts:2", "cat", "/count"]).trim(), "2");
    // A secret is readable in its step, and in no layer of the image.
    let secret_file = berth.path("token.txt");
    std::fs::write(&secret_file, "s3cr3t").expect("secret");
    let with_secret = context(
        &berth,
        "secret",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /token-length\n\
             RUN --mount=type=secret,id=token,env=TOKEN sh -c 'echo ${#TOKEN} > /env-length'\n\
             RUN --mount=type=secret,id=absent sh -c 'test ! -s /run/secrets/absent'\n",
        )],
    );
    let secret_arg = format!("id=token,src={}", secret_file.display());
    berth.ok(&[
        "build",
        "--secret",
        &secret_arg,
        "-t",
        "secret:1",
        with_secret.to_str().expect("path"),
    ]);
    assert_eq!(
        berth.ok(&["run", "--rm", "secret:1", "cat", "/token-length", "/env-length"]),
        "6\n6\n"
    );
    let saved = berth.cmd(&["save", "secret:1"]).output().expect("save");
    assert!(
        !String::from_utf8_lossy(&saved.stdout).contains("s3cr3t"),
        "the secret leaked into the image"
    );
    // A required secret that was not given stops the build with a clear message.
    let needs = context(
        &berth,
        "needs",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=secret,id=key,required cat /run/secrets/key\n",
        )],
    );
    assert!(berth
        .fails(&["build", needs.to_str().expect("path")])
        .contains("secret key is required"));
}

/// The Debian mirror's address, resolved on the host (containers get it through --add-host and send no DNS
/// queries of their own).
fn mirror_address() -> Option<String> {
    let out = std::process::Command::new("getent")
        .args(["ahostsv4", "deb.debian.org"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

#[test]
fn apt_get_in_a_build_on_a_debootstrapped_debian() {
    if !need("debootstrap") {
        return;
    }
    let Some(mirror) = mirror_address() else {
        eprintln!("skipping: deb.debian.org does not resolve on this host");
        return;
    };
    let berth = Berth::new();
    // A Debian base image: debootstrap on the host (it talks to the mirror itself), imported.
    let rootfs = berth.path("debian");
    let boot = std::process::Command::new("debootstrap")
        .args([
            "--variant=minbase",
            "bookworm",
            rootfs.to_str().expect("path"),
            "http://deb.debian.org/debian",
        ])
        .output()
        .expect("debootstrap");
    if !boot.status.success() {
        eprintln!(
            "skipping: debootstrap could not reach the mirror: {}",
            String::from_utf8_lossy(&boot.stderr)
        );
        return;
    }
    let tarball = berth.path("debian.tar");
    tar_dir(&rootfs, &tarball);
    berth.ok(&[
        "import",
        "--change",
        "CMD [\"bash\"]",
        tarball.to_str().expect("path"),
        "debian:test",
    ]);
    let dir = context(
        &berth,
        "ctx",
        &[(
            "Dockerfile",
            "FROM debian:test\n\
             RUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*\n\
             CMD [\"hello\"]\n",
        )],
    );
    let out = berth.ok(&[
        "build",
        "--add-host",
        &format!("deb.debian.org:{mirror}"),
        "-t",
        "hello:apt",
        dir.to_str().expect("path"),
    ]);
    assert!(out.contains("Setting up hello"), "{out}");
    assert_eq!(berth.ok(&["run", "--rm", "hello:apt"]), "Hello, world!\n");
}
