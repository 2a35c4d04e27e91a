//! Who owns a live object: this release, another release of ours, another
//! tool (Helm, Argo CD, Flux, kapp), or nobody.
//!
//! Every object a release applies carries the release label, the
//! release-namespace annotation and the ApplySet `part-of` label (whose id
//! is derived from release name and namespace), cluster-scoped objects
//! included: two releases of the same name in different namespaces never
//! share an object by accident. pack-waves reads the owner of every object
//! of a stream that already exists before it writes anything, and of every
//! object it is about to delete.

use std::fmt;

use serde_json::Value;

use super::{PART_OF_LABEL, RELEASE_LABEL, applyset_id};

/// Annotation carrying the namespace of the release that owns an object.
pub const RELEASE_NAMESPACE_ANNOTATION: &str = "sherpack.io/release-namespace";

/// Marks `object` as release `release`'s in `namespace`: the release label,
/// the ApplySet `part-of` label and the release-namespace annotation.
pub fn stamp(object: &mut Value, release: &str, namespace: &str) {
    let meta = &mut object["metadata"];
    for key in ["labels", "annotations"] {
        if !meta[key].is_object() {
            meta[key] = Value::Object(Default::default());
        }
    }
    meta["labels"][RELEASE_LABEL] = Value::String(release.to_string());
    meta["labels"][PART_OF_LABEL] = Value::String(applyset_id(release, namespace));
    meta["annotations"][RELEASE_NAMESPACE_ANNOTATION] = Value::String(namespace.to_string());
}

/// The owner of a live object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This release.
    Us,
    /// Another release of this suite.
    Release {
        /// Its name.
        name: String,
        /// Its namespace, when recorded.
        namespace: Option<String>,
    },
    /// A Helm release (`meta.helm.sh/release-name` or `managed-by: Helm`).
    Helm {
        /// The release name, when annotated.
        name: Option<String>,
        /// Its namespace, when annotated.
        namespace: Option<String>,
    },
    /// An Argo CD application (tracking annotation or instance label).
    ArgoCd(String),
    /// A Flux Kustomization or HelmRelease.
    Flux(String),
    /// A kapp app.
    Kapp(String),
    /// Nobody: created by hand, by kubectl, or by a controller.
    Nobody,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v[key].as_str().filter(|s| !s.is_empty())
}

/// The owner of `live` (an object or its metadata), seen from release
/// `release` in `namespace`.
pub fn owner(live: &Value, release: &str, namespace: &str) -> Owner {
    let meta = if live.get("metadata").is_some() {
        &live["metadata"]
    } else {
        live
    };
    let (labels, annotations) = (&meta["labels"], &meta["annotations"]);
    if let Some(part_of) = text(labels, PART_OF_LABEL)
        && part_of == applyset_id(release, namespace)
    {
        return Owner::Us;
    }
    if let Some(name) = text(labels, RELEASE_LABEL) {
        let ns = text(annotations, RELEASE_NAMESPACE_ANNOTATION).map(str::to_string);
        if name == release && ns.as_deref() == Some(namespace) {
            return Owner::Us;
        }
        return Owner::Release {
            name: name.to_string(),
            namespace: ns,
        };
    }
    let helm_name = text(annotations, "meta.helm.sh/release-name");
    if helm_name.is_some() || text(labels, "app.kubernetes.io/managed-by") == Some("Helm") {
        return Owner::Helm {
            name: helm_name.map(str::to_string),
            namespace: text(annotations, "meta.helm.sh/release-namespace").map(str::to_string),
        };
    }
    if let Some(app) = text(annotations, "argocd.argoproj.io/tracking-id")
        .or_else(|| text(labels, "argocd.argoproj.io/instance"))
    {
        return Owner::ArgoCd(app.split(':').next().unwrap_or(app).to_string());
    }
    for key in [
        "kustomize.toolkit.fluxcd.io/name",
        "helm.toolkit.fluxcd.io/name",
    ] {
        if let Some(name) = text(labels, key) {
            return Owner::Flux(name.to_string());
        }
    }
    if let Some(app) = text(labels, "kapp.k14s.io/app") {
        return Owner::Kapp(app.to_string());
    }
    Owner::Nobody
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = |n: &Option<String>| {
            n.as_ref()
                .map(|n| format!(" in namespace {n}"))
                .unwrap_or_default()
        };
        match self {
            Owner::Us => f.write_str("belongs to this release"),
            Owner::Release { name, namespace } => {
                write!(f, "belongs to release {name}{}", ns(namespace))
            }
            Owner::Helm {
                name: Some(n),
                namespace,
            } => {
                write!(f, "belongs to Helm release {n}{}", ns(namespace))
            }
            Owner::Helm { name: None, .. } => f.write_str("is managed by Helm"),
            Owner::ArgoCd(app) => write!(f, "is tracked by Argo CD application {app}"),
            Owner::Flux(name) => write!(f, "is managed by Flux ({name})"),
            Owner::Kapp(app) => write!(f, "belongs to kapp app {app}"),
            Owner::Nobody => f.write_str("exists and belongs to no release"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owners_are_told_apart() {
        let ours = applyset_id("app", "shop");
        let o = |labels: Value, annotations: Value| {
            owner(
                &json!({"metadata": {"labels": labels, "annotations": annotations}}),
                "app",
                "shop",
            )
        };
        assert_eq!(o(json!({PART_OF_LABEL: ours}), json!({})), Owner::Us);
        // Same release name, another namespace: another release.
        assert_eq!(
            o(
                json!({RELEASE_LABEL: "app", PART_OF_LABEL: applyset_id("app", "other")}),
                json!({RELEASE_NAMESPACE_ANNOTATION: "other"})
            ),
            Owner::Release {
                name: "app".into(),
                namespace: Some("other".into())
            }
        );
        assert_eq!(
            o(json!({"app.kubernetes.io/managed-by": "Helm"}), json!({"meta.helm.sh/release-name": "web", "meta.helm.sh/release-namespace": "shop"}))
                .to_string(),
            "belongs to Helm release web in namespace shop"
        );
        assert_eq!(
            o(
                json!({}),
                json!({"argocd.argoproj.io/tracking-id": "guestbook:apps/Deployment:shop/web"})
            ),
            Owner::ArgoCd("guestbook".into())
        );
        assert_eq!(
            o(
                json!({"kustomize.toolkit.fluxcd.io/name": "apps"}),
                json!({})
            ),
            Owner::Flux("apps".into())
        );
        assert_eq!(
            o(json!({"kapp.k14s.io/app": "1234"}), json!({})),
            Owner::Kapp("1234".into())
        );
        assert_eq!(o(json!({"app": "web"}), json!({})), Owner::Nobody);
        let mut stamped = json!({"metadata": {"name": "x"}});
        stamp(&mut stamped, "app", "shop");
        assert_eq!(owner(&stamped, "app", "shop"), Owner::Us);
        assert_ne!(owner(&stamped, "app", "other"), Owner::Us);
    }
}
