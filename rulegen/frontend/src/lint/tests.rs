use super::*;
use crate::load::load_sources;

fn warnings(src: &str) -> Vec<(&'static str, String)> {
    let res = load_sources(&[("r.yaml", src)]);
    let Some(rs) = res.ruleset.clone() else {
        panic!("{}", res.render())
    };
    lint(&rs).into_iter().map(|d| (d.code, d.message)).collect()
}

fn rule(name: &str, cond: &str) -> String {
    format!("- rule: {name}\n  desc: d\n  condition: {cond}\n  output: o\n  priority: WARNING\n  source: k8s_audit\n")
}

#[test]
fn an_earlier_broader_rule_shadows_a_later_one_under_first() {
    let src = format!(
        "- macro: pod\n  condition: ka.target.resource=pods\n{}{}{}",
        rule("Any pod create", "pod and ka.verb=create"),
        rule(
            "Privileged pod",
            "ka.verb=create and pod and ka.req.pod.containers.privileged intersects (true)"
        ),
        rule("Pod delete", "pod and ka.verb=delete"),
    );
    let w = warnings(&src);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, code::SHADOWED);
    assert!(
        w[0].1.contains("rule `Privileged pod` never alerts")
            && w[0].1.contains("`Any pod create`"),
        "{w:?}"
    );
}

#[test]
fn contradictory_values_make_a_condition_always_false() {
    let w = warnings(&rule("r", "ka.verb=create and ka.verb=delete"));
    assert_eq!(
        w.iter().map(|x| x.0).collect::<Vec<_>>(),
        [code::ALWAYS_FALSE],
        "{w:?}"
    );
    let w = warnings(&rule(
        "r",
        "ka.verb in (create, update) and not ka.verb in (create, update, patch)",
    ));
    assert_eq!(
        w.iter().map(|x| x.0).collect::<Vec<_>>(),
        [code::ALWAYS_FALSE],
        "{w:?}"
    );
    // Overlapping sets are fine.
    assert!(warnings(&rule("r", "ka.verb in (create, update) and ka.verb=update")).is_empty());
}

#[test]
fn verbs_and_resource_typos_are_reported_with_a_suggestion() {
    let res = load_sources(&[(
        "r.yaml",
        rule("r", "ka.verb in (crate, get) and ka.target.resource=deployment and ka.target.resource!=widgets").as_str(),
    )]);
    let rs = res.ruleset.clone().unwrap();
    let w = lint(&rs);
    let msgs: Vec<(&str, &str)> = w
        .iter()
        .map(|d| (d.message.as_str(), d.hint.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        msgs,
        [
            (
                "`crate` is not an audit verb, so this comparison never holds for it",
                "did you mean `create`?"
            ),
            (
                "`deployment` is not a built-in resource, so this comparison never holds for it",
                "did you mean `deployments`?"
            ),
        ],
        "custom resources such as `widgets` are not reported"
    );
    // The warning renders rustc-style, pointing into the file.
    let text = res.render_one(&w[0]);
    assert!(text.contains("--> r.yaml:3:14"), "{text}");
}

#[test]
fn an_empty_list_is_reported_only_where_it_makes_a_check_always_false() {
    let src = format!(
        "- list: allowed\n  items: []\n- list: wanted\n  items: []\n{}{}",
        rule(
            "allow-list",
            "ka.verb=create and not ka.user.name in (allowed)"
        ),
        rule("want-list", "ka.verb=create and ka.user.name in (wanted)"),
    );
    let w = warnings(&src);
    assert_eq!(
        w.iter().map(|x| x.0).collect::<Vec<_>>(),
        [code::EMPTY_LIST],
        "{w:?}"
    );
}

#[test]
fn regexes_that_a_plain_operator_replaces_are_reported() {
    let w = warnings(&rule("r", "ka.uri regex \"^/healthz$\" or ka.uri regex \"^/api\" or ka.uri regex \"^/ap[iy]\" or ka.uri regex \".*secret\""));
    let msgs: Vec<&str> = w.iter().map(|x| x.1.as_str()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].contains("`=` does the same"), "{msgs:?}");
    assert!(msgs[1].contains("`startswith` does the same"), "{msgs:?}");
    assert!(msgs[2].contains("leading or trailing `.*`"), "{msgs:?}");
}
