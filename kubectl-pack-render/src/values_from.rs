//! `--values-from configmap/NAME[?]|secret/NAME[?]`: values layers read
//! from the cluster (read-only). A `values.yaml` key is parsed as YAML;
//! other keys are dotted paths. Layers from Secrets are marked sensitive so
//! `--explain` never prints them.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde_json::{Map, Value};

use crate::error::RenderError;
use crate::values::strvals::{self, Mode};
use crate::values::{self, Layer};

fn layer_from_entries(source: &str, entries: Vec<(String, String)>) -> Result<Layer, RenderError> {
    let err = |message: String| RenderError::ValuesFrom {
        source_ref: source.to_string(),
        message,
    };
    let mut value = Value::Object(Map::new());
    let mut text = None;
    let mut entries = entries;
    // values.yaml first, so dotted keys refine it.
    entries.sort_by_key(|(k, _)| k != "values.yaml");
    for (key, data) in entries {
        if key == "values.yaml" {
            let (data, _) = crate::sops_values::decrypt_if_encrypted(
                &format!("{source} key values.yaml"),
                data,
            )?;
            let v: Value = shared::yaml::from_str(&data)
                .map_err(|e| err(format!("key values.yaml: invalid YAML: {}", e.message)))?;
            if !v.is_null() {
                values::merge(&mut value, &v);
            }
            text = Some(data);
        } else {
            let mut m = Map::new();
            let escaped = data.replace('\\', "\\\\").replace(',', "\\,");
            strvals::parse_into(&format!("{key}={escaped}"), Mode::String, &mut m)
                .map_err(|e| err(format!("key {key}: {}", e.message)))?;
            values::merge(&mut value, &Value::Object(m));
        }
    }
    Ok(Layer::new(source.to_string(), value, text))
}

/// A source's entries and whether they came from a Secret (`None`: absent).
type Fetched = Option<(Vec<(String, String)>, bool)>;

/// Fetches every `--values-from` source in order.
pub async fn fetch(
    client: &kube::Client,
    namespace: &str,
    sources: &[String],
) -> Result<Vec<Layer>, RenderError> {
    let mut layers = Vec::new();
    for raw in sources {
        let optional = raw.ends_with('?');
        let source = raw.trim_end_matches('?');
        let err = |message: String| RenderError::ValuesFrom {
            source_ref: raw.clone(),
            message,
        };
        let Some((kind, name)) = source.split_once('/') else {
            return Err(err("expected configmap/NAME or secret/NAME".into()));
        };
        let fetched: Result<Fetched, kube::Error> = match kind.to_ascii_lowercase().as_str() {
            "configmap" | "configmaps" | "cm" => {
                Api::<ConfigMap>::namespaced(client.clone(), namespace)
                    .get_opt(name)
                    .await
                    .map(|o| o.map(|cm| (cm.data.unwrap_or_default().into_iter().collect(), false)))
            }
            "secret" | "secrets" => Api::<Secret>::namespaced(client.clone(), namespace)
                .get_opt(name)
                .await
                .map(|o| {
                    o.map(|s| {
                        let entries = s
                            .data
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                            .collect();
                        (entries, true)
                    })
                }),
            other => {
                return Err(err(format!(
                    "unknown kind {other:?}; use configmap/NAME or secret/NAME"
                )));
            }
        };
        match fetched {
            Ok(Some((entries, sensitive))) => {
                let mut layer = layer_from_entries(source, entries)?;
                layer.sensitive = sensitive;
                layers.push(layer);
            }
            Ok(None) if optional => {}
            Ok(None) => {
                return Err(err(format!(
                    "not found in namespace {namespace}; create it, or add ? to make it optional"
                )));
            }
            Err(e) => return Err(err(shared::Error::api("read", e).to_string())),
        }
    }
    Ok(layers)
}
