//! The krew manifests obey krew's rules, and installing the linux/amd64
//! entry the way krew does (download = our archive, verify sha256, unpack,
//! apply `files`, run `bin`) gives a working plugin.

use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::plugins::PLUGINS;

fn manifest_path(plugin: &str) -> PathBuf {
    harness::workspace_root().join(format!("krew/pack-{plugin}.yaml"))
}

fn load(plugin: &str) -> Value {
    let text = std::fs::read_to_string(manifest_path(plugin)).expect("manifest exists");
    shared::yaml::from_str(&text).expect("manifest is YAML")
}

fn is_semver_with_v(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let core = rest.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<_> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Every rule of `shared/reference/kubectl-plugins.md`, returned as a list
/// of violations (empty = valid).
fn violations(file_stem: &str, m: &Value) -> Vec<String> {
    let mut v = Vec::new();
    let mut check = |ok: bool, msg: &str| {
        if !ok {
            v.push(msg.to_string());
        }
    };
    check(
        m["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2",
        "apiVersion",
    );
    check(m["kind"] == "Plugin", "kind");
    let name = m["metadata"]["name"].as_str().unwrap_or_default();
    check(name == file_stem, "metadata.name must equal the file name");
    check(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "metadata.name must match ^[\\w-]+$",
    );
    let spec = &m["spec"];
    let version = spec["version"].as_str().unwrap_or_default();
    check(
        is_semver_with_v(version),
        "spec.version must be semver with a leading v",
    );
    check(
        version == format!("v{}", env!("CARGO_PKG_VERSION")),
        "spec.version must be the workspace version",
    );
    check(
        spec["homepage"]
            .as_str()
            .is_some_and(|h| h.starts_with("https://")),
        "homepage",
    );
    let short = spec["shortDescription"].as_str().unwrap_or_default();
    check(
        !short.trim().is_empty() && !short.contains('\n') && short.chars().count() <= 50,
        "shortDescription: one line, 1-50 chars",
    );
    check(
        spec["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty()),
        "description",
    );
    let platforms = spec["platforms"].as_array().cloned().unwrap_or_default();
    check(!platforms.is_empty(), "platforms");
    let mut pairs = HashSet::new();
    for p in &platforms {
        let sel = &p["selector"];
        let labels = sel["matchLabels"].as_object().cloned().unwrap_or_default();
        check(
            sel.as_object().is_some_and(|s| s.len() == 1),
            "selector: only matchLabels",
        );
        check(
            labels.keys().all(|k| k == "os" || k == "arch"),
            "selector: only os/arch labels",
        );
        let os = labels
            .get("os")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let arch = labels
            .get("arch")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        check(
            pairs.insert((os.clone(), arch.clone())),
            "two platforms match the same os/arch",
        );
        let uri = p["uri"].as_str().unwrap_or_default();
        check(
            uri.ends_with(".tar.gz") || uri.ends_with(".zip"),
            "uri must be .tar.gz or .zip",
        );
        let sha = p["sha256"].as_str().unwrap_or_default();
        check(
            sha.len() == 64
                && sha
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "sha256: lowercase hex",
        );
        let files = p["files"].as_array().cloned().unwrap_or_default();
        check(!files.is_empty(), "files");
        check(
            files.iter().all(|f| {
                f["from"].as_str().is_some_and(|s| !s.is_empty())
                    && f["to"].as_str().is_some_and(|s| !s.is_empty())
            }),
            "files entries need from and to",
        );
        check(
            files.iter().any(|f| f["from"] == "LICENSE"),
            "the archive must ship LICENSE",
        );
        let bin = p["bin"].as_str().unwrap_or_default();
        check(
            !bin.is_empty() && !bin.starts_with('/') && !bin.split('/').any(|c| c == ".."),
            "bin inside the install dir",
        );
        check(
            bin.trim_end_matches(".exe") == format!("kubectl-{}", name.replace('-', "_")),
            "bin is kubectl-<name with _>",
        );
        check(
            (os == "windows") == bin.ends_with(".exe"),
            "windows bin ends in .exe",
        );
    }
    // Only what scripts/release.sh builds is listed; other platforms are a
    // release machine's step, never a placeholder.
    check(
        pairs.len() == 1 && pairs.contains(&("linux".to_string(), "amd64".to_string())),
        "exactly the platforms release.sh builds (linux/amd64)",
    );
    v
}

#[test]
fn krew_manifests_follow_every_rule() {
    for p in PLUGINS {
        let stem = format!("pack-{p}");
        let problems = violations(&stem, &load(p));
        assert!(problems.is_empty(), "krew/{stem}.yaml: {problems:?}");
    }
}

#[test]
fn krew_rule_checker_catches_broken_manifests() {
    let good = load("waves");
    let mut bad = good.clone();
    bad["spec"]["shortDescription"] = Value::from("x".repeat(51));
    bad["spec"]["version"] = Value::from("0.1.0");
    let platform = bad["spec"]["platforms"][0].clone();
    let platforms = bad["spec"]["platforms"].as_array_mut().unwrap();
    platforms.push(platform.clone());
    platforms.push(platform);
    bad["spec"]["platforms"][0]["sha256"] = Value::from("ABC");
    bad["spec"]["platforms"][1]["selector"]["matchLabels"]["arch"] = Value::from("amd64");
    bad["spec"]["platforms"][2]["uri"] = Value::from("https://x/a.tar.xz");
    bad["spec"]["platforms"][2]["selector"]["matchLabels"]["os"] = Value::from("darwin");
    let problems = violations("pack-waves", &bad);
    for expected in [
        "shortDescription: one line, 1-50 chars",
        "spec.version must be semver with a leading v",
        "sha256: lowercase hex",
        "two platforms match the same os/arch",
        "uri must be .tar.gz or .zip",
        "exactly the platforms release.sh builds (linux/amd64)",
    ] {
        assert!(
            problems.iter().any(|p| p == expected),
            "{expected} not caught: {problems:?}"
        );
    }
    assert!(
        violations("pack-other", &good)
            .iter()
            .any(|p| p.contains("file name"))
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `scripts/release.sh` builds the archives and fills in the linux/amd64
/// sha256; krew then installs from that manifest and archive: verify the
/// checksum, unpack, apply `files`, link `bin`, run it.
#[test]
fn release_script_output_installs_like_krew_and_runs() {
    let work = tempfile::tempdir().unwrap();
    let dist = work.path().join("dist");
    let out = Command::new("bash")
        .arg(harness::workspace_root().join("scripts/release.sh"))
        .arg("--bin-dir")
        .arg(harness::bin_dir())
        .arg("--out")
        .arg(&dist)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "release.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    for p in PLUGINS {
        let text = std::fs::read_to_string(dist.join(format!("krew/pack-{p}.yaml"))).unwrap();
        let manifest: Value = shared::yaml::from_str(&text).unwrap();
        assert!(violations(&format!("pack-{p}"), &manifest).is_empty());
        assert!(
            !text.contains(&"0".repeat(64)),
            "a released manifest holds no placeholder sha256: {text}"
        );
        let entry = manifest["spec"]["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["selector"]["matchLabels"]["os"] == "linux"
                    && e["selector"]["matchLabels"]["arch"] == "amd64"
            })
            .expect("linux/amd64 entry")
            .clone();
        // "Download": the archive the uri names, from the release output.
        let file_name = entry["uri"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let bytes = std::fs::read(dist.join(&file_name))
            .unwrap_or_else(|_| panic!("{file_name} not built"));
        assert_eq!(
            sha256_hex(&bytes),
            entry["sha256"].as_str().unwrap(),
            "checksum of {file_name}"
        );

        let unpacked = work.path().join("unpacked").join(p);
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut raw)
            .unwrap();
        tar::Archive::new(raw.as_slice()).unpack(&unpacked).unwrap();
        let install = work
            .path()
            .join("store")
            .join(format!("pack-{p}"))
            .join("v0.1.0");
        std::fs::create_dir_all(&install).unwrap();
        for f in entry["files"].as_array().unwrap() {
            let from = unpacked.join(f["from"].as_str().unwrap());
            assert!(
                from.exists(),
                "files.from {} not in the archive",
                from.display()
            );
            let to = install
                .join(f["to"].as_str().unwrap())
                .join(from.file_name().unwrap());
            std::fs::rename(&from, &to).unwrap();
        }
        assert!(install.join("LICENSE").exists(), "LICENSE installed");
        // krew links bin as kubectl-<name with _> into its bin dir.
        let link_dir = work.path().join("bin");
        std::fs::create_dir_all(&link_dir).unwrap();
        let link = link_dir.join(format!("kubectl-pack_{p}"));
        std::os::unix::fs::symlink(install.join(entry["bin"].as_str().unwrap()), &link).unwrap();
        // A file just written may be "busy" for a moment while another test
        // thread forks (the write descriptor lives in the child until exec).
        let out = (0..50)
            .find_map(|_| match Command::new(&link).arg("--help").output() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    None
                }
                other => Some(other.unwrap()),
            })
            .expect("the binary stayed busy");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("Usage: kubectl pack-{p}")));
        // The completion helper ships beside it and asks the plugin found
        // on PATH (the caveats tell the user to link it next to bin).
        let helper = format!("kubectl_complete-pack_{p}");
        std::os::unix::fs::symlink(install.join(&helper), link_dir.join(&helper)).unwrap();
        let out = Command::new(link_dir.join(&helper))
            .args(["completion", ""])
            .env("PATH", path_with(&link_dir))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("bash")) && text.ends_with(":4\n"),
            "{helper} completion <Tab>: {text}"
        );
    }
}

fn path_with(dir: &std::path::Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}
