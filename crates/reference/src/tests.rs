use super::*;

const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

fn digest() -> String {
    format!("sha256:{HEX}")
}

fn p(s: &str) -> Reference {
    Reference::parse(s).unwrap_or_else(|e| panic!("parse({s:?}) failed: {e}"))
}

fn pd(s: &str) -> Reference {
    Reference::parse_docker(s).unwrap_or_else(|e| panic!("parse_docker({s:?}) failed: {e}"))
}

fn err(s: &str) -> String {
    match Reference::parse(s) {
        Ok(r) => panic!("parse({s:?}) unexpectedly gave {r}"),
        Err(e) => e.to_string(),
    }
}

/// (input, normalised String of parse, familiar string, domain, path, tag, digest)
#[allow(clippy::type_complexity)]
fn cases() -> Vec<(
    String,
    String,
    String,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<String>,
)> {
    let d = digest();
    vec![
        (
            "busybox".into(),
            "docker.io/library/busybox".into(),
            "busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            None,
        ),
        (
            "busybox:1.36".into(),
            "docker.io/library/busybox:1.36".into(),
            "busybox:1.36".into(),
            "docker.io",
            "library/busybox",
            Some("1.36"),
            None,
        ),
        (
            "team/app".into(),
            "docker.io/team/app".into(),
            "team/app".into(),
            "docker.io",
            "team/app",
            None,
            None,
        ),
        (
            "localhost/app".into(),
            "localhost/app".into(),
            "localhost/app".into(),
            "localhost",
            "app",
            None,
            None,
        ),
        (
            "localhost:5000/team/app:1.0".into(),
            "localhost:5000/team/app:1.0".into(),
            "localhost:5000/team/app:1.0".into(),
            "localhost:5000",
            "team/app",
            Some("1.0"),
            None,
        ),
        (
            "myregistry.example.com/a/b/c:tag".into(),
            "myregistry.example.com/a/b/c:tag".into(),
            "myregistry.example.com/a/b/c:tag".into(),
            "myregistry.example.com",
            "a/b/c",
            Some("tag"),
            None,
        ),
        (
            "[::1]:5000/x".into(),
            "[::1]:5000/x".into(),
            "[::1]:5000/x".into(),
            "[::1]:5000",
            "x",
            None,
            None,
        ),
        (
            "index.docker.io/library/busybox".into(),
            "docker.io/library/busybox".into(),
            "busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            None,
        ),
        (
            "index.docker.io/busybox".into(),
            "docker.io/library/busybox".into(),
            "busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            None,
        ),
        (
            "docker.io/busybox".into(),
            "docker.io/library/busybox".into(),
            "busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            None,
        ),
        (
            "docker.io/library/busybox".into(),
            "docker.io/library/busybox".into(),
            "busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            None,
        ),
        (
            "docker.io/team/app:v2".into(),
            "docker.io/team/app:v2".into(),
            "team/app:v2".into(),
            "docker.io",
            "team/app",
            Some("v2"),
            None,
        ),
        (
            format!("busybox@{d}"),
            format!("docker.io/library/busybox@{d}"),
            format!("busybox@{d}"),
            "docker.io",
            "library/busybox",
            None,
            Some(d.clone()),
        ),
        (
            format!("busybox:1@{d}"),
            format!("docker.io/library/busybox:1@{d}"),
            format!("busybox:1@{d}"),
            "docker.io",
            "library/busybox",
            Some("1"),
            Some(d.clone()),
        ),
        (
            "ghcr.io/x/y".into(),
            "ghcr.io/x/y".into(),
            "ghcr.io/x/y".into(),
            "ghcr.io",
            "x/y",
            None,
            None,
        ),
        (
            "UPPER.example.com/app".into(),
            "UPPER.example.com/app".into(),
            "UPPER.example.com/app".into(),
            "UPPER.example.com",
            "app",
            None,
            None,
        ),
        (
            // `library/` is only stripped for a single remaining component.
            "library/a/b".into(),
            "docker.io/library/a/b".into(),
            "library/a/b".into(),
            "docker.io",
            "library/a/b",
            None,
            None,
        ),
        (
            "127.0.0.1:5000/app:latest".into(),
            "127.0.0.1:5000/app:latest".into(),
            "127.0.0.1:5000/app:latest".into(),
            "127.0.0.1:5000",
            "app",
            Some("latest"),
            None,
        ),
        (
            // No '/', so this is a Docker Hub image "localhost" with tag "5000".
            "localhost:5000".into(),
            "docker.io/library/localhost:5000".into(),
            "localhost:5000".into(),
            "docker.io",
            "library/localhost",
            Some("5000"),
            None,
        ),
        (
            "example.com".into(),
            "docker.io/library/example.com".into(),
            "example.com".into(),
            "docker.io",
            "library/example.com",
            None,
            None,
        ),
        (
            "a__b/c---d.e_f:Tag_1.x-Y".into(),
            "docker.io/a__b/c---d.e_f:Tag_1.x-Y".into(),
            "a__b/c---d.e_f:Tag_1.x-Y".into(),
            "docker.io",
            "a__b/c---d.e_f",
            Some("Tag_1.x-Y"),
            None,
        ),
    ]
}

#[test]
fn parse_and_familiar_forms() {
    for (input, full, familiar, domain, path, tag, dig) in cases() {
        let r = p(&input);
        assert_eq!(r.to_string(), full, "display of {input}");
        assert_eq!(r.familiar_string(), familiar, "familiar of {input}");
        assert_eq!(r.domain(), domain, "domain of {input}");
        assert_eq!(r.path(), path, "path of {input}");
        assert_eq!(r.tag(), tag, "tag of {input}");
        assert_eq!(r.digest(), dig.as_deref(), "digest of {input}");
        assert_eq!(r.name(), format!("{domain}/{path}"), "name of {input}");
        // Both the full and the familiar forms parse back to the same reference.
        assert_eq!(p(&full), r, "reparse full {input}");
        assert_eq!(p(&familiar), r, "reparse familiar {input}");
        assert_eq!(input.parse::<Reference>().unwrap(), r);
    }
}

#[test]
fn familiar_names() {
    assert_eq!(p("busybox:1").familiar_name(), "busybox");
    assert_eq!(p("team/app:1").familiar_name(), "team/app");
    assert_eq!(p("localhost:5000/team/app").familiar_name(), "localhost:5000/team/app");
    assert_eq!(p("ghcr.io/x/y:1").familiar_name(), "ghcr.io/x/y");
    assert_eq!(p("docker.io/library/a/b").familiar_name(), "library/a/b");
    assert_eq!(p("localhost/library/app").familiar_name(), "localhost/library/app");
}

#[test]
fn parse_docker_defaults() {
    let r = pd("busybox");
    assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    assert_eq!(r.tag(), Some("latest"));
    assert_eq!(r.familiar_string(), "busybox:latest");
    assert!(p("busybox").is_name_only());
    assert!(!r.is_name_only());

    assert_eq!(pd("busybox:1.36").to_string(), "docker.io/library/busybox:1.36");
    assert_eq!(
        pd("localhost:5000/team/app").to_string(),
        "localhost:5000/team/app:latest"
    );

    let d = digest();
    let r = pd(&format!("busybox@{d}"));
    assert_eq!(r.to_string(), format!("docker.io/library/busybox@{d}"));
    assert_eq!(r.tag(), None);

    // Docker drops the tag when a digest is present as well.
    let r = pd(&format!("busybox:1@{d}"));
    assert_eq!(r.to_string(), format!("docker.io/library/busybox@{d}"));
    assert_eq!(r.tag(), None);
    assert_eq!(r.digest(), Some(d.as_str()));

    assert_eq!(Reference::parse_docker("Busybox"), Reference::parse("Busybox"));
}

#[test]
fn with_and_without_qualifiers() {
    let d = digest();
    let base = p(&format!("busybox:1@{d}"));
    assert_eq!(base.name_only().to_string(), "docker.io/library/busybox");
    assert!(base.name_only().is_name_only());

    let t = base.with_tag("2.0").unwrap();
    assert_eq!(t.to_string(), "docker.io/library/busybox:2.0");
    assert_eq!(t.digest(), None);
    assert_eq!(base.with_tag("bad tag"), Err(Error::TagInvalidFormat));
    assert_eq!(base.with_tag(""), Err(Error::TagInvalidFormat));
    assert_eq!(base.with_tag(&"a".repeat(129)), Err(Error::TagInvalidFormat));

    let n = p("team/app:v1");
    let withd = n.with_digest(&d).unwrap();
    assert_eq!(withd.to_string(), format!("docker.io/team/app:v1@{d}"));
    assert_eq!(
        n.name_only().with_digest(&d).unwrap().to_string(),
        format!("docker.io/team/app@{d}")
    );
    assert_eq!(n.with_digest("sha256:abc"), Err(Error::DigestInvalidFormat));
    assert_eq!(n.with_digest(HEX), Err(Error::DigestInvalidFormat));
    assert_eq!(
        n.with_digest(&format!("sha256:{}", &HEX[..40])),
        Err(Error::ChecksumInvalidLength)
    );
    assert_eq!(
        n.with_digest(&format!("sha256:{}", HEX.to_uppercase())),
        Err(Error::ChecksumInvalidFormat)
    );
    assert_eq!(
        n.with_digest(&format!("md5:{}", &HEX[..32])),
        Err(Error::DigestUnsupported)
    );
}

#[test]
fn rejected_inputs() {
    const INVALID: &str = "invalid reference format";
    assert_eq!(err(""), INVALID);
    assert_eq!(
        err("Busybox"),
        "invalid reference format: repository name (library/Busybox) must be lowercase"
    );
    assert_eq!(
        err("team/App:1"),
        "invalid reference format: repository name (team/App) must be lowercase"
    );
    assert_eq!(
        err("localhost:5000/Team/app"),
        "invalid reference format: repository name (Team/app) must be lowercase"
    );
    for bad in [
        "busybox:",
        ":tag",
        "a//b",
        "a/",
        "/a",
        "-a",
        "a-",
        "a..b",
        "a___b",
        "a._b",
        "busybox:tag with space",
        "busybox:tag:x",
        "busybox:-tag",
        "busybox:.tag",
        "busybox@",
        "busybox@sha256:abc",
        "busybox@@sha256:7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca",
        "busybox\n",
        " busybox",
        "busybox/",
        "localhost:/app",
        "localhost:x/app",
        "-example.com/app",
        "example-.com/app",
        "[::1/app",
        "[]/app",
        "a:b:c/d",
        "büsybox",
    ] {
        assert_eq!(err(bad), INVALID, "{bad:?}");
    }
    // An uppercase tag is fine; an uppercase digest algorithm is grammatical but not
    // a valid go-digest.
    assert!(Reference::parse("busybox:LATEST").is_ok());
    assert_eq!(
        err(&format!("busybox@sha256:{}", HEX.to_uppercase())),
        "invalid checksum digest format"
    );
    assert_eq!(
        err(&format!("busybox@sha256:{}", &HEX[..40])),
        "invalid checksum digest length"
    );
    assert_eq!(
        err(&format!("busybox@sha256:{HEX}00")),
        "invalid checksum digest length"
    );
    assert_eq!(err(&format!("busybox@foo:{HEX}")), "unsupported digest algorithm");
    assert_eq!(err(&format!("busybox:1@Foo:{HEX}")), "invalid checksum digest format");
    // Without a tag, the remote name checked for uppercase runs up to the digest's ':'.
    assert_eq!(
        err(&format!("busybox@Foo:{HEX}")),
        "invalid reference format: repository name (library/busybox@Foo) must be lowercase"
    );
    let sha512 = "ab".repeat(64);
    assert_eq!(
        p(&format!("busybox@sha512:{sha512}")).digest(),
        Some(format!("sha512:{sha512}").as_str())
    );
}

#[test]
fn hex_names() {
    assert_eq!(
        err(HEX),
        format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings")
    );
    // Only the whole input is checked: with a tag, or with 63/65 characters, it is a name.
    assert_eq!(p(&format!("{HEX}:1")).path(), format!("library/{HEX}"));
    assert!(Reference::parse(&HEX[..63]).is_ok());
    assert!(Reference::parse(&format!("{HEX}0")).is_ok());
    assert!(Reference::parse(&HEX.to_uppercase()).is_err());
}

#[test]
fn lengths() {
    // A 129-character tag.
    assert_eq!(err(&format!("busybox:{}", "a".repeat(129))), "invalid reference format");
    assert!(Reference::parse(&format!("busybox:{}", "a".repeat(128))).is_ok());
    // The limit applies to the normalised path ("library/" + name).
    let max = "a".repeat(NAME_TOTAL_LENGTH_MAX - OFFICIAL_REPO_PREFIX.len());
    assert_eq!(p(&max).path().len(), 255);
    assert_eq!(
        err(&format!("{max}a")),
        "repository name must not be more than 255 characters"
    );
    assert_eq!(
        err(&"a".repeat(300)),
        "repository name must not be more than 255 characters"
    );
    // The domain does not count.
    let path = format!("team/{}", "b".repeat(250));
    assert_eq!(p(&format!("registry.example.com:5000/{path}")).path(), path);
    assert!(Reference::parse(&format!("registry.example.com:5000/{path}b")).is_err());
}

#[test]
fn domain_detection() {
    // Uppercase first components are taken as domains (they cannot be namespaces).
    let r = p("Foo/bar");
    assert_eq!((r.domain(), r.path()), ("Foo", "bar"));
    assert_eq!(r.familiar_string(), "Foo/bar");
    // ...which fails later when the component is not a valid domain either.
    assert_eq!(err("Foo_bar/x"), "repository name must be lowercase");
    // Not a domain: plain namespace on Docker Hub.
    assert_eq!(p("foo/bar").domain(), "docker.io");
    assert_eq!(p("localhost/bar").domain(), "localhost");
    assert_eq!(p("foo:1/bar").domain(), "foo:1");
    // Looks like a domain but only valid as a path: Docker leaves the domain empty.
    let r = p("a_b.c/app:1");
    assert_eq!((r.domain(), r.path(), r.tag()), ("", "a_b.c/app", Some("1")));
    assert_eq!(r.to_string(), "a_b.c/app:1");
    assert_eq!(r.familiar_string(), "a_b.c/app:1");
    // IPv6.
    assert_eq!(p("[2001:db8::1]/app").domain(), "[2001:db8::1]");
    assert_eq!(p("[::1]/app:v1").familiar_string(), "[::1]/app:v1");
}

#[test]
fn uppercase_messages_follow_docker() {
    // The remote name is cut at the first ':', so a digest may be part of it.
    assert_eq!(
        err(&format!("busybox@SHA256:{HEX}")),
        "invalid reference format: repository name (library/busybox@SHA256) must be lowercase"
    );
    assert_eq!(
        err("ÉCOLE"),
        "invalid reference format: repository name (library/ÉCOLE) must be lowercase"
    );
    // U+212A KELVIN SIGN lowercases to ASCII 'k' in Go, so Docker reports uppercase.
    assert_eq!(err("busybox:\u{212A}"), "repository name must be lowercase");
}

#[test]
fn id_helpers() {
    assert!(is_full_hex_id(HEX));
    assert!(!is_full_hex_id(&HEX[..63]));
    assert!(!is_full_hex_id(&HEX.to_uppercase()));
    assert!(!is_full_hex_id(&digest()));

    assert!(is_id_prefix("7"));
    assert!(is_id_prefix("7cc4b5"));
    assert!(is_id_prefix(HEX));
    assert!(is_id_prefix(&digest()));
    assert!(is_id_prefix("sha256:7cc"));
    assert!(!is_id_prefix(""));
    assert!(!is_id_prefix("sha256:"));
    assert!(!is_id_prefix(&format!("{HEX}0")));
    assert!(!is_id_prefix("7CC"));
    assert!(!is_id_prefix("busybox"));
    assert!(!is_id_prefix("sha512:7cc"));
}

#[test]
fn tag_validity() {
    assert!(tag_is_valid("latest"));
    assert!(tag_is_valid("v1.2.3-rc_1"));
    assert!(tag_is_valid("_"));
    assert!(!tag_is_valid(""));
    assert!(!tag_is_valid("-x"));
    assert!(!tag_is_valid("a:b"));
    assert!(!tag_is_valid("a@b"));
    assert!(!tag_is_valid(&"x".repeat(129)));
}

#[test]
fn validate_digest_fn() {
    assert_eq!(validate_digest(&digest()), Ok(()));
    assert_eq!(validate_digest("sha256"), Err(Error::DigestInvalidFormat));
    assert_eq!(validate_digest(&format!("sha384:{}", "0".repeat(96))), Ok(()));
}

#[test]
fn hash_and_eq() {
    use std::collections::HashSet;
    let set: HashSet<Reference> = ["busybox", "docker.io/library/busybox", "index.docker.io/busybox"]
        .iter()
        .map(|s| p(s))
        .collect();
    assert_eq!(set.len(), 1);
    assert_ne!(p("busybox"), pd("busybox"));
}
