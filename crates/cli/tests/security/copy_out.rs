//! (issue 13) copy_out: tests to come.
