//! Message groups learned as events arrive, the way Drain does it (He, Zhu,
//! Zheng and Lyu, "Drain: An Online Log Parsing Approach with Fixed Depth
//! Tree", ICWS 2017).
//!
//! A message first loses what obviously varies ([`super::fingerprint::template`]:
//! numbers, hex, UUIDs, quoted strings, paths, IPs become placeholders). What
//! is left still varies in words: `user bob logged out`, `user carol logged
//! out`. Drain routes a message down a tree of fixed depth, by its number of
//! tokens and then by its first tokens (a token holding a digit takes the
//! wildcard branch), to a leaf holding a few groups. The message joins the
//! group whose template shares the largest fraction of tokens, position by
//! position, when that fraction reaches [`Drain::SIMILARITY`]; the positions
//! that differ become `<*>`. Otherwise it founds a new group.
//!
//! What differs from the paper, for an incident console:
//! - A group is named by its **seed**, the template of the message that
//!   founded it, and the seed never changes as the template widens, so the
//!   fingerprint of a group is stable and earlier events stay in their
//!   incident.
//! - Groups outlive the process: the store keeps seeds and templates
//!   (`message_groups`) and each ingest starts from them, so the same
//!   message shape groups the same way tomorrow.
//! - Bounded: at most [`Drain::MAX_PER_LEAF`] groups are searched per leaf
//!   and at most [`Drain::MAX_GROUPS`] learned in all; past that a message is
//!   its own group (its template), which is what grouping did before Drain.

use std::collections::HashMap;

/// The wildcard a learned template puts where its messages differ.
pub const WILDCARD: &str = "<*>";

/// One learned group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The founding message's template: the group's stable name.
    pub seed: String,
    /// The template now, with `<*>` where members differ.
    pub template: Vec<String>,
    /// Changed since it was last taken by [`Drain::take_changed`].
    changed: bool,
}

/// Leaf key: the token count, then the first [`Drain::PREFIX`] routing token(s).
type LeafKey = (usize, Vec<String>);

#[derive(Debug, Default)]
pub struct Drain {
    groups: Vec<Group>,
    by_seed: HashMap<String, usize>,
    leaves: HashMap<LeafKey, Vec<usize>>,
}

impl Drain {
    /// Fraction of positions that must hold the same token to join a group
    /// (Drain's `st`; 0.5 keeps messages that share only a frame of
    /// boilerplate apart).
    pub const SIMILARITY: f64 = 0.5;
    /// Tokens after the length that route a message (tree depth minus two).
    /// One, not Drain's usual two: error messages often name the thing that
    /// varies second (`user bob …`, `order 7 …`), and similarity sorts out
    /// the rest within a leaf.
    pub const PREFIX: usize = 1;
    pub const MAX_PER_LEAF: usize = 256;
    pub const MAX_GROUPS: usize = 100_000;

    /// Restores a group kept by the store.
    pub fn restore(&mut self, seed: &str, template: &str) {
        if self.by_seed.contains_key(seed) || self.groups.len() >= Self::MAX_GROUPS {
            return;
        }
        let seed_tokens: Vec<&str> = seed.split_whitespace().collect();
        let template: Vec<String> = template.split_whitespace().map(str::to_string).collect();
        if template.len() != seed_tokens.len() {
            return; // Not a template of this seed: ignore rather than mis-route.
        }
        self.insert(seed.to_string(), &seed_tokens, template, false);
    }

    fn insert(&mut self, seed: String, tokens: &[&str], template: Vec<String>, changed: bool) -> usize {
        let i = self.groups.len();
        self.by_seed.insert(seed.clone(), i);
        self.leaves.entry(leaf_key(tokens)).or_default().push(i);
        self.groups.push(Group { seed, template, changed });
        i
    }

    /// The seed of the group `template` (a message already reduced by
    /// [`super::fingerprint::template`]) belongs to, learning as it goes.
    pub fn group(&mut self, template: &str) -> String {
        if let Some(&i) = self.by_seed.get(template) {
            return self.groups[i].seed.clone();
        }
        let tokens: Vec<&str> = template.split_whitespace().collect();
        if tokens.is_empty() {
            return template.to_string();
        }
        let key = leaf_key(&tokens);
        let mut best: Option<(usize, f64)> = None;
        if let Some(leaf) = self.leaves.get(&key) {
            for &i in leaf.iter().take(Self::MAX_PER_LEAF) {
                let sim = similarity(&self.groups[i].template, &tokens);
                if sim >= Self::SIMILARITY && best.is_none_or(|(_, b)| sim > b) {
                    best = Some((i, sim));
                }
            }
        }
        if let Some((i, _)) = best {
            let g = &mut self.groups[i];
            for (slot, tok) in g.template.iter_mut().zip(&tokens) {
                if slot != tok && slot != WILDCARD {
                    *slot = WILDCARD.to_string();
                    g.changed = true;
                }
            }
            return g.seed.clone();
        }
        if self.groups.len() >= Self::MAX_GROUPS || self.leaves.get(&key).is_some_and(|l| l.len() >= Self::MAX_PER_LEAF) {
            return template.to_string();
        }
        let i = self.insert(template.to_string(), &tokens, tokens.iter().map(|t| t.to_string()).collect(), true);
        self.groups[i].seed.clone()
    }

    /// The current template of the group named `seed`.
    pub fn template_of(&self, seed: &str) -> Option<String> {
        self.by_seed.get(seed).map(|&i| self.groups[i].template.join(" "))
    }

    /// Groups founded or widened since the last call, as `(seed, template)`.
    pub fn take_changed(&mut self) -> Vec<(String, String)> {
        self.groups
            .iter_mut()
            .filter(|g| g.changed)
            .map(|g| {
                g.changed = false;
                (g.seed.clone(), g.template.join(" "))
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// The routing tokens: a token holding a digit (or a placeholder) takes the
/// wildcard branch, as in Drain.
fn leaf_key(tokens: &[&str]) -> LeafKey {
    let prefix = tokens
        .iter()
        .take(Drain::PREFIX)
        .map(|t| if t.bytes().any(|b| b.is_ascii_digit()) || t.starts_with('<') { "*".to_string() } else { t.to_string() })
        .collect();
    (tokens.len(), prefix)
}

/// Fraction of positions where the template holds the same token (a
/// wildcard counts as no match, as in Drain).
fn similarity(template: &[String], tokens: &[&str]) -> f64 {
    let same = template.iter().zip(tokens).filter(|(a, b)| a.as_str() == **b && a.as_str() != WILDCARD).count();
    same as f64 / tokens.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::fingerprint::template;

    #[test]
    fn words_that_vary_fall_together_and_the_seed_stays() {
        let mut d = Drain::default();
        let a = d.group(&template("user bob logged out of session web"));
        let b = d.group(&template("user carol logged out of session web"));
        let c = d.group(&template("user dave logged out of session mobile"));
        assert_eq!((a.as_str(), b.as_str()), ("user bob logged out of session web", "user bob logged out of session web"));
        assert_eq!(c, a, "two words differ of seven: still the same shape");
        assert_eq!(d.template_of(&a).unwrap(), "user <*> logged out of session <*>");
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn different_shapes_stay_apart() {
        let mut d = Drain::default();
        let a = d.group(&template("cache miss storm: 12 keys evicted in 40 ms"));
        let b = d.group(&template("connection refused by db-3:5432 after 2 retries"));
        let c = d.group(&template("payment declined for order 77 by issuer"));
        let e = d.group(&template("payment declined for order 78 by issuer"));
        assert_ne!(a, b);
        assert_ne!(c, a);
        assert_eq!(c, e, "numbers are placeholders already");
        // Same length, same first tokens, but fewer than half the tokens shared.
        let f = d.group("disk full on node alpha beta gamma");
        let g = d.group("disk full on rack delta epsilon zeta");
        assert_ne!(f, g);
    }

    #[test]
    fn the_issue_example_falls_together() {
        let mut d = Drain::default();
        let a = d.group(&template("timeout after 3001 ms talking to 10.0.0.7"));
        let b = d.group(&template("timeout after 12 ms talking to 10.0.0.9"));
        assert_eq!(a, b);
    }

    #[test]
    fn restored_groups_route_new_messages_like_before() {
        let mut learned = Drain::default();
        let seed = learned.group("user bob logged out");
        learned.group("user carol logged out");
        let kept = learned.take_changed();
        assert_eq!(kept, [(seed.clone(), "user <*> logged out".to_string())]);
        assert!(learned.take_changed().is_empty(), "taken once");

        let mut fresh = Drain::default();
        for (s, t) in &kept {
            fresh.restore(s, t);
        }
        assert_eq!(fresh.group("user erin logged out"), seed);
        assert!(fresh.take_changed().is_empty(), "the template already had the wildcard");
        fresh.restore("a b", "a"); // a template that does not fit its seed is ignored
        assert_eq!(fresh.len(), 1);
    }

    #[test]
    fn groups_are_bounded_per_leaf() {
        let word = |mut n: usize| {
            let mut w = String::new();
            loop {
                w.push(char::from(b'a' + (n % 26) as u8));
                n /= 26;
                if n == 0 {
                    return w;
                }
            }
        };
        let mut d = Drain::default();
        // One leaf (same length, same first token); 2 of 5 tokens shared: no merging.
        for i in 0..Drain::MAX_PER_LEAF + 50 {
            let seed = d.group(&format!("p q {} {} {}", word(3 * i), word(3 * i + 1), word(3 * i + 2)));
            assert!(seed.starts_with("p q "));
        }
        assert_eq!(d.len(), Drain::MAX_PER_LEAF, "past the bound a message is its own group, unlearned");
    }
}
