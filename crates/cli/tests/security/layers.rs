//! (issue 13) layers: tests to come.
