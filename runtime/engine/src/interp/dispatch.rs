//! The interpreter's dispatch: the plan both engines share (`kaudit_frontend::dispatch`) as tables from
//! a dispatch field's value to the bitset of rules that can still match. The compiled engine turns the
//! same plan into constant masks; `Interpreter::without_dispatch` keeps plain evaluation of every rule,
//! the oracle the plan is tested against.

use super::value::eval_value;
use crate::compiled::{key, Key};
use crate::event::Event;
use crate::value::Values;
use foldhash::HashMap;
use kaudit_frontend::dispatch::plan;
use kaudit_frontend::ir::{Ruleset, ValueExpr};
use smallvec::SmallVec;

/// A rule bitset (bit `i` = rule `i`); four words hold 256 rules without allocating.
pub type Mask = SmallVec<[u64; 4]>;

#[derive(Debug)]
struct Field {
    expr: ValueExpr,
    by_value: HashMap<String, Mask>,
    others: Mask,
}

/// The dispatch tables of a rule set.
#[derive(Debug)]
pub struct Candidates {
    all: Mask,
    fields: Vec<Field>,
}

impl Candidates {
    pub fn new(ruleset: &Ruleset) -> Candidates {
        let words = ruleset.rules.len().div_ceil(64).max(1);
        let d = plan(ruleset);
        Candidates {
            all: mask(words, &d.runnable),
            fields: d
                .fields
                .into_iter()
                .map(|f| Field {
                    expr: ValueExpr::Field(f.field),
                    by_value: f
                        .by_value
                        .iter()
                        .map(|(v, rules)| (v.clone(), mask(words, rules)))
                        .collect(),
                    others: mask(words, &f.others),
                })
                .collect(),
        }
    }

    /// The rules that can match `ev`, read as the compiled engine reads its masks (`compiled::key`).
    pub fn of<'e>(&self, ev: &'e Event<'e>, vals: &mut Values<'e>) -> Mask {
        let mut out = self.all.clone();
        for f in &self.fields {
            eval_value(ev, &f.expr, vals);
            let m = match key(vals) {
                Key::One(v) => f.by_value.get(v).unwrap_or(&f.others),
                Key::Missing => &f.others,
                Key::Many => continue,
            };
            for (a, b) in out.iter_mut().zip(m) {
                *a &= b;
            }
        }
        out
    }
}

/// Whether rule `i` is in `mask`.
pub fn has(mask: &Mask, i: usize) -> bool {
    mask.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
}

fn mask(words: usize, rules: &[usize]) -> Mask {
    let mut m: Mask = SmallVec::from_elem(0, words);
    for &r in rules {
        if let Some(w) = m.get_mut(r / 64) {
            *w |= 1 << (r % 64);
        }
    }
    m
}
