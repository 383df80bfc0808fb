//! Compile-time shape errors, kept honest by trybuild: each case under `ui-tests/fail/` must fail
//! to compile with the message in its `.stderr` snapshot, and `ui-tests/pass/` must build.

/// Only compile-fail cases in this suite, so trybuild runs `cargo check` for them: the errors
/// are reported without building.
#[test]
fn shape_errors_fail_cargo_check() {
    trybuild::TestCases::new().compile_fail("ui-tests/fail/*.rs");
}

#[test]
fn fitting_networks_build() {
    trybuild::TestCases::new().pass("ui-tests/pass/*.rs");
}
