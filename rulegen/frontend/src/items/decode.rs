//! Falco's decoding of item values: strings, texts, booleans, numbers, sequences, tags and the
//! `override` mapping, with Falco's messages for each wrong shape.

use super::context::Ctx;
use super::text::{align, Text};
use crate::diag::{item as it, Diagnostic};
use crate::yaml::{decode_bool, Node};
use std::collections::BTreeSet;

/// Decodes the values of one file's items (`src` is the file text, for verbatim detection).
pub(super) struct Reader<'s> {
    pub(super) src: &'s str,
}

impl Reader<'_> {
    /// Falco's `decode_val_generic` for strings: returns None when optional and absent, or when
    /// `can_be_empty` and the value is null/empty.
    pub(super) fn val_generic<'n>(
        &self,
        item: &'n Node,
        key: &str,
        ctx: &Ctx,
        optional: bool,
        can_be_empty: bool,
    ) -> Result<Option<(String, &'n Node)>, Diagnostic> {
        let Some(val) = item.get(key) else {
            if optional {
                return Ok(None);
            }
            return Err(ctx.err(format!("Item has no mapping for key '{key}'")));
        };
        if val.is_null() {
            if can_be_empty {
                return Ok(None);
            }
            return Err(ctx.err(format!("Mapping for key '{key}' is empty")));
        }
        let valctx = Ctx::new(it::VALUE_FOR, key, val.span);
        let Some(text) = val.as_scalar() else {
            return Err(valctx.err("Value is not a scalar value"));
        };
        if text.is_empty() {
            if can_be_empty {
                return Ok(None);
            }
            return Err(valctx.err("Value must be non-empty"));
        }
        Ok(Some((text.to_string(), val)))
    }

    pub(super) fn val<'n>(
        &self,
        item: &'n Node,
        key: &str,
        ctx: &Ctx,
    ) -> Result<(String, &'n Node), Diagnostic> {
        match self.val_generic(item, key, ctx, false, false)? {
            Some((t, n)) => Ok((t, n)),
            None => Err(ctx.err(format!("Item has no mapping for key '{key}'"))),
        }
    }

    pub(super) fn opt_val(
        &self,
        item: &Node,
        key: &str,
        ctx: &Ctx,
    ) -> Result<Option<String>, Diagnostic> {
        Ok(self
            .val_generic(item, key, ctx, true, false)?
            .map(|(t, _)| t))
    }

    pub(super) fn text(&self, item: &Node, key: &str, ctx: &Ctx) -> Result<Text, Diagnostic> {
        let (text, node) = self.val(item, key, ctx)?;
        let map = self.text_map(&text, node);
        Ok(Text {
            text,
            span: node.span,
            map,
        })
    }

    /// Where each byte of a scalar's text is written in the file (see `align`).
    pub(super) fn text_map(&self, text: &str, node: &Node) -> Option<Vec<u32>> {
        let at = node.span.offset as usize;
        let start = match self.src.as_bytes().get(at) {
            Some(b'"') | Some(b'\'') => at + 1,
            // Block scalars: the content starts on the line after the indicator.
            Some(b'|') | Some(b'>') => at + self.src.get(at..)?.find('\n')? + 1,
            _ => at,
        };
        align(self.src, start, text)
    }

    pub(super) fn decode<T>(
        &self,
        item: &Node,
        key: &str,
        ctx: &Ctx,
        optional: bool,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, Diagnostic> {
        match self.val_generic(item, key, ctx, optional, false)? {
            None => Ok(None),
            Some((t, node)) => {
                match f(&t) {
                    Some(v) => Ok(Some(v)),
                    None => Err(Ctx::new(it::VALUE_FOR, key, node.span)
                        .err("Can't decode YAML scalar value")),
                }
            }
        }
    }

    pub(super) fn opt_bool(
        &self,
        item: &Node,
        key: &str,
        ctx: &Ctx,
    ) -> Result<Option<bool>, Diagnostic> {
        self.decode(item, key, ctx, true, decode_bool)
    }

    pub(super) fn req_bool(&self, item: &Node, key: &str, ctx: &Ctx) -> Result<bool, Diagnostic> {
        Ok(self
            .decode(item, key, ctx, false, decode_bool)?
            .unwrap_or(false))
    }

    pub(super) fn u64_val(
        &self,
        item: &Node,
        key: &str,
        ctx: &Ctx,
        optional: bool,
    ) -> Result<Option<u64>, Diagnostic> {
        self.decode(item, key, ctx, optional, |t| {
            let t = t.strip_prefix('+').unwrap_or(t);
            if t.bytes().all(|b| b.is_ascii_digit()) {
                t.parse().ok()
            } else {
                None
            }
        })
    }

    /// Falco's `decode_seq`: a sequence of scalars.
    pub(super) fn seq(
        &self,
        item: &Node,
        key: &str,
        ctx: &Ctx,
        optional: bool,
    ) -> Result<Option<Vec<String>>, Diagnostic> {
        let Some(val) = item.get(key) else {
            if optional {
                return Ok(None);
            }
            return Err(ctx.err(format!("Item has no mapping for key '{key}'")));
        };
        let valctx = Ctx::new(it::VALUE_FOR, key, val.span);
        let seq = val
            .as_seq()
            .ok_or_else(|| valctx.err("Value is not a sequence"))?;
        let mut out = Vec::with_capacity(seq.len());
        for v in seq {
            match v.as_scalar() {
                Some(t) => out.push(t.to_string()),
                None => {
                    return Err(
                        Ctx::new(it::LIST_ITEM, "", v.span).err("sequence value is not scalar")
                    )
                }
            }
        }
        Ok(Some(out))
    }

    pub(super) fn tags(
        &self,
        item: &Node,
        ctx: &Ctx,
    ) -> Result<Option<BTreeSet<String>>, Diagnostic> {
        Ok(self
            .seq(item, "tags", ctx, true)?
            .map(|v| v.into_iter().collect()))
    }

    /// Falco's `decode_overrides`: (keys to append, keys to replace), in document order.
    pub(super) fn overrides(
        &self,
        item: &Node,
        appendable: &[&str],
        replaceable: &[&str],
    ) -> Result<(Vec<String>, Vec<String>), Diagnostic> {
        let (mut app, mut rep) = (Vec::new(), Vec::new());
        let Some(val) = item.get("override") else {
            return Ok((app, rep));
        };
        for (k, v) in val.as_map().unwrap_or(&[]) {
            let key = k.key_text();
            let op = v.as_scalar().unwrap_or("");
            let can_append = appendable.contains(&key.as_str());
            let can_replace = replaceable.contains(&key.as_str());
            let keyctx = Ctx::new(it::OVERRIDE, key.clone(), k.span);
            match op {
                "append" => {
                    if !can_append {
                        return Err(keyctx.err(format!(
                            "Key '{key}' cannot be appended to, use 'replace' instead"
                        )));
                    }
                    app.push(key);
                }
                "replace" => {
                    if !can_replace {
                        return Err(keyctx.err(format!("Key '{key}' cannot be replaced")));
                    }
                    rep.push(key);
                }
                _ => {
                    let mut m = format!(
                        "Invalid override operation for key '{key}': '{op}'. Allowed values are: "
                    );
                    if can_append {
                        m.push_str("append ");
                    }
                    if can_replace {
                        m.push_str("replace ");
                    }
                    return Err(Ctx::new(it::VALUE_FOR, key, v.span).err(m));
                }
            }
        }
        Ok((app, rep))
    }
}
