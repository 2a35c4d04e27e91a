//! Unit tests of SOPS decryption and encryption, including the file real
//! sops 3.7.1 wrote (`tests/fixtures/sops/`).

use super::keys::{self, Identities};
use super::metadata::Rule;
use super::tree::{Format, Node, Scalar};
use super::*;

fn fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sops")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

fn fixture_ids() -> Identities {
    Identities::from_text("age-key.txt", &fixture("age-key.txt")).unwrap()
}

#[test]
fn decrypts_the_file_sops_wrote_and_verifies_its_mac() {
    let dec = decrypt(
        "secrets.age.yaml",
        &fixture("secrets.age.yaml"),
        Format::Yaml,
        &fixture_ids(),
        DecryptOptions::default(),
    )
    .unwrap();
    assert!(dec.mac_ok);
    let expected =
        crate::yaml::from_str::<serde_json::Value>(&fixture("secrets.age.dec.yaml")).unwrap();
    assert_eq!(dec.docs[0].to_json(), expected);
    assert_eq!(
        dec.docs[0].get("service").unwrap().get("port"),
        Some(&Node::Scalar(Scalar::Int(92)))
    );
}

#[test]
fn a_tampered_value_names_its_path_and_a_bad_mac_is_detected() {
    let text = fixture("secrets.age.yaml");
    // Swap the ciphertexts of two values: each fails authentication at its own path.
    let moved = text.replace(
        "port: ENC[AES256_GCM,data:RPI=",
        "port: ENC[AES256_GCM,data:RPA=",
    );
    let e = decrypt(
        "f.yaml",
        &moved,
        Format::Yaml,
        &fixture_ids(),
        DecryptOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Tampered { path, .. } if path == "service:port:"),
        "{e}"
    );
    // A value removed: every remaining value authenticates, the MAC does not.
    let removed: String = text
        .lines()
        .filter(|l| !l.starts_with("global_secret"))
        .map(|l| format!("{l}\n"))
        .collect();
    let e = decrypt(
        "f.yaml",
        &removed,
        Format::Yaml,
        &fixture_ids(),
        DecryptOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::MacMismatch { .. }), "{e}");
    let dec = decrypt(
        "f.yaml",
        &removed,
        Format::Yaml,
        &fixture_ids(),
        DecryptOptions { ignore_mac: true },
    )
    .unwrap();
    assert!(!dec.mac_ok);
}

#[test]
fn wrong_and_missing_keys_are_distinct_errors_listing_recipients() {
    let (other, _) = keys::generate();
    let other = Identities::from_text("mine", &other).unwrap();
    let e = decrypt(
        "f.yaml",
        &fixture("secrets.age.yaml"),
        Format::Yaml,
        &other,
        DecryptOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::NoMatchingIdentity { .. }));
    assert!(
        e.to_string()
            .contains("age1rh2xsjg8avja92j3jhtttuczgmqkz89lezxt4e3mmp5ukl5j4f9smvteju"),
        "{e}"
    );
    let e = decrypt(
        "f.yaml",
        &fixture("secrets.age.yaml"),
        Format::Yaml,
        &Identities::default(),
        DecryptOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::NoIdentities { .. }), "{e}");
}

fn encrypt_plain(text: &str, format: Format, rule: Rule, keys: &Keys) -> String {
    let docs = parse("in", text, format).unwrap();
    encrypt_docs(
        "in",
        docs,
        EncryptSpec {
            data_key: new_data_key(),
            wrapped: None,
            keys: Some(keys),
            rule,
            mac_only_encrypted: false,
            stash: None,
        },
        format,
    )
    .unwrap()
}

fn new_key() -> (Identities, Keys) {
    let (text, r) = keys::generate();
    (
        Identities::from_text("k", &text).unwrap(),
        Keys::single(vec![keys::parse_recipient(&r).unwrap()]),
    )
}

#[test]
fn round_trip_keeps_types_order_comments_and_lists_without_indexes() {
    let (ids, keys) = new_key();
    let plain = "# top comment\nz_last: first\nint: 42\nfloat: 1.5\nbool: false\nempty: \"\"\nnothing: null\nwhen: 2021-11-05T00:56:57Z\nhosts:\n    - a\n    - b\nnested:\n    # inner\n    deep:\n        password: s3cret\n";
    let enc = encrypt_plain(plain, Format::Yaml, Rule::default(), &keys);
    assert!(!enc.contains("s3cret") && !enc.contains("inner"), "{enc}");
    assert!(
        enc.contains("empty: \"\"") && enc.contains("nothing: null"),
        "{enc}"
    );
    assert!(
        enc.contains("type:int]")
            && enc.contains("type:float]")
            && enc.contains("type:bool]")
            && enc.contains("type:time]")
            && enc.contains("type:comment]"),
        "{enc}"
    );
    // List elements share the AAD of their key: swapping them still authenticates.
    let dec = decrypt("x", &enc, Format::Yaml, &ids, DecryptOptions::default()).unwrap();
    let out = render_plain(&dec, Format::Yaml);
    assert_eq!(out, plain);
}

#[test]
fn selection_rules_leave_the_right_values_plain() {
    let (ids, keys) = new_key();
    let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: x\nstringData:\n    password: hunter2\nuser_unencrypted: admin\n";
    let cases = [
        (Rule::default(), vec!["admin"], vec!["hunter2", "Secret"]),
        (
            Rule::EncryptedRegex(regex::Regex::new("^(data|stringData)$").unwrap()),
            vec!["Secret", "admin", "name: x"],
            vec!["hunter2"],
        ),
        (
            Rule::UnencryptedRegex(regex::Regex::new("^(kind|apiVersion)$").unwrap()),
            vec!["Secret"],
            vec!["hunter2", "admin"],
        ),
        (
            Rule::EncryptedSuffix("word".into()),
            vec!["Secret", "admin"],
            vec!["hunter2"],
        ),
    ];
    for (rule, visible, hidden) in cases {
        let enc = encrypt_plain(plain, Format::Yaml, rule.clone(), &keys);
        for v in visible {
            assert!(enc.contains(v), "{rule:?}: {v} should stay plain\n{enc}");
        }
        for h in hidden {
            assert!(!enc.contains(h), "{rule:?}: {h} should be encrypted\n{enc}");
        }
        let dec = decrypt("x", &enc, Format::Yaml, &ids, DecryptOptions::default()).unwrap();
        assert_eq!(render_plain(&dec, Format::Yaml), plain, "{rule:?}");
    }
}

#[test]
fn comment_rule_marks_the_following_value() {
    let (ids, keys) = new_key();
    let plain = "# sops:enc\npassword: x1\nuser: bob\n";
    let rule = Rule::EncryptedCommentRegex(regex::Regex::new("sops:enc").unwrap());
    let enc = encrypt_plain(plain, Format::Yaml, rule, &keys);
    assert!(
        // (Not `!enc.contains("x1")`: two characters turn up in random base64.)
        enc.contains("# sops:enc")
            && enc.contains("user: bob")
            && enc
                .lines()
                .any(|l| l.starts_with("password: ENC[AES256_GCM,")),
        "{enc}"
    );
    let dec = decrypt("x", &enc, Format::Yaml, &ids, DecryptOptions::default()).unwrap();
    assert_eq!(render_plain(&dec, Format::Yaml), plain);
}

#[test]
fn multi_document_and_json_round_trip() {
    let (ids, keys) = new_key();
    let plain = "---\na: 1\n---\nb: two\n";
    let enc = encrypt_plain(plain, Format::Yaml, Rule::default(), &keys);
    assert_eq!(enc.matches("\nsops:").count(), 2, "{enc}");
    let dec = decrypt("x", &enc, Format::Yaml, &ids, DecryptOptions::default()).unwrap();
    assert_eq!(render_plain(&dec, Format::Yaml), plain);
    let json =
        "{\n\t\"a\": {\n\t\t\"b\": [\n\t\t\t1,\n\t\t\t\"x\"\n\t\t]\n\t},\n\t\"c\": true\n}\n";
    let enc = encrypt_plain(json, Format::Json, Rule::default(), &keys);
    assert!(enc.contains("\"sops\": {"), "{enc}");
    let dec = decrypt(
        "x.json",
        &enc,
        Format::Json,
        &ids,
        DecryptOptions::default(),
    )
    .unwrap();
    assert_eq!(render_plain(&dec, Format::Json), json);
}

#[test]
fn reencrypt_reuses_ivs_of_unchanged_values() {
    let (ids, keys) = new_key();
    let enc = encrypt_plain("a: one\nb: two\n", Format::Yaml, Rule::default(), &keys);
    let dec = decrypt("x", &enc, Format::Yaml, &ids, DecryptOptions::default()).unwrap();
    let mut docs = dec.docs.clone();
    docs[0].insert("b", Node::str("changed"));
    let again = reencrypt("x", &dec, docs, Format::Yaml).unwrap();
    let line = |t: &str, k: &str| t.lines().find(|l| l.starts_with(k)).unwrap().to_string();
    assert_eq!(line(&enc, "a:"), line(&again, "a:"));
    assert_ne!(line(&enc, "b:"), line(&again, "b:"));
    assert!(decrypt("x", &again, Format::Yaml, &ids, DecryptOptions::default()).is_ok());
}

#[test]
fn key_groups_need_the_threshold_of_shares() {
    let (ids1, k1) = new_key();
    let (ids2, k2) = new_key();
    let (_ids3, k3) = new_key();
    let keys = Keys {
        groups: vec![
            k1.groups[0].clone(),
            k2.groups[0].clone(),
            k3.groups[0].clone(),
        ],
        threshold: 2,
    };
    let enc = encrypt_plain("a: secret\n", Format::Yaml, Rule::default(), &keys);
    assert!(
        enc.contains("key_groups:") && enc.contains("shamir_threshold: 2"),
        "{enc}"
    );
    // Two of three groups open it; one does not.
    let e = decrypt("x", &enc, Format::Yaml, &ids1, DecryptOptions::default()).unwrap_err();
    assert!(e.to_string().contains("1 of the 2 key groups"), "{e}");
    let both = merge(merge(Identities::default(), &ids1), &ids2);
    let dec = decrypt("x", &enc, Format::Yaml, &both, DecryptOptions::default()).unwrap();
    assert_eq!(dec.docs[0].get("a"), Some(&Node::str("secret")));
}

fn merge(mut a: Identities, b: &Identities) -> Identities {
    a.extend_from(b);
    a
}
