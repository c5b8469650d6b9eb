//! (issue 13) read_only: tests to come.
