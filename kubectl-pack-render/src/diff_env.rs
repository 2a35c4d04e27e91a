//! `kubectl pack-render diff-env A B PACK`: renders the pack for two
//! environments and shows, object by object, what differs (a coloured
//! unified diff of each object's YAML). Exit 0 when equal, 1 when they
//! differ, 2 on error — like `kubectl diff`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clap::ArgMatches;
use shared::identity::ObjectId;
use shared::kubeconfig::KubeArgs;
use shared::output::{Paint, Stream, exit};

use crate::cli::DiffEnvArgs;
use crate::render;

fn objects(r: &render::Rendered) -> BTreeMap<String, serde_json::Value> {
    r.files
        .iter()
        .flat_map(|f| f.documents.iter())
        .map(|d| {
            (
                ObjectId::of(d.object()).to_string(),
                mask_secret(d.object().clone()),
            )
        })
        .collect()
}

/// Secret values are never shown: each becomes a short digest, so a change
/// is still visible as a change.
fn mask_secret(mut obj: serde_json::Value) -> serde_json::Value {
    use sha2::Digest;
    if obj["kind"] == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(map) = obj
                .get_mut(field)
                .and_then(serde_json::Value::as_object_mut)
            {
                for v in map.values_mut() {
                    let digest = sha2::Sha256::digest(v.to_string().as_bytes());
                    let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
                    *v = serde_json::Value::String(format!("(hidden, sha256 {short})"));
                }
            }
        }
    }
    obj
}

/// The diff report and whether anything differs.
pub fn diff_report(
    from: &str,
    to: &str,
    a: &BTreeMap<String, serde_json::Value>,
    b: &BTreeMap<String, serde_json::Value>,
    paint: Paint,
) -> (String, bool) {
    let mut out = String::new();
    let mut differs = false;
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        match (a.get(key), b.get(key)) {
            (Some(_), None) => {
                differs = true;
                let _ = writeln!(out, "{} {key} (only in {from})", paint.red("-"));
            }
            (None, Some(_)) => {
                differs = true;
                let _ = writeln!(out, "{} {key} (only in {to})", paint.green("+"));
            }
            (Some(x), Some(y)) if x != y => {
                differs = true;
                let _ = writeln!(out, "{} {key}", paint.yellow("~"));
                let xs = shared::yaml::to_string(x).unwrap_or_default();
                let ys = shared::yaml::to_string(y).unwrap_or_default();
                let diff = similar::TextDiff::from_lines(&xs, &ys);
                for hunk in diff
                    .unified_diff()
                    .context_radius(2)
                    .header(from, to)
                    .iter_hunks()
                {
                    let _ = writeln!(out, "{}", paint.dim(&hunk.header().to_string()));
                    for change in hunk.iter_changes() {
                        let line =
                            format!("{}{}", change.tag(), change.value().trim_end_matches('\n'));
                        let line = match change.tag() {
                            similar::ChangeTag::Delete => paint.red(&line),
                            similar::ChangeTag::Insert => paint.green(&line),
                            similar::ChangeTag::Equal => line,
                        };
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
            _ => {}
        }
    }
    (out, differs)
}

/// Runs `diff-env`.
pub async fn run(kube: &KubeArgs, args: &DiffEnvArgs, matches: &ArgMatches) -> anyhow::Result<u8> {
    let mut renders = Vec::new();
    for env in [&args.from, &args.to] {
        let mut values = args.values.clone();
        values.environment = Some(env.clone());
        let req = crate::render_cmd::request(kube, &values, matches, &args.pack, "").await?;
        renders.push(tokio::task::spawn_blocking(move || render::render(&req)).await??);
    }
    let (a, b) = (objects(&renders[0]), objects(&renders[1]));
    let (report, differs) = diff_report(
        &args.from,
        &args.to,
        &a,
        &b,
        Paint::for_stream(Stream::Stdout),
    );
    if differs {
        std::io::Write::write_all(&mut std::io::stdout().lock(), report.as_bytes())?;
        Ok(exit::DIFFERENCES)
    } else {
        eprintln!("{} and {} render the same objects", args.from, args.to);
        Ok(exit::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_never_appear_in_the_diff() {
        let a: BTreeMap<String, serde_json::Value> = [(
            "s".to_string(),
            mask_secret(json!({"kind": "Secret", "data": {"k": "c2VjcmV0LW9uZQ=="}})),
        )]
        .into();
        let b: BTreeMap<String, serde_json::Value> = [(
            "s".to_string(),
            mask_secret(json!({"kind": "Secret", "data": {"k": "c2VjcmV0LXR3bw=="}})),
        )]
        .into();
        let (report, differs) = diff_report("a", "b", &a, &b, Paint::plain());
        assert!(differs, "a changed secret is still a difference");
        assert!(
            !report.contains("c2VjcmV0") && report.contains("(hidden, sha256"),
            "{report}"
        );
    }
}
