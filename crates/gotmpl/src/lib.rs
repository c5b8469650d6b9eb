//! Go text/template subset for `--format`.
