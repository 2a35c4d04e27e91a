//! One minimal before/after pair per rule.

use serde_json::{Value, json};

use super::*;

fn crd_with(versions: Value) -> Crd {
    Crd {
        obj: json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": versions}}),
        origin: "test".into(),
    }
}

/// A one-version CRD whose `spec` has the given schema.
fn with_spec(spec: Value) -> Crd {
    crd_with(json!([{"name": "v1", "served": true, "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}}}]))
}

fn rules(old: &Crd, new: &Crd) -> Vec<(Level, &'static str, Option<String>)> {
    classify(old, new)
        .into_iter()
        .map(|f| (f.level, f.rule, f.field))
        .collect()
}

fn one(old: Value, new: Value) -> Vec<(Level, &'static str, Option<String>)> {
    rules(&with_spec(old), &with_spec(new))
}

macro_rules! rule_case {
    ($test:ident, $old:expr, $new:expr, $level:expr, $rule:literal) => {
        #[test]
        fn $test() {
            let got = one($old, $new);
            assert!(
                got.iter().any(|(l, r, _)| *l == $level && *r == $rule),
                "expected {:?} {} in {got:?}",
                $level,
                $rule
            );
        }
    };
}

rule_case!(
    field_removed_is_breaking,
    json!({"type": "object", "properties": {"size": {"type": "integer"}}}),
    json!({"type": "object"}),
    Level::Breaking,
    "NoFieldRemoval"
);
rule_case!(
    field_removed_under_preserve_unknown_is_risky,
    json!({"type": "object", "properties": {"size": {"type": "integer"}}}),
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    Level::Risky,
    "FieldRemovedButPreserved"
);
rule_case!(
    type_change_is_breaking,
    json!({"type": "object", "properties": {"size": {"type": "integer"}}}),
    json!({"type": "object", "properties": {"size": {"type": "string"}}}),
    Level::Breaking,
    "NoTypeChange"
);
rule_case!(
    int_or_string_narrowed_is_breaking,
    json!({"type": "object", "properties": {"port": {"x-kubernetes-int-or-string": true}}}),
    json!({"type": "object", "properties": {"port": {"type": "integer"}}}),
    Level::Breaking,
    "NoTypeChange"
);
rule_case!(
    new_required_field_is_breaking,
    json!({"type": "object", "properties": {"a": {"type": "string"}}}),
    json!({"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}),
    Level::Breaking,
    "NoNewRequiredField"
);
rule_case!(
    new_optional_field_is_safe,
    json!({"type": "object"}),
    json!({"type": "object", "properties": {"b": {"type": "string"}}}),
    Level::Safe,
    "NewOptionalField"
);
rule_case!(
    enum_value_removed_is_breaking,
    json!({"type": "string", "enum": ["a", "b"]}),
    json!({"type": "string", "enum": ["a"]}),
    Level::Breaking,
    "NoEnumValueRemoval"
);
rule_case!(
    enum_added_is_breaking,
    json!({"type": "string"}),
    json!({"type": "string", "enum": ["a"]}),
    Level::Breaking,
    "NoEnumAdded"
);
rule_case!(
    enum_value_added_is_risky,
    json!({"type": "string", "enum": ["a"]}),
    json!({"type": "string", "enum": ["a", "b"]}),
    Level::Risky,
    "EnumValueAdded"
);
rule_case!(
    minimum_increase_is_breaking,
    json!({"type": "integer", "minimum": 1}),
    json!({"type": "integer", "minimum": 2}),
    Level::Breaking,
    "NoMinimumIncrease"
);
rule_case!(
    maximum_added_is_breaking,
    json!({"type": "integer"}),
    json!({"type": "integer", "maximum": 9}),
    Level::Breaking,
    "NoMaximumDecrease"
);
rule_case!(
    max_length_decrease_is_breaking,
    json!({"type": "string", "maxLength": 10}),
    json!({"type": "string", "maxLength": 5}),
    Level::Breaking,
    "NoMaxLengthDecrease"
);
rule_case!(
    min_items_added_is_breaking,
    json!({"type": "array", "items": {"type": "string"}}),
    json!({"type": "array", "minItems": 1, "items": {"type": "string"}}),
    Level::Breaking,
    "NoMinItemsIncrease"
);
rule_case!(
    max_properties_decrease_is_breaking,
    json!({"type": "object", "maxProperties": 5}),
    json!({"type": "object", "maxProperties": 2}),
    Level::Breaking,
    "NoMaxPropertiesDecrease"
);
rule_case!(
    exclusive_bound_added_is_breaking,
    json!({"type": "integer", "minimum": 0}),
    json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true}),
    Level::Breaking,
    "NoExclusiveBoundAdded"
);
rule_case!(
    bound_loosened_is_safe,
    json!({"type": "integer", "maximum": 5}),
    json!({"type": "integer", "maximum": 9}),
    Level::Safe,
    "BoundLoosened"
);
rule_case!(
    pattern_added_is_breaking,
    json!({"type": "string"}),
    json!({"type": "string", "pattern": "^a"}),
    Level::Breaking,
    "NoPatternChange"
);
rule_case!(
    pattern_removed_is_risky,
    json!({"type": "string", "pattern": "^a"}),
    json!({"type": "string"}),
    Level::Risky,
    "PatternRemoved"
);
rule_case!(
    nullable_removed_is_breaking,
    json!({"type": "string", "nullable": true}),
    json!({"type": "string"}),
    Level::Breaking,
    "NoNullableRemoval"
);
rule_case!(
    nullable_added_is_risky,
    json!({"type": "string"}),
    json!({"type": "string", "nullable": true}),
    Level::Risky,
    "NullableAdded"
);
rule_case!(
    preserve_unknown_removed_is_breaking,
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    json!({"type": "object"}),
    Level::Breaking,
    "NoPreserveUnknownFieldsRemoval"
);
rule_case!(
    list_type_change_is_breaking,
    json!({"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "string"}}),
    json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}),
    Level::Breaking,
    "NoListTypeChange"
);
rule_case!(
    additional_properties_restricted_is_breaking,
    json!({"type": "object", "additionalProperties": {"type": "string"}}),
    json!({"type": "object", "additionalProperties": false}),
    Level::Breaking,
    "NoAdditionalPropertiesRestriction"
);
rule_case!(
    cel_rule_added_is_breaking,
    json!({"type": "object"}),
    json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.a > 0"}]}),
    Level::Breaking,
    "NoNewValidationRule"
);
rule_case!(
    default_changed_is_risky,
    json!({"type": "integer", "default": 1}),
    json!({"type": "integer", "default": 2}),
    Level::Risky,
    "DefaultChanged"
);
rule_case!(
    format_added_is_risky,
    json!({"type": "string"}),
    json!({"type": "string", "format": "date-time"}),
    Level::Risky,
    "FormatAdded"
);
rule_case!(
    format_changed_is_breaking,
    json!({"type": "string", "format": "date"}),
    json!({"type": "string", "format": "date-time"}),
    Level::Breaking,
    "NoFormatChange"
);
rule_case!(
    description_is_safe,
    json!({"type": "string", "description": "a"}),
    json!({"type": "string", "description": "b"}),
    Level::Safe,
    "DescriptionChanged"
);
rule_case!(
    composition_change_is_breaking,
    json!({"type": "object"}),
    json!({"type": "object", "oneOf": [{"required": ["a"]}]}),
    Level::Breaking,
    "NoCompositionChange"
);
rule_case!(
    embedded_resource_change_is_breaking,
    json!({"type": "object"}),
    json!({"type": "object", "x-kubernetes-embedded-resource": true}),
    Level::Breaking,
    "NoEmbeddedResourceChange"
);
rule_case!(
    unknown_keyword_is_unhandled,
    json!({"type": "string"}),
    json!({"type": "string", "x-vendor-thing": 1}),
    Level::Breaking,
    "Unhandled"
);

fn schema_v(name: &str, served: bool, storage: bool) -> Value {
    json!({"name": name, "served": served, "storage": storage, "schema": {"openAPIV3Schema": {"type": "object"}}})
}

#[test]
fn api_server_rules_group_scope_plural_kind() {
    let old = with_spec(json!({"type": "object"}));
    let mut new = old.clone();
    new.obj["spec"]["group"] = json!("other.com");
    new.obj["spec"]["scope"] = json!("Cluster");
    new.obj["spec"]["names"]["plural"] = json!("gizmos");
    new.obj["spec"]["names"]["kind"] = json!("Gizmo");
    let got: Vec<&str> = rules(&old, &new).into_iter().map(|r| r.1).collect();
    for r in [
        "NoGroupChange",
        "NoScopeChange",
        "NoPluralChange",
        "NoKindChange",
    ] {
        assert!(got.contains(&r), "{r} missing in {got:?}");
    }
}

#[test]
fn version_rules_storage_served_and_stored_versions() {
    let old = crd_with(json!([
        schema_v("v1beta1", true, false),
        schema_v("v1", true, true)
    ]));
    let mut old_stored = old.clone();
    old_stored.obj["status"] = json!({"storedVersions": ["v1beta1", "v1"]});
    let dropped = crd_with(json!([schema_v("v1", true, true)]));
    let got = rules(&old_stored, &dropped);
    assert!(got.iter().any(|r| r.1 == "StoredVersionRemoved"), "{got:?}");
    assert!(
        got.iter().any(|r| r.1 == "NoServedVersionRemoval"),
        "{got:?}"
    );
    let unserved = crd_with(json!([
        schema_v("v1beta1", false, false),
        schema_v("v1", true, true)
    ]));
    assert!(
        rules(&old, &unserved)
            .iter()
            .any(|r| r.1 == "NoServedToUnserved")
    );
    let moved = crd_with(json!([
        schema_v("v1beta1", true, true),
        schema_v("v1", true, false)
    ]));
    assert!(
        rules(&old, &moved)
            .iter()
            .any(|r| r.0 == Level::Risky && r.1 == "StorageVersionChanged")
    );
    let two = crd_with(json!([
        schema_v("v1beta1", true, true),
        schema_v("v1", true, true)
    ]));
    assert!(rules(&old, &two).iter().any(|r| r.1 == "OneStorageVersion"));
    let added = crd_with(json!([
        schema_v("v1beta1", true, false),
        schema_v("v1", true, true),
        schema_v("v2", true, false)
    ]));
    assert_eq!(rules(&old, &added), vec![(Level::Safe, "NewVersion", None)]);
}

#[test]
fn identical_crds_have_no_findings_and_paths_name_nested_fields() {
    let spec = json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}});
    assert!(one(spec.clone(), spec.clone()).is_empty());
    let removed = json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}}}});
    let got = one(spec, removed);
    assert_eq!(
        got,
        vec![(
            Level::Breaking,
            "NoFieldRemoval",
            Some("^.spec.items[*].name".to_string())
        )]
    );
}

#[test]
fn finding_lines_have_the_checker_shape() {
    let f = classify(
        &with_spec(json!({"type": "object", "properties": {"size": {"type": "integer"}}})),
        &with_spec(json!({"type": "object"})),
    );
    assert_eq!(
        f[0].line(),
        "BREAKING NoFieldRemoval crd/widgets.example.com version/v1 field/^.spec.size: field removed: the API server prunes it on the next write"
    );
}

#[test]
fn served_versions_that_disagree_without_conversion_are_risky() {
    let strict = json!({"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}});
    let loose = json!({"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "string"}}}}}});
    let old = crd_with(json!([{"name": "v1", "served": true, "storage": true, "schema": strict}]));
    let new = crd_with(
        json!([{"name": "v1", "served": true, "storage": true, "schema": strict},
                               {"name": "v2", "served": true, "storage": false, "schema": loose}]),
    );
    let got = classify(&old, &new);
    let f = got
        .iter()
        .find(|f| f.rule == "ServedVersionsIncompatible")
        .expect("no served-pair finding");
    assert_eq!(
        (f.level, f.version.as_deref(), f.field.as_deref()),
        (Level::Risky, Some("v1<->v2"), Some("^.spec.size"))
    );
}

#[test]
fn server_defaults_are_not_changes() {
    let file = with_spec(json!({"type": "object"}));
    let mut live = file.clone();
    live.obj["spec"]["names"]["listKind"] = json!("WidgetList");
    live.obj["spec"]["conversion"] = json!({"strategy": "None"});
    live.obj["spec"]["preserveUnknownFields"] = json!(false);
    assert_eq!(rules(&live, &file), vec![]);
    assert_eq!(rules(&file, &live), vec![]);
}
