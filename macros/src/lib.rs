//! `compile_rules!()`: Falco rule files compiled to native Rust at build time.
//!
//! * `compile_rules!()` — the files listed (`:`-separated absolute paths) in env `KAUDIT_RULE_FILES`,
//!   which the root `build.rs` sets with `cargo:rustc-env`;
//! * `compile_rules!(from_env = "NAME")` — the same from another variable;
//! * `compile_rules!("a.yaml", "b.yaml")` — explicit files, relative to the calling crate's root.
//!
//! Expands to the items `kaudit_frontend::codegen` generates (`ENGINE`, `RULE_FILES`, ...) plus `RULE_SOURCES`,
//! the rule texts through `include_str!` (which also makes edits to the files rebuild the crate). Load
//! errors become one `compile_error!` with the same text `kaudit validate` prints (file:line:col).

#![forbid(unsafe_code)]

use proc_macro2::TokenStream;
use quote::quote;
use std::path::PathBuf;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{LitStr, Token};

#[proc_macro]
pub fn compile_rules(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand(input.into(), &|name| std::env::var(name).ok()).into()
}

/// Where the rule files come from.
enum Files {
    Env(String),
    Paths(Vec<String>),
}

impl Parse for Files {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Ok(Files::Env("KAUDIT_RULE_FILES".into()));
        }
        if input.peek(syn::Ident) {
            let key: syn::Ident = input.parse()?;
            if key != "from_env" {
                return Err(syn::Error::new(
                    key.span(),
                    "expected `from_env = \"VAR\"` or rule file paths",
                ));
            }
            input.parse::<Token![=]>()?;
            let var: LitStr = input.parse()?;
            return Ok(Files::Env(var.value()));
        }
        let paths = Punctuated::<LitStr, Token![,]>::parse_terminated(input)?;
        Ok(Files::Paths(paths.iter().map(LitStr::value).collect()))
    }
}

/// The macro without `proc_macro` types, so tests can call it.
fn expand(input: TokenStream, env: &dyn Fn(&str) -> Option<String>) -> TokenStream {
    match try_expand(input, env) {
        Ok(tokens) => tokens,
        Err(message) => quote! { compile_error!(#message); },
    }
}

fn try_expand(
    input: TokenStream,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<TokenStream, String> {
    let files = syn::parse2::<Files>(input).map_err(|e| e.to_string())?;
    // (name shown in diagnostics, absolute path)
    let paths: Vec<(String, PathBuf)> = match files {
        Files::Env(var) => {
            let list = env(&var).ok_or_else(|| {
                format!("compile_rules!: env {var} is not set; set it from build.rs (cargo:rustc-env) or pass rule file paths")
            })?;
            // Shown relative to the calling crate when inside it (`rules/x.yaml`), as rustc shows paths.
            let root = PathBuf::from(env("CARGO_MANIFEST_DIR").unwrap_or_default());
            list.split(':')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let path = PathBuf::from(p);
                    let shown = match path.strip_prefix(&root) {
                        Ok(rel) if !root.as_os_str().is_empty() => rel.display().to_string(),
                        _ => p.to_string(),
                    };
                    (shown, path)
                })
                .collect()
        }
        Files::Paths(list) => {
            let root = PathBuf::from(env("CARGO_MANIFEST_DIR").unwrap_or_default());
            list.into_iter()
                .map(|p| (p.clone(), root.join(&p)))
                .collect()
        }
    };
    let mut sources = Vec::with_capacity(paths.len());
    for (name, path) in &paths {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "compile_rules!: cannot read rule file {}: {e}",
                path.display()
            )
        })?;
        sources.push((name.clone(), text));
    }
    let result = kaudit_frontend::load::load_sources(&sources);
    let Some(ruleset) = result.ruleset.as_ref() else {
        let errors: Vec<String> = result.errors().map(|d| result.render_one(d)).collect();
        return Err(format!("rule files failed to load:\n{}", errors.join("\n")));
    };
    let code = kaudit_codegen::generate(ruleset);
    let includes = paths.iter().map(|(name, path)| {
        let path = path.display().to_string();
        quote! { (#name, include_str!(#path)) }
    });
    Ok(quote! {
        #code

        /// (name, text) of every rule file compiled in, in load order.
        pub const RULE_SOURCES: &[(&str, &str)] = &[#(#includes),*];
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("kaudit-macros-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    }

    fn run(input: TokenStream, files: &[(&str, &str)]) -> String {
        let d = dir();
        for (name, text) in files {
            let _ = std::fs::write(d.join(name), text);
        }
        let root = d.display().to_string();
        expand(input, &|var| {
            (var == "CARGO_MANIFEST_DIR").then(|| root.clone())
        })
        .to_string()
    }

    /// The `compile_error!` message, unescaped.
    fn compile_error_message(out: &str) -> String {
        let parsed = syn::parse_str::<syn::Macro>(out)
            .unwrap_or_else(|e| panic!("not a macro call ({e}): {out}"));
        assert!(parsed.path.is_ident("compile_error"), "{out}");
        syn::parse2::<LitStr>(parsed.tokens)
            .map(|l| l.value())
            .unwrap_or_default()
    }

    #[test]
    fn bad_rule_becomes_compile_error_naming_file_line_and_column() {
        let bad = "- rule: r\n  desc: d\n  condition: ka.verb = get and\n  output: o\n  priority: INFO\n  source: k8s_audit\n";
        let out = run(quote! { "bad_cond.yaml" }, &[("bad_cond.yaml", bad)]);
        let msg = compile_error_message(out.trim_end_matches(" ;").trim_end_matches(';').trim());
        assert!(
            msg.contains("--> bad_cond.yaml:3:30\n"),
            "file, line and column where the condition breaks off: {msg}"
        );
        assert!(msg.contains("3 |   condition: ka.verb = get and"), "{msg}");
        // The same text `kaudit validate` prints for this file.
        let res = kaudit_frontend::load::load_sources(&[("bad_cond.yaml", bad)]);
        let expected: Vec<String> = res.errors().map(|d| res.render_one(d)).collect();
        assert!(!expected.is_empty());
        for e in expected {
            assert!(msg.contains(&e), "{msg}\n--- does not contain ---\n{e}");
        }
    }

    #[test]
    fn unknown_field_is_reported_where_it_is_written() {
        let bad = "- rule: r\n  desc: d\n  condition: ka.verb = get and ka.nosuch = x\n  output: o\n  priority: INFO\n  source: k8s_audit\n";
        let out = run(quote! { "bad_field.yaml" }, &[("bad_field.yaml", bad)]);
        assert!(out.starts_with("compile_error !"), "{out}");
        assert!(out.contains("bad_field.yaml:3:"), "{out}");
        assert!(out.contains("ka.nosuch"), "{out}");
    }

    #[test]
    fn a_regex_that_does_not_build_stops_the_build_where_it_is_written() {
        // The wrapper `\A(?:a)(b)\z` would build; the pattern as written does not (RE2 rejects it too),
        // and the build stops instead of a matcher that never matches.
        let bad = "- rule: r\n  desc: d\n  condition: ka.user.name regex \"a)(b\"\n  output: o\n  priority: INFO\n  source: k8s_audit\n";
        let out = run(quote! { "bad_regex.yaml" }, &[("bad_regex.yaml", bad)]);
        let msg = compile_error_message(out.trim_end_matches(';').trim());
        assert!(msg.contains("--> bad_regex.yaml:3:"), "{msg}");
        assert!(
            msg.contains("invalid regex pattern: unexpected ): a)(b"),
            "{msg}"
        );
    }

    #[test]
    fn good_rules_expand_to_an_engine_and_their_sources() {
        let good = "- rule: r\n  desc: d\n  condition: ka.verb = get\n  output: o\n  priority: INFO\n  source: k8s_audit\n";
        let out = run(quote! { "good.yaml" }, &[("good.yaml", good)]);
        assert!(out.contains("pub static ENGINE"), "{out}");
        assert!(out.contains("include_str !"), "{out}");
        assert!(out.contains("RULE_SOURCES"), "{out}");
    }

    #[test]
    fn missing_env_and_missing_file_are_explained() {
        let out = expand(quote! {}, &|_| None).to_string();
        assert!(out.contains("KAUDIT_RULE_FILES is not set"), "{out}");
        let out = run(quote! { "does_not_exist.yaml" }, &[]);
        assert!(out.contains("cannot read rule file"), "{out}");
        let out = expand(quote! { nonsense = "x" }, &|_| None).to_string();
        assert!(out.contains("from_env"), "{out}");
    }

    #[test]
    fn env_listed_files_are_shown_relative_to_the_crate() {
        let d = dir();
        let bad = "- rule: r\n  desc: d\n  condition: ka.verb = get and\n  output: o\n  priority: INFO\n  source: k8s_audit\n";
        let _ = std::fs::create_dir_all(d.join("rules"));
        let _ = std::fs::write(d.join("rules/env_listed.yaml"), bad);
        let root = d.display().to_string();
        let list = d.join("rules/env_listed.yaml").display().to_string();
        let env = |var: &str| match var {
            "CARGO_MANIFEST_DIR" => Some(root.clone()),
            "KAUDIT_RULE_FILES" => Some(list.clone()),
            _ => None,
        };
        let msg = compile_error_message(
            expand(quote! {}, &env)
                .to_string()
                .trim_end_matches(';')
                .trim(),
        );
        assert!(msg.contains("--> rules/env_listed.yaml:3:30\n"), "{msg}");
    }

    #[test]
    fn empty_file_list_compiles_to_an_engine_without_rules() {
        let out = expand(quote! {}, &|_| Some(String::new())).to_string();
        assert!(out.contains("RULE_COUNT : usize = 0"), "{out}");
    }
}
