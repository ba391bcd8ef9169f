//! The generated code for a small rule set, printed as users see it (`kaudit codegen`), pinned by a
//! snapshot: a change to the generator shows up as a reviewable diff.

use kaudit_codegen::generate;
use kaudit_frontend::load::load_sources;

fn pretty(tokens: proc_macro2::TokenStream) -> String {
    let text = tokens.to_string();
    match syn::parse_str::<syn::File>(&text) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => panic!("generated code does not parse: {e}\n{text}"),
    }
}

#[test]
fn generated_code_for_a_small_rule_set() {
    let text = include_str!("data/codegen_snapshot.yaml");
    let res = load_sources(&[("codegen_snapshot.yaml", text)]);
    let Some(ruleset) = res.ruleset else {
        panic!("snapshot rules do not load:\n{}", res.render())
    };
    insta::assert_snapshot!(pretty(generate(&ruleset)));
}
