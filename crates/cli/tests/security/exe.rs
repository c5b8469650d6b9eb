//! (issue 13) exe: tests to come.
