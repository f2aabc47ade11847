//! The macros' errors, as a user sees them: each case in `tests/ui/` must fail to compile with
//! the message in its `.stderr` file (`TRYBUILD=overwrite` rewrites them; review the diff).

#[test]
fn macro_errors_point_at_the_mistake() {
    trybuild::TestCases::new().compile_fail("ui/*.rs");
}
