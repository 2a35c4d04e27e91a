//! `kubectl pack-render test PACK`: unit tests for packs.
//!
//! Suites live in `PACK/tests/*_test.yaml`:
//! ```yaml
//! suite: deployment
//! templates: [deployment.yaml]      # default for every test (optional)
//! values: [tests/values/ci.yaml]    # files (relative to the pack) or an inline map
//! tests:
//!   - name: production runs three replicas
//!     environment: production
//!     set: {app.replicas: 3}
//!     asserts:
//!       - equal: {path: spec.replicas, value: 3}
//!       - matchSnapshot: {}
//! ```
//! An assertion holds when it holds for every selected document
//! (`documentIndex` picks one, `template` narrows to one template).

mod asserts;
mod paths;
mod policy;
mod report;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Map, Value};

use std::io::Write as _;

use crate::cli::{TestArgs, TestFormat};
use crate::render::{self, Request, SetFlag};

/// The outcome of one test.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestResult {
    /// Suite name.
    pub suite: String,
    /// Test name.
    pub name: String,
    /// Failure messages (empty = passed).
    pub failures: Vec<String>,
    /// Notes that are not failures (snapshot written...).
    pub notes: Vec<String>,
    /// Time taken, in milliseconds.
    pub millis: f64,
}

/// Coverage gathered over a run.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Coverage {
    /// Templates (non-helper) of the pack.
    pub templates_total: Vec<String>,
    /// Templates rendered by at least one test.
    pub templates_rendered: BTreeSet<String>,
    /// `if`/`elif`/`else` branches found.
    pub branches_total: BTreeSet<String>,
    /// Branches taken by at least one test.
    pub branches_taken: BTreeSet<String>,
    /// Values paths the templates read.
    pub values_read: BTreeSet<String>,
}

fn load_suites(pack: &Path) -> anyhow::Result<Vec<(PathBuf, Value)>> {
    let dir = pack.join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}; pack tests live in PACK/tests/*_test.yaml",
                dir.display()
            )
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_test.yaml") || n.ends_with("_test.yml"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("{}: no *_test.yaml suites found", dir.display());
    }
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        let v: Value = shared::yaml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}{}: invalid YAML: {}",
                f.display(),
                e.line.map(|l| format!(":{l}")).unwrap_or_default(),
                e.message
            )
        })?;
        if !v.get("tests").is_some_and(Value::is_array) {
            anyhow::bail!("{}: a suite needs a `tests:` list", f.display());
        }
        out.push((f, v));
    }
    Ok(out)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Builds the render request of one test.
fn request_for(pack: &Path, suite: &Value, test: &Value, coverage: bool) -> Request {
    let mut req = Request {
        pack_dir: pack.to_path_buf(),
        namespace: "default".into(),
        ..Default::default()
    };
    for scope in [suite, test] {
        if let Some(r) = scope.get("release") {
            if let Some(n) = r.get("name").and_then(Value::as_str) {
                req.release = n.to_string();
            }
            if let Some(n) = r.get("namespace").and_then(Value::as_str) {
                req.namespace = n.to_string();
            }
        }
        if let Some(e) = scope.get("environment").and_then(Value::as_str) {
            req.environment = Some(e.to_string());
        }
        match scope.get("values") {
            Some(Value::Object(inline)) => {
                req.extra_layers.push(crate::values::Layer::new(
                    "test values",
                    Value::Object(inline.clone()),
                    None,
                ));
            }
            other => req.values_files.extend(
                strings(other)
                    .into_iter()
                    .map(|f| pack.join(f).display().to_string()),
            ),
        }
        if let Some(Value::Object(set)) = scope.get("set") {
            for (path, value) in set {
                req.sets.push((
                    SetFlag::Json,
                    format!(
                        "{path}={}",
                        serde_json::to_string(value).unwrap_or_default()
                    ),
                ));
            }
        }
    }
    let templates = {
        let t = strings(test.get("template").or_else(|| test.get("templates")));
        if t.is_empty() {
            strings(suite.get("template").or_else(|| suite.get("templates")))
        } else {
            t
        }
    };
    if !templates.is_empty() {
        req.only_templates = Some(
            templates
                .iter()
                .map(|t| format!("templates/{}", t.trim_start_matches("templates/")))
                .collect(),
        );
    }
    req.coverage = coverage;
    req
}

fn snapshot_path(suite_file: &Path) -> PathBuf {
    let stem = suite_file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("suite");
    suite_file
        .parent()
        .unwrap_or(Path::new("."))
        .join("__snapshots__")
        .join(format!("{stem}.snap.yaml"))
}

/// The snapshots of one suite file, and whether a test changed them.
struct Snapshots {
    path: PathBuf,
    entries: Map<String, Value>,
    changed: bool,
}

impl Snapshots {
    fn load(suite_file: &Path) -> Self {
        let path = snapshot_path(suite_file);
        let entries = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| shared::yaml::from_str::<Value>(&t).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        Snapshots {
            path,
            entries,
            changed: false,
        }
    }

    fn save(&self) -> anyhow::Result<()> {
        if self.changed {
            std::fs::create_dir_all(self.path.parent().unwrap_or(Path::new(".")))?;
            std::fs::write(
                &self.path,
                shared::yaml::to_string(&Value::Object(self.entries.clone()))?,
            )?;
        }
        Ok(())
    }
}

/// Runs one test of a suite and returns its result.
fn run_test(
    pack: &crate::pack::Pack,
    suite_name: &str,
    suite: &Value,
    test: &Value,
    args: &TestArgs,
    snapshots: &mut Snapshots,
    coverage: &mut Coverage,
) -> TestResult {
    let start = Instant::now();
    let name = test
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)")
        .to_string();
    let req = request_for(Path::new(&args.pack), suite, test, args.coverage);
    let rendered = render::render_pack(pack, &req);
    let (error, files) = match &rendered {
        Ok(r) => (None, r.files.as_slice()),
        Err(e) => (Some(e.to_string()), &[][..]),
    };
    if let Ok(r) = &rendered {
        for f in &r.files {
            coverage.templates_rendered.insert(f.path.clone());
        }
        coverage
            .branches_taken
            .extend(r.coverage.branches_taken.iter().cloned());
        coverage
            .values_read
            .extend(r.coverage.values_read.iter().cloned());
    }
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let expects_failure = test
        .get("asserts")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x.get("failedTemplate").is_some()));
    if let (Some(e), false) = (&error, expects_failure) {
        failures.push(format!("render failed: {e}"));
        return TestResult {
            suite: suite_name.to_string(),
            name,
            failures,
            notes,
            millis: start.elapsed().as_secs_f64() * 1000.0,
        };
    }
    for (i, assertion) in test
        .get("asserts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(obj) = assertion.as_object() else {
            continue;
        };
        let Some((kind, spec)) = obj
            .iter()
            .find(|(k, _)| !matches!(k.as_str(), "documentIndex" | "template" | "not"))
        else {
            failures.push(format!("assertion {} has no kind", i + 1));
            continue;
        };
        // `template`/`documentIndex` may sit beside the assertion or inside it.
        let want_template = obj
            .get("template")
            .or_else(|| spec.get("template"))
            .and_then(Value::as_str);
        let want_index = obj
            .get("documentIndex")
            .or_else(|| spec.get("documentIndex"))
            .and_then(Value::as_u64)
            .map(|n| n as usize);
        let mut docs = Vec::new();
        for f in files {
            if want_template.is_some_and(|t| {
                !f.path
                    .ends_with(&format!("templates/{}", t.trim_start_matches("templates/")))
            }) {
                continue;
            }
            for d in &f.documents {
                docs.push((f.path.as_str(), d.index, d.object()));
            }
        }
        if let Some(idx) = want_index {
            docs = docs.into_iter().nth(idx).into_iter().collect();
        }
        if kind == "matchSnapshot" {
            if let Some(e) = &error {
                failures.push(format!("matchSnapshot: render failed: {e}"));
                continue;
            }
            let key = format!("{name} #{}", i + 1);
            let current = match spec.get("path").and_then(Value::as_str) {
                Some(p) => Value::Array(
                    docs.iter()
                        .flat_map(|(_, _, o)| {
                            paths::select(o, p).unwrap_or_default().into_iter().cloned()
                        })
                        .collect(),
                ),
                None => Value::Array(docs.iter().map(|(_, _, o)| (*o).clone()).collect()),
            };
            match snapshots.entries.get(&key) {
                Some(old) if *old == current => {}
                Some(old) if !args.update_snapshots => {
                    let a = shared::yaml::to_string(old).unwrap_or_default();
                    let b = shared::yaml::to_string(&current).unwrap_or_default();
                    let diff = similar::TextDiff::from_lines(&a, &b)
                        .unified_diff()
                        .context_radius(1)
                        .to_string();
                    failures.push(format!("matchSnapshot: differs from {} (run with --update-snapshots to accept):\n{diff}", snapshots.path.display()));
                }
                _ => {
                    notes.push(format!("snapshot {key:?} written"));
                    snapshots.entries.insert(key, current);
                    snapshots.changed = true;
                }
            }
            continue;
        }
        let negate = obj.get("not").and_then(Value::as_bool).unwrap_or(false);
        let subject = asserts::Subject {
            docs,
            error: error.as_deref(),
        };
        match (asserts::check(kind, spec, &subject), negate) {
            (Ok(()), false) | (Err(_), true) => {}
            (Ok(()), true) => {
                failures.push(format!("not {kind}: the assertion held but should not"))
            }
            (Err(f), false) => failures.extend(f),
        }
    }
    TestResult {
        suite: suite_name.to_string(),
        name,
        failures,
        notes,
        millis: start.elapsed().as_secs_f64() * 1000.0,
    }
}

/// Runs `kubectl pack-render test`.
pub async fn run(args: &TestArgs) -> anyhow::Result<u8> {
    let args_owned = args.clone();
    let (results, coverage) = tokio::task::spawn_blocking(move || run_all(&args_owned)).await??;
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    let coverage = args.coverage.then_some(&coverage);
    let mut out = std::io::stdout().lock();
    match &args.format {
        TestFormat::Junit => out.write_all(report::junit(&results).as_bytes())?,
        TestFormat::Report(f) if f.is_text() => {
            out.write_all(report::pretty(&results, coverage).as_bytes())?
        }
        TestFormat::Report(f) => {
            let failed_names: Vec<String> = results
                .iter()
                .filter(|r| !r.failures.is_empty())
                .map(|r| format!("{}/{}", r.suite, r.name))
                .collect();
            let value = report::value(&results, coverage);
            shared::output::write_structured(&mut out, f, &value, &failed_names)?
        }
    }
    Ok(if failed > 0 {
        shared::output::exit::ERROR
    } else {
        shared::output::exit::OK
    })
}

fn run_all(args: &TestArgs) -> anyhow::Result<(Vec<TestResult>, Coverage)> {
    let pack_dir = Path::new(&args.pack);
    let pack = crate::pack::Pack::load(pack_dir)?;
    let mut coverage = Coverage {
        templates_total: pack
            .templates
            .iter()
            .filter(|t| !t.helper)
            .map(|t| format!("{}/templates/{}", pack.name(), t.output_name()))
            .collect(),
        branches_total: crate::engine::coverage::branches(&pack),
        ..Default::default()
    };
    let mut results = Vec::new();
    'suites: for (file, suite) in load_suites(pack_dir)? {
        let suite_name = suite
            .get("suite")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                file.file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default()
            });
        let mut snapshots = Snapshots::load(&file);
        for test in suite["tests"].as_array().cloned().unwrap_or_default() {
            let name = test.get("name").and_then(Value::as_str).unwrap_or_default();
            if let Some(f) = &args.filter
                && !name.contains(f.as_str())
                && !suite_name.contains(f.as_str())
            {
                continue;
            }
            let r = run_test(
                &pack,
                &suite_name,
                &suite,
                &test,
                args,
                &mut snapshots,
                &mut coverage,
            );
            let stop = args.fail_fast && !r.failures.is_empty();
            results.push(r);
            if stop {
                break 'suites;
            }
        }
        snapshots.save()?;
    }
    Ok((results, coverage))
}
