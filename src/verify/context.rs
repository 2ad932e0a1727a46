//! The oracle's own context identity: its reading of a line's name, tags and host, interned to
//! small integer ids. It shares no code with the pipeline's `Context`/`ContextCache`, so a
//! context bug in the pipeline shows up as a difference instead of being repeated here.
//!
//! The rules (the reference's enrichment and context key): tags are split at every comma and
//! empty tags kept; a `host:` tag sets the host (the last one wins) and is removed; the origin
//! tags `dd.internal.entity_id:`, `dd.internal.card:` and `dd.internal.jmx_check_name:` are
//! removed; the rest are sorted and deduplicated.
//!
//! Two tables: one from the raw bytes of a line (name and tag field, as sent) to its id, so the
//! hot path finds a context it has seen with one hash and one comparison and no allocation; and
//! one from the canonical strings to the id, to find the context of a flushed item.

use crate::protocol;
use foldhash::fast::FixedState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// An oracle context id (an index into [`Contexts`]).
pub type CtxId = u32;

/// A context as the oracle reads it.
#[derive(Debug, Clone)]
pub struct OracleContext {
    pub name: Box<str>,
    /// Sorted, deduplicated, `host:` and origin tags removed.
    pub tags: Vec<String>,
    pub host: Box<str>,
    /// Some sample of this context was sent as a counter: its live counter zero-fills.
    pub ever_counter: bool,
}

/// Raw bytes of a line's (name, tag field) and the context they read as.
type RawEntry = (Box<[u8]>, CtxId);

/// Every context seen, by id. Shared on clone and copied only when a copy learns something new
/// (a context, or that one is a counter): the copies a check makes at each stop moment cost
/// nothing here once the contexts are known.
#[derive(Debug, Clone, Default)]
pub struct Contexts {
    table: std::sync::Arc<Table>,
}

#[derive(Debug, Clone, Default)]
struct Table {
    list: Vec<OracleContext>,
    /// Hash of (name, raw tags) → (raw bytes, id), for lookups from a line.
    by_raw: HashMap<u64, Vec<RawEntry>, FixedState>,
    /// Hash of the canonical strings → ids, for lookups from a flushed item.
    by_canon: HashMap<u64, Vec<CtxId>, FixedState>,
}

/// A fixed seed, so that nothing depends on a random hash state.
fn hasher() -> impl Hasher {
    FixedState::with_seed(0x6c61_7374_6275_636b).build_hasher()
}

fn raw_hash(name: &str, raw_tags: &str) -> u64 {
    let mut h = hasher();
    h.write(name.as_bytes());
    h.write_u8(0xff);
    h.write(raw_tags.as_bytes());
    h.finish()
}

fn canon_hash<'a>(name: &str, tags: impl Iterator<Item = &'a str>, host: &str) -> u64 {
    let mut h = hasher();
    h.write(name.as_bytes());
    h.write_u8(0xff);
    h.write(host.as_bytes());
    for t in tags {
        h.write_u8(0xfe);
        h.write(t.as_bytes());
    }
    h.finish()
}

/// Whether `raw` (name, 0xff, raw tags) are the bytes of this name and tag field.
fn same_raw(raw: &[u8], name: &str, raw_tags: &str) -> bool {
    raw.len() == name.len() + 1 + raw_tags.len()
        && raw.starts_with(name.as_bytes())
        && raw.ends_with(raw_tags.as_bytes())
        && raw[name.len()] == 0xff
}

/// The oracle's reading of a tag field: (sorted deduplicated tags, host).
pub fn canonical_tags(raw_tags: &str, default_host: &str) -> (Vec<String>, String) {
    let mut host = default_host.to_string();
    let mut tags: Vec<String> = Vec::new();
    for tag in protocol::split_tags(raw_tags) {
        if let Some(h) = tag.strip_prefix("host:") {
            host = h.to_string();
        } else if !ORIGIN_TAGS.iter().any(|p| tag.starts_with(p)) {
            tags.push(tag.to_string());
        }
    }
    tags.sort_unstable();
    tags.dedup();
    (tags, host)
}

/// Tags the reference takes out of a sample's tags (origin metadata for its tagger).
const ORIGIN_TAGS: [&str; 3] = [
    "dd.internal.entity_id:",
    "dd.internal.card:",
    "dd.internal.jmx_check_name:",
];

impl Contexts {
    pub fn len(&self) -> usize {
        self.table.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.list.is_empty()
    }

    pub fn get(&self, id: CtxId) -> &OracleContext {
        &self.table.list[id as usize]
    }

    /// The id of a metric line's context (its name and raw tag field), interned on first sight.
    pub fn resolve(&mut self, name: &str, raw_tags: &str, default_host: &str) -> CtxId {
        let h = raw_hash(name, raw_tags);
        if let Some(list) = self.table.by_raw.get(&h) {
            if let Some((_, id)) = list.iter().find(|(r, _)| same_raw(r, name, raw_tags)) {
                return *id;
            }
        }
        std::sync::Arc::make_mut(&mut self.table).intern(h, name, raw_tags, default_host)
    }

    /// Marks a context as sent as a counter.
    pub fn mark_counter(&mut self, id: CtxId) {
        if !self.get(id).ever_counter {
            std::sync::Arc::make_mut(&mut self.table).list[id as usize].ever_counter = true;
        }
    }

    /// The context of these canonical strings, if it was ever sent.
    pub fn find(&self, name: &str, tags: &[String], host: &str) -> Option<CtxId> {
        self.table.find(name, tags, host)
    }
}

impl Table {
    /// Interns a line's context not seen in this raw form (`h`: the raw form's hash).
    fn intern(&mut self, h: u64, name: &str, raw_tags: &str, default_host: &str) -> CtxId {
        let (tags, host) = canonical_tags(raw_tags, default_host);
        let id = match self.find(name, &tags, &host) {
            Some(id) => id,
            None => {
                let id = self.list.len() as CtxId;
                let ch = canon_hash(name, tags.iter().map(String::as_str), &host);
                self.by_canon.entry(ch).or_default().push(id);
                self.list.push(OracleContext {
                    name: name.into(),
                    tags,
                    host: host.into(),
                    ever_counter: false,
                });
                id
            }
        };
        let mut raw = Vec::with_capacity(name.len() + 1 + raw_tags.len());
        raw.extend_from_slice(name.as_bytes());
        raw.push(0xff);
        raw.extend_from_slice(raw_tags.as_bytes());
        self.by_raw
            .entry(h)
            .or_default()
            .push((raw.into_boxed_slice(), id));
        id
    }

    fn find(&self, name: &str, tags: &[String], host: &str) -> Option<CtxId> {
        let h = canon_hash(name, tags.iter().map(String::as_str), host);
        self.by_canon.get(&h)?.iter().copied().find(|id| {
            let c = &self.list[*id as usize];
            &*c.name == name && c.tags == tags && &*c.host == host
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_forms_of_one_context_share_an_id() {
        let mut c = Contexts::default();
        let a = c.resolve("m", "b:1,a,b:1,host:h1", "default");
        let b = c.resolve("m", "a,b:1", "h1");
        assert_eq!(a, b);
        assert_eq!(c.get(a).tags, vec!["a".to_string(), "b:1".to_string()]);
        assert_eq!(&*c.get(a).host, "h1");
        assert_ne!(c.resolve("m", "a", "h1"), a);
        assert_ne!(c.resolve("m", "a,", "h1"), c.resolve("m", "a", "h1"));
        assert_eq!(c.find("m", &["a".into(), "b:1".into()], "h1"), Some(a));
        assert_eq!(c.find("m", &["a".into()], "h2"), None);
    }

    #[test]
    fn origin_tags_are_removed() {
        let (tags, host) = canonical_tags("dd.internal.card:high,x,dd.internal.entity_id:1", "h");
        assert_eq!(tags, vec!["x".to_string()]);
        assert_eq!(host, "h");
    }
}
