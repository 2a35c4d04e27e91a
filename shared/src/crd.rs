//! When a CustomResourceDefinition is ready to use — the one definition
//! pack-waves (readiness gate of a wave) and pack-crd (apply, restore,
//! migrate) share.
//!
//! Ready means: `Established` and `NamesAccepted` are True, the names the
//! server accepted are the ones asked for (right after an update the
//! conditions can still describe the previous spec), and discovery serves
//! the kind in every served version (it can lag a moment behind
//! Established; the next step of a pipe resolves kinds through discovery).

use serde_json::Value;

use crate::discovery::Resolver;

/// What a CRD's status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrdState {
    /// Established with the names asked for.
    Established,
    /// Not yet, and why.
    Pending(String),
    /// The names clash with another CRD: it will not become ready.
    Failed(String),
}

fn condition<'a>(crd: &'a Value, kind: &str) -> Option<&'a Value> {
    crd["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Judges a live CRD by its conditions and accepted names.
pub fn state(crd: &Value) -> CrdState {
    if let Some(c) = condition(crd, "NamesAccepted")
        && c["status"] == "False"
    {
        return CrdState::Failed(format!(
            "NamesAccepted=False: {}",
            c["message"].as_str().unwrap_or_default()
        ));
    }
    for kind in ["NamesAccepted", "Established"] {
        match condition(crd, kind) {
            Some(c) if c["status"] == "True" => {}
            Some(c) => {
                return CrdState::Pending(format!(
                    "{kind}={} {}",
                    c["status"].as_str().unwrap_or("?"),
                    c["message"].as_str().unwrap_or_default()
                ));
            }
            None => return CrdState::Pending(format!("not {kind} yet")),
        }
    }
    if !names_current(crd) {
        return CrdState::Pending("the accepted names are still the previous ones".into());
    }
    CrdState::Established
}

/// The names the server accepted are the ones the spec asks for.
fn names_current(crd: &Value) -> bool {
    let (want, got) = (&crd["spec"]["names"], &crd["status"]["acceptedNames"]);
    fn list(v: &Value) -> Vec<&str> {
        let mut l: Vec<&str> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        l.sort_unstable();
        l
    }
    ["plural", "singular", "kind", "listKind"]
        .iter()
        .all(|k| want[*k].as_str().unwrap_or_default() == got[*k].as_str().unwrap_or_default())
        && ["shortNames", "categories"]
            .iter()
            .all(|k| list(&want[*k]) == list(&got[*k]))
}

/// Discovery serves the CRD's kind in every served version. Asked through
/// a fresh [`Resolver`], the way the next step of a pipe will ask.
pub async fn discoverable(client: &kube::Client, crd: &Value) -> bool {
    let resolver = Resolver::new(client.clone());
    let spec = &crd["spec"];
    let (group, kind, plural) = (
        spec["group"].as_str().unwrap_or_default(),
        spec["names"]["kind"].as_str().unwrap_or_default(),
        spec["names"]["plural"].as_str().unwrap_or_default(),
    );
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"] != true {
            continue;
        }
        let api_version = format!("{group}/{}", v["name"].as_str().unwrap_or_default());
        match resolver.resolve(&api_version, kind).await {
            Ok(Some(found)) if found.resource.plural == plural => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(conditions: Value, accepted: Value) -> Value {
        json!({"spec": {"names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd", "w"]}},
               "status": {"conditions": conditions, "acceptedNames": accepted}})
    }

    #[test]
    fn established_needs_both_conditions_and_the_current_names() {
        let ok = json!([{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]);
        let names = json!({"plural": "widgets", "kind": "Widget", "shortNames": ["w", "wd"]});
        assert_eq!(
            state(&crd(ok.clone(), names.clone())),
            CrdState::Established
        );
        let old = json!({"plural": "widgets", "kind": "Widget", "shortNames": ["w"]});
        assert!(matches!(state(&crd(ok, old)), CrdState::Pending(_)));
        let pending = json!([{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "False", "message": "installing"}]);
        assert_eq!(
            state(&crd(pending, names.clone())),
            CrdState::Pending("Established=False installing".into())
        );
        let clash = json!([{"type": "NamesAccepted", "status": "False", "message": "\"widgets\" is already in use"}]);
        assert!(
            matches!(state(&crd(clash, names)), CrdState::Failed(m) if m.contains("already in use"))
        );
        assert!(matches!(state(&json!({})), CrdState::Pending(_)));
    }
}
