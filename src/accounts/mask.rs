//! Masking of account numbers and names for partners without the `…Detail` permission, as
//! JR/T 0171 practice has it. Pure functions over characters (not bytes), so Chinese names
//! and odd inputs never panic; a masked string has exactly as many characters as the input,
//! one `*` for each hidden one.

/// The visible head and tail of an account number: first 6 and last 4 of a card-length
/// number (16 or more characters); of a shorter one only the last 4, and only when that
/// still hides at least half; of a very short one nothing.
pub fn account_number(number: &str) -> String {
    let n = number.chars().count();
    let (head, tail) = match n {
        16.. => (6, 4),
        8..=15 => (0, 4),
        0..=7 => (0, 0),
    };
    keep(number, head, tail)
}

/// A person's name keeps its first character (`张三` → `张*`, `北京云` → `北**`); a longer,
/// company-like name (more than 6 characters) its first 2 and last 2
/// (`北京云杉科技有限公司` → `北京******公司`). A one-character name is hidden whole.
pub fn name(name: &str) -> String {
    let n = name.chars().count();
    let (head, tail) = match n {
        0 | 1 => (0, 0),
        2..=6 => (1, 0),
        7.. => (2, 2),
    };
    keep(name, head, tail)
}

/// Keeps `head` leading and `tail` trailing characters and stars the rest.
/// Callers guarantee `head + tail < n` for any non-empty input.
fn keep(s: &str, head: usize, tail: usize) -> String {
    let n = s.chars().count();
    s.chars().enumerate().map(|(i, c)| if i < head || i + tail >= n { c } else { '*' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(account_number("6222020000000000018"), "622202*********0018");
        assert_eq!(account_number("6222020000000018"), "622202******0018");
        assert_eq!(account_number("1234567890"), "******7890");
        assert_eq!(account_number("1234567"), "*******");
        assert_eq!(account_number(""), "");
        assert_eq!(name("张三"), "张*");
        assert_eq!(name("北京云"), "北**");
        assert_eq!(name("北京云杉科技有限公司"), "北京******公司");
        assert_eq!(name("Amazon.com"), "Am******om");
        assert_eq!(name("王"), "*");
        assert_eq!(name(""), "");
    }

    /// Positions whose character is shown (not a star that replaced it).
    fn shown(masked: &str) -> Vec<usize> {
        masked.chars().enumerate().filter(|(_, c)| *c != '*').map(|(i, _)| i).collect()
    }

    /// Every shown character is the input's character at the same place.
    fn faithful(input: &str, masked: &str) -> bool {
        input.chars().zip(masked.chars()).all(|(i, m)| m == '*' || m == i)
    }

    proptest! {
        #[test]
        fn account_numbers_reveal_at_most_first_6_and_last_4(s in "\\PC{0,40}") {
            let m = account_number(&s);
            let n = s.chars().count();
            prop_assert_eq!(m.chars().count(), n);
            prop_assert!(faithful(&s, &m));
            let shown = shown(&m);
            prop_assert!(shown.len() <= 10);
            prop_assert!(shown.iter().all(|&i| i < 6 || i + 4 >= n), "middle revealed: {m}");
            if n < 16 {
                prop_assert!(shown.len() * 2 <= n, "more than half of a short number revealed: {m}");
            }
            prop_assert_eq!(account_number(&m), m);
        }

        #[test]
        fn digit_strings_hide_exactly_the_middle(s in "[0-9]{16,19}") {
            let m = account_number(&s);
            let n = s.len();
            prop_assert_eq!(&m[..6], &s[..6]);
            prop_assert_eq!(&m[n - 4..], &s[n - 4..]);
            prop_assert!(m[6..n - 4].bytes().all(|b| b == b'*'));
        }

        #[test]
        fn names_reveal_at_most_2_and_2_and_never_all(s in "\\PC{0,30}") {
            let m = name(&s);
            let n = s.chars().count();
            prop_assert_eq!(m.chars().count(), n);
            prop_assert!(faithful(&s, &m));
            let shown = shown(&m);
            if n <= 6 {
                prop_assert!(shown.iter().all(|&i| i == 0) && (n != 1 || shown.is_empty()), "{m}");
            } else {
                prop_assert!(shown.iter().all(|&i| i < 2 || i + 2 >= n), "{m}");
            }
            prop_assert_eq!(name(&m), m);
        }
    }
}
