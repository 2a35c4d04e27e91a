//! Pack test reports: pretty (✓/✗ with expected/actual), JSON, JUnit XML.

use std::fmt::Write as _;

use shared::output::{Paint, Stream};

use super::{Coverage, TestResult};

fn pct(n: usize, d: usize) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.0}%", n as f64 * 100.0 / d as f64)
    }
}

/// Human output.
pub fn pretty(results: &[TestResult], coverage: Option<&Coverage>) -> String {
    let p = Paint::for_stream(Stream::Stdout);
    let mut out = String::new();
    let mut suite = "";
    for r in results {
        if r.suite != suite {
            suite = &r.suite;
            let _ = writeln!(out, "{}", p.bold(suite));
        }
        if r.failures.is_empty() {
            let _ = writeln!(
                out,
                "  {} {} {}",
                p.green("✓"),
                r.name,
                p.dim(&format!("({:.1} ms)", r.millis))
            );
        } else {
            let _ = writeln!(out, "  {} {}", p.red("✗"), r.name);
            for f in &r.failures {
                for (i, line) in f.lines().enumerate() {
                    let _ = writeln!(out, "      {}{line}", if i == 0 { "- " } else { "  " });
                }
            }
        }
        for n in &r.notes {
            let _ = writeln!(out, "      {}", p.dim(n));
        }
    }
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    if let Some(c) = coverage {
        let _ = writeln!(out, "\ncoverage:");
        let _ = writeln!(
            out,
            "  templates rendered: {}/{} ({})",
            c.templates_rendered.len(),
            c.templates_total.len(),
            pct(c.templates_rendered.len(), c.templates_total.len())
        );
        for t in c
            .templates_total
            .iter()
            .filter(|t| !c.templates_rendered.contains(*t))
        {
            let _ = writeln!(out, "    never rendered: {t}");
        }
        let taken = c.branches_taken.intersection(&c.branches_total).count();
        let _ = writeln!(
            out,
            "  if-branches taken: {taken}/{} ({})",
            c.branches_total.len(),
            pct(taken, c.branches_total.len())
        );
        for b in c
            .branches_total
            .iter()
            .filter(|b| !c.branches_taken.contains(*b))
        {
            let _ = writeln!(out, "    never taken: {b}");
        }
        let _ = writeln!(out, "  values read: {}", c.values_read.len());
    }
    let _ = writeln!(
        out,
        "\n{} passed, {} failed",
        results.len() - failed,
        failed
    );
    out
}

/// Machine-readable output.
pub fn value(results: &[TestResult], coverage: Option<&Coverage>) -> serde_json::Value {
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    serde_json::json!({"passed": results.len() - failed, "failed": failed, "tests": results, "coverage": coverage})
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML for CI systems.
pub fn junit(results: &[TestResult]) -> String {
    let mut suites: Vec<&str> = results.iter().map(|r| r.suite.as_str()).collect();
    suites.dedup();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for s in suites {
        let tests: Vec<&TestResult> = results.iter().filter(|r| r.suite == s).collect();
        let failures = tests.iter().filter(|r| !r.failures.is_empty()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">",
            xml(s),
            tests.len()
        );
        for t in tests {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml(s),
                xml(&t.name),
                t.millis / 1000.0
            );
            if t.failures.is_empty() {
                out.push_str("/>\n");
            } else {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    xml(&t.failures[0]),
                    xml(&t.failures.join("\n"))
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
