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

/// Every compiler error quoted in the docs (a line starting `error[E` in README.md, a doc comment
/// under `src/`, or a markdown file under `docs/`) is a line of a trybuild snapshot under
/// `ui-tests/fail/`, so it is what the compiler really prints.
#[test]
fn quoted_compiler_errors_are_real() {
    let snapshots: Vec<String> = std::fs::read_dir("ui-tests/fail")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "stderr"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut files = vec![std::path::PathBuf::from("README.md")];
    let mut dirs = vec![std::path::PathBuf::from("src"), "docs".into()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "rs" || x == "md") {
                files.push(path);
            }
        }
    }
    let mut quoted = 0;
    for file in &files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let text = line
                .trim_start()
                .trim_start_matches("//!")
                .trim_start_matches("///")
                .trim();
            if text.starts_with("error[E") {
                quoted += 1;
                assert!(
                    snapshots.iter().any(|s| s.lines().any(|l| l == text)),
                    "{}: this error is in no ui-tests/fail/*.stderr snapshot:\n{text}",
                    file.display()
                );
            }
        }
    }
    // README.md and the crate docs quote one each.
    assert!(quoted >= 2, "only {quoted} quoted errors found");
}
