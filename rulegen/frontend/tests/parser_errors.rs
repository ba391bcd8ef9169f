//! Parse errors: Falco's messages, Falco's positions, and hostile input that must fail cleanly.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use kaudit_frontend::cond::{line_col, parse, print, ParseError, MAX_DEPTH};

fn err(text: &str) -> ParseError {
    match parse(text) {
        Ok(e) => panic!("{text:?} parsed: {e:?}"),
        Err(e) => e,
    }
}

/// Message and Falco's 1-based column (single-line texts).
fn err_at(text: &str) -> (String, u32) {
    let e = err(text);
    let (line, col) = line_col(text, e.offset);
    assert_eq!(line, 1, "{text:?}");
    (e.message, col)
}

const TRANSFORMERS: &str =
    "'val', 'tolower', 'toupper', 'b64', 'basename', 'len', 'join', 'concat', 'getopt'";

#[test]
fn positions_measured_on_real_falco() {
    // Each case is a micro case of conformance/micro; Falco reported the condition's YAML column
    // (13) plus the parser column given here.
    assert_eq!(
        err_at("ka.verb in a, b"), // `ka.verb in two` after expanding list two=[a, b]
        (
            "unexpected token after 'a', expecting 'or', 'and'".to_string(),
            13
        )
    );
    assert_eq!(
        err_at(r#"ka.response.code >= "400""#),
        (
            format!("expected a number value or a field with a valid transformer: {TRANSFORMERS}"),
            21
        )
    );
    assert_eq!(
        err_at(r#"ka.user.name contains"al""#),
        (
            "expected a valid check operator: one of 'exists', '<=', '<', '>=', '>', '==', '=', '!=', 'glob', \
             'iglob', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex', \
             'intersects', 'in', 'pmatch'"
                .to_string(),
            14
        )
    );
    assert_eq!(
        err_at("jevt.value[/a b] exists"),
        ("expected a ']' token".to_string(), 14)
    );
    assert_eq!(
        err_at(r#"ka.user.name = "\x41""#),
        ("unsupported string escape sequence: \\x".to_string(), 22)
    );
    assert_eq!(
        err_at(r#"ka.user.name regex "\d+""#),
        ("unsupported string escape sequence: \\d".to_string(), 25)
    );
    // A string cannot end in an escaped backslash: the quote is unterminated and not a value.
    assert_eq!(
        err_at(r#"ka.user.name = "b\\" or ka.verb = get"#),
        (
            format!("expected a string value or a field with a valid transformer: {TRANSFORMERS}"),
            16
        )
    );
    // `override: {exceptions: replace}` without comps generates a field with no operator.
    let e = err("(ka.verb = create) and not (ka.target.namespace  (kube-system))");
    assert!(
        e.message
            .starts_with("expected a valid check operator: one of 'exists'"),
        "{}",
        e.message
    );
    assert_eq!(line_col("", 0), (1, 1));
    assert_eq!(e.offset + 1, 63 - 13);
}

#[test]
fn empty_and_blank_conditions() {
    assert_eq!(err_at(""), ("filter input string is empty".to_string(), 1));
    assert_eq!(
        err_at("  "),
        (
            "expected a '(' token, a field check, or an identifier".to_string(),
            3
        )
    );
}

#[test]
fn trailing_garbage_names_the_last_token() {
    assert_eq!(
        err_at("a b").0,
        "unexpected token after 'a', expecting 'or', 'and'"
    );
    assert_eq!(
        err_at("ka.verb exists foo").0,
        "unexpected token after 'exists', expecting 'or', 'and'"
    );
    assert_eq!(
        err_at("(ka.verb in (a)) )").0,
        "unexpected token after ')', expecting 'or', 'and'"
    );
    assert_eq!(
        err_at("ka.verb = 'x y' z").0,
        "unexpected token after 'x y', expecting 'or', 'and'"
    );
    assert_eq!(
        err_at("evt.num > 5abc"),
        (
            "unexpected token after '5', expecting 'or', 'and'".to_string(),
            12
        )
    );
}

#[test]
fn keyword_and_operator_errors() {
    assert_eq!(
        err_at("a orb"),
        ("expected blank or '(' after 'or'".to_string(), 5)
    );
    assert_eq!(
        err_at("a andb"),
        ("expected blank or '(' after 'and'".to_string(), 6)
    );
    assert_eq!(err_at("(a"), ("expected a ')' token".to_string(), 3));
    assert_eq!(err_at("not(a"), ("expected a ')' token".to_string(), 6));
    assert_eq!(
        err_at("ka.verb").0.split(':').next(),
        Some("expected a valid check operator")
    );
    assert_eq!(
        err_at("ka.verb glob").0.split(':').next(),
        Some("expected a valid check operator")
    );
    assert_eq!(
        err_at("a and )").0,
        "expected a '(' token, a field check, or an identifier"
    );
}

#[test]
fn value_errors() {
    assert_eq!(
        err_at("ka.verb = (x)").0,
        format!("expected a string value or a field with a valid transformer: {TRANSFORMERS}")
    );
    assert_eq!(
        err_at("ka.verb in 'x'").0,
        format!(
            "expected a list, an identifier, or a field with a valid transformer: {TRANSFORMERS}"
        )
    );
    assert_eq!(
        err_at("ka.verb in (a,)"),
        ("expected a string value".to_string(), 15)
    );
    assert_eq!(
        err_at("ka.verb in (a b)"),
        ("expected a ')' token".to_string(), 15)
    );
    assert_eq!(
        err_at("ka.verb in (, a)"),
        ("expected a ')' token".to_string(), 13)
    );
    assert_eq!(err_at("ka.verb in ((a))").0, "expected a ')' token");
    assert_eq!(
        err_at("evt.num > abc").0,
        format!("expected a number value or a field with a valid transformer: {TRANSFORMERS}")
    );
    assert_eq!(
        err_at("ka.verb = \"abc").0,
        format!("expected a string value or a field with a valid transformer: {TRANSFORMERS}")
    );
    assert_eq!(
        err_at(r"ka.verb = 'a\'").0,
        format!("expected a string value or a field with a valid transformer: {TRANSFORMERS}")
    );
    assert_eq!(
        err_at(r#"ka.verb = 'a\"'"#).0,
        "invalid \\\" escape in '-quoted string"
    );
    assert_eq!(
        err_at(r#"ka.verb = "a\'""#).0,
        "invalid \\' escape in \"-quoted string"
    );
}

#[test]
fn a_bad_escape_in_the_first_list_item_reads_as_an_empty_list_like_falco() {
    // Falco swallows any error on the first list item (it may be an empty list) and keeps the
    // cursor where the failing string ended.
    assert!(parse(r#"ka.verb in ("\x")"#).is_ok());
    assert_eq!(err_at(r#"ka.verb in ("\x", a)"#).0, "expected a ')' token");
    assert_eq!(
        err_at(r#"ka.verb in (a, "\x")"#).0,
        "unsupported string escape sequence: \\x"
    );
}

#[test]
fn field_argument_and_transformer_errors() {
    assert_eq!(
        err_at("ka.x[] exists"),
        (
            "expected a valid field argument: a quoted string or a bare string".to_string(),
            6
        )
    );
    assert_eq!(err_at("ka.x[a exists").0, "expected a ']' token");
    assert_eq!(
        err_at("ka.x [a] exists").0.split(':').next(),
        Some("expected a valid check operator")
    );
    assert_eq!(
        err_at("tolower(ka.x = y").0,
        "expected a ')' token closing the transformer"
    );
    assert_eq!(
        err_at("tolower(x) = y").0,
        "expected field transformer argument: field, transformer, quoted string, number, or transformer list"
    );
    assert_eq!(
        err_at("ka.y = val(x)").0,
        "expected a field within 'val' transformer"
    );
    assert_eq!(
        err_at("ka.y = val(ka.x").0,
        "expected a ')' token closing the transformer"
    );
    assert_eq!(err_at("join(',', (ka.a ka.b)) = x").0, "expected ')'");
    assert_eq!(
        err_at("join(',', (x)) = x").0,
        "expected transformer list argument: field, transformer, quoted string, or number"
    );
}

#[test]
fn line_col_counts_like_falco() {
    assert_eq!(line_col("abc", 0), (1, 1));
    assert_eq!(line_col("abc", 2), (1, 3));
    assert_eq!(line_col("a\nbc", 3), (2, 2));
    assert_eq!(line_col("a\r\nb", 3), (3, 1));
    assert_eq!(line_col("ab", 99), (1, 3));
    let e = err("ka.verb = get and\n  ka.x");
    assert_eq!(line_col("ka.verb = get and\n  ka.x", e.offset), (2, 7));
}

/// Runs `f` on a thread with the default 2 MiB stack, as rule loading would.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic, no overflow")
}

#[test]
fn nesting_up_to_the_limit_parses_and_beyond_fails_cleanly() {
    let depth = usize::try_from(MAX_DEPTH).unwrap();
    on_small_stack(move || {
        let ok = format!("{}a{}", "(".repeat(depth), ")".repeat(depth));
        let tree = parse(&ok).expect("at the limit");
        // The tree survives printing and dropping on this stack too.
        assert_eq!(print(&tree), "a");
        let deep_not = format!("{}a{}", "not(".repeat(depth), ")".repeat(depth));
        let tree = parse(&deep_not).expect("not( at the limit");
        assert!(print(&tree).starts_with("not (not (not"));
        let deep_tx = format!(
            "{}ka.x{} exists",
            "tolower(".repeat(depth),
            ")".repeat(depth)
        );
        parse(&deep_tx).expect("transformers at the limit");

        for text in [
            format!("{}a{}", "(".repeat(depth + 1), ")".repeat(depth + 1)),
            format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000)),
            format!(
                "{}ka.x{} exists",
                "tolower(".repeat(10_000),
                ")".repeat(10_000)
            ),
            format!("{}a", "not(".repeat(10_000)),
            "(".repeat(1 << 20),
            format!("ka.x = {}ka.y", "tolower(".repeat(10_000)),
            format!("join(',', ({}ka.x)) = x", "tolower(".repeat(10_000)),
        ] {
            let e = parse(&text).unwrap_err();
            assert!(
                e.message.starts_with("maximum nesting depth exceeded"),
                "{}",
                e.message
            );
        }
    });
}

#[test]
fn long_not_chains_are_loops_not_recursion() {
    on_small_stack(|| {
        assert_eq!(
            print(&parse(&format!("{}a", "not ".repeat(100_001))).unwrap()),
            "not a"
        );
    });
}

#[test]
fn a_megabyte_condition_parses_in_linear_time() {
    let clause = "ka.verb = get or ka.user.name in (a, \"b c\", d) and not m1 or ";
    let mut text = clause.repeat((1 << 20) / clause.len() + 1);
    text.push_str("ka.verb exists");
    let started = Instant::now();
    let tree = parse(&text).expect("parses");
    let printed = print(&tree);
    assert_eq!(parse(&printed).map(|_| ()), Ok(()));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );

    // Failures late in a huge text are found quickly too.
    let started = Instant::now();
    for bad in [
        format!("{text} )"),
        format!("{text} and \""),
        format!("ka.verb in ({}", "x, ".repeat(200_000)),
    ] {
        assert!(parse(&bad).is_err());
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz over a grammar-heavy alphabet (proptest covers round trips).
    let alphabet: Vec<char> = "ab.()[]'\"\\ ,=<>!nototandor0x1e+-_\n\té\u{0}"
        .chars()
        .collect();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        let mut s = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 40) as usize;
        for k in 0..len {
            let r = seed.rotate_left(k as u32 * 5);
            s.push(alphabet[(r % alphabet.len() as u64) as usize]);
        }
        if let Ok(tree) = parse(&s) {
            let again = parse(&print(&tree));
            assert!(again.is_ok(), "{s:?} printed as {:?}", print(&tree));
        }
    }
}
