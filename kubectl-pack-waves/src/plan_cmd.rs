//! `plan`: the waves, steps, dependencies and readiness rules of a stream,
//! without touching a cluster.

use std::io::Write;

use anyhow::Result;
use shared::output::exit;

use crate::cli::PlanArgs;
use crate::plan;

/// Runs `plan`.
pub fn run(args: &PlanArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let objects = shared::stream::read_inputs(&args.input.inputs(), true)?;
    let plan = plan::build(objects)?;
    match &args.output.output {
        f if !f.is_text() => {
            let names: Vec<String> = plan
                .items
                .iter()
                .map(|i| {
                    shared::identity::kubectl_name(i.obj.api_version(), i.obj.kind(), i.obj.name())
                })
                .collect();
            shared::output::write_structured(&mut out, f, &plan.view(), &names)?
        }
        _ => {
            for (wave, idx) in plan.waves() {
                writeln!(out, "wave {wave}:")?;
                for i in idx {
                    let it = &plan.items[i];
                    let deps: Vec<&str> = it
                        .deps
                        .iter()
                        .map(|&d| plan.items[d].key.as_str())
                        .collect();
                    let rule = if it.wait {
                        crate::readiness::rule(&it.obj.object)
                    } else {
                        "not waited (wait-ready: false)"
                    };
                    write!(out, "  [{}] {:<50} ready when: {rule}", it.step, it.key)?;
                    if !deps.is_empty() {
                        write!(out, "  (after {})", deps.join(", "))?;
                    }
                    writeln!(out)?;
                }
            }
            for w in &plan.warnings {
                writeln!(out, "warning: {w}")?;
            }
        }
    }
    Ok(exit::OK)
}
