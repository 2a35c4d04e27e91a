//! The annotations pack-waves reads (ours, and the Helm / Argo CD / werf /
//! kpt spellings it honours), parsed into types at the boundary. A value
//! outside what is accepted is an error naming the annotation, the value
//! and the accepted values — never silently ignored, so an object is not
//! left out of a release (a misspelt hook phase) or waited for in a way
//! the author did not mean.

use std::time::Duration;

use serde_json::Value;

/// Annotations that set the wave, in order of precedence.
pub const WAVE_ANNOTATIONS: [&str; 4] = [
    "sherpack.io/wave",
    "sherpack.io/sync-wave",
    "argocd.argoproj.io/sync-wave",
    "werf.io/weight",
];
/// Annotations that name dependencies.
pub const DEPENDS_ANNOTATIONS: [&str; 3] = [
    "sherpack.io/depends-on",
    "sherpack.io/wait-for",
    "config.kubernetes.io/depends-on",
];
/// Annotations that keep an object on prune and uninstall.
const POLICY_ANNOTATIONS: [&str; 3] = [
    "sherpack.io/resource-policy",
    "helm.sh/resource-policy",
    "werf.io/resource-policy",
];
/// Hook phases apply runs, in the order of a release's life.
pub const HOOK_PHASES: [&str; 8] = [
    "pre-install",
    "post-install",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "pre-delete",
    "post-delete",
];
/// Helm's test hooks: recognised (the object is a hook), never run by apply.
const TEST_PHASES: [&str; 3] = ["test", "test-success", "test-failure"];
/// Hook delete policies.
pub const DELETE_POLICIES: [&str; 3] = ["before-hook-creation", "hook-succeeded", "hook-failed"];
/// The annotation that asks for one object to be replaced when the server
/// will not update it in place.
pub const REPLACE_ANNOTATION: &str = "sherpack.io/replace";

/// Everything pack-waves reads from one object's annotations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Marks {
    /// Wave (0 when unset).
    pub wave: i64,
    /// Dependencies as written (`name`, `Kind/name`, kpt's forms).
    pub depends_on: Vec<String>,
    /// Wait for readiness (`wait-ready: "false"` turns it off).
    pub wait_ready: bool,
    /// Own readiness timeout.
    pub timeout: Option<Duration>,
    /// `resource-policy: keep`.
    pub keep: bool,
    /// `sherpack.io/replace: "true"`.
    pub replace: bool,
    /// Hook phases (`None`: not a hook).
    pub hook: Option<Vec<String>>,
    /// Hook weight.
    pub hook_weight: i64,
    /// Hook delete policies (default `before-hook-creation`).
    pub hook_delete: Vec<String>,
}

/// Reads one object's marks; every bad value is one message (annotation,
/// value, what is accepted).
pub fn read(object: &Value) -> Result<Marks, Vec<String>> {
    let a = &object["metadata"]["annotations"];
    let get = |k: &str| a.get(k).and_then(Value::as_str);
    let mut errors = Vec::new();
    let mut m = Marks {
        wait_ready: true,
        hook_delete: vec!["before-hook-creation".into()],
        ..Marks::default()
    };
    if let Some((k, v)) = WAVE_ANNOTATIONS.iter().find_map(|k| get(k).map(|v| (k, v))) {
        match v.trim().parse::<i64>() {
            Ok(w) => m.wave = w,
            Err(_) => errors.push(format!("{k}: \"{v}\" is not an integer wave")),
        }
    }
    for k in DEPENDS_ANNOTATIONS {
        if let Some(v) = get(k) {
            match depends_on(v) {
                Ok(list) => m.depends_on.extend(list),
                Err(e) => errors.push(format!("{k}: {e}")),
            }
        }
    }
    if let Some(v) = get("sherpack.io/wait-ready") {
        match boolean(v) {
            Some(b) => m.wait_ready = b,
            None => errors.push(format!(
                "sherpack.io/wait-ready: \"{v}\" is not \"true\" or \"false\""
            )),
        }
    }
    if let Some(v) = get(REPLACE_ANNOTATION) {
        match boolean(v) {
            Some(b) => m.replace = b,
            None => errors.push(format!(
                "{REPLACE_ANNOTATION}: \"{v}\" is not \"true\" or \"false\""
            )),
        }
    }
    if let Some(v) = get("sherpack.io/timeout") {
        match shared::kubeconfig::parse_duration(v) {
            Ok(Some(t)) => m.timeout = Some(t),
            Ok(None) => errors.push(format!(
                "sherpack.io/timeout: \"{v}\" is zero; give a duration such as 90s or 5m"
            )),
            Err(e) => errors.push(format!("sherpack.io/timeout: \"{v}\": {e}")),
        }
    }
    for k in POLICY_ANNOTATIONS {
        match get(k) {
            Some("keep") => m.keep = true,
            Some(v) => errors.push(format!(
                "{k}: \"{v}\" is not a resource policy (only \"keep\")"
            )),
            None => {}
        }
    }
    hook_marks(&get, &mut m, &mut errors);
    if errors.is_empty() {
        Ok(m)
    } else {
        Err(errors)
    }
}

/// The hook annotations (`sherpack.io/` first, then `helm.sh/`).
fn hook_marks<'a>(get: &dyn Fn(&str) -> Option<&'a str>, m: &mut Marks, errors: &mut Vec<String>) {
    let hook = |name: &str| {
        let ours = format!("sherpack.io/{name}");
        match get(&ours) {
            Some(v) => Some((ours, v)),
            None => {
                let helm = format!("helm.sh/{name}");
                get(&helm).map(|v| (helm, v))
            }
        }
    };
    if let Some((k, v)) = hook("hook") {
        let phases = list(v);
        let bad: Vec<&String> = phases
            .iter()
            .filter(|p| !HOOK_PHASES.contains(&p.as_str()) && !TEST_PHASES.contains(&p.as_str()))
            .collect();
        if phases.is_empty() || !bad.is_empty() {
            errors.push(format!(
                "{k}: \"{v}\" is not a list of hook phases; accepted: {}",
                HOOK_PHASES.join(", ")
            ));
        }
        m.hook = Some(phases);
    }
    if let Some((k, v)) = hook("hook-weight") {
        match v.trim().parse::<i64>() {
            Ok(w) => m.hook_weight = w,
            Err(_) => errors.push(format!("{k}: \"{v}\" is not an integer")),
        }
    }
    if let Some((k, v)) = hook("hook-delete-policy") {
        let policies = list(v);
        if policies.is_empty()
            || policies
                .iter()
                .any(|p| !DELETE_POLICIES.contains(&p.as_str()))
        {
            errors.push(format!(
                "{k}: \"{v}\" is not a list of hook delete policies; accepted: {}",
                DELETE_POLICIES.join(", ")
            ));
        }
        m.hook_delete = policies;
    }
}

/// A comma-separated list, entries trimmed, empty ones dropped.
fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn boolean(v: &str) -> Option<bool> {
    match v.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A dependency list: at least one entry, no empty ones, each one of the
/// accepted forms.
fn depends_on(v: &str) -> Result<Vec<String>, String> {
    let entries: Vec<&str> = v.split(',').map(str::trim).collect();
    if entries.iter().any(|e| e.is_empty()) {
        return Err(format!(
            "\"{v}\" has an empty entry; write NAME, KIND/NAME or GROUP/namespaces/NS/KIND/NAME separated by commas"
        ));
    }
    for e in &entries {
        let parts: Vec<&str> = e.split('/').collect();
        let ok = matches!(
            parts.as_slice(),
            [_] | [_, _] | [_, _, _] | [_, "namespaces", _, _, _]
        );
        if !ok || parts[1..].iter().any(|p| p.is_empty()) {
            return Err(format!(
                "\"{e}\" is not NAME, KIND/NAME, GROUP/KIND/NAME or GROUP/namespaces/NS/KIND/NAME"
            ));
        }
    }
    Ok(entries.into_iter().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn marks(a: Value) -> Result<Marks, Vec<String>> {
        read(&json!({"metadata": {"annotations": a}}))
    }

    #[test]
    fn unknown_hook_phase_is_refused_not_ignored() {
        let e = marks(json!({"sherpack.io/hook": "pre-lunch"})).unwrap_err();
        assert!(
            e[0].contains("\"pre-lunch\" is not a list of hook phases"),
            "{e:?}"
        );
        assert!(marks(json!({"helm.sh/hook": "test"})).is_ok());
    }

    #[test]
    fn bad_values_each_name_their_annotation() {
        let e = marks(json!({
            "sherpack.io/depends-on": ",,,",
            "sherpack.io/wait-ready": "maybe",
            "sherpack.io/resource-policy": "sometimes",
            "sherpack.io/hook": "pre-install",
            "sherpack.io/hook-weight": "heavy",
            "sherpack.io/hook-delete-policy": "whenever",
            "sherpack.io/timeout": "soon",
            "sherpack.io/wave": "first",
            "sherpack.io/replace": "yes",
        }))
        .unwrap_err();
        assert_eq!(e.len(), 8, "{e:?}");
    }

    #[test]
    fn good_values_are_typed() {
        let m = marks(json!({
            "argocd.argoproj.io/sync-wave": "-2",
            "sherpack.io/depends-on": "db, Secret/creds",
            "sherpack.io/wait-ready": "false",
            "helm.sh/resource-policy": "keep",
            "helm.sh/hook": "pre-install,post-upgrade",
            "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
            "sherpack.io/timeout": "90s",
        }))
        .unwrap();
        assert_eq!(m.wave, -2);
        assert_eq!(m.depends_on, ["db", "Secret/creds"]);
        assert!(!m.wait_ready && m.keep);
        assert_eq!(m.hook.unwrap(), ["pre-install", "post-upgrade"]);
        assert_eq!(m.timeout, Some(Duration::from_secs(90)));
    }
}
