use berth_gotmpl::{align_columns, Error, Template};
use serde_json::{json, Value};

fn render(src: &str, data: &Value) -> String {
    match Template::parse(src) {
        Ok(t) => match t.render(data) {
            Ok(s) => s,
            Err(e) => panic!("render {src:?}: {e}"),
        },
        Err(e) => panic!("parse {src:?}: {e}"),
    }
}

fn exec_err(src: &str, data: &Value) -> String {
    let t = Template::parse(src).unwrap_or_else(|e| panic!("parse {src:?}: {e}"));
    match t.render(data) {
        Ok(out) => panic!("expected an error for {src:?}, got {out:?}"),
        Err(e) => {
            assert!(matches!(e, Error::Exec { .. }), "{e:?}");
            e.to_string()
        }
    }
}

fn parse_err(src: &str) -> String {
    match Template::parse(src) {
        Ok(_) => panic!("expected a parse error for {src:?}"),
        Err(e) => {
            assert!(matches!(e, Error::Parse { .. }), "{e:?}");
            e.to_string()
        }
    }
}

fn image() -> Value {
    json!({
        "Id": "sha256:abc123",
        "Repository": "busybox",
        "Tag": "latest",
        "RepoTags": ["busybox:latest", "busybox:1.36"],
        "Size": 4261550,
        "Config": {
            "Env": ["PATH=/usr/bin", "A=<b&c>"],
            "Cmd": ["sh", "-c", "echo hi"],
            "Labels": {"foo": "bar", "com.example.x": "y", "a": "1"},
            "Empty": [],
            "Nothing": null
        },
        "RootFS": {"Type": "layers", "Layers": ["sha256:1", "sha256:2", "sha256:3"]}
    })
}

fn container() -> Value {
    json!({
        "Name": "web",
        "State": "running",
        "Labels": {"b": "2", "a": "1", "c": "3"},
        "Ports": [],
        "Count": 3,
        "Ratio": 1.5,
        "Big": 18446744073709551615u64,
        "Neg": -9007199254740993i64,
        "Ok": true
    })
}

// ---- docker-style uses ----

#[test]
fn docker_style_formats() {
    let img = image();
    assert_eq!(render("{{.Repository}}:{{.Tag}}", &img), "busybox:latest");
    assert_eq!(render("{{index .RepoTags 0}}", &img), "busybox:latest");
    assert_eq!(
        render("{{range .RepoTags}}{{.}} {{end}}", &img),
        "busybox:latest busybox:1.36 "
    );
    assert_eq!(render("{{join .Config.Cmd \" \"}}", &img), "sh -c echo hi");
    assert_eq!(render("{{.Config.Labels.foo}}", &img), "bar");
    assert_eq!(render("{{index .Config.Labels \"com.example.x\"}}", &img), "y");
    assert_eq!(render("{{len .RootFS.Layers}}", &img), "3");
    assert_eq!(render("{{.Size}}", &img), "4261550");

    let c = container();
    assert_eq!(render("{{if eq .State \"running\"}}up{{else}}down{{end}}", &c), "up");
    assert_eq!(render("{{if eq .State \"exited\"}}up{{else}}down{{end}}", &c), "down");
    assert_eq!(render("{{printf \"%-10s|\" .Name}}", &c), "web       |");
    assert_eq!(
        render("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}", &c),
        "a=1;b=2;c=3;"
    );
}

#[test]
fn json_function() {
    let img = image();
    assert_eq!(
        render("{{json .Config}}", &img),
        r#"{"Env":["PATH=/usr/bin","A=<b&c>"],"Cmd":["sh","-c","echo hi"],"Labels":{"foo":"bar","com.example.x":"y","a":"1"},"Empty":[],"Nothing":null}"#
    );
    let full = render("{{json .}}", &img);
    assert!(
        full.starts_with(r#"{"Id":"sha256:abc123","Repository":"busybox""#),
        "{full}"
    );
    assert!(!full.ends_with('\n'));
    assert_eq!(render("{{json .Missing}}", &img), "null");
    assert_eq!(
        render("{{json .RepoTags}}", &img),
        r#"["busybox:latest","busybox:1.36"]"#
    );
    let c = container();
    assert_eq!(
        render("{{json .Ratio}} {{json .Big}} {{json .Ok}}", &c),
        "1.5 18446744073709551615 true"
    );
    assert_eq!(
        render(r#"{{json "tab\there \"q\" \\ é"}}"#, &c),
        r#""tab\there \"q\" \\ é""#
    );
    assert_eq!(
        render("{{json .}}", &json!({"f": 1e21, "g": 2.0, "h": 1e-7})),
        r#"{"f":1e+21,"g":2,"h":1e-7}"#
    );
    // Pipelines pass the value as the last argument.
    assert_eq!(render("{{.Labels | json}}", &c), r#"{"b":"2","a":"1","c":"3"}"#);
}

// ---- text, trimming, comments ----

#[test]
fn text_and_trim_markers() {
    let d = json!({"A": "x"});
    assert_eq!(render("plain text", &d), "plain text");
    assert_eq!(render("", &d), "");
    assert_eq!(render("a  {{- .A -}}  b", &d), "axb");
    assert_eq!(render("a \n\t {{- .A}} \n b", &d), "ax \n b");
    assert_eq!(render("a {{.A -}} \n\n b", &d), "a xb");
    assert_eq!(render("{{.A}} }} {", &d), "x }} {");
    // `{{-3}}` is a number, not a trim marker.
    assert_eq!(render("a {{-3}}", &d), "a -3");
    assert_eq!(render("a {{- 3}}", &d), "a3");
}

#[test]
fn comments() {
    let d = json!({"A": "x"});
    assert_eq!(render("a{{/* comment */}}b", &d), "ab");
    assert_eq!(render("a {{- /* comment */ -}} b", &d), "ab");
    assert_eq!(render("a{{/* multi\nline {{ }} */}}b", &d), "ab");
    assert!(parse_err("{{/* open").contains("unclosed comment"));
    assert!(parse_err("{{/* x */ .A}}").contains("comment ends before closing delimiter"));
}

// ---- fields, variables, missing values ----

#[test]
fn fields_and_missing_values() {
    let img = image();
    assert_eq!(render("{{.Missing}}", &img), "<no value>");
    assert_eq!(render("{{.Config.Missing}}", &img), "<no value>");
    assert_eq!(render("{{.Missing.Deeper.Still}}", &img), "<no value>");
    assert_eq!(render("{{.Config.Nothing}}", &img), "<no value>");
    assert_eq!(render("{{.Config.Nothing.Field}}", &img), "<no value>");
    assert_eq!(render("{{.RootFS.Type}}", &img), "layers");
    assert_eq!(render("{{.Config.Env}}", &img), "[PATH=/usr/bin A=<b&c>]");
    assert_eq!(render("{{.Config.Labels}}", &img), "map[a:1 com.example.x:y foo:bar]");
    assert_eq!(render("{{.}}", &json!("just a string")), "just a string");
    assert_eq!(render("{{.}}", &Value::Null), "<no value>");
    assert_eq!(
        render("{{.}}", &json!([1, null, "x", {"k": null}])),
        "[1 <nil> x map[k:<nil>]]"
    );
    // `print` of a missing value is Go's `<nil>`.
    assert_eq!(render("{{print .Missing}}", &img), "<nil>");
    assert!(exec_err("{{.Repository.Foo}}", &img).contains("can't evaluate field Foo in type string"));
}

#[test]
fn numbers_and_scalars_print_like_go() {
    let c = container();
    assert_eq!(
        render("{{.Count}} {{.Ratio}} {{.Big}} {{.Neg}} {{.Ok}}", &c),
        "3 1.5 18446744073709551615 -9007199254740993 true"
    );
    let d = json!({"whole": 3.0, "huge": 1e21, "tiny": 0.00001, "mid": 1234567.5, "neg": -0.5});
    assert_eq!(
        render("{{.whole}} {{.huge}} {{.tiny}} {{.mid}} {{.neg}}", &d),
        "3 1e+21 1e-05 1.2345675e+06 -0.5"
    );
}

#[test]
fn variables() {
    let img = image();
    assert_eq!(render("{{$x := .Repository}}{{$x}}", &img), "busybox");
    assert_eq!(render("{{$x := 1}}{{$x = 2}}{{$x}}", &img), "2");
    assert_eq!(render("{{$c := .Config}}{{$c.Labels.foo}}", &img), "bar");
    assert_eq!(
        render("{{range .RepoTags}}{{$.Repository}} {{end}}", &img),
        "busybox busybox "
    );
    assert_eq!(render("{{with .Config}}{{$.Tag}}{{end}}", &img), "latest");
    // Assignment inside range updates the outer variable.
    assert_eq!(
        render("{{$n := 0}}{{range .RepoTags}}{{$n = .}}{{end}}{{$n}}", &img),
        "busybox:1.36"
    );
    // Declarations inside a control structure end with it.
    assert!(parse_err("{{if true}}{{$y := 1}}{{end}}{{$y}}").contains("undefined variable \"$y\""));
    assert!(parse_err("{{$z}}").contains("undefined variable"));
    assert!(parse_err("{{$z = 1}}").contains("undefined variable"));
    // Variables declared in if's pipeline are visible in both branches.
    assert_eq!(
        render("{{if $v := .Missing}}yes{{else}}{{$v}}{{end}}", &img),
        "<no value>"
    );
    assert_eq!(render("{{with $t := .Tag}}{{$t}}{{end}}", &img), "latest");
}

// ---- literals ----

#[test]
fn literals() {
    let d = json!({});
    assert_eq!(
        render(r#"{{"a\tb\n\"q\" \\ \x41\u00e9\101"}}"#, &d),
        "a\tb\n\"q\" \\ AéA"
    );
    assert_eq!(render("{{`raw \\n {{ text`}}", &d), "raw \\n {{ text");
    assert_eq!(
        render("{{42}} {{-7}} {{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}}", &d),
        "42 -7 31 15 15 5 1000"
    );
    assert_eq!(render("{{1.5}} {{1e3}} {{.5}} {{-2.25}}", &d), "1.5 1000 0.5 -2.25");
    assert_eq!(render("{{true}} {{false}}", &d), "true false");
    assert_eq!(render("{{'a'}} {{'\\n'}} {{'é'}}", &d), "97 10 233");
    assert_eq!(render("{{printf \"%c\" 'x'}}", &d), "x");
    assert!(exec_err("{{nil}}", &d).contains("nil is not a command"));
    assert!(parse_err("{{\"unterminated}}").contains("unterminated quoted string"));
    assert!(parse_err("{{`open}}").contains("unterminated raw quoted string"));
    assert!(parse_err("{{\"bad \\q\"}}").contains("invalid escape"));
    assert!(parse_err("{{3x}}").contains("bad number syntax"));
    assert!(parse_err("{{99999999999999999999999}}").contains("integer overflow"));
    assert!(parse_err("{{'ab'}}").contains("malformed character constant"));
}

// ---- pipelines ----

#[test]
fn pipelines() {
    let c = container();
    assert_eq!(render("{{.Name | printf \"%s!\"}}", &c), "web!");
    assert_eq!(render("{{.Name | upper | printf \"[%s]\"}}", &c), "[WEB]");
    assert_eq!(
        render("{{printf \"%s-%s\" (upper .Name) (.State | lower)}}", &c),
        "WEB-running"
    );
    assert_eq!(render("{{(index .Labels \"a\")}}", &c), "1");
    assert_eq!(render("{{(json .Labels) | len}}", &c), "25");
    let img = image();
    assert_eq!(render("{{(index .RepoTags 1)}}", &img), "busybox:1.36");
    assert_eq!(render("{{(.Config).Labels.foo}}", &img), "bar");
    assert_eq!(render("{{(index .Config \"Labels\").foo}}", &img), "bar");
    assert_eq!(render("{{.RepoTags | len}}", &img), "2");
    assert!(parse_err("{{.A | 3}}").contains("non executable command in pipeline stage 2"));
    assert!(parse_err("{{.A |}}").contains("missing command"));
    assert!(parse_err("{{(.A}}").contains("unclosed left paren"));
    assert!(parse_err("{{.A)}}").contains("unexpected right paren"));
    assert!(exec_err("{{.Name 3}}", &c).contains("Name is not a method but has arguments"));
    assert!(exec_err("{{\"x\" | .Name}}", &c).contains("is not a method"));
}

// ---- control structures ----

#[test]
fn if_else_chains() {
    let c = container();
    let t = "{{if eq .State \"paused\"}}P{{else if eq .State \"running\"}}R{{else}}X{{end}}";
    assert_eq!(render(t, &c), "R");
    assert_eq!(render(t, &json!({"State": "paused"})), "P");
    assert_eq!(render(t, &json!({"State": "dead"})), "X");
    assert_eq!(render("{{if .Ports}}ports{{else}}none{{end}}", &c), "none");
    assert_eq!(render("{{if .Missing}}a{{end}}b", &c), "b");
    assert_eq!(render("{{if and .Ok .Count}}yes{{end}}", &c), "yes");
    assert_eq!(render("{{if or .Missing .Ports}}yes{{else}}no{{end}}", &c), "no");
    assert_eq!(render("{{if not .Ports}}empty{{end}}", &c), "empty");
}

#[test]
fn truthiness() {
    for (v, want) in [
        (json!(false), "F"),
        (json!(true), "T"),
        (json!(0), "F"),
        (json!(0.0), "F"),
        (json!(-1), "T"),
        (json!(""), "F"),
        (json!("0"), "T"),
        (Value::Null, "F"),
        (json!([]), "F"),
        (json!([0]), "T"),
        (json!({}), "F"),
        (json!({"a": null}), "T"),
    ] {
        assert_eq!(render("{{if .}}T{{else}}F{{end}}", &v), want, "{v}");
    }
}

#[test]
fn range_forms() {
    let img = image();
    assert_eq!(
        render("{{range $i, $t := .RepoTags}}{{$i}}:{{$t}} {{end}}", &img),
        "0:busybox:latest 1:busybox:1.36 "
    );
    assert_eq!(
        render("{{range $t := .RepoTags}}[{{$t}}]{{end}}", &img),
        "[busybox:latest][busybox:1.36]"
    );
    assert_eq!(render("{{range .Config.Labels}}{{.}},{{end}}", &img), "1,y,bar,");
    assert_eq!(render("{{range .Config.Empty}}x{{else}}empty{{end}}", &img), "empty");
    assert_eq!(render("{{range .Config.Nothing}}x{{else}}nil{{end}}", &img), "nil");
    assert_eq!(render("{{range .Missing}}x{{end}}done", &img), "done");
    assert_eq!(render("{{range 3}}{{.}}{{end}}", &img), "012");
    assert_eq!(render("{{range $i := 2}}<{{$i}}>{{end}}", &img), "<0><1>");
    assert_eq!(render("{{range split \"a,b\" \",\"}}{{.}};{{end}}", &img), "a;b;");
    assert_eq!(
        render("{{range $k, $v := (index . \"Config\").Labels}}{{$k}} {{end}}", &img),
        "a com.example.x foo "
    );
    // Nested ranges and break/continue.
    assert_eq!(
        render(
            "{{range $i, $t := .RootFS.Layers}}{{if eq $i 1}}{{continue}}{{end}}{{$t}};{{end}}",
            &img
        ),
        "sha256:1;sha256:3;"
    );
    assert_eq!(
        render(
            "{{range .RootFS.Layers}}{{if eq . \"sha256:2\"}}{{break}}{{end}}{{.}};{{end}}",
            &img
        ),
        "sha256:1;"
    );
    assert_eq!(
        render("{{range .RepoTags}}{{range $.RootFS.Layers}}.{{end}}|{{end}}", &img),
        "...|...|"
    );
    assert!(exec_err("{{range .Repository}}{{end}}", &img).contains("range can't iterate over busybox"));
    assert!(parse_err("{{break}}").contains("{{break}} outside {{range}}"));
    assert!(parse_err("{{range .A}}{{else}}{{continue}}{{end}}").contains("outside {{range}}"));
    assert!(parse_err("{{range $a, $b, $c := .}}{{end}}").contains("too many declarations"));
    assert!(parse_err("{{if $a, $b := .}}{{end}}").contains("too many declarations"));
}

#[test]
fn with_else() {
    let img = image();
    assert_eq!(render("{{with .Config.Labels}}{{.foo}}{{end}}", &img), "bar");
    assert_eq!(render("{{with .Config.Empty}}x{{else}}none{{end}}", &img), "none");
    assert_eq!(
        render("{{with .Missing}}x{{else with .Tag}}{{.}}{{end}}", &img),
        "latest"
    );
    assert_eq!(
        render("{{with .Missing}}x{{else with .Gone}}y{{else}}z{{end}}", &img),
        "z"
    );
}

// ---- builtins ----

#[test]
fn logic_functions() {
    let d = json!({"t": true, "f": false, "s": "x", "z": 0});
    assert_eq!(render("{{and .t .s}}", &d), "x");
    assert_eq!(render("{{and .t .z .s}}", &d), "0");
    assert_eq!(render("{{or .f .z .s}}", &d), "x");
    assert_eq!(render("{{or .f .z}}", &d), "0");
    assert_eq!(render("{{not .s}} {{not .z}}", &d), "false true");
    // Short-circuit: the failing call after a false `and` operand is never evaluated.
    assert_eq!(render("{{and .f (index .s 10)}}", &d), "false");
    assert_eq!(render("{{or .t (index .s 10)}}", &d), "true");
    assert!(exec_err("{{and}}", &d).contains("wrong number of args for and: want at least 1 got 0"));
}

#[test]
fn comparison_functions() {
    let c = container();
    assert_eq!(
        render("{{eq .Count 3}} {{eq .Count 4}} {{eq .Count 3.0}}", &c),
        "true false true"
    );
    assert_eq!(render("{{eq .State \"a\" \"running\" \"b\"}}", &c), "true");
    assert_eq!(render("{{eq .State \"a\" \"b\"}}", &c), "false");
    assert_eq!(render("{{ne .Name \"web\"}} {{ne 1 2}}", &c), "false true");
    assert_eq!(
        render("{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 2 2}} {{lt 1.5 2}}", &c),
        "true true false true true"
    );
    assert_eq!(render("{{lt \"abc\" \"abd\"}} {{gt \"b\" \"a\"}}", &c), "true true");
    assert_eq!(render("{{lt .Neg 0}} {{gt .Big .Count}}", &c), "true true");
    assert_eq!(render("{{eq .Missing nil}} {{eq .Name nil}}", &c), "true false");
    assert_eq!(render("{{eq .Labels .Labels}}", &c), "true");
    assert!(exec_err("{{eq .Name 1}}", &c).contains("incompatible types for comparison"));
    assert!(exec_err("{{lt .Ok true}}", &c).contains("invalid type for comparison"));
    assert!(exec_err("{{eq .Name}}", &c).contains("missing argument for comparison"));
    assert!(exec_err("{{lt 1}}", &c).contains("wrong number of args for lt: want 2 got 1"));
}

#[test]
fn len_index_slice() {
    let img = image();
    assert_eq!(
        render(
            "{{len .Repository}} {{len .Config.Labels}} {{len .Config.Nothing}}",
            &img
        ),
        "7 3 0"
    );
    assert_eq!(render("{{len \"é\"}}", &img), "2");
    assert!(exec_err("{{len .Size}}", &img).contains("error calling len: len of type int"));
    assert_eq!(render("{{index . \"RootFS\" \"Layers\" 2}}", &img), "sha256:3");
    assert_eq!(render("{{index .Config.Labels \"nope\"}}", &img), "<no value>");
    assert_eq!(render("{{index .Repository 0}}", &img), "98");
    assert_eq!(render("{{index .RepoTags}}", &img), "[busybox:latest busybox:1.36]");
    let e = exec_err("{{index .RepoTags 5}}", &img);
    assert!(e.contains("error calling index: index out of range: 5"), "{e}");
    assert!(e.starts_with("template: :1:2: executing \"\" at <index>:"), "{e}");
    assert!(exec_err("{{index .RepoTags -1}}", &img).contains("index out of range: -1"));
    assert!(exec_err("{{index .RepoTags \"x\"}}", &img).contains("cannot index slice/array with type string"));
    assert!(exec_err("{{index .Size 0}}", &img).contains("can't index item of type int"));
    assert_eq!(render("{{slice .RootFS.Layers 1}}", &img), "[sha256:2 sha256:3]");
    assert_eq!(render("{{slice .RootFS.Layers 1 2}}", &img), "[sha256:2]");
    assert_eq!(render("{{slice .RootFS.Layers 0 1 3}}", &img), "[sha256:1]");
    assert_eq!(
        render("{{slice .Repository 1 4}} {{slice .Repository}}", &img),
        "usy busybox"
    );
    assert!(exec_err("{{slice .Repository 1 2 3}}", &img).contains("cannot 3-index slice a string"));
    assert!(exec_err("{{slice .RepoTags 2 1}}", &img).contains("invalid slice index: 2 > 1"));
    assert!(exec_err("{{slice .RepoTags 0 9}}", &img).contains("index out of range: 9"));
}

#[test]
fn print_functions() {
    let c = container();
    assert_eq!(render("{{print .Name .Count .Count .Name}}", &c), "web3 3web");
    assert_eq!(render("{{println .Name .Count}}", &c), "web 3\n");
    assert_eq!(render("{{print}}", &c), "");
    assert_eq!(render("{{print .Labels}}", &c), "map[a:1 b:2 c:3]");
    assert_eq!(render("{{printf \"%d items\" .Count}}", &c), "3 items");
    assert_eq!(render("{{printf \"%v %v %v\" .Ratio .Ok .Ports}}", &c), "1.5 true []");
    assert_eq!(render("{{printf \"%q\" .Name}}", &c), "\"web\"");
    assert_eq!(render("{{printf \"%t\" .Ok}}", &c), "true");
    assert_eq!(
        render("{{printf \"%.2f\" .Ratio}} {{printf \"%f\" .Ratio}}", &c),
        "1.50 1.500000"
    );
    assert_eq!(render("{{printf \"%x %X\" 255 \"hi\"}}", &c), "ff 6869");
    assert_eq!(render("{{printf \"%5d|%-5d|%05d\" 42 42 42}}", &c), "   42|42   |00042");
    assert_eq!(
        render("{{printf \"%10s|%-10s|\" .Name .State}}", &c),
        "       web|running   |"
    );
    assert_eq!(render("{{printf \"%s\" .Count}}", &c), "%!s(int=3)");
    assert_eq!(render("{{printf \"%d\"}}", &c), "%!d(MISSING)");
    assert_eq!(render("{{printf \"%v\" .Missing}}", &c), "<nil>");
    assert_eq!(render("{{.Name | printf \"%s=%s\" \"name\"}}", &c), "name=web");
    assert!(exec_err("{{printf 3}}", &c).contains("wrong type for value; expected string; got int"));
}

#[test]
fn escaping_functions() {
    let d = json!({"s": "<a href='x'>&\"</a>", "q": "a b&c=d/é"});
    assert_eq!(
        render("{{html .s}}", &d),
        "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"
    );
    assert_eq!(
        render("{{.s | html}}", &d),
        "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"
    );
    assert_eq!(render("{{html .Missing}}", &d), "&lt;no value&gt;");
    assert_eq!(
        render("{{js .s}}", &d),
        "\\u003Ca href\\u003D\\'x\\'\\u003E\\u0026\\\"\\u003C/a\\u003E"
    );
    assert_eq!(render("{{urlquery .q}}", &d), "a+b%26c%3Dd%2F%C3%A9");
    assert_eq!(render("{{urlquery \"a\" 1 2}}", &d), "a1+2");
}

#[test]
fn docker_string_functions() {
    let d = json!({"s": "hello wide world", "csv": "a,b,,c", "tags": ["x", "y"], "nums": [1, 2.5], "name": "  pad  "});
    assert_eq!(render("{{split .csv \",\"}}", &d), "[a b  c]");
    assert_eq!(render("{{len (split .csv \",\")}}", &d), "4");
    assert_eq!(render("{{split \"abc\" \"\"}}", &d), "[a b c]");
    assert_eq!(render("{{join .tags \", \"}}", &d), "x, y");
    assert_eq!(render("{{join .nums \"+\"}}", &d), "1+2.5");
    assert_eq!(render("{{join (split .csv \",\") \"|\"}}", &d), "a|b||c");
    assert_eq!(render("{{title .s}}", &d), "Hello Wide World");
    assert_eq!(render("{{upper .s}} {{lower \"MiXeD\"}}", &d), "HELLO WIDE WORLD mixed");
    assert_eq!(render("[{{pad \"x\" 2 3}}] [{{pad \"\" 2 3}}]", &d), "[  x   ] []");
    assert_eq!(
        render("{{truncate .s 5}}|{{truncate .s 100}}|{{truncate \"héllo\" 2}}", &d),
        "hello|hello wide world|hé"
    );
    assert!(exec_err("{{upper 3}}", &d).contains("wrong type for value; expected string; got int"));
    assert!(exec_err("{{pad \"x\" -1 0}}", &d).contains("negative"));
    assert!(exec_err("{{truncate \"x\"}}", &d).contains("wrong number of args for truncate: want 2 got 1"));
    assert!(exec_err("{{json}}", &d).contains("wrong number of args for json"));
}

// ---- errors ----

#[test]
fn parse_errors() {
    assert_eq!(parse_err("{{.Foo"), "template: :1: unclosed action");
    assert_eq!(parse_err("{{end}}"), "template: :1: unexpected {{end}}");
    assert_eq!(parse_err("a\n{{else}}"), "template: :2: unexpected {{else}}");
    assert!(parse_err("{{if .A}}x").contains("unexpected EOF"));
    assert!(parse_err("{{range .A}}{{else}}{{else}}{{end}}").contains("expected end"));
    assert!(parse_err("{{}}").contains("missing value for command"));
    assert!(parse_err("{{if}}{{end}}").contains("missing value for if"));
    assert!(parse_err("{{nosuchfunc .A}}").contains("function \"nosuchfunc\" not defined"));
    assert!(parse_err("{{.A.B .C\"x\"}}").contains("bad character"));
    assert!(parse_err("{{template \"x\"}}").contains("not supported"));
    assert!(parse_err("{{define \"x\"}}{{end}}").contains("not supported"));
    assert!(parse_err("{{.A ,}}").contains("unexpected \",\" in operand"));
    assert!(parse_err("{{3.A}}").contains("bad number syntax"));
    assert!(parse_err("{{\"s\".A}}").contains("unexpected . after term"));
    assert!(parse_err("{{range .A}}{{else if .B}}{{end}}").contains("unexpected"));
    assert!(parse_err("{{.A ~}}").contains("unexpected"));
    assert!(parse_err("{{.A \u{1}}}").contains("unrecognized character"));
    assert!(parse_err("{{$x :}}").contains("expected :="));
    let Err(Error::Parse { line, col, .. }) = Template::parse("ab\ncd {{.X") else {
        panic!()
    };
    assert_eq!((line, col), (2, 3));
}

#[test]
fn exec_error_format() {
    let e = exec_err("x\n  {{.Name.Sub}}", &json!({"Name": "n"}));
    assert_eq!(
        e,
        "template: :2:4: executing \"\" at <.Name.Sub>: can't evaluate field Sub in type string"
    );
    let e = exec_err("{{index .A 0 0 0 0 0 0 0 0 0 0 0 0}}", &json!({"A": [[1]]}));
    assert!(e.contains("at <index>"), "{e}");
    let e = exec_err("{{(index .A 0 1 2 3 4 5 6 7 8 9 10 11 12).B}}", &json!({"A": [[1]]}));
    assert!(e.contains("<index>"), "{e}");
    let e = exec_err("{{(.A).BBBBBBBBBBBBBBBBBBBBBBBBB}}", &json!({"A": 1}));
    assert!(e.contains("at <(.A).BBBBBBBBBBBBBBB...>"), "{e}");
}

#[test]
fn nesting_limits_do_not_crash() {
    let deep_parens = format!("{{{{{}1{}}}}}", "(".repeat(80), ")".repeat(80));
    assert_eq!(render(&deep_parens, &Value::Null), "1");
    let deep_ifs = format!("{}x{}", "{{if true}}".repeat(80), "{{end}}".repeat(80));
    assert_eq!(render(&deep_ifs, &Value::Null), "x");
    // At the limit (100 levels in total).
    let at_limit = format!(
        "{}{{{{{}1{}}}}}{}",
        "{{if 1}}".repeat(50),
        "(".repeat(49),
        ")".repeat(49),
        "{{end}}".repeat(50)
    );
    assert_eq!(render(&at_limit, &Value::Null), "1");
    let parens = format!("{{{{print {}1{}}}}}", "(and 1 ".repeat(100), ")".repeat(100));
    assert_eq!(render(&parens, &Value::Null), "1");
    let else_ifs = format!(
        "{{{{if false}}}}{}{{{{else}}}}z{{{{end}}}}",
        "{{else if false}}".repeat(99)
    );
    assert_eq!(render(&else_ifs, &Value::Null), "z");
    let ranges = format!("{}{{{{.}}}}{}", "{{range .}}".repeat(99), "{{end}}".repeat(99));
    let mut nested = json!(7);
    for _ in 0..99 {
        nested = json!([nested]);
    }
    assert_eq!(render(&ranges, &nested), "7");
    let too_deep = format!("{{{{{}1{}}}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(parse_err(&too_deep).contains("max depth exceeded"));
    let too_many_ifs = format!("{}x{}", "{{if true}}".repeat(5000), "{{end}}".repeat(5000));
    assert!(parse_err(&too_many_ifs).contains("max depth exceeded"));
}

#[test]
fn template_is_reusable() {
    let t: Template = "{{.Name}}\t{{.State}}".parse().unwrap_or_else(|e| panic!("{e}"));
    let rows = [
        json!({"Name": "a", "State": "up"}),
        json!({"Name": "bb", "State": "down"}),
    ];
    let mut out = String::from("NAME\tSTATE\n");
    for row in &rows {
        out.push_str(&t.render(row).unwrap_or_else(|e| panic!("{e}")));
        out.push('\n');
    }
    assert_eq!(align_columns(&out), "NAME      STATE\na         up\nbb        down\n");
    assert_eq!(berth_gotmpl::render("{{.}}", &json!(1)), Ok("1".to_string()));
}

#[test]
fn table_of_images() {
    let header = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n";
    let row = Template::parse("{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let images = [
        json!({"Repository": "busybox", "Tag": "latest", "ID": "a416a98b71e2", "CreatedSince": "2 days ago", "Size": "4.26MB"}),
        json!({"Repository": "registry.example.com/team/app", "Tag": "v1.2.3", "ID": "0123456789ab", "CreatedSince": "3 weeks ago", "Size": "120MB"}),
    ];
    let mut text = header.to_string();
    for img in &images {
        text.push_str(&row.render(img).unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(
        align_columns(&text),
        "REPOSITORY                      TAG       IMAGE ID       CREATED       SIZE\n\
         busybox                         latest    a416a98b71e2   2 days ago    4.26MB\n\
         registry.example.com/team/app   v1.2.3    0123456789ab   3 weeks ago   120MB\n"
    );
}
