//! The whole stream checked before the first write, so a bad document at
//! the end never leaves the documents before it applied:
//!
//! 1. offline ([`offline`]): every annotation of ours parsed
//!    ([`crate::marks`]), names valid for their kind, objects under the
//!    size the API server and etcd accept;
//! 2. kinds ([`kinds`]): every apiVersion/kind served by the server or
//!    defined by a CRD of the same stream.
//!
//! The server's own validation and admission (a server-side dry-run of
//! every object) follow in [`crate::preflight`], under the release lock.
//! Each check reports every bad object, one line each.

use shared::discovery::Resolver;
use shared::error::Refusal;
use shared::stream::SourcedObject;

/// The largest object written: etcd's default request limit (1.5 MiB;
/// the API server's own request limit is 3 MiB).
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

fn key_of(o: &SourcedObject) -> String {
    format!("{} at {}", o.key(), o.source)
}

/// The checks that need no server.
pub fn offline(objects: &[SourcedObject]) -> Result<(), Refusal> {
    let mut lines = Vec::new();
    for o in objects {
        let key = key_of(o);
        if let Err(e) = shared::identity::check_name(o.kind(), o.name()) {
            lines.push(format!("{key}: {e}"));
        }
        if let Err(errors) = crate::marks::read(&o.object) {
            lines.extend(errors.into_iter().map(|e| format!("{key}: {e}")));
        }
        let size = serde_json::to_vec(&o.object).map_or(0, |v| v.len());
        if size > MAX_OBJECT_BYTES {
            lines.push(format!(
                "{key}: is {:.1} MiB, over the {:.1} MiB etcd stores in one object; move the data out (a volume, an image, several objects)",
                size as f64 / 1048576.0,
                MAX_OBJECT_BYTES as f64 / 1048576.0
            ));
        }
    }
    refuse(lines, "object(s) of the stream are invalid")
}

/// Every kind of the stream is served, or defined (group, kind and a
/// served version) by a CustomResourceDefinition of the stream.
pub async fn kinds(resolver: &Resolver, objects: &[&SourcedObject]) -> anyhow::Result<()> {
    let defined: Vec<(String, String, Vec<String>)> = objects
        .iter()
        .filter(|o| o.kind() == "CustomResourceDefinition")
        .map(|o| {
            let spec = &o.object["spec"];
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            let versions = spec["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v["served"] != false)
                .map(|v| text(&v["name"]))
                .collect();
            (text(&spec["group"]), text(&spec["names"]["kind"]), versions)
        })
        .collect();
    let mut checked = std::collections::HashSet::new();
    let mut lines = Vec::new();
    for o in objects {
        if !checked.insert((o.api_version(), o.kind())) {
            continue;
        }
        let (group, version) = shared::identity::split_api_version(o.api_version());
        let in_stream = defined
            .iter()
            .any(|(g, k, vs)| g == group && k == o.kind() && vs.iter().any(|v| v == version));
        if in_stream {
            continue;
        }
        if resolver.resolve(o.api_version(), o.kind()).await?.is_none() {
            lines.push(format!(
                "{}: the server has no kind {} in {} and no CustomResourceDefinition of the stream defines it; check apiVersion/kind, or apply the CRD first",
                key_of(o),
                o.kind(),
                o.api_version()
            ));
        }
    }
    Ok(refuse(
        lines,
        "object(s) of the stream have kinds the server does not know",
    )?)
}

fn refuse(lines: Vec<String>, what: &str) -> Result<(), Refusal> {
    if lines.is_empty() {
        Ok(())
    } else {
        Err(Refusal::nothing_applied(lines, what))
    }
}
