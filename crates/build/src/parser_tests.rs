//! Parser tests: every instruction form, continuations, heredocs, JSON
//! detection, errors with line numbers, realistic Dockerfiles, stage graph.

use std::time::Duration;

use crate::*;

fn p(text: &str) -> Dockerfile {
    match parse(text) {
        Ok(df) => df,
        Err(e) => panic!("parse failed: {e}\n{text}"),
    }
}

/// The single instruction of `FROM scratch\n<line>`.
fn one(line: &str) -> InstructionKind {
    let df = p(&format!("FROM scratch\n{line}\n"));
    assert_eq!(df.stages[0].instructions.len(), 1, "{line}");
    df.stages[0].instructions[0].kind.clone()
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(df) => panic!("expected an error for {text:?}, got {df:?}"),
        Err(e) => e.to_string(),
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn shell(v: &str) -> CommandLine {
    CommandLine::Shell(v.to_string())
}

fn exec(v: &[&str]) -> CommandLine {
    CommandLine::Exec(s(v))
}

fn kv(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.to_string(),
            value: v.to_string(),
        })
        .collect()
}

fn run(kind: InstructionKind) -> Run {
    match kind {
        InstructionKind::Run(r) => r,
        other => panic!("not RUN: {other:?}"),
    }
}

fn copy(kind: InstructionKind) -> Copy {
    match kind {
        InstructionKind::Copy(c) => c,
        other => panic!("not COPY: {other:?}"),
    }
}

#[test]
fn from_forms() {
    let df = p("FROM alpine\nFROM --platform=$BUILDPLATFORM golang:1.22 AS Build\nfrom x as y\n");
    let st = &df.stages;
    assert_eq!(
        (st[0].base.as_str(), st[0].name.as_deref(), st[0].platform.as_deref()),
        ("alpine", None, None)
    );
    assert_eq!(
        (st[1].base.as_str(), st[1].name.as_deref(), st[1].platform.as_deref()),
        ("golang:1.22", Some("build"), Some("$BUILDPLATFORM"))
    );
    assert_eq!(st[2].name.as_deref(), Some("y"));
    assert_eq!(st[1].line, 2);
    assert_eq!(st[1].original, "FROM --platform=$BUILDPLATFORM golang:1.22 AS Build");
}

#[test]
fn run_forms() {
    assert_eq!(run(one("RUN echo hi  there")).command, shell("echo hi  there"));
    assert_eq!(run(one("RUN [\"echo\", \"hi\"]")).command, exec(&["echo", "hi"]));
    assert_eq!(run(one("RUN []")).command, exec(&[]));
    // Not valid JSON: shell form, as Docker.
    assert_eq!(run(one("RUN [bad")).command, shell("[bad"));
    assert_eq!(run(one("RUN ['single']")).command, shell("['single']"));
    assert_eq!(run(one("RUN [\"a\"] && b")).command, shell("[\"a\"] && b"));
    let r = run(one(
        "RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=secret,id=tok --network=none --security=insecure go build",
    ));
    assert_eq!(r.command, shell("go build"));
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(r.mounts[0].kind, MountType::Cache);
    assert_eq!(r.mounts[1].target.as_deref(), Some("/run/secrets/tok"));
    assert_eq!(r.network, Some(NetworkMode::None));
    assert_eq!(r.security, Some(SecurityMode::Insecure));
    assert_eq!(run(one("run --network=host [\"x\"]")).network, Some(NetworkMode::Host));
}

#[test]
fn cmd_entrypoint_shell() {
    assert_eq!(
        one("CMD [\"nginx\", \"-g\", \"daemon off;\"]"),
        InstructionKind::Cmd(exec(&["nginx", "-g", "daemon off;"]))
    );
    assert_eq!(one("CMD [bad"), InstructionKind::Cmd(shell("[bad")));
    assert_eq!(one("CMD echo $HOME"), InstructionKind::Cmd(shell("echo $HOME")));
    assert_eq!(
        one("ENTRYPOINT [\"/tini\", \"--\"]"),
        InstructionKind::Entrypoint(Some(exec(&["/tini", "--"])))
    );
    assert_eq!(
        one("ENTRYPOINT exec app"),
        InstructionKind::Entrypoint(Some(shell("exec app")))
    );
    assert_eq!(one("ENTRYPOINT"), InstructionKind::Entrypoint(None));
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]"),
        InstructionKind::Shell(s(&["/bin/bash", "-o", "pipefail", "-c"]))
    );
    // Unicode escapes in JSON strings are decoded.
    assert_eq!(one("CMD [\"a\\u0041\"]"), InstructionKind::Cmd(exec(&["aA"])));
}

#[test]
fn env_label_arg() {
    assert_eq!(
        one("ENV A=1 B=\"two words\" C='x y' D=a\\ b"),
        InstructionKind::Env(kv(&[
            ("A", "1"),
            ("B", "\"two words\""),
            ("C", "'x y'"),
            ("D", "a\\ b")
        ]))
    );
    assert_eq!(
        one("ENV PATH /usr/local/bin:$PATH"),
        InstructionKind::Env(kv(&[("PATH", "/usr/local/bin:$PATH")]))
    );
    assert_eq!(
        one("ENV MSG hello   big world"),
        InstructionKind::Env(kv(&[("MSG", "hello   big world")]))
    );
    assert_eq!(one("ENV E="), InstructionKind::Env(kv(&[("E", "")])));
    assert_eq!(
        one("LABEL a=b \"com.x.y\"=\"v w\" version=1.0"),
        InstructionKind::Label(kv(&[("a", "b"), ("\"com.x.y\"", "\"v w\""), ("version", "1.0")]))
    );
    assert_eq!(
        one("LABEL maintainer me@example.com"),
        InstructionKind::Label(kv(&[("maintainer", "me@example.com")]))
    );
    let arg = |n: &str, d: Option<&str>| Arg {
        name: n.to_string(),
        default: d.map(str::to_string),
    };
    assert_eq!(one("ARG A"), InstructionKind::Arg(vec![arg("A", None)]));
    assert_eq!(
        one("ARG A=1 B C=\"x y\" D="),
        InstructionKind::Arg(vec![
            arg("A", Some("1")),
            arg("B", None),
            arg("C", Some("\"x y\"")),
            arg("D", Some(""))
        ])
    );
    // The value goes through the shell lexer when the builder uses it.
    let InstructionKind::Env(env) = one("ENV B=\"two words\" D=a\\ b") else {
        unreachable!()
    };
    let none = |_: &str| None;
    assert_eq!(expand(&env[0].value, '\\', &none).unwrap(), "two words");
    assert_eq!(expand(&env[1].value, '\\', &none).unwrap(), "a b");
}

#[test]
fn simple_instructions() {
    assert_eq!(
        one("MAINTAINER Jane Doe <jane@example.com>"),
        InstructionKind::Maintainer("Jane Doe <jane@example.com>".into())
    );
    assert_eq!(one("WORKDIR /app"), InstructionKind::Workdir("/app".into()));
    assert_eq!(
        one("WORKDIR /path with space"),
        InstructionKind::Workdir("/path with space".into())
    );
    assert_eq!(one("USER app:app"), InstructionKind::User("app:app".into()));
    assert_eq!(one("STOPSIGNAL SIGQUIT"), InstructionKind::StopSignal("SIGQUIT".into()));
    assert_eq!(
        one("EXPOSE 80 443/tcp 53/udp 8000-8010"),
        InstructionKind::Expose(s(&["80", "443/tcp", "53/udp", "8000-8010"]))
    );
    assert_eq!(
        one("VOLUME /data /logs"),
        InstructionKind::Volume(s(&["/data", "/logs"]))
    );
    assert_eq!(
        one("VOLUME [\"/data\", \"/var/lib/x\"]"),
        InstructionKind::Volume(s(&["/data", "/var/lib/x"]))
    );
}

#[test]
fn port_specs() {
    assert_eq!(parse_port_spec("80").unwrap().keys(), ["80/tcp"]);
    assert_eq!(parse_port_spec("53/UDP").unwrap().keys(), ["53/udp"]);
    assert_eq!(
        parse_port_spec("8000-8002/tcp").unwrap().keys(),
        ["8000/tcp", "8001/tcp", "8002/tcp"]
    );
    assert_eq!(parse_port_spec("9/sctp").unwrap().proto, "sctp");
    for bad in ["x", "80/icmp", "70000", "10-5", "-"] {
        assert!(parse_port_spec(bad).is_err(), "{bad}");
    }
}

#[test]
fn healthcheck() {
    assert_eq!(one("HEALTHCHECK NONE"), InstructionKind::Healthcheck(Healthcheck::None));
    let InstructionKind::Healthcheck(h) = one(
        "HEALTHCHECK --interval=30s --timeout=3s --start-period=1m30s --start-interval=500ms --retries=3 CMD curl -f http://localhost/ || exit 1",
    ) else {
        unreachable!()
    };
    assert_eq!(
        h,
        Healthcheck::Cmd {
            command: shell("curl -f http://localhost/ || exit 1"),
            interval: Some(Duration::from_secs(30)),
            timeout: Some(Duration::from_secs(3)),
            start_period: Some(Duration::from_secs(90)),
            start_interval: Some(Duration::from_millis(500)),
            retries: Some(3),
        }
    );
    assert_eq!(h.test(), s(&["CMD-SHELL", "curl -f http://localhost/ || exit 1"]));
    let InstructionKind::Healthcheck(h) = one("healthcheck cmd [\"/bin/check\", \"-q\"]") else {
        unreachable!()
    };
    assert_eq!(h.test(), s(&["CMD", "/bin/check", "-q"]));
    let InstructionKind::Healthcheck(Healthcheck::Cmd { interval, .. }) = one("HEALTHCHECK --interval=0s CMD true")
    else {
        unreachable!()
    };
    assert_eq!(interval, None);
}

#[test]
fn copy_add_forms() {
    let c = copy(one(
        "COPY --from=build --chown=app:app --chmod=755 --link --exclude=*.tmp --exclude=.git --parents a b /dst/",
    ));
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.files.chown.as_deref(), Some("app:app"));
    assert_eq!(c.files.chmod.as_deref(), Some("755"));
    assert!(c.files.link && c.parents && !c.files.json);
    assert_eq!(c.files.excludes, s(&["*.tmp", ".git"]));
    assert_eq!(
        c.files.sources,
        vec![Source::Path("a".into()), Source::Path("b".into())]
    );
    assert_eq!(c.files.dest, "/dst/");
    let c = copy(one("COPY [\"my file\", \"other\", \"/dst dir/\"]"));
    assert!(c.files.json);
    assert_eq!(
        c.files.sources,
        vec![Source::Path("my file".into()), Source::Path("other".into())]
    );
    assert_eq!(c.files.dest, "/dst dir/");
    let InstructionKind::Add(a) = one("ADD --checksum=sha256:abc --keep-git-dir=true --chown=1 https://x/y.tgz /tmp/")
    else {
        unreachable!()
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert!(a.keep_git_dir);
    assert_eq!(a.files.sources, vec![Source::Path("https://x/y.tgz".into())]);
    assert_eq!(a.files.dest, "/tmp/");
}

#[test]
fn onbuild() {
    let InstructionKind::Onbuild(o) = one("ONBUILD RUN make install") else {
        unreachable!()
    };
    assert_eq!(o.expression, "RUN make install");
    assert_eq!(
        *o.trigger,
        InstructionKind::Run(Run {
            command: shell("make install"),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None
        })
    );
    let InstructionKind::Onbuild(o) = one("onbuild COPY --chown=1 . /app/src") else {
        unreachable!()
    };
    assert_eq!(o.trigger.keyword(), "COPY");
    assert_eq!(o.expression, "COPY --chown=1 . /app/src");
}

#[test]
fn keywords_are_case_insensitive() {
    let df = p("from alpine\nRuN echo\ncOpY a b\nEnV a=b\n");
    let kws: Vec<_> = df.stages[0].instructions.iter().map(|i| i.keyword()).collect();
    assert_eq!(kws, ["RUN", "COPY", "ENV"]);
}

#[test]
fn directives() {
    let df = p("# syntax=docker/dockerfile:1.7\n# ESCAPE = `\n#check=skip=all\nFROM x\n");
    assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1.7"));
    assert_eq!(df.directives.escape, '`');
    assert_eq!(df.directives.check.as_deref(), Some("skip=all"));

    // After a comment, a blank line, an unknown directive or an instruction
    // they are ordinary comments.
    for text in [
        "# a comment\n# escape=`\nFROM x\n",
        "\n# escape=`\nFROM x\n",
        "# unknown=1\n# escape=`\nFROM x\n",
        "FROM x\n# escape=`\n",
    ] {
        assert_eq!(p(text).directives.escape, '\\', "{text:?}");
    }
    assert_eq!(
        err("# escape=\\\n# escape=`\nFROM x\n"),
        "Dockerfile:2: only one escape parser directive can be used"
    );
    assert_eq!(
        err("# escape=x\nFROM x\n"),
        "Dockerfile:1: invalid escape token 'x' does not match ` or \\"
    );
}

#[test]
fn continuations() {
    let df =
        p("FROM x\nRUN apt-get update && \\\n    apt-get install -y \\\n  # a comment inside\n\n      curl\nCMD x\n");
    let ins = &df.stages[0].instructions;
    assert_eq!(
        run(ins[0].kind.clone()).command,
        shell("apt-get update &&     apt-get install -y       curl")
    );
    assert_eq!((ins[0].line, ins[0].end_line), (2, 6));
    assert_eq!(ins[1].line, 7);
    assert_eq!(
        ins[0].original,
        "RUN apt-get update &&     apt-get install -y       curl"
    );

    // Whitespace after the escape still continues; leading whitespace and
    // comments between instructions are skipped.
    let df = p("  FROM x\n   # hi\nRUN a \\  \n b\n");
    assert_eq!(run(df.stages[0].instructions[0].kind.clone()).command, shell("a  b"));

    // With escape=` backslashes are ordinary (Windows paths).
    let df = p("# escape=`\nFROM x\nRUN dir c:\\ `\n    && echo done\nWORKDIR c:\\app\n");
    let ins = &df.stages[0].instructions;
    assert_eq!(run(ins[0].kind.clone()).command, shell("dir c:\\     && echo done"));
    assert_eq!(ins[1].kind, InstructionKind::Workdir("c:\\app".into()));

    // A continuation at the end of the file ends the instruction.
    assert_eq!(
        run(p("FROM x\nRUN a \\").stages[0].instructions[0].kind.clone()).command,
        shell("a")
    );
    // CRLF line endings.
    assert_eq!(
        run(p("FROM x\r\nRUN a \\\r\n b\r\n").stages[0].instructions[0].kind.clone()).command,
        shell("a  b")
    );
}

#[test]
fn heredocs() {
    let r = run(
        p("FROM x\nRUN <<EOF\necho $HOME\nset -e\nEOF\nCMD y\n").stages[0].instructions[0]
            .kind
            .clone(),
    );
    assert_eq!(r.command, shell("<<EOF"));
    assert_eq!(
        r.heredocs,
        vec![Heredoc {
            name: "EOF".into(),
            content: "echo $HOME\nset -e\n".into(),
            expand: true,
            chomp: false,
            fd: 0
        }]
    );

    // Quoted delimiters: no expansion.
    for q in ["<<\"EOF\"", "<<'EOF'", "<<E\"O\"F"] {
        let r = run(one(&format!("RUN {q}\nx\nEOF")));
        assert_eq!(r.heredocs.len(), 1, "{q}");
        assert_eq!(r.heredocs[0].name, "EOF");
        assert!(!r.heredocs[0].expand, "{q}");
    }

    // <<- strips leading tabs from the body and the delimiter line.
    let r = run(one("RUN <<-EOT bash\n\t\techo a\n\t  echo b\n\tEOT"));
    assert_eq!(r.command, shell("<<-EOT bash"));
    assert_eq!(r.heredocs[0].content, "echo a\n  echo b\n");
    assert!(r.heredocs[0].chomp);

    // Several on one line, with a command around them.
    let df = p("FROM x\nRUN <<A cat > /a && 3<<B cat /dev/fd/3\nalpha\nA\nbeta\nB\nRUN next\n");
    let ins = &df.stages[0].instructions;
    let r = run(ins[0].kind.clone());
    assert_eq!(
        r.heredocs
            .iter()
            .map(|h| (h.name.as_str(), h.content.as_str(), h.fd))
            .collect::<Vec<_>>(),
        [("A", "alpha\n", 0), ("B", "beta\n", 3)]
    );
    assert_eq!((ins[0].line, ins[0].end_line, ins[1].line), (2, 6, 7));

    // COPY with heredoc sources.
    let c = copy(one("COPY <<A <<\"B\" /dst/\nfile a $X\nA\nfile b\nB"));
    assert_eq!(c.files.dest, "/dst/");
    let Source::Heredoc(a) = &c.files.sources[0] else {
        panic!()
    };
    let Source::Heredoc(b) = &c.files.sources[1] else {
        panic!()
    };
    assert_eq!(
        (a.name.as_str(), a.content.as_str(), a.expand),
        ("A", "file a $X\n", true)
    );
    assert_eq!(
        (b.name.as_str(), b.content.as_str(), b.expand),
        ("B", "file b\n", false)
    );
    let c = copy(one(
        "COPY --chmod=755 <<EOF /usr/local/bin/run.sh\n#!/bin/sh\necho hi\nEOF",
    ));
    let Source::Heredoc(h) = &c.files.sources[0] else {
        panic!()
    };
    assert_eq!(h.content, "#!/bin/sh\necho hi\n");

    // A heredoc inside a continued line, and an empty body.
    let r = run(one("RUN python3 \\\n  <<PY\nPY"));
    assert_eq!(
        (r.heredocs[0].name.as_str(), r.heredocs[0].content.as_str()),
        ("PY", "")
    );

    // Not heredocs: JSON form, quoted, other instructions, `<<` alone.
    assert!(run(one("RUN [\"cat\", \"<<EOF\"]")).heredocs.is_empty());
    assert!(run(one("RUN echo \"<<EOF\"")).heredocs.is_empty());
    assert!(run(one("RUN echo a << b")).heredocs.is_empty());
    assert_eq!(one("LABEL x=<<EOF"), InstructionKind::Label(kv(&[("x", "<<EOF")])));

    // ONBUILD with a heredoc keeps it in the expression.
    let InstructionKind::Onbuild(o) = one("ONBUILD RUN <<EOF\necho hi\nEOF") else {
        unreachable!()
    };
    assert_eq!(o.expression, "RUN <<EOF\necho hi\nEOF");
    let InstructionKind::Run(inner) = *o.trigger else {
        unreachable!()
    };
    assert_eq!(inner.heredocs[0].content, "echo hi\n");
}

#[test]
fn heredoc_errors() {
    assert_eq!(
        err("FROM x\nRUN <<EOF\necho\n"),
        "Dockerfile:2: unterminated heredoc EOF"
    );
    assert_eq!(
        err("FROM x\nCOPY a <<EOF\nx\nEOF\n"),
        "Dockerfile:2: COPY cannot accept a heredoc as a destination"
    );
}

#[test]
fn error_messages() {
    let cases: &[(&str, &str)] = &[
        ("", "Dockerfile: file with no instructions"),
        ("# just a comment\n\n", "Dockerfile: file with no instructions"),
        ("ARG A=1\n", "Dockerfile: dockerfile contains no stages to build: add a FROM instruction"),
        ("RUN x\nFROM y\n", "Dockerfile:1: no build stage in current context: RUN must come after FROM (only ARG may precede it)"),
        ("FROM x\nRUN a\n\n\n\n\nFOOBAR baz\n", "Dockerfile:7: unknown instruction: FOOBAR"),
        ("FROM x\nfoobar\n", "Dockerfile:2: unknown instruction: FOOBAR"),
        ("FROM x\nRUN a\nFROM a b\n", "Dockerfile:3: FROM requires either one or three arguments"),
        ("FROM\n", "Dockerfile:1: FROM requires either one or three arguments"),
        ("FROM a AS 1st\n", "Dockerfile:1: invalid name for build stage: \"1st\", name can't start with a number or contain symbols"),
        ("FROM a AS b c\n", "Dockerfile:1: FROM requires either one or three arguments"),
        ("FROM --nope=1 a\n", "Dockerfile:1: unknown flag: nope"),
        ("FROM x\nCMD [1, 2]\n", "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only"),
        ("FROM x\nCMD --help\n", "Dockerfile:2: unknown flag: help"),
        ("FROM x\nSHELL /bin/sh -c\n", "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
        ("FROM x\nSHELL []\n", "Dockerfile:2: SHELL requires at least one argument"),
        ("FROM x\nENV\n", "Dockerfile:2: ENV requires at least one argument"),
        ("FROM x\nENV A\n", "Dockerfile:2: ENV must have two arguments"),
        ("FROM x\nENV A=1 B\n", "Dockerfile:2: Syntax error - can't find = in \"B\". Must be of the form: name=value"),
        ("FROM x\nENV =1\n", "Dockerfile:2: ENV names can not be blank"),
        ("FROM x\nLABEL\n", "Dockerfile:2: LABEL requires at least one argument"),
        ("FROM x\nARG\n", "Dockerfile:2: ARG requires at least one argument"),
        ("FROM x\nARG =x\n", "Dockerfile:2: ARG names can not be blank"),
        ("FROM x\nWORKDIR\n", "Dockerfile:2: WORKDIR requires exactly one argument"),
        ("FROM x\nUSER\n", "Dockerfile:2: USER requires exactly one argument"),
        ("FROM x\nSTOPSIGNAL\n", "Dockerfile:2: STOPSIGNAL requires exactly one argument"),
        ("FROM x\nMAINTAINER\n", "Dockerfile:2: MAINTAINER requires exactly one argument"),
        ("FROM x\nEXPOSE\n", "Dockerfile:2: EXPOSE requires at least one argument"),
        ("FROM x\nVOLUME\n", "Dockerfile:2: VOLUME requires at least one argument"),
        ("FROM x\nVOLUME [\"\"]\n", "Dockerfile:2: VOLUME specified can not be an empty string"),
        ("FROM x\nCOPY a\n", "Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM x\nADD [\"a\"]\n", "Dockerfile:2: ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM x\nCOPY --link=maybe a b\n", "Dockerfile:2: expecting boolean value for flag link, not: maybe"),
        ("FROM x\nCOPY --from a b\n", "Dockerfile:2: missing a value on flag: from"),
        ("FROM x\nADD --from=y a b\n", "Dockerfile:2: unknown flag: from"),
        ("FROM x\nCOPY --checksum=x a b\n", "Dockerfile:2: unknown flag: checksum"),
        ("FROM x\nRUN --mount=type=weird,target=/x a\n", "Dockerfile:2: unsupported mount type \"weird\""),
        ("FROM x\nRUN --network=bridge a\n", "Dockerfile:2: unsupported network mode \"bridge\": use default, none or host"),
        ("FROM x\nHEALTHCHECK\n", "Dockerfile:2: HEALTHCHECK requires at least one argument"),
        ("FROM x\nHEALTHCHECK NONE x\n", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"),
        ("FROM x\nHEALTHCHECK CMD\n", "Dockerfile:2: Missing command after HEALTHCHECK CMD"),
        ("FROM x\nHEALTHCHECK RUN x\n", "Dockerfile:2: Unknown type \"RUN\" in HEALTHCHECK (try CMD)"),
        ("FROM x\nHEALTHCHECK --interval=1d CMD x\n", "Dockerfile:2: time: unknown unit \"d\" in duration \"1d\""),
        ("FROM x\nHEALTHCHECK --timeout=10us CMD x\n", "Dockerfile:2: Interval \"timeout\" cannot be less than 1ms"),
        ("FROM x\nHEALTHCHECK --retries=-1 CMD x\n", "Dockerfile:2: --retries cannot be negative (-1)"),
        ("FROM x\nHEALTHCHECK --bogus=1 CMD x\n", "Dockerfile:2: unknown flag: bogus"),
        ("FROM x\nONBUILD\n", "Dockerfile:2: ONBUILD requires at least one argument"),
        ("FROM x\nONBUILD ONBUILD RUN x\n", "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM x\nONBUILD FROM y\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
        ("FROM x\nONBUILD maintainer y\n", "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("FROM x\nONBUILD NOPE y\n", "Dockerfile:2: unknown instruction: NOPE"),
        ("FROM x\nRUN a \\\n b \\\n c\nBAD\n", "Dockerfile:5: unknown instruction: BAD"),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), *want, "{text:?}");
    }
}

#[test]
fn error_fields() {
    let e = parse_named("app.Dockerfile", "FROM x\nCOPY a\n").unwrap_err();
    assert_eq!(e.line(), Some(2));
    assert_eq!(e.kind(), berth_types::ErrorKind::InvalidArgument);
    let Error::Parse { file, instruction, .. } = &e else {
        panic!()
    };
    assert_eq!(
        (file.as_str(), instruction.as_deref()),
        ("app.Dockerfile", Some("COPY"))
    );
    assert!(e.to_string().starts_with("app.Dockerfile:2: COPY requires"));
}

#[test]
fn args_before_from() {
    let df = p("ARG GO=1.22\nARG BASE\n# comment\nFROM golang:${GO} AS build\nARG GO\nRUN go version\n");
    assert_eq!(
        df.args_before_from
            .iter()
            .map(|a| (a.name.as_str(), a.default.as_deref()))
            .collect::<Vec<_>>(),
        [("GO", Some("1.22")), ("BASE", None)]
    );
    assert_eq!(df.stages[0].base, "golang:${GO}");
    assert_eq!(
        df.stages[0].instructions[0].kind,
        InstructionKind::Arg(vec![Arg {
            name: "GO".into(),
            default: None
        }])
    );
}

#[test]
fn bom_and_blank_lines() {
    let df = p("\u{feff}# syntax=x\nFROM a\n\n\n   \nRUN b\n");
    assert_eq!(df.directives.syntax.as_deref(), Some("x"));
    assert_eq!(df.stages[0].instructions[0].line, 6);
}

const GO_MULTISTAGE: &str = r#"# syntax=docker/dockerfile:1
ARG GO_VERSION=1.22
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ./cmd/app

FROM build AS test
RUN --mount=type=bind,from=build,source=/out,target=/bin-out go test ./...

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/app /app
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/app"]
"#;

#[test]
fn realistic_go_multistage() {
    let df = p(GO_MULTISTAGE);
    assert_eq!(df.stages.len(), 3);
    assert_eq!(df.stages[0].name.as_deref(), Some("build"));
    assert_eq!(df.stages[0].instructions.len(), 6);
    let r = run(df.stages[0].instructions[5].kind.clone());
    assert_eq!(r.mounts.len(), 2);
    assert!(matches!(&r.command, CommandLine::Shell(c) if c.starts_with("CGO_ENABLED=0")));
    assert_eq!(
        df.stages[2].instructions.last().map(|i| i.kind.clone()),
        Some(InstructionKind::Entrypoint(Some(exec(&["/app"]))))
    );

    let meta = |k: &str| (k == "GO_VERSION").then(|| "1.22".to_string());
    let g = StageGraph::new(&df, &meta).unwrap();
    assert_eq!(resolve_target(&df, None).unwrap(), 2);
    assert_eq!(g.build_order(2), [0, 2]);
    assert_eq!(resolve_target(&df, Some("TEST")).unwrap(), 1);
    assert_eq!(g.base(1), Some(0));
    assert_eq!(g.needed(1), [0, 1]);
    assert_eq!(g.deps(1), [0]);
}

const APT: &str = r#"FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="web" \
      org.opencontainers.image.description="a \"quoted\" description"
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        ca-certificates \
        # the web server
        nginx \
        curl \
    ; \
    rm -rf /var/lib/apt/lists/*
COPY nginx.conf /etc/nginx/nginx.conf
HEALTHCHECK --interval=10s CMD curl -fsS http://localhost/ || exit 1
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
"#;

#[test]
fn realistic_apt() {
    let df = p(APT);
    let ins = &df.stages[0].instructions;
    assert_eq!(ins.len(), 7);
    let InstructionKind::Label(labels) = &ins[0].kind else {
        panic!()
    };
    assert_eq!(labels.len(), 2);
    let none = |_: &str| None;
    assert_eq!(
        expand(&labels[1].value, '\\', &none).unwrap(),
        "a \"quoted\" description"
    );
    let InstructionKind::Env(env) = &ins[1].kind else {
        panic!()
    };
    assert_eq!(env, &kv(&[("DEBIAN_FRONTEND", "noninteractive"), ("LANG", "C.UTF-8")]));
    let r = run(ins[2].kind.clone());
    let CommandLine::Shell(cmd) = &r.command else { panic!() };
    assert!(cmd.contains("ca-certificates         nginx"), "{cmd}");
    assert!(!cmd.contains("web server"));
    assert_eq!((ins[2].line, ins[2].end_line), (6, 14));
    assert_eq!(ins[3].line, 15);
}

const ONBUILD_BASE: &str = r#"FROM node:20
WORKDIR /app
ONBUILD ARG NODE_ENV=production
ONBUILD COPY package*.json ./
ONBUILD RUN npm ci
ONBUILD COPY . .
CMD ["npm", "start"]
"#;

#[test]
fn realistic_onbuild() {
    let df = p(ONBUILD_BASE);
    let triggers: Vec<_> = df.stages[0]
        .instructions
        .iter()
        .filter_map(|i| match &i.kind {
            InstructionKind::Onbuild(o) => Some(o.expression.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        triggers,
        [
            "ARG NODE_ENV=production",
            "COPY package*.json ./",
            "RUN npm ci",
            "COPY . ."
        ]
    );
    // A trigger re-parses on its own in the child build.
    let child = p(&format!("FROM base\n{}\n", triggers[1]));
    assert_eq!(child.stages[0].instructions[0].keyword(), "COPY");
}

#[test]
fn stage_graph() {
    let df = p("FROM a AS one\nFROM b AS two\nCOPY --from=one / /\nFROM c AS three\nCOPY --from=0 / /\nRUN --mount=from=two,target=/t x\nFROM alpine\nCOPY --from=nginx:latest /etc/nginx /n\n");
    let none = |_: &str| None;
    let g = StageGraph::new(&df, &none).unwrap();
    assert_eq!(g.deps(1), [0]);
    assert_eq!(g.deps(2), [0, 1]);
    assert_eq!(g.build_order(2), [0, 1, 2]);
    assert_eq!(g.needed(3), [3]);
    assert_eq!(resolve_target(&df, Some("two")).unwrap(), 1);
    let e = resolve_target(&df, Some("x")).unwrap_err();
    assert_eq!(e.to_string(), "target stage \"x\" could not be found");
    assert_eq!(e.kind(), berth_types::ErrorKind::NotFound);

    // FROM through a meta arg.
    let df = p("ARG B=one\nFROM a AS one\nFROM ${B}\n");
    let g = StageGraph::new(&df, &|k: &str| (k == "B").then(|| "one".to_string())).unwrap();
    assert_eq!(g.base(1), Some(0));
    // A stage named like its own image uses the image.
    let g = StageGraph::new(&p("FROM node AS node\nRUN x\n"), &none).unwrap();
    assert_eq!(g.base(0), None);
    // COPY --from a later stage by name is fine (BuildKit allows it) when acyclic.
    let g = StageGraph::new(&p("FROM a AS x\nCOPY --from=y / /\nFROM b AS y\n"), &none).unwrap();
    assert_eq!(g.build_order(0), [1, 0]);

    let bad: &[(&str, &str)] = &[
        ("FROM a AS x\nCOPY --from=y / /\nFROM b AS y\nCOPY --from=x / /\n", "circular dependency detected on stage: x"),
        ("FROM a AS x\nCOPY --from=x / /\n", "circular dependency detected on stage: x"),
        ("FROM a AS x\nCOPY --from=0 / /\n", "circular dependency detected on stage: x"),
        ("FROM y AS x\nFROM b AS y\n", "line 1: stage \"x\": FROM y refers to stage 1 defined later in the Dockerfile; move that stage above this one"),
        ("FROM a\nCOPY --from=5 / /\n", "line 2: invalid stage index 5: the Dockerfile has 1 stages"),
    ];
    for (text, want) in bad {
        let e = StageGraph::new(&p(text), &none).unwrap_err();
        assert_eq!(e.to_string(), *want, "{text:?}");
    }
}

#[test]
fn no_panics_on_truncated_input() {
    // Every prefix of real Dockerfiles and tricky words must parse or fail
    // cleanly, never panic.
    let heredoc = "# escape=`\nFROM x\nRUN <<-\"A\" 2<<B `\n  --mount=type=cache,target=/x\n\tbody\n\tA\nb\nB\nCOPY <<C [\"x\"\nC\n";
    for text in [GO_MULTISTAGE, APT, ONBUILD_BASE, heredoc] {
        for (i, _) in text.char_indices() {
            let _ = parse(&text[..i]);
        }
    }
    let none = |_: &str| None;
    for word in ["${A:-${B:+\"x}'y'\\}", "$${{}}", "\"\\", "${A#[a-}", "`$`"] {
        for (i, _) in word.char_indices() {
            let _ = expand(&word[..i], '\\', &none);
            let _ = expand(&word[..i], '`', &none);
        }
    }
    for pat in ["[", "a/**/[^b-", "\\", "!", "**/", "[]]", "[a-]"] {
        if let Ok(i) = Ignore::parse(pat) {
            let _ = i.is_excluded("a/b/c", false);
            let _ = i.may_include_below("a");
        }
    }
}
