//! Every error and warning class of the loader: Falco's code, exact message, Falco's position, and
//! our rendered diagnostic (snapshot) with file:line:col and the caret under the offending text.

// Test code: a panic is a failed test. The no-panic lints in Cargo.toml are for production code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kaudit_frontend::diag::Diagnostic;
use kaudit_frontend::load::{load_sources, LoadResult};

const RULE: &str = "- rule: r\n  desc: d\n  condition: ka.verb = get\n  output: x\n  priority: WARNING\n  source: k8s_audit\n";

/// A k8s_audit rule `r` with the given condition.
fn rule(cond: &str) -> String {
    format!("- rule: r\n  desc: d\n  condition: {cond}\n  output: x\n  priority: WARNING\n  source: k8s_audit\n")
}

fn load(files: &[&str]) -> LoadResult {
    let named: Vec<(String, &str)> = files
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("f{i}.yaml"), *t))
        .collect();
    load_sources(&named)
}

/// Loads, checks the first error (or, with `ok`, the named warning) and snapshots the rendering.
fn case(
    name: &str,
    files: &[&str],
    code: &str,
    message: &str,
    falco_pos: Option<(u32, u32)>,
) -> Diagnostic {
    let res = load(files);
    let d = res
        .diagnostics
        .iter()
        .find(|d| d.code == code)
        .unwrap_or_else(|| panic!("{name}: no {code} in:\n{}", res.render()))
        .clone();
    assert_eq!(d.message, message, "{name}");
    if d.is_error() {
        assert!(
            res.ruleset.is_none(),
            "{name}: an error must leave no ruleset"
        );
        assert_eq!(res.errors().count(), 1, "{name}: exactly one error");
    }
    if let Some(p) = falco_pos {
        assert_eq!(d.falco_pos, Some(p), "{name}: Falco position");
    }
    insta::assert_snapshot!(name, res.render_one(&d));
    d
}

#[test]
fn yaml_and_structure_errors() {
    case(
        "yaml_syntax",
        &["- rule: r\n  tags: [a, b\n  desc: x\n"],
        "LOAD_ERR_YAML_PARSE",
        "yaml: error at line 3, column 7: illegal placement of ':' indicator",
        Some((2, 6)),
    );
    case(
        "not_a_sequence",
        &["rule: r\n"],
        "LOAD_ERR_YAML_VALIDATE",
        "Rules content is not yaml array of objects",
        Some((0, 0)),
    );
    case(
        "scalar_document",
        &["just text\n"],
        "LOAD_ERR_YAML_VALIDATE",
        "Rules content is not yaml",
        Some((0, 0)),
    );
    case(
        "element_not_a_map",
        &["- [a, b]\n"],
        "LOAD_ERR_YAML_VALIDATE",
        "Unexpected element type. Each element should be a yaml associative array.",
        Some((0, 2)),
    );
    case(
        "missing_key",
        &["- rule: r\n  desc: d\n  output: x\n  priority: INFO\n"],
        "LOAD_ERR_YAML_VALIDATE",
        "Item has no mapping for key 'condition'",
        Some((0, 2)),
    );
    case(
        "empty_mapping",
        &["- macro: m\n  condition:\n"],
        "LOAD_ERR_YAML_VALIDATE",
        "Mapping for key 'condition' is empty",
        Some((0, 2)),
    );
    case(
        "not_scalar",
        &["- list: l\n  items: [a]\n- macro: [x]\n  condition: a\n"],
        "LOAD_ERR_YAML_VALIDATE",
        "Value is not a scalar value",
        Some((2, 9)),
    );
    case(
        "empty_value",
        &[&format!(
            "{RULE}- rule: r\n  output: \"\"\n  override:\n    output: append\n"
        )],
        "LOAD_ERR_YAML_VALIDATE",
        "Value must be non-empty",
        Some((7, 10)),
    );
    case(
        "bad_bool",
        &[&format!("{RULE}  enabled: nope\n")],
        "LOAD_ERR_YAML_VALIDATE",
        "Can't decode YAML scalar value",
        Some((6, 11)),
    );
    case("invalid_priority", &["- rule: r\n  desc: d\n  condition: ka.verb = get\n  output: x\n  priority: warn\n  source: k8s_audit\n"], "LOAD_ERR_YAML_VALIDATE", "Invalid priority", Some((4, 12)));
    case(
        "items_not_a_sequence",
        &["- list: l\n  items: a\n"],
        "LOAD_ERR_YAML_VALIDATE",
        "Value is not a sequence",
        Some((1, 9)),
    );
    case(
        "item_not_scalar",
        &["- list: l\n  items: [a, [b]]\n"],
        "LOAD_ERR_YAML_VALIDATE",
        "sequence value is not scalar",
        Some((1, 13)),
    );
    case("engine_version_string", &["- required_engine_version: abc\n"], "LOAD_ERR_YAML_VALIDATE", "Unable to parse engine version 'abc' as a semver string. Expected \"x.y.z\" semver format.", Some((0, 2)));
}

#[test]
fn override_errors() {
    case(
        "override_priority_append",
        &[&format!(
            "{RULE}- rule: r\n  priority: ERROR\n  override:\n    priority: append\n"
        )],
        "LOAD_ERR_YAML_VALIDATE",
        "Key 'priority' cannot be appended to, use 'replace' instead",
        Some((9, 4)),
    );
    case(
        "override_source_replace",
        &[&format!(
            "{RULE}- rule: r\n  source: k8s_audit\n  override:\n    source: replace\n"
        )],
        "LOAD_ERR_YAML_VALIDATE",
        "Key 'source' cannot be replaced",
        Some((9, 4)),
    );
    case(
        "override_bad_operation",
        &[&format!(
            "{RULE}- rule: r\n  output: y\n  override:\n    output: merge\n"
        )],
        "LOAD_ERR_YAML_VALIDATE",
        "Invalid override operation for key 'output': 'merge'. Allowed values are: append replace ",
        Some((9, 12)),
    );
    case("override_with_append", &[&format!("{RULE}- rule: r\n  condition: and ka.user.name = bob\n  append: true\n  override:\n    condition: append\n")], "LOAD_ERR_YAML_VALIDATE", "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.", Some((6, 2)));
    case(
        "override_key_not_defined",
        &[&format!(
            "{RULE}- rule: r\n  output: y\n  override:\n    output: append\n    desc: append\n"
        )],
        "LOAD_ERR_YAML_VALIDATE",
        "An append override for 'desc' was specified but 'desc' is not defined",
        Some((6, 2)),
    );
    case(
        "override_unexpected_key",
        &[&format!(
            "{RULE}- rule: r\n  output: y\n  desc: z\n  override:\n    output: append\n"
        )],
        "LOAD_ERR_YAML_VALIDATE",
        "Unexpected key 'desc': no corresponding entry under 'override' is defined.",
        Some((8, 8)),
    );
}

#[test]
fn collector_errors() {
    case(
        "list_append_no_previous",
        &["- list: l\n  items: [a]\n  append: true\n"],
        "LOAD_ERR_VALIDATE",
        "List uses 'append' or 'override.items: append' but no list by that name already exists",
        Some((0, 2)),
    );
    case("macro_append_no_previous", &["- macro: m\n  condition: a\n  override:\n    condition: append\n"], "LOAD_ERR_VALIDATE", "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists", Some((0, 2)));
    case(
        "rule_append_no_previous",
        &["- rule: nosuch\n  condition: and ka.verb = get\n  append: true\n"],
        "LOAD_ERR_VALIDATE",
        "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists",
        Some((0, 2)),
    );
    case("rule_replace_no_previous", &["- rule: nosuch\n  output: y\n  override:\n    output: replace\n"], "LOAD_ERR_VALIDATE", "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists", Some((0, 2)));
    case(
        "enabled_no_previous",
        &["- rule: nosuch\n  enabled: false\n"],
        "LOAD_ERR_VALIDATE",
        "Rule has 'enabled' key but no rule by that name already exists",
        Some((0, 2)),
    );
    case("redefined_other_source", &[&format!("{RULE}- rule: r\n  desc: d\n  condition: ka.verb = create\n  output: x\n  priority: WARNING\n")], "LOAD_ERR_VALIDATE", "Rule has been re-defined with a different source", Some((6, 2)));
    case(
        "engine_version_too_high",
        &["- required_engine_version: 999\n"],
        "LOAD_ERR_VALIDATE",
        "Rules require engine version 0.999.0, but engine version is 0.62.0",
        Some((0, 2)),
    );
    case(
        "plugin_version_invalid",
        &["- required_plugin_versions:\n  - name: k8saudit\n    version: x.y\n"],
        "LOAD_ERR_VALIDATE",
        "Invalid required version 'x.y' for plugin 'k8saudit'",
        Some((1, 4)),
    );
    case("plugin_version_unsatisfied", &[&format!("- required_plugin_versions:\n  - name: k8saudit\n    version: 99.0.0\n{RULE}")], "PLUGIN_REQUIREMENT", "Plugin 'k8saudit' version '0.18.0' is not compatible with required plugin version '99.0.0'", Some((1, 4)));
    case("plugin_not_loaded", &["- required_plugin_versions:\n  - name: cloudtrail\n    version: 0.1.0\n    alternatives:\n    - name: other\n      version: 1.0.0\n"], "PLUGIN_REQUIREMENT", "Plugin requirement not satisfied, must load one of: cloudtrail (>= 0.1.0), other (>= 1.0.0)", Some((1, 4)));
}

#[test]
fn exception_errors() {
    let with = |ex: &str| format!("{RULE}  exceptions:\n{ex}");
    case(
        "exceptions_not_sequence",
        &[&with("    name: e\n")],
        "LOAD_ERR_YAML_VALIDATE",
        "Rule exceptions must be a sequence",
        Some((7, 4)),
    );
    case(
        "exception_not_mapping",
        &[&with("  - e\n")],
        "LOAD_ERR_YAML_VALIDATE",
        "Rule exception must be a mapping",
        Some((7, 4)),
    );
    case(
        "exception_no_fields",
        &[&with("  - name: e\n    values: [a]\n")],
        "LOAD_ERR_YAML_VALIDATE",
        "Item has no mapping for key 'fields'",
        Some((7, 4)),
    );
    case("exception_single_bad_comp", &[&with("  - name: e\n    fields: ka.user.name\n    comps: \"=\"\n    values: [bob]\n")], "LOAD_ERR_VALIDATE", "When fields is a single value, comps must be one of (in, pmatch, intersects) or a modifier operator (e.g. startswith oneof)", Some((7, 4)));
    case("exception_comps_length", &[&with("  - name: e\n    fields: [ka.user.name, ka.verb]\n    comps: [=]\n    values: [[a, b]]\n")], "LOAD_ERR_VALIDATE", "Fields and comps lists must have equal length", Some((7, 4)));
    case(
        "exception_bad_operator",
        &[&with(
            "  - name: e\n    fields: [ka.user.name]\n    comps: [like]\n    values: [[a]]\n",
        )],
        "LOAD_ERR_VALIDATE",
        "'like' is not a supported comparison operator",
        Some((7, 4)),
    );
    case(
        "exception_unknown_field",
        &[&with(
            "  - name: e\n    fields: [ka.nosuch]\n    values: [[bob]]\n",
        )],
        "LOAD_ERR_VALIDATE",
        "'ka.nosuch' is not a supported filter field",
        Some((7, 4)),
    );
    case(
        "exception_values_length",
        &[&with(
            "  - name: e\n    fields: [ka.user.name, ka.verb]\n    values:\n    - [bob]\n",
        )],
        "LOAD_ERR_VALIDATE",
        "Fields and values lists must have equal length",
        Some((7, 4)),
    );
    case(
        "exception_nested_single",
        &[&with(
            "  - name: e\n    fields: ka.user.name\n    values: [[bob]]\n",
        )],
        "LOAD_ERR_VALIDATE",
        "Expected values array to contain a list of strings",
        Some((7, 4)),
    );
    case("exception_append_fields", &[&format!("{}- rule: r\n  exceptions:\n  - name: e\n    fields: [ka.verb]\n    values: [[x]]\n  override:\n    exceptions: append\n", with("  - name: e\n    fields: [ka.user.name]\n    values: [[bob]]\n"))], "LOAD_ERR_VALIDATE", "Can not append exception fields to existing exception, only values", Some((12, 4)));
}

#[test]
fn condition_errors() {
    let d = case(
        "parse_error",
        &[&rule("ka.verb = get x")],
        "LOAD_ERR_COMPILE_CONDITION",
        "unexpected token after 'get', expecting 'or', 'and'",
        Some((2, 13)),
    );
    assert_eq!(d.expr_pos, Some((3, 28)));
    case(
        "unknown_field",
        &[&rule("ka.verb = get and ka.nosuch = x")],
        "LOAD_ERR_COMPILE_CONDITION",
        "filter_check called with nonexistent field ka.nosuch",
        Some((2, 13)),
    );
    case("arg_not_allowed", &[&rule("ka.verb[x] = y")], "LOAD_ERR_COMPILE_CONDITION", "filter 'ka.verb[x]': ka.verb does not allow nor require an argument but one is provided: x", Some((2, 13)));
    case(
        "arg_required",
        &[&rule("ka.uri.param = y")],
        "LOAD_ERR_COMPILE_CONDITION",
        "filter 'ka.uri.param': ka.uri.param requires an argument but none provided",
        Some((2, 13)),
    );
    case("index_leading_zero", &[&rule("ka.req.pod.containers.image[01] exists")], "LOAD_ERR_COMPILE_CONDITION", "filter ka.req.pod.containers.image[01] ka.req.pod.containers.image has an invalid index argument starting with 0: 01", Some((2, 13)));
    case("index_not_digits", &[&rule("ka.req.pod.containers.image[x1] exists")], "LOAD_ERR_COMPILE_CONDITION", "filter ka.req.pod.containers.image[x1] ka.req.pod.containers.image has an invalid index argument not composed only by digits: x1", Some((2, 13)));
    case(
        "bcontains_on_string",
        &[&rule("ka.user.name bcontains 616c")],
        "LOAD_ERR_COMPILE_CONDITION",
        "filter error: 'bcontains' operator not supported for string filters",
        Some((2, 13)),
    );
    case(
        "contains_on_number",
        &[&rule("evt.num contains 1")],
        "LOAD_ERR_COMPILE_CONDITION",
        "filter error: 'contains' operator not supported for numeric filters",
        Some((2, 13)),
    );
    case(
        "number_literal",
        &[&rule("evt.num > 0x10")],
        "LOAD_ERR_COMPILE_CONDITION",
        "0x10 is not a valid number",
        Some((2, 13)),
    );
    case("val_list_mismatch", &[&rule("ka.verb in val(ka.user.groups)")], "LOAD_ERR_COMPILE_CONDITION", "field 'ka.verb' has type 'CHARBUF' while the right-hand side field 'ka.user.groups' has incompatible type 'CHARBUF (list)'", Some((2, 13)));
    case(
        "transformer_type",
        &[&rule("tolower(evt.num) = 1")],
        "LOAD_ERR_COMPILE_CONDITION",
        "field type 'UINT64' is not supported by 'tolower' transformer",
        Some((2, 13)),
    );
    case(
        "pmatch_rhs_field",
        &[&rule("ka.uri pmatch val(ka.verb)")],
        "LOAD_ERR_COMPILE_CONDITION",
        "operator 'pmatch' doesn't support right-hand side fields",
        Some((2, 13)),
    );
    case(
        "bool_literal",
        &[&rule("evt.is_async = yes")],
        "LOAD_ERR_COMPILE_CONDITION",
        "filter error: unrecognized boolean value yes",
        Some((2, 13)),
    );
    case(
        "invalid_regex",
        &[&rule("ka.user.name regex \"a(b\"")],
        "LOAD_ERR_COMPILE_CONDITION",
        "invalid regex pattern: missing ): a(b",
        Some((2, 13)),
    );
}

#[test]
fn macro_errors() {
    let d = case(
        "undefined_macro",
        &[&rule("not_a_macro and ka.verb = get")],
        "LOAD_ERR_VALIDATE",
        "Undefined macro 'not_a_macro' used in filter.",
        Some((0, 2)),
    );
    assert_eq!(d.expr_pos, Some((1, 3)));
    let d = case("macro_forward_reference", &[&format!("- macro: m1\n  condition: m2 and ka.verb = get\n- macro: m2\n  condition: ka.user.name = bob\n{}", rule("m1"))], "LOAD_ERR_VALIDATE", "Undefined macro 'm2' used in filter.", Some((0, 2)));
    assert_eq!(d.item_type, "macro");
    let d = case("macro_loop", &[&format!("- macro: m2\n  condition: ka.verb = get\n- macro: m1\n  condition: m2\n- macro: m2\n  condition: m1\n{}", rule("m1"))], "LOAD_ERR_VALIDATE", "reference loop in macro 'm1'", Some((4, 2)));
    assert_eq!(d.expr_pos, Some((5, 3)));
    let res = load(&[
        &rule("later"),
        "- macro: later\n  condition: ka.verb = get\n",
    ]);
    let e = res.errors().next().expect("error in file 1");
    assert_eq!(
        (e.message.as_str(), e.span.map(|s| s.file)),
        ("Undefined macro 'later' used in filter.", Some(0))
    );
    case("macro_parse_error", &["- macro: m\n  condition: ka.verb =\n"], "LOAD_ERR_COMPILE_CONDITION", "expected a string value or a field with a valid transformer: 'val', 'tolower', 'toupper', 'b64', 'basename', 'len', 'join', 'concat', 'getopt'", Some((1, 13)));
}

#[test]
fn output_errors() {
    let out = |o: &str| {
        format!("- rule: r\n  desc: d\n  condition: ka.verb = get\n  output: '{o}'\n  priority: WARNING\n  source: k8s_audit\n")
    };
    case(
        "output_dangling_percent",
        &[&out("100%")],
        "LOAD_ERR_COMPILE_OUTPUT",
        "invalid formatting syntax: formatting cannot end with a %",
        Some((3, 10)),
    );
    case(
        "output_unknown_field",
        &[&out("v=%ka.nosuch")],
        "LOAD_ERR_COMPILE_OUTPUT",
        "unknown filter: unexpected token after '",
        Some((3, 10)),
    );
    // A misspelt field: its whole extent is marked and the condition's "did you mean" hint follows.
    case(
        "output_misspelt_field",
        &[&out("user=%ka.usr.name verb=%ka.verb")],
        "LOAD_ERR_COMPILE_OUTPUT",
        "unknown filter: unexpected token after '",
        Some((3, 10)),
    );
}

#[test]
fn warnings() {
    let w = |name: &str, files: &[&str], code: &str, msg: &str, pos| {
        let d = case(name, files, code, msg, pos);
        assert!(!d.is_error(), "{name}");
        assert!(
            load(files).is_ok(),
            "{name}: warnings must not fail the load"
        );
        d
    };
    w(
        "unknown_item",
        &[&format!("- colour: blue\n{RULE}")],
        "LOAD_UNKNOWN_ITEM",
        "Unknown top level item",
        Some((0, 2)),
    );
    w(
        "unknown_key",
        &[&format!("{RULE}  colour: blue\n")],
        "LOAD_UNKNOWN_KEY",
        "Unknown key 'colour'. The key will be ignored.",
        Some((0, 2)),
    );
    w("legacy_append", &[&format!("{RULE}- rule: r\n  condition: or ka.verb = create\n  append: true\n")], "LOAD_DEPRECATED_ITEM", "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.", Some((6, 2)));
    w("standalone_enabled", &[&format!("{RULE}- rule: r\n  enabled: false\n")], "LOAD_DEPRECATED_ITEM", "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').", Some((6, 2)));
    w("invalid_macro_name", &[&format!("- macro: bad-name\n  condition: ka.verb = get\n{RULE}")], "LOAD_INVALID_MACRO_NAME", "Macro has an invalid name. Macro names should match a regular expression: ([a-zA-Z]+[a-zA-Z0-9_]*)", Some((0, 2)));
    w("invalid_list_name", &[&format!("- list: \"a,b\"\n  items: [x]\n{RULE}")], "LOAD_INVALID_LIST_NAME", "List has an invalid name. List names should match a regular expression: ([^()\"'[:space:]=,]+)", Some((0, 2)));
    w(
        "unused_macro",
        &[&format!("- macro: m\n  condition: ka.verb = get\n{RULE}")],
        "LOAD_UNUSED_MACRO",
        "Macro not referred to by any other rule/macro",
        Some((0, 2)),
    );
    w(
        "unused_list",
        &[&format!("- list: l\n  items: [a]\n{RULE}")],
        "LOAD_UNUSED_LIST",
        "List not referred to by any other rule/macro",
        Some((0, 2)),
    );
    w("unknown_source", &["- rule: r\n  desc: d\n  condition: whatever.field = x\n  output: x\n  priority: WARNING\n  source: nosuch_source\n"], "LOAD_UNKNOWN_SOURCE", "Unknown source nosuch_source, skipping", Some((0, 2)));
    let d = w(
        "unsafe_na_check",
        &[&rule("\"ka.target.subresource != \\\"<NA>\\\"\"")],
        "LOAD_UNSAFE_NA_CHECK",
        "",
        Some((2, 13)),
    );
    assert_eq!(d.expr_pos, Some((2, 13)));
    let d = w(
        "field_as_value",
        &[&rule("ka.verb = ka.user.name")],
        "LOAD_COMPILE_CONDITION",
        "'ka.user.name' may be a valid field misused as a const string value",
        Some((2, 13)),
    );
    assert_eq!(d.expr_pos, Some((3, 24)));
    w("list_field_operator", &[&rule("ka.user.groups contains dev")], "LOAD_DEPRECATED_ITEM", "'contains' on the list field 'ka.user.groups' is deprecated (Falco 0.44 rejects it: \"'contains' operator not supported list filters\"); kaudit treats it as true when some element satisfies it", Some((2, 13)));
    w("exception_name_not_unique", &[&format!("{RULE}  exceptions:\n  - name: e\n    fields: ka.user.name\n    values: [a]\n  - name: e\n    fields: ka.verb\n    values: [b]\n")], "LOAD_EXCEPTION_NAME_NOT_UNIQUE", "Multiple definitions of exception 'e' in the same rule", Some((10, 4)));
    w("append_no_values", &[&format!("{RULE}  exceptions:\n  - name: e\n    fields: ka.user.name\n    values: [a]\n- rule: r\n  exceptions:\n  - name: e\n  override:\n    exceptions: append\n")], "LOAD_APPEND_NO_VALUES", "Overriding/appending exception with no values", Some((12, 4)));
    let skip = |cond: &str, out: &str| {
        format!("- rule: r\n  desc: d\n  condition: {cond}\n  output: {out}\n  priority: WARNING\n  source: k8s_audit\n  skip-if-unknown-filter: true\n")
    };
    let d = w(
        "skip_unknown_field",
        &[&skip("ka.nosuch = x", "x")],
        "LOAD_UNKNOWN_FILTER",
        "filter_check called with nonexistent field ka.nosuch",
        Some((2, 13)),
    );
    assert_eq!(d.expr_pos, Some((3, 14)));
    w(
        "skip_unknown_output",
        &[&skip("ka.verb = x", "'%ka.nosuch'")],
        "LOAD_UNKNOWN_FILTER",
        "unknown filter: unexpected token after '",
        Some((3, 10)),
    );
    let res = load(&[&skip("ka.nosuch = x", "x")]);
    assert_eq!(
        res.ruleset.expect("loads").rules.len(),
        0,
        "a skipped rule is dropped"
    );
}

#[test]
fn positions_inside_folded_and_quoted_conditions() {
    let folded = "- rule: r\n  desc: d\n  condition: >\n    ka.verb = get and\n      ka.nosuch = x\n  output: o\n  priority: WARNING\n  source: k8s_audit\n";
    let d = case(
        "folded_condition",
        &[folded],
        "LOAD_ERR_COMPILE_CONDITION",
        "filter_check called with nonexistent field ka.nosuch",
        Some((2, 13)),
    );
    let s = d.span.expect("span");
    assert_eq!((s.line, s.col, s.len), (5, 7, 9));
    let quoted = "- rule: r\n  desc: d\n  condition: \"ka.user.name = \\\"a\\\" and ka.nosuch = x\"\n  output: o\n  priority: WARNING\n  source: k8s_audit\n";
    let d = case(
        "quoted_condition",
        &[quoted],
        "LOAD_ERR_COMPILE_CONDITION",
        "filter_check called with nonexistent field ka.nosuch",
        Some((2, 13)),
    );
    let s = d.span.expect("span");
    assert_eq!((s.line, s.col, s.len), (3, 40, 9));
    let with_exception = format!(
        "{}  exceptions:\n  - name: e\n    fields: ka.nosuch2\n    values: []\n",
        rule("ka.verb = get and ka.nosuch = x")
    );
    let res = load(&[&with_exception]);
    let e = res.errors().next().expect("error");
    assert_eq!(e.message, "'ka.nosuch2' is not a supported filter field");
}

/// An unknown field close to a real one gets a "did you mean" hint; a far one does not.
#[test]
fn unknown_field_suggests_the_closest_catalog_field() {
    let near = load(&[&rule("ka.user.nam = alice")]).render();
    assert!(near.contains("did you mean `ka.user.name`?"), "{near}");
    let far = load(&[&rule("ka.nosuch = x")]).render();
    assert!(far.contains("nonexistent field ka.nosuch"), "{far}");
    assert!(!far.contains("did you mean"), "{far}");
}
