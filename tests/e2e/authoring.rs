//! Template authors' tools end to end through the binary: `promote`
//! between environments of the webapp example, the step debugger's
//! scripted mode, the language server over stdio, and `deps audit`.

use std::path::Path;

use harness::{offline_plugin, run, run_with_stdin, texts};

fn render_cmd(args: &[&str]) -> std::process::Command {
    let mut c = offline_plugin("render");
    c.args(args);
    c
}

/// A copy of examples/webapp in a temporary directory (promote edits it).
fn webapp_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &harness::workspace_root().join("examples/webapp"),
        dir.path(),
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn image_of(stream: &str) -> String {
    shared::stream::parse_stream(stream, shared::stream::Origin::Stdin)
        .unwrap()
        .into_iter()
        .find(|o| o.object["kind"] == "Deployment")
        .and_then(|o| {
            o.object["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap()
}

#[test]
fn promote_copies_a_staging_tag_into_production_keeping_its_comments() {
    let pack = webapp_copy();
    let p = pack.path().to_str().unwrap();
    let env = |name: &str| {
        pack.path()
            .join("environments")
            .join(format!("{name}.yaml"))
    };
    // Staging runs a release candidate; production pins its own tag, with comments.
    let staging = std::fs::read_to_string(env("staging")).unwrap();
    std::fs::write(
        env("staging"),
        format!("{staging}image:\n  tag: \"2.5.0\"\n"),
    )
    .unwrap();
    let production = std::fs::read_to_string(env("production")).unwrap().replace(
        "replicas: 4\n",
        "replicas: 4 # sized for Black Friday\n# Pinned until the change board approves.\nimage:\n  tag: \"2.4.1\" # current release\n",
    );
    std::fs::write(env("production"), &production).unwrap();

    // Without --yes and without a yes on stdin: the diff, then nothing written.
    let out = run_with_stdin(
        render_cmd(&["promote", "staging", "production", p, "--only", "image.tag"]),
        "n\n",
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("-  tag: \"2.4.1\" # current release")
            && stdout.contains("+  tag: 2.5.0 # current release"),
        "{stdout}"
    );
    assert!(stderr.contains("not confirmed"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(env("production")).unwrap(),
        production,
        "a no keeps the file"
    );

    // A yes on stdin writes it: only the tag changed, comments and order kept.
    let out = run_with_stdin(
        render_cmd(&["promote", "staging", "production", p, "--only", "image.tag"]),
        "y\n",
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    let written = std::fs::read_to_string(env("production")).unwrap();
    assert_eq!(
        written,
        production.replace(
            "tag: \"2.4.1\" # current release",
            "tag: 2.5.0 # current release"
        )
    );
    let (code, stream, err) = run(render_cmd(&["app", p, "-e", "production"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(image_of(&stream), "ghcr.io/example/webapp:2.5.0");

    // A value production inherits from staging unchanged: refused as a no-op.
    let (code, _, err) = run(render_cmd(&[
        "promote",
        "staging",
        "production",
        p,
        "--only",
        "config.featureFlags.newCheckout",
        "--yes",
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("production inherits from staging"), "{err}");
    assert_eq!(std::fs::read_to_string(env("production")).unwrap(), written);

    // Everything that differs, with --yes: production's own replicas comes over.
    let (code, out, err) = run(render_cmd(&[
        "promote",
        "staging",
        "production",
        p,
        "--yes",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("replicas: 4 -> 2 (from staging)"), "{out}");
    let after = std::fs::read_to_string(env("production")).unwrap();
    assert!(
        after.contains(
            "replicas: 2 # sized for Black Friday\n# Pinned until the change board approves.\n"
        ),
        "{after}"
    );
    assert!(
        after.starts_with("_inherit: staging\n_templates:\n"),
        "key order kept: {after}"
    );

    // Unknown environments and paths are one line each.
    let (code, _, err) = run(render_cmd(&["promote", "staging", "nowhere", p, "--yes"]));
    assert_ne!(code, 0);
    assert!(err.contains("nowhere") && err.lines().count() == 1, "{err}");
    let (code, _, err) = run(render_cmd(&[
        "promote",
        "development",
        "production",
        p,
        "--only",
        "no.such.key",
        "--yes",
    ]));
    assert_ne!(code, 0);
    assert!(
        err.contains("--only no.such.key: development does not set it"),
        "{err}"
    );
}
