//! (issue 13) logs: tests to come.
