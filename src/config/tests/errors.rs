//! Positions and the error's display form.

use std::path::Path;

use crate::config::ConfigError;
use crate::config::errors::line_col;
use crate::config::reload::is_scratch_file;

#[test]
fn positions_are_one_based_and_count_characters() {
    let text = "a = 1\nname = \"李伟\" x\n";
    assert_eq!(line_col(text, 0), (1, 1));
    assert_eq!(line_col(text, 6), (2, 1));
    let x = text.find(" x").expect("marker") + 1;
    assert_eq!(line_col(text, x), (2, 13), "two CJK characters are two columns, not six bytes");
    assert_eq!(line_col(text, 10_000), (3, 1), "past the end clamps to the end");
}

#[test]
fn display_is_file_line_column_field_reason() {
    let error = ConfigError {
        file: "config/partners/skytrip.toml".into(),
        line: 12,
        column: 9,
        field: "rate_limit.burst".into(),
        reason: "must be between 1 and 100000 (got 0)".into(),
    };
    insta::assert_snapshot!(error, @"config/partners/skytrip.toml:12:9: `rate_limit.burst`: must be between 1 and 100000 (got 0)");
}

#[test]
fn editor_scratch_files_do_not_trigger_reloads() {
    for scratch in [".skytrip.toml.swp", "skytrip.toml~", ".#skytrip.toml", "4913"] {
        assert!(is_scratch_file(Path::new(scratch)), "{scratch}");
    }
    for real in ["skytrip.toml", "skytrip.jwks.json", "..data"] {
        assert!(!is_scratch_file(Path::new(real)), "{real}");
    }
}
