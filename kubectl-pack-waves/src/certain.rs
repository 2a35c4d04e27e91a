//! When the server-side dry-run of an object can be skipped because its
//! outcome is certain: a ConfigMap or Opaque Secret whose every field
//! pack-waves checks exactly as the API server does (names, keys, values,
//! labels, annotations, sizes) — new, or for a ConfigMap existing and not
//! `immutable` — in a cluster where no admission could refuse or change it
//! (no admission webhooks, no admission policy bindings, no ResourceQuota
//! in the namespace). Anything else — another kind, an existing Secret, an
//! immutable ConfigMap, a field not listed here, a cluster with admission,
//! a LIST we may not make — goes to the server. The dry-run of 1,000 such ConfigMaps costs the server as much
//! CPU as 60 % of applying them (`bench/waves.py`), and the checks here
//! take microseconds.

use serde_json::{Map, Value};

/// The most bytes of data a ConfigMap or Secret may hold (the server's limit).
const MAX_DATA_BYTES: usize = 1024 * 1024;
/// The most bytes of annotations one object may carry (the server's limit).
const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

/// True when the server would certainly accept this object's content
/// (given no admission, and for an update an object that is not
/// immutable): every field is one checked here, and valid.
pub fn certainly_valid(object: &Value) -> bool {
    let Some(top) = object.as_object() else {
        return false;
    };
    let kind = object["kind"].as_str().unwrap_or_default();
    let allowed: &[&str] = match (object["apiVersion"].as_str(), kind) {
        (Some("v1"), "ConfigMap") => &[
            "apiVersion",
            "kind",
            "metadata",
            "data",
            "binaryData",
            "immutable",
        ],
        (Some("v1"), "Secret") => &[
            "apiVersion",
            "kind",
            "metadata",
            "data",
            "stringData",
            "type",
            "immutable",
        ],
        _ => return false,
    };
    if top.keys().any(|k| !allowed.contains(&k.as_str())) || !metadata_ok(&object["metadata"]) {
        return false;
    }
    if !matches!(object.get("immutable"), None | Some(Value::Bool(_))) {
        return false;
    }
    match kind {
        "ConfigMap" => config_map_ok(top),
        _ => secret_ok(top),
    }
}

/// Only name, namespace, labels and annotations, each valid.
fn metadata_ok(meta: &Value) -> bool {
    let Some(m) = meta.as_object() else {
        return false;
    };
    let known = ["name", "namespace", "labels", "annotations"];
    if m.keys().any(|k| !known.contains(&k.as_str())) {
        return false;
    }
    let labels_ok = match m.get("labels") {
        None => true,
        Some(Value::Object(l)) => l
            .iter()
            .all(|(k, v)| qualified_name(k) && v.as_str().is_some_and(label_value)),
        Some(_) => false,
    };
    let annotations_ok = match m.get("annotations") {
        None => true,
        Some(Value::Object(a)) => {
            let size: usize = a
                .iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(usize::MAX / 2, str::len))
                .sum();
            size <= MAX_ANNOTATION_BYTES
                && a.iter().all(|(k, v)| qualified_name(k) && v.is_string())
        }
        Some(_) => false,
    };
    labels_ok && annotations_ok
}

fn config_map_ok(top: &Map<String, Value>) -> bool {
    let data = strings(top.get("data"));
    let binary = strings(top.get("binaryData"));
    let (Some(data), Some(binary)) = (data, binary) else {
        return false;
    };
    let mut size = 0;
    for (k, v) in &data {
        size += k.len() + v.len();
    }
    for (k, v) in &binary {
        let Some(decoded) = base64_len(v) else {
            return false;
        };
        size += k.len() + decoded;
    }
    data.iter().chain(&binary).all(|(k, _)| data_key(k))
        && !data.iter().any(|(k, _)| binary.iter().any(|(b, _)| b == k))
        && size <= MAX_DATA_BYTES
}

fn secret_ok(top: &Map<String, Value>) -> bool {
    if !matches!(top.get("type"), None | Some(Value::String(_))) {
        return false;
    }
    if top.get("type").is_some_and(|t| t != "Opaque") {
        // Typed Secrets have rules of their own: the server judges them.
        return false;
    }
    let (Some(data), Some(string_data)) =
        (strings(top.get("data")), strings(top.get("stringData")))
    else {
        return false;
    };
    let mut size = 0;
    for (k, v) in &data {
        let Some(decoded) = base64_len(v) else {
            return false;
        };
        size += k.len() + decoded;
    }
    for (k, v) in &string_data {
        size += k.len() + v.len();
    }
    data.iter().chain(&string_data).all(|(k, _)| data_key(k)) && size <= MAX_DATA_BYTES
}

/// A map of strings (absent or null: empty); None when anything else.
fn strings(v: Option<&Value>) -> Option<Vec<(&str, &str)>> {
    match v {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| Some((k.as_str(), v.as_str()?)))
            .collect(),
        Some(_) => None,
    }
}

/// The decoded length of standard base64 (padding required), or None.
fn base64_len(s: &str) -> Option<usize> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()
        .map(|d| d.len())
}

/// A ConfigMap/Secret key: `[-._a-zA-Z0-9]+`, at most 253, not `.`/`..`.
fn data_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// A label/annotation key: `[prefix/]name`, the prefix a DNS subdomain.
fn qualified_name(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| shared::identity::check_name("ConfigMap", p).is_ok());
    prefix_ok && !name.is_empty() && name.len() <= 63 && name_part(name)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn name_part(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    let b = s.as_bytes();
    !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter()
            .all(|&c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
}

fn label_value(v: &str) -> bool {
    v.is_empty() || (v.len() <= 63 && name_part(v))
}

/// The ConfigMaps of `namespace` that are not `immutable` (one LIST; empty
/// when it fails, so they all go to the server).
pub async fn mutable_config_maps(
    client: &kube::Client,
    namespace: &str,
) -> std::collections::HashSet<String> {
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), namespace);
    match api.list(&kube::api::ListParams::default()).await {
        Ok(list) => list
            .items
            .into_iter()
            .filter(|c| c.immutable != Some(true))
            .filter_map(|c| c.metadata.name)
            .collect(),
        Err(_) => Default::default(),
    }
}

/// True when nothing in the cluster admits objects of `namespace` beyond
/// the built-in checks: no admission webhooks, no admission policy
/// bindings (any served version), no ResourceQuota there. Any LIST that
/// fails (not allowed; not served by this server's version is fine)
/// counts as "maybe".
pub async fn admission_free(client: &kube::Client, namespace: &str) -> bool {
    let lists = [
        (
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            false,
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            false,
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicybindings",
            false,
        ),
        (
            "admissionregistration.k8s.io",
            "v1beta1",
            "mutatingadmissionpolicybindings",
            false,
        ),
        // Mutating policies: beta in 1.34, served as v1 by later servers.
        (
            "admissionregistration.k8s.io",
            "v1",
            "mutatingadmissionpolicybindings",
            false,
        ),
        ("", "v1", "resourcequotas", true),
    ];
    let checks = lists.iter().map(|(group, version, plural, namespaced)| {
        let client = client.clone();
        async move {
            let gvk = kube::api::GroupVersionKind::gvk(group, version, "");
            let res = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
            let api: kube::Api<kube::api::PartialObjectMeta<kube::api::DynamicObject>> =
                if *namespaced {
                    kube::Api::namespaced_with(client, namespace, &res)
                } else {
                    kube::Api::all_with(client, &res)
                };
            match api
                .list_metadata(&kube::api::ListParams::default().limit(1))
                .await
            {
                Ok(list) => list.items.is_empty(),
                // Not served (an older server without mutating policies).
                Err(kube::Error::Api(s)) if s.code == 404 => true,
                Err(_) => false,
            }
        }
    });
    futures::future::join_all(checks)
        .await
        .into_iter()
        .all(|free| free)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_configmaps_and_secrets_are_certain_and_anything_odd_is_not() {
        let ok = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "x"}, "annotations": {"note": "free text: ok"}},
            "data": {"a.conf": "x", "B_2": "y"}, "binaryData": {"bin": "AAEC"}});
        assert!(certainly_valid(&ok));
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "type": "Opaque", "data": {"k": "dmFsdWU="}, "stringData": {"p": "x"}});
        assert!(certainly_valid(&secret));
        for (path, bad) in [
            ("/data/bad key!", json!("v")),
            ("/data/k", json!({"a": 1})),
            ("/binaryData/k", json!("%%%")),
            ("/metadata/labels/app", json!("not valid!")),
            ("/metadata/finalizers", json!(["x"])),
            ("/spec", json!({})),
            ("/immutable", json!("yes")),
        ] {
            let mut o = ok.clone();
            let (parent, key) = path.rsplit_once('/').unwrap();
            o.pointer_mut(parent).unwrap()[key] = bad;
            assert!(!certainly_valid(&o), "{path}");
        }
        let mut tls = secret.clone();
        tls["type"] = json!("kubernetes.io/tls");
        assert!(!certainly_valid(&tls), "typed Secrets go to the server");
        let mut big = ok.clone();
        big["data"]["a.conf"] = json!("x".repeat(MAX_DATA_BYTES));
        assert!(!certainly_valid(&big));
        assert!(!certainly_valid(
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}})
        ));
    }
}
