//! (issue 13) cgroups: tests to come.
