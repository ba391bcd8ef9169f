use kaudit_runtime::event::Event;
use kaudit_runtime::fields;
use kaudit_runtime::value::Values;
use std::io::Read;
use std::time::Instant;
fn main() {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open("/work/shared/conformance/falco-reference/corpus-20k.jsonl.gz").unwrap()).read_to_string(&mut s).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    for _ in 0..5 {
        let t = Instant::now();
        for l in &lines { let _: serde::de::IgnoredAny = serde_json::from_slice(l.as_bytes()).unwrap(); }
        let serde_t = t.elapsed();
        let t = Instant::now();
        let mut n = 0;
        for l in &lines { let e = Event::parse(l.as_bytes()).unwrap(); n += e.time_ns().is_some() as usize; }
        let ev_t = t.elapsed();
        let names = ["ka.verb","ka.user.name","ka.target.resource","ka.target.name","ka.req.pod.containers.image","ka.req.pod.containers.privileged","ka.req.role.rules.verbs","jevt.value"];
        let refs: Vec<_> = names.iter().map(|n| { let i = rulegen::catalog::lookup(n).unwrap(); rulegen::ir::FieldRef{id:i.id, arg: if *n=="jevt.value" {rulegen::ir::FieldArg::Key("/stage".into())} else {rulegen::ir::FieldArg::None}} }).collect();
        let t = Instant::now();
        let mut cnt = 0;
        for l in &lines { let e = Event::parse(l.as_bytes()).unwrap(); let mut out = Values::new(); for r in &refs { fields::extract(&e, r, &mut out); cnt += out.len(); } }
        let ex_t = t.elapsed();
        println!("bytes={} serde={:?} event_parse={:?} parse+8fields={:?} ({n},{cnt})", s.len(), serde_t, ev_t, ex_t);
    }
}
