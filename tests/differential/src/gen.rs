//! A seeded generator of audit events built from what the rules test for.
//!
//! Values come from the string literals of the rule set (harvested per field from the IR), near-misses of
//! them (one character more or less, other case, a path below, a NUL and more text after it), other
//! rules' literals, random text and empty strings; any key may be absent, `null` or of the wrong JSON
//! type; list fields get zero to four elements. The aim is events that reach deep into conditions, not
//! realistic traffic.
//!
//! Half of the events are written by [`HardWriter`], which spells the same values the hard ways a sender
//! may: `\u0000` and other `\u` escapes, surrogate pairs, `\/`, raw control bytes and lone surrogates
//! (invalid JSON the upstream parser tolerates), huge and odd numbers, duplicate keys, deep nesting.

use kaudit_frontend::catalog::FieldId;
use kaudit_frontend::ir::{Check, Cond, FieldArg, Rhs, Ruleset, TArg, ValueExpr};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// xorshift64*: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    /// True with probability `percent`/100.
    pub fn pct(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// The literals a rule set compares each field with, and the JSON pointers it reads.
#[derive(Debug, Default)]
pub struct Vocabulary {
    pub by_field: BTreeMap<FieldId, Vec<String>>,
    pub all: Vec<String>,
    /// `jevt.value[/ptr]` / `json.value[/ptr]` pointers with their literals.
    pub pointers: BTreeMap<String, Vec<String>>,
}

impl Vocabulary {
    pub fn harvest(rs: &Ruleset) -> Vocabulary {
        let mut v = Vocabulary::default();
        for r in &rs.rules {
            if let Some(c) = &r.cond {
                v.cond(c);
            }
        }
        for m in &rs.macros {
            v.cond(&m.cond);
        }
        for list in v.by_field.values_mut().chain(v.pointers.values_mut()) {
            list.sort();
            list.dedup();
        }
        v.all.sort();
        v.all.dedup();
        v
    }

    fn cond(&mut self, c: &Cond) {
        match c {
            Cond::And(items) | Cond::Or(items) => items.iter().for_each(|i| self.cond(i)),
            Cond::Not(inner) => self.cond(inner),
            Cond::Macro(_) => {}
            Cond::Check(check) => self.check(check),
        }
    }

    fn check(&mut self, check: &Check) {
        let literals: Vec<String> = match &check.rhs {
            Rhs::Strings(items) => items.clone(),
            Rhs::Numbers(items) => items.iter().map(u64::to_string).collect(),
            _ => Vec::new(),
        };
        self.all.extend(literals.iter().cloned());
        // getopt() only reacts to option words: give the fields it reads some ("-t", "-tweb", ...).
        let mut literals = literals;
        literals.extend(option_words(&check.lhs, &literals));
        // b64() compares decoded text: give the field the encoded literals, also with a NUL and more
        // text after them (which decodes to the same C string).
        if let ValueExpr::Transform {
            func: kaudit_frontend::ast::Transformer::B64,
            ..
        } = &check.lhs
        {
            let encoded: Vec<String> = literals
                .iter()
                .flat_map(|l| {
                    [
                        b64_encode(l.as_bytes()),
                        b64_encode(format!("{l}\0x").as_bytes()),
                    ]
                })
                .collect();
            literals.extend(encoded);
        }
        for field in fields_of(&check.lhs) {
            match (&field.0, &field.1) {
                (FieldId::JevtValue | FieldId::JsonValue, FieldArg::Key(ptr)) => self
                    .pointers
                    .entry(ptr.clone())
                    .or_default()
                    .extend(literals.iter().cloned()),
                (id, _) => self
                    .by_field
                    .entry(*id)
                    .or_default()
                    .extend(literals.iter().cloned()),
            }
        }
    }

    /// Literals for `id` (falls back to the whole vocabulary).
    fn of(&self, id: FieldId) -> &[String] {
        match self.by_field.get(&id) {
            Some(v) if !v.is_empty() => v,
            _ => &self.all,
        }
    }
}

fn fields_of(e: &ValueExpr) -> Vec<(FieldId, FieldArg)> {
    fn of_targ(a: &TArg) -> Vec<(FieldId, FieldArg)> {
        match a {
            TArg::Value(v) => fields_of(v),
            TArg::Literal(_) => Vec::new(),
            TArg::List(items) => items.iter().flat_map(of_targ).collect(),
        }
    }
    match e {
        ValueExpr::Field(f) => vec![(f.id, f.arg.clone())],
        ValueExpr::Transform { args, .. } => args.iter().flat_map(of_targ).collect(),
    }
}

/// Standard base64 with padding.
fn b64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// For every `getopt(args, "optstring")` in `e`: each option as a word (`-t`), with each of `literals`
/// attached (`-tweb`), and the literal items of a `(...)` argument list.
fn option_words(e: &ValueExpr, literals: &[String]) -> Vec<String> {
    let ValueExpr::Transform { func, args, .. } = e else {
        return Vec::new();
    };
    let mut out: Vec<String> = args
        .iter()
        .flat_map(|a| match a {
            TArg::Value(v) => option_words(v, literals),
            TArg::List(items) => items
                .iter()
                .flat_map(|i| match i {
                    TArg::Literal(s) => vec![s.clone()],
                    TArg::Value(v) => option_words(v, literals),
                    TArg::List(_) => Vec::new(),
                })
                .collect(),
            TArg::Literal(_) => Vec::new(),
        })
        .collect();
    if *func == kaudit_frontend::ast::Transformer::Getopt {
        if let Some(TArg::Literal(optstring)) = args.get(1) {
            for c in optstring.chars().filter(|&c| c != ':') {
                out.push(format!("-{c}"));
                out.extend(literals.iter().map(|l| format!("-{c}{l}")));
            }
        }
    }
    out
}

/// Builds events from a vocabulary.
pub struct Generator<'v> {
    pub rng: Rng,
    pub vocab: &'v Vocabulary,
}

const RANDOM_WORDS: &[&str] = &[
    "x",
    "default",
    "kube-system",
    "nginx",
    "alice",
    "get",
    "pods",
    "a/b",
    "ÿ",
    "  ",
    "*",
    "\0",
    "a\0b",
    "\u{1F600}",
    "\u{7f}",
    "\u{fffd}",
    "\u{1}\t\r",
];

/// Numbers as JSON text that a sender may write and a strict reader may not like: beyond `u64`,
/// negative, fractional, exponents, `-0`.
const ODD_NUMBERS: &[&str] = &[
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678901234567890",
    "-1",
    "-9223372036854775808",
    "-0",
    "0.0",
    "1.5",
    "1E2",
    "2e-3",
    "1e400",
    "200.0",
];

impl Generator<'_> {
    /// A string for field `id`: mostly its literals, sometimes a near-miss or something else.
    fn text(&mut self, id: FieldId) -> String {
        let vocab = self.vocab;
        let lit = |g: &mut Self| g.rng.pick(vocab.of(id)).cloned().unwrap_or_default();
        match self.rng.below(100) {
            0..=54 => lit(self),
            55..=69 => {
                let s = lit(self);
                self.near_miss(s)
            }
            70..=79 => self.rng.pick(&vocab.all).cloned().unwrap_or_default(),
            80..=91 => self
                .rng
                .pick(RANDOM_WORDS)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    fn near_miss(&mut self, mut s: String) -> String {
        match self.rng.below(11) {
            // Beyond the BMP: written as a surrogate pair by `HardWriter` half of the time.
            10 => s.push('\u{1F600}'),
            // C-string traps: the literal then a NUL and more, a NUL first, a NUL last.
            7 => s.push_str("\0x"),
            8 => s.insert(0, '\0'),
            9 => s.push('\0'),
            0 => s.push('x'),
            1 => {
                s.pop();
            }
            2 => s = s.to_uppercase(),
            3 => s.insert(0, '/'),
            4 => s.push_str("/sub"),
            5 => s.push_str(":1.0@sha256:ab"),
            _ => s = format!("{s}{s}"),
        }
        s
    }

    /// A JSON value for a scalar field: usually its text, sometimes null or another JSON type.
    fn scalar(&mut self, id: FieldId) -> Value {
        match self.rng.below(100) {
            0..=3 => Value::Null,
            4..=6 => json!(self.rng.below(1000)),
            7 => json!(self.rng.pct(50)),
            8 => json!({"k": self.text(id)}),
            9 => json!([self.text(id)]),
            _ => Value::String(self.text(id)),
        }
    }

    /// A JSON value for a list field: an array of 0-4 texts, sometimes null or a bare string.
    fn list(&mut self, id: FieldId) -> Value {
        match self.rng.below(100) {
            0..=3 => Value::Null,
            4..=6 => Value::String(self.text(id)),
            _ => {
                let n = self.rng.below(5);
                Value::Array((0..n).map(|_| self.scalar_text_mostly(id)).collect())
            }
        }
    }

    fn scalar_text_mostly(&mut self, id: FieldId) -> Value {
        if self.rng.pct(92) {
            Value::String(self.text(id))
        } else {
            self.scalar(id)
        }
    }

    /// Inserts `value` under `key` unless the dice say the key is absent.
    fn put(&mut self, obj: &mut Map<String, Value>, key: &str, value: Value) {
        if !self.rng.pct(12) {
            obj.insert(key.to_string(), value);
        }
    }

    fn container(&mut self) -> Value {
        let mut c = Map::new();
        let v = self.scalar_text_mostly(FieldId::KaReqPodContainersName);
        self.put(&mut c, "name", v);
        let image = match self.rng.below(4) {
            0 => self.scalar(FieldId::KaReqContainerImageRepository),
            1 => self.scalar(FieldId::KaReqPodContainersImageRepository),
            2 => self.scalar(FieldId::KaReqContainerImage),
            _ => self.scalar(FieldId::KaReqPodContainersImage),
        };
        self.put(&mut c, "image", image);
        let mut sc = Map::new();
        for (key, id) in [
            ("privileged", FieldId::KaReqPodContainersPrivileged),
            (
                "allowPrivilegeEscalation",
                FieldId::KaReqPodContainersAllowPrivilegeEscalation,
            ),
            (
                "readOnlyRootFilesystem",
                FieldId::KaReqPodContainersReadOnlyFs,
            ),
        ] {
            let v = if self.rng.pct(70) {
                json!(self.rng.pct(50))
            } else {
                self.scalar(id)
            };
            self.put(&mut sc, key, v);
        }
        let v = json!(self.rng.below(3));
        self.put(&mut sc, "runAsUser", v);
        let v = self.scalar(FieldId::KaReqPodContainersProcMount);
        self.put(&mut sc, "procMount", v);
        let add = self.list(FieldId::KaReqPodContainersAddCapabilities);
        self.put(&mut sc, "capabilities", json!({ "add": add }));
        self.put(&mut c, "securityContext", Value::Object(sc));
        let ports: Vec<Value> = (0..self.rng.below(3))
            .map(|_| {
                let p = self
                    .rng
                    .pick(&[80u64, 443, 8080, 22, 0])
                    .copied()
                    .unwrap_or(80);
                if self.rng.pct(50) {
                    json!({"containerPort": p, "hostPort": p})
                } else {
                    json!({"containerPort": p})
                }
            })
            .collect();
        self.put(&mut c, "ports", Value::Array(ports));
        let v = self.list(FieldId::KaReqPodContainersCommand);
        self.put(&mut c, "command", v);
        let v = self.list(FieldId::KaReqPodContainersArgs);
        self.put(&mut c, "args", v);
        Value::Object(c)
    }

    fn containers(&mut self) -> Value {
        let n = self.rng.below(4);
        Value::Array((0..n).map(|_| self.container()).collect())
    }

    fn request_object(&mut self) -> Value {
        match self.rng.below(6) {
            0 => {
                let mut spec = Map::new();
                let v = self.containers();
                self.put(&mut spec, "containers", v);
                if self.rng.pct(30) {
                    let v = self.containers();
                    spec.insert("initContainers".into(), v);
                }
                if self.rng.pct(15) {
                    let v = self.containers();
                    spec.insert("ephemeralContainers".into(), v);
                }
                for key in ["hostNetwork", "hostPID", "hostIPC"] {
                    let v = if self.rng.pct(80) {
                        json!(self.rng.pct(40))
                    } else {
                        self.scalar(FieldId::KaReqPodHostNetwork)
                    };
                    self.put(&mut spec, key, v);
                }
                let sc = json!({"runAsUser": self.rng.below(3), "runAsGroup": self.rng.below(3),
                    "fsGroup": self.rng.below(3), "supplementalGroups": [self.rng.below(3)]});
                self.put(&mut spec, "securityContext", sc);
                let volumes: Vec<Value> = (0..self.rng.below(4))
                    .map(|i| {
                        if self.rng.pct(75) {
                            json!({"name": format!("v{i}"), "hostPath": {"path": self.scalar(FieldId::KaReqPodVolumesHostpath)}})
                        } else {
                            json!({"name": format!("v{i}"), "flexVolume": {"driver": self.text(FieldId::KaReqPodVolumesFlexvolumeDriver)}})
                        }
                    })
                    .collect();
                self.put(&mut spec, "volumes", Value::Array(volumes));
                json!({"kind": "Pod", "spec": spec})
            }
            1 => {
                let rules: Vec<Value> = (0..self.rng.below(3))
                    .map(|_| {
                        json!({
                            "apiGroups": self.list(FieldId::KaReqRoleRulesApiGroups),
                            "resources": self.list(FieldId::KaReqRoleRulesResources),
                            "verbs": self.list(FieldId::KaReqRoleRulesVerbs),
                            "nonResourceURLs": self.list(FieldId::KaReqRoleRulesNonResourceUrls),
                        })
                    })
                    .collect();
                json!({"kind": "ClusterRole", "rules": rules})
            }
            2 => {
                let subjects: Vec<Value> = (0..self.rng.below(3))
                    .map(|_| {
                        let kind = self.rng.pick(&["User", "Group", "ServiceAccount", "Other"]).copied().unwrap_or("User");
                        let id = match kind {
                            "Group" => FieldId::KaReqBindingSubjectsGroupNames,
                            "ServiceAccount" => FieldId::KaReqBindingSubjectsServiceaccountNames,
                            _ => FieldId::KaReqBindingSubjectsUserNames,
                        };
                        json!({"kind": kind, "name": self.text(id), "namespace": self.text(FieldId::KaTargetNamespace)})
                    })
                    .collect();
                json!({"kind": "ClusterRoleBinding", "roleRef": {"name": self.scalar(FieldId::KaReqBindingRole)}, "subjects": subjects})
            }
            3 => json!({"kind": "ConfigMap", "data": {"key": self.text(FieldId::KaReqConfigmapObj),
                "other": self.text(FieldId::KaReqConfigmapObj)}}),
            4 => json!({"kind": "Service", "spec": {"type": self.scalar(FieldId::KaReqServiceType),
                "ports": [{"port": 80, "nodePort": self.rng.below(40000)}]}}),
            _ => self.scalar(FieldId::KaReqConfigmapObj),
        }
    }

    fn uri(&mut self) -> String {
        let mut uri = self.text(FieldId::KaUri);
        if self.rng.pct(25) {
            let cmd = self.text(FieldId::KaUriParam);
            uri.push_str(&format!("?command={cmd}&container=c"));
        }
        uri
    }

    /// One event as JSON bytes: half of them through `HardWriter`.
    pub fn event(&mut self) -> Vec<u8> {
        let root = self.event_value();
        if self.rng.pct(50) {
            let mut w = HardWriter {
                rng: &mut self.rng,
                out: Vec::new(),
            };
            w.value(&root, 0);
            w.out
        } else {
            serde_json::to_vec(&root).unwrap_or_default()
        }
    }

    /// One event as a JSON value.
    fn event_value(&mut self) -> Value {
        let mut ev = Map::new();
        ev.insert("kind".into(), json!("Event"));
        ev.insert("apiVersion".into(), json!("audit.k8s.io/v1"));
        ev.insert("level".into(), json!("RequestResponse"));
        if self.rng.pct(95) {
            ev.insert(
                "auditID".into(),
                json!(format!("id-{}", self.rng.below(1_000_000))),
            );
        }
        let stage = match self.vocab.pointers.get("/stage") {
            Some(v) if self.rng.pct(80) => self
                .rng
                .pick(v)
                .cloned()
                .map(Value::String)
                .unwrap_or(Value::Null),
            _ => self.scalar(FieldId::KaStage),
        };
        self.put(&mut ev, "stage", stage);
        let v = Value::String(self.uri());
        self.put(&mut ev, "requestURI", v);
        let v = self.scalar(FieldId::KaVerb);
        self.put(&mut ev, "verb", v);
        let mut user = Map::new();
        let v = self.scalar(FieldId::KaUserName);
        self.put(&mut user, "username", v);
        let v = self.list(FieldId::KaUserGroups);
        self.put(&mut user, "groups", v);
        self.put(&mut ev, "user", Value::Object(user));
        if self.rng.pct(10) {
            ev.insert(
                "impersonatedUser".into(),
                json!({"username": self.text(FieldId::KaImpuserName)}),
            );
        }
        let v = self.scalar(FieldId::KaUseragent);
        self.put(&mut ev, "userAgent", v);
        let mut obj = Map::new();
        let v = self.scalar(FieldId::KaTargetResource);
        self.put(&mut obj, "resource", v);
        if self.rng.pct(35) {
            let v = self.scalar(FieldId::KaTargetSubresource);
            obj.insert("subresource".into(), v);
        }
        let v = self.scalar(FieldId::KaTargetNamespace);
        self.put(&mut obj, "namespace", v);
        let v = self.scalar(FieldId::KaTargetName);
        self.put(&mut obj, "name", v);
        self.put(&mut ev, "objectRef", Value::Object(obj));
        let code = match self.rng.below(10) {
            0..=5 => json!(self
                .rng
                .pick(&[200u64, 201, 101, 403, 404, 409, 500])
                .copied()
                .unwrap_or(200)),
            6..=7 => self
                .vocab
                .of(FieldId::KaResponseCode)
                .first()
                .map_or(Value::Null, |_| {
                    let s = self.text(FieldId::KaResponseCode);
                    s.parse::<u64>()
                        .map(|n| json!(n))
                        .unwrap_or(Value::String(s))
                }),
            _ => self.scalar(FieldId::KaResponseCode),
        };
        let status = json!({"code": code, "reason": self.text(FieldId::KaResponseReason)});
        self.put(&mut ev, "responseStatus", status);
        let v = self.request_object();
        self.put(&mut ev, "requestObject", v);
        let v = json!({"metadata": {"name": self.scalar(FieldId::KaRespName)}});
        self.put(&mut ev, "responseObject", v);
        let mut ann = Map::new();
        let v = self.scalar(FieldId::KaAuthDecision);
        self.put(&mut ann, "authorization.k8s.io/decision", v);
        let v = self.scalar(FieldId::KaAuthReason);
        self.put(&mut ann, "authorization.k8s.io/reason", v);
        let v = self.scalar(FieldId::KaClusterName);
        self.put(&mut ann, "cluster_name", v);
        self.put(&mut ev, "annotations", Value::Object(ann));
        let pointers: Vec<(String, Vec<String>)> = self
            .vocab
            .pointers
            .iter()
            .filter(|(p, _)| p.as_str() != "/stage")
            .map(|(p, v)| (p.clone(), v.clone()))
            .collect();
        let mut root = Value::Object(ev);
        for (ptr, lits) in pointers {
            if self.rng.pct(30) {
                let v = self
                    .rng
                    .pick(&lits)
                    .cloned()
                    .map(Value::String)
                    .unwrap_or(json!("x"));
                set_pointer(&mut root, &ptr, v);
            }
        }
        if let Value::Object(ev) = &mut root {
            let ts = format!(
                "2024-01-0{}T00:00:{:02}.{:06}Z",
                1 + self.rng.below(9),
                self.rng.below(60),
                self.rng.below(1_000_000)
            );
            ev.insert("requestReceivedTimestamp".into(), json!(ts.clone()));
            ev.insert("stageTimestamp".into(), json!(ts));
            if self.rng.pct(5) {
                // Deep nesting, now and then past the parser's depth limit (the event is then rejected
                // by both engines alike).
                let depth = if self.rng.pct(10) {
                    600
                } else {
                    self.rng.below(400)
                };
                let mut deep = json!("bottom");
                for _ in 0..depth {
                    deep = json!({ "d": deep });
                }
                ev.insert("deep".into(), deep);
            }
        }
        root
    }
}

/// Writes a JSON value with the same meaning as `serde_json` would, spelled the hard ways (see the
/// module doc). Lone surrogates and raw control bytes change the meaning; both engines must still agree.
pub struct HardWriter<'r> {
    pub rng: &'r mut Rng,
    pub out: Vec<u8>,
}

impl HardWriter<'_> {
    pub fn value(&mut self, v: &Value, depth: usize) {
        match v {
            Value::Null => self.out.extend_from_slice(b"null"),
            Value::Bool(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Number(n) => {
                let odd = self
                    .rng
                    .pct(8)
                    .then(|| self.rng.pick(ODD_NUMBERS))
                    .flatten();
                match odd {
                    Some(text) => self.out.extend_from_slice(text.as_bytes()),
                    None => self.out.extend_from_slice(n.to_string().as_bytes()),
                }
            }
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                self.out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.space();
                    self.value(item, depth + 1);
                }
                self.out.push(b']');
            }
            Value::Object(map) => {
                self.out.push(b'{');
                let mut first = true;
                for (k, item) in map {
                    // A duplicate key, before or after the real one, with another value.
                    let dup = self.rng.pct(3).then(|| self.rng.pct(50));
                    if dup == Some(true) {
                        self.entry(&mut first, k, &json!("dup\u{0}x"), depth);
                    }
                    self.entry(&mut first, k, item, depth);
                    if dup == Some(false) {
                        self.entry(&mut first, k, &Value::Null, depth);
                    }
                }
                self.out.push(b'}');
            }
        }
    }

    fn entry(&mut self, first: &mut bool, key: &str, v: &Value, depth: usize) {
        if !*first {
            self.out.push(b',');
        }
        *first = false;
        self.space();
        self.string(key);
        self.out.push(b':');
        self.space();
        self.value(v, depth + 1);
    }

    /// Optional insignificant whitespace (never a newline: events are one per line).
    fn space(&mut self) {
        if self.rng.pct(5) {
            self.out
                .extend_from_slice(if self.rng.pct(50) { b" " } else { b"\t " });
        }
    }

    fn string(&mut self, s: &str) {
        self.out.push(b'"');
        for c in s.chars() {
            match c {
                '"' => self.out.extend_from_slice(b"\\\""),
                '\\' => self.out.extend_from_slice(b"\\\\"),
                '/' if self.rng.pct(30) => self.out.extend_from_slice(b"\\/"),
                // Raw control bytes are invalid JSON that the upstream parser tolerates.
                '\u{1}'..='\u{1f}' if c != '\n' && self.rng.pct(30) => self.out.push(c as u8),
                '\0'..='\u{1f}' => self.unicode_escape(c),
                '\u{10000}'.. if self.rng.pct(50) => self.unicode_escape(c),
                _ if self.rng.pct(4) => self.unicode_escape(c),
                _ => {
                    let mut buf = [0u8; 4];
                    self.out
                        .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if self.rng.pct(1) {
            // A lone surrogate: invalid, tolerated.
            let lone: &[u8] = if self.rng.pct(50) {
                b"\\ud800"
            } else {
                b"\\uDC00x"
            };
            self.out.extend_from_slice(lone);
        }
        self.out.push(b'"');
    }

    /// `\uXXXX`, or a surrogate pair for characters beyond the BMP; hex digits in either case.
    fn unicode_escape(&mut self, c: char) {
        let mut units = [0u16; 2];
        for u in c.encode_utf16(&mut units) {
            let text = if self.rng.pct(50) {
                format!("\\u{:04x}", u)
            } else {
                format!("\\u{:04X}", u)
            };
            self.out.extend_from_slice(text.as_bytes());
        }
    }
}

/// Sets the value at a JSON pointer, creating objects on the way (array steps are left alone).
fn set_pointer(root: &mut Value, ptr: &str, value: Value) {
    let parts: Vec<String> = ptr
        .trim_start_matches('/')
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let Value::Object(map) = cur else { return };
        if i + 1 == parts.len() {
            map.insert(part.clone(), value);
            return;
        }
        cur = map.entry(part.clone()).or_insert_with(|| json!({}));
    }
}
