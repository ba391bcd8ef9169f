//! EventList request bodies built once from a JSON-lines corpus, so the load loop only clones `Bytes`.

use bytes::Bytes;

pub struct Batches {
    pub bodies: Vec<Bytes>,
    /// Events in each body (the last batch may be short; it is kept so every event is sent).
    pub events: Vec<usize>,
}

impl Batches {
    /// Splits non-empty lines of `corpus` into EventLists of `batch` events.
    pub fn from_json_lines(corpus: &[u8], batch: usize) -> Batches {
        let lines: Vec<&[u8]> = corpus
            .split(|b| *b == b'\n')
            .map(trim)
            .filter(|l| !l.is_empty())
            .collect();
        let mut bodies = Vec::new();
        let mut events = Vec::new();
        for chunk in lines.chunks(batch.max(1)) {
            let mut body =
                Vec::with_capacity(chunk.iter().map(|l| l.len() + 1).sum::<usize>() + 96);
            body.extend_from_slice(
                br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["#,
            );
            for (i, line) in chunk.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(line);
            }
            body.extend_from_slice(b"]}");
            bodies.push(Bytes::from(body));
            events.push(chunk.len());
        }
        Batches { bodies, events }
    }

    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    line.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_into_event_lists_keeping_the_short_tail() {
        let corpus = b"{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}\n";
        let b = Batches::from_json_lines(corpus, 2);
        assert_eq!(b.events, vec![2, 1]);
        assert_eq!(
            &b.bodies[0][..],
            &br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"a":1},{"a":2}]}"#[..]
        );
        assert!(b.bodies[1].ends_with(br#""items":[{"a":3}]}"#));
    }

    #[test]
    fn empty_corpus_gives_no_batches() {
        assert!(Batches::from_json_lines(b"\n  \n", 400).is_empty());
    }
}
