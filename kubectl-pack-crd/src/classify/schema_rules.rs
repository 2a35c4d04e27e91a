//! The per-field rules: walking the old and new `openAPIV3Schema` of one
//! version side by side, every keyword's change classified; keywords no
//! rule covers fall to the `Unhandled` safety net.

use serde_json::{Map, Value};

use super::{Level, Out, s};

fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

/// Keys the rules below explain; anything else that differs is Unhandled.
const HANDLED: &[&str] = &[
    "type",
    "properties",
    "required",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "pattern",
    "nullable",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "additionalProperties",
    "x-kubernetes-validations",
    "default",
    "format",
    "description",
    "title",
    "example",
    "externalDocs",
    "items",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
];

pub(super) fn schema(o: &Value, n: &Value, path: &str, out: &mut Out<'_>) {
    let empty = Map::new();
    let om = o.as_object().unwrap_or(&empty);
    let nm = n.as_object().unwrap_or(&empty);
    let f = Some(path);
    let get = |m: &Map<String, Value>, k: &str| m.get(k).cloned().unwrap_or(Value::Null);

    let (ot, nt) = (get(om, "type"), get(nm, "type"));
    let (oi, ni) = (
        om.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)),
        nm.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)),
    );
    if oi && !ni {
        out.add(
            Level::Breaking,
            "NoTypeChange",
            f,
            format!("int-or-string -> {}", s(&nt)),
        );
    } else if !oi && ni {
        out.add(
            Level::Safe,
            "TypeWidened",
            f,
            format!("{} -> int-or-string", s(&ot)),
        );
    } else if ot != nt {
        out.add(
            Level::Breaking,
            "NoTypeChange",
            f,
            format!("type {} -> {}", s(&ot), s(&nt)),
        );
    }

    // Fields.
    let oprops = om
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let nprops = nm
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let preserves = nm.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    for (k, ov) in oprops {
        let child = format!("{path}.{k}");
        match nprops.get(k) {
            Some(nv) => schema(ov, nv, &child, out),
            None if preserves => out.add(
                Level::Risky,
                "FieldRemovedButPreserved",
                Some(&child),
                "field removed; kept as an unknown field (x-kubernetes-preserve-unknown-fields)"
                    .into(),
            ),
            None => out.add(
                Level::Breaking,
                "NoFieldRemoval",
                Some(&child),
                "field removed: the API server prunes it on the next write".into(),
            ),
        }
    }
    let oreq: Vec<&str> = om
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let nreq: Vec<&str> = nm
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for k in nprops.keys().filter(|k| !oprops.contains_key(*k)) {
        let child = format!("{path}.{k}");
        if !nreq.contains(&k.as_str()) {
            out.add(
                Level::Safe,
                "NewOptionalField",
                Some(&child),
                "optional field added".into(),
            );
        }
    }
    for r in nreq.iter().filter(|r| !oreq.contains(r)) {
        out.add(
            Level::Breaking,
            "NoNewRequiredField",
            Some(&format!("{path}.{r}")),
            "newly required: existing objects without it fail validation".into(),
        );
    }
    for r in oreq.iter().filter(|r| !nreq.contains(r)) {
        out.add(
            Level::Safe,
            "RequiredRemoved",
            Some(&format!("{path}.{r}")),
            "no longer required".into(),
        );
    }

    // Enums.
    match (
        om.get("enum").and_then(Value::as_array),
        nm.get("enum").and_then(Value::as_array),
    ) {
        (None, Some(_)) => out.add(
            Level::Breaking,
            "NoEnumAdded",
            f,
            "enum added where any value was allowed".into(),
        ),
        (Some(_), None) => out.add(Level::Safe, "EnumRemoved", f, "enum removed".into()),
        (Some(a), Some(b)) => {
            for v in a.iter().filter(|v| !b.contains(v)) {
                out.add(
                    Level::Breaking,
                    "NoEnumValueRemoval",
                    f,
                    format!("enum value {} removed", s(v)),
                );
            }
            for v in b.iter().filter(|v| !a.contains(v)) {
                out.add(
                    Level::Risky,
                    "EnumValueAdded",
                    f,
                    format!("enum value {} added (older clients may not know it)", s(v)),
                );
            }
        }
        _ => {}
    }

    // Bounds: a minimum going up or a maximum going down rejects data.
    for (key, lower_bound, rule) in [
        ("minimum", true, "NoMinimumIncrease"),
        ("minLength", true, "NoMinLengthIncrease"),
        ("minItems", true, "NoMinItemsIncrease"),
        ("minProperties", true, "NoMinPropertiesIncrease"),
        ("maximum", false, "NoMaximumDecrease"),
        ("maxLength", false, "NoMaxLengthDecrease"),
        ("maxItems", false, "NoMaxItemsDecrease"),
        ("maxProperties", false, "NoMaxPropertiesDecrease"),
    ] {
        let (a, b) = (num(om.get(key)), num(nm.get(key)));
        let tighter = match (a, b) {
            (None, Some(_)) => true,
            (Some(x), Some(y)) => {
                if lower_bound {
                    y > x
                } else {
                    y < x
                }
            }
            _ => false,
        };
        if tighter {
            out.add(
                Level::Breaking,
                rule,
                f,
                format!("{key} {} -> {}", s(&get(om, key)), s(&get(nm, key))),
            );
        } else if a != b {
            out.add(
                Level::Safe,
                "BoundLoosened",
                f,
                format!("{key} {} -> {}", s(&get(om, key)), s(&get(nm, key))),
            );
        }
    }
    for key in ["exclusiveMinimum", "exclusiveMaximum"] {
        let (a, b) = (
            om.get(key) == Some(&Value::Bool(true)),
            nm.get(key) == Some(&Value::Bool(true)),
        );
        if !a && b {
            out.add(
                Level::Breaking,
                "NoExclusiveBoundAdded",
                f,
                format!("{key} added"),
            );
        } else if a && !b {
            out.add(Level::Safe, "BoundLoosened", f, format!("{key} removed"));
        }
    }

    match (om.get("pattern"), nm.get("pattern")) {
        (None, Some(p)) => out.add(
            Level::Breaking,
            "NoPatternChange",
            f,
            format!("pattern {} added", s(p)),
        ),
        (Some(a), Some(b)) if a != b => out.add(
            Level::Breaking,
            "NoPatternChange",
            f,
            format!("pattern {} -> {}", s(a), s(b)),
        ),
        (Some(a), None) => out.add(
            Level::Risky,
            "PatternRemoved",
            f,
            format!("pattern {} removed", s(a)),
        ),
        _ => {}
    }
    let flag = |m: &Map<String, Value>, k: &str| m.get(k) == Some(&Value::Bool(true));
    match (flag(om, "nullable"), flag(nm, "nullable")) {
        (true, false) => out.add(
            Level::Breaking,
            "NoNullableRemoval",
            f,
            "nullable removed: stored nulls fail validation".into(),
        ),
        (false, true) => out.add(Level::Risky, "NullableAdded", f, "nullable added".into()),
        _ => {}
    }
    match (
        flag(om, "x-kubernetes-preserve-unknown-fields"),
        flag(nm, "x-kubernetes-preserve-unknown-fields"),
    ) {
        (true, false) => out.add(
            Level::Breaking,
            "NoPreserveUnknownFieldsRemoval",
            f,
            "x-kubernetes-preserve-unknown-fields removed: unknown data is pruned".into(),
        ),
        (false, true) => out.add(
            Level::Safe,
            "PreserveUnknownFieldsAdded",
            f,
            "unknown fields are kept from now on".into(),
        ),
        _ => {}
    }
    for key in [
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
    ] {
        if om.get(key) != nm.get(key) {
            out.add(
                Level::Breaking,
                "NoListTypeChange",
                f,
                format!("{key} {} -> {}", s(&get(om, key)), s(&get(nm, key))),
            );
        }
    }
    if flag(om, "x-kubernetes-embedded-resource") != flag(nm, "x-kubernetes-embedded-resource") {
        out.add(
            Level::Breaking,
            "NoEmbeddedResourceChange",
            f,
            "x-kubernetes-embedded-resource changed".into(),
        );
    }
    match (
        om.get("additionalProperties"),
        nm.get("additionalProperties"),
    ) {
        (Some(a), Some(b)) if a.is_object() && b.is_object() => {
            schema(a, b, &format!("{path}.*"), out)
        }
        (Some(a), b) if a != &Value::Bool(false) && b.is_none_or(|b| b == &Value::Bool(false)) => {
            out.add(
                Level::Breaking,
                "NoAdditionalPropertiesRestriction",
                f,
                "additionalProperties restricted: extra keys are dropped or rejected".into(),
            )
        }
        (a, Some(b)) if a != Some(b) => out.add(
            Level::Safe,
            "AdditionalPropertiesAllowed",
            f,
            "additionalProperties allowed".into(),
        ),
        _ => {}
    }
    let rules = |m: &Map<String, Value>| {
        m.get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (orules, nrules) = (rules(om), rules(nm));
    for r in nrules.iter().filter(|r| !orules.contains(r)) {
        out.add(
            Level::Breaking,
            "NoNewValidationRule",
            f,
            format!("CEL rule added or changed: {}", s(&r["rule"])),
        );
    }
    if orules.iter().any(|r| !nrules.contains(r)) && nrules.iter().all(|r| orules.contains(r)) {
        out.add(
            Level::Safe,
            "ValidationRuleRemoved",
            f,
            "CEL rule removed".into(),
        );
    }
    if om.get("default") != nm.get("default") {
        out.add(
            Level::Risky,
            "DefaultChanged",
            f,
            format!(
                "default {} -> {}",
                s(&get(om, "default")),
                s(&get(nm, "default"))
            ),
        );
    }
    match (om.get("format"), nm.get("format")) {
        (None, Some(b)) => out.add(
            Level::Risky,
            "FormatAdded",
            f,
            format!("format {} added", s(b)),
        ),
        (Some(a), Some(b)) if a != b => out.add(
            Level::Breaking,
            "NoFormatChange",
            f,
            format!("format {} -> {}", s(a), s(b)),
        ),
        (Some(a), None) => out.add(
            Level::Safe,
            "FormatRemoved",
            f,
            format!("format {} removed", s(a)),
        ),
        _ => {}
    }
    for key in ["description", "title", "example", "externalDocs"] {
        if om.get(key) != nm.get(key) {
            out.add(
                Level::Safe,
                "DescriptionChanged",
                f,
                format!("{key} changed"),
            );
        }
    }
    for key in ["allOf", "anyOf", "oneOf", "not"] {
        if om.get(key) != nm.get(key) {
            out.add(
                Level::Breaking,
                "NoCompositionChange",
                f,
                format!("{key} changed"),
            );
        }
    }
    match (om.get("items"), nm.get("items")) {
        (Some(a), Some(b)) => schema(a, b, &format!("{path}[*]"), out),
        (Some(_), None) | (None, Some(_)) => out.add(
            Level::Breaking,
            "NoTypeChange",
            f,
            "items schema added or removed".into(),
        ),
        _ => {}
    }
    // The safety net.
    let mut keys: Vec<&String> = om.keys().chain(nm.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        if !HANDLED.contains(&k.as_str()) && om.get(k) != nm.get(k) {
            out.add(
                Level::Breaking,
                "Unhandled",
                f,
                format!("{k} changed and no rule explains it"),
            );
        }
    }
}
