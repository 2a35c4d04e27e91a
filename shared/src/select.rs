//! Choosing objects by `kind/name`, spelled as kubectl users spell them.
//!
//! `--only deployment/web`, `--only deploy/web`, `--only Deployment/web`,
//! `--except secrets/*`, `--only deployments.apps/web-?`: the kind part is
//! matched case-insensitively against the kind, its plural, singular and
//! short names as the server's discovery lists them (optionally with
//! `.group`), the name part is a glob (`*`, `?`, `[...]`). [`parse`] is the
//! clap value parser (shape errors at parse time); [`Selectors::resolve`]
//! checks each kind against discovery once, so a misspelt kind is refused
//! with the command's usage words before anything changes.

use globset::{Glob, GlobMatcher};

use crate::discovery::ResolvedKind;
use crate::identity::split_api_version;

/// One `kind/name` selector.
#[derive(Debug, Clone)]
pub struct Selector {
    /// As typed, for messages.
    pub text: String,
    /// The kind part, lowercased, without `.group`.
    kind: String,
    /// The `.group` suffix of the kind part, if any.
    group: Option<String>,
    /// The name part.
    name: GlobMatcher,
}

/// The clap value parser for `KIND/NAME` (a glob in NAME).
pub fn parse(text: &str) -> Result<Selector, String> {
    const HINT: &str = "expected KIND/NAME, e.g. deployment/web, deploy/web or secrets/*";
    let (kind, name) = text.split_once('/').ok_or(HINT)?;
    if kind.is_empty()
        || name.is_empty()
        || name.contains('/')
        || !kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(HINT.to_string());
    }
    let kind = kind.to_ascii_lowercase();
    let (kind, group) = match kind.split_once('.') {
        Some((k, g)) => (k.to_string(), Some(g.to_string())),
        None => (kind, None),
    };
    let name = Glob::new(name)
        .map_err(|e| format!("{name}: {e}"))?
        .compile_matcher();
    Ok(Selector {
        text: text.to_string(),
        kind,
        group,
        name,
    })
}

impl Selector {
    /// True when the kind part names `kind` of `group` (`known`: what
    /// discovery says about that kind, for plural and short names).
    fn names_kind(&self, group: &str, kind: &str, known: Option<&ResolvedKind>) -> bool {
        if self.group.as_deref().is_some_and(|g| g != group) {
            return false;
        }
        self.kind == kind.to_ascii_lowercase()
            || known.is_some_and(|k| {
                self.kind == k.resource.plural
                    || k.singular == self.kind
                    || k.short_names.contains(&self.kind)
            })
    }
}

/// A command's selectors with the server's kinds to read them by.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    list: Vec<Selector>,
    served: Vec<ResolvedKind>,
}

impl Selectors {
    /// Checks every selector's kind against the served kinds (and the kinds
    /// of `objects`, which may no longer be served): an unknown kind is an
    /// error naming `flag`.
    pub fn resolve(
        flag: &str,
        list: &[Selector],
        served: Vec<ResolvedKind>,
        objects: &[(&str, &str)],
    ) -> Result<Selectors, String> {
        for s in list {
            let known = served
                .iter()
                .any(|k| s.names_kind(&k.resource.group, &k.resource.kind, Some(k)))
                || objects.iter().any(|(api_version, kind)| {
                    s.names_kind(split_api_version(api_version).0, kind, None)
                });
            if !known {
                return Err(format!(
                    "{flag} {}: the server has no kind, plural or short name '{}'{}",
                    s.text,
                    s.kind,
                    s.group
                        .as_ref()
                        .map(|g| format!(" in group {g}"))
                        .unwrap_or_default()
                ));
            }
        }
        Ok(Selectors {
            list: list.to_vec(),
            served,
        })
    }

    /// True when there are no selectors.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The selectors, as typed.
    pub fn iter(&self) -> impl Iterator<Item = &Selector> {
        self.list.iter()
    }

    /// True when `selector` picks the object.
    pub fn picks(&self, selector: &Selector, api_version: &str, kind: &str, name: &str) -> bool {
        let group = split_api_version(api_version).0;
        let known = self
            .served
            .iter()
            .find(|k| k.resource.group == group && k.resource.kind == kind);
        selector.names_kind(group, kind, known) && selector.name.is_match(name)
    }

    /// True when any selector picks the object.
    pub fn any(&self, api_version: &str, kind: &str, name: &str) -> bool {
        self.list
            .iter()
            .any(|s| self.picks(s, api_version, kind, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::discovery::{ApiResource, Scope};

    fn deployments() -> ResolvedKind {
        ResolvedKind {
            resource: ApiResource {
                group: "apps".into(),
                version: "v1".into(),
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                plural: "deployments".into(),
            },
            scope: Scope::Namespaced,
            has_status: true,
            singular: "deployment".into(),
            short_names: vec!["deploy".into()],
        }
    }

    fn picks(text: &str, kind: &str, name: &str) -> bool {
        let s = parse(text).expect("selector");
        let all = Selectors::resolve("--only", std::slice::from_ref(&s), vec![deployments()], &[])
            .expect("known kind");
        all.picks(&s, "apps/v1", kind, name)
    }

    #[test]
    fn kubectl_spellings_of_a_kind_and_name_globs_select() {
        for text in [
            "Deployment/web",
            "deployment/web",
            "deployments/web",
            "deploy/web",
            "DEPLOY/web",
            "deployments.apps/web",
            "deploy/w*",
            "deploy/we?",
        ] {
            assert!(picks(text, "Deployment", "web"), "{text}");
        }
        assert!(!picks("deploy/api", "Deployment", "web"));
        assert!(!picks("deploy/*", "StatefulSet", "web"));
    }

    #[test]
    fn a_kind_the_server_does_not_know_is_refused_by_flag() {
        let s = parse("deploymnt/web").expect("shape");
        let err = Selectors::resolve("--only", &[s], vec![deployments()], &[]).unwrap_err();
        assert!(err.starts_with("--only deploymnt/web:"), "{err}");
        let s = parse("deployments.batch/web").expect("shape");
        assert!(Selectors::resolve("--only", &[s], vec![deployments()], &[]).is_err());
        for bad in ["web", "/web", "deploy/", "a/b/c", "de ploy/x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
