//! `kubectl pack-drift [status] RELEASE | -A`: one check, printed as text
//! or a machine report, recorded as a drift event when something drifted;
//! exit 0 clean, 1 drift at or above `--fail-on`, 2 error.

use std::io::Write;

use anyhow::{Result, bail};
use shared::kubeconfig::{Kube, KubeArgs};
use shared::output::{Paint, Stream, exit};
use shared::release::store::Store;

use crate::cli::{Format, StatusArgs};
use crate::events::{Event, History, Kind};
use crate::report::{self, Report};
use crate::settings::{Detection, Settings};

/// Prints reports in the chosen format (one report as an object, `-A` as
/// a list; `-o name`: the drifted objects).
pub fn print(format: &Format, reports: &[Report], list: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if format.is_text() {
        let paint = Paint::for_stream(Stream::Stdout);
        for r in reports {
            report::write_text(&mut out, r, &paint)?;
            writeln!(out, "{}", report::summary(r))?;
        }
        return Ok(());
    }
    let names: Vec<String> = reports
        .iter()
        .flat_map(|r| &r.drifted)
        .map(|o| shared::identity::kubectl_name(&o.api_version, &o.kind, &o.name))
        .collect();
    if reports.len() == 1 && !list {
        shared::output::write_structured(&mut out, format, &reports[0], &names)
    } else {
        shared::output::write_structured(&mut out, format, &reports, &names)
    }
}

/// Records a "detected" event; a failure to write is a warning, not an error.
pub async fn record_detected(k: &Kube, namespace: &str, report: &Report, by: &str) {
    if report.drifted.is_empty() {
        return;
    }
    let history = History::new(k.client.clone(), namespace, &report.release);
    if let Err(e) = history
        .record(Event::from_report(Kind::Detected, by, report))
        .await
    {
        shared::output::warn(&format!(
            "drift event not recorded ({}); pass --read-only to skip recording",
            shared::error::one_line(&e.to_string())
        ));
    }
}

/// Runs `status`.
pub async fn run(kube: &KubeArgs, args: &StatusArgs) -> Result<u8> {
    let k = kube.connect().await?;
    if args.helm {
        let Some(release) = &args.release else {
            bail!("--helm needs a release name");
        };
        let report = crate::helm::check(&k, release, &args.check).await?;
        print(&args.output.output, std::slice::from_ref(&report), false)?;
        return Ok(if report.fails(args.fail_on) {
            exit::DIFFERENCES
        } else {
            exit::OK
        });
    }
    let storage = shared::release::args::storage(&args.check.storage)?;
    let targets: Vec<(String, String)> = if args.all {
        let store = Store::new(Some(k.client.clone()), &k.namespace, storage.clone());
        store
            .releases(true)
            .await?
            .into_iter()
            .map(|(ns, name, _, _)| (ns, name))
            .collect()
    } else {
        match &args.release {
            Some(r) => vec![(k.namespace.clone(), r.clone())],
            None => bail!("name a release (kubectl pack-drift RELEASE) or check all with -A"),
        }
    };
    let mut reports = Vec::new();
    let mut failing = false;
    let mut errors = 0;
    for (ns, name) in &targets {
        let checked = async {
            let store = Store::new(Some(k.client.clone()), ns, storage.clone());
            let rel = crate::check::load_release(&store, name, ns).await?;
            let settings = Settings::new(&rel.pack.settings, &args.check.flags())?;
            if settings.detection == Detection::Disabled {
                shared::output::info(&format!(
                    "release {name}: drift detection is disabled by the pack (drift.detection: disabled)"
                ));
                return Ok(None);
            }
            let (report, _) =
                crate::check::check(&k, &rel, &settings, !args.check.no_unexpected).await?;
            anyhow::Ok(Some((settings.detection, report)))
        }
        .await;
        let (detection, report) = match checked {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            // With -A one broken release does not hide the others.
            Err(e) if args.all => {
                errors += 1;
                shared::output::warn(&format!(
                    "release {name} in {ns}: {}",
                    shared::error::one_line(&e.to_string())
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        if !args.read_only {
            record_detected(&k, ns, &report, "status").await;
        }
        failing |= detection == Detection::Enabled && report.fails(args.fail_on);
        reports.push(report);
    }
    if args.all && targets.is_empty() {
        shared::output::info("no releases found");
    }
    print(&args.output.output, &reports, args.all)?;
    Ok(if errors > 0 {
        exit::DIFF_ERROR
    } else if failing {
        exit::DIFFERENCES
    } else {
        exit::OK
    })
}
