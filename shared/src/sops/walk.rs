//! The tree walk shared by encryption and decryption: every leaf value and
//! comment with its key path (the additional data) and whether a marking
//! comment precedes it (for the comment selection rules).

use super::metadata::Rule;
use super::tree::{Elem, Node, Scalar};

/// The visitor [`walk`] calls per leaf: the leaf, its path, whether a
/// marking comment precedes it.
pub(super) type Visit<'f, E> = dyn FnMut(Leaf<'_>, &[String], bool) -> Result<(), E> + 'f;

/// A leaf visited by [`walk`].
pub(super) enum Leaf<'a> {
    Value(&'a mut Scalar),
    Comment(&'a mut String),
}

/// Visits every leaf with its path (map keys only) and whether a marking
/// comment precedes it (for the comment rules).
pub(super) fn walk<E>(
    node: &mut Node,
    path: &mut Vec<String>,
    marked: bool,
    rule: &Rule,
    f: &mut Visit<'_, E>,
) -> Result<(), E> {
    match node {
        Node::Scalar(s) => f(Leaf::Value(s), path, marked),
        Node::Map(entries) => {
            let mut mark_next = false;
            for e in entries.iter_mut() {
                match e {
                    Elem::Comment(c) => {
                        let m = rule.marks(c);
                        f(Leaf::Comment(c), path, m)?;
                        mark_next = mark_next || m;
                    }
                    Elem::Value((k, v)) => {
                        path.push(k.clone());
                        walk(v, path, marked || mark_next, rule, f)?;
                        path.pop();
                        mark_next = false;
                    }
                }
            }
            Ok(())
        }
        Node::Seq(items) => {
            let mut mark_next = false;
            for e in items.iter_mut() {
                match e {
                    Elem::Comment(c) => {
                        let m = rule.marks(c);
                        f(Leaf::Comment(c), path, m)?;
                        mark_next = mark_next || m;
                    }
                    Elem::Value(v) => {
                        walk(v, path, marked || mark_next, rule, f)?;
                        mark_next = false;
                    }
                }
            }
            Ok(())
        }
    }
}

pub(super) fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}
