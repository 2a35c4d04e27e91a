//! `plan`: the waves, steps, dependencies and readiness rules of a stream,
//! without touching a cluster.

use anyhow::Result;
use shared::output::exit;

use crate::cli::{Format, PlanArgs};
use crate::plan;

/// Runs `plan`.
pub fn run(args: &PlanArgs) -> Result<u8> {
    let objects = shared::stream::read_inputs(&args.input.inputs(), true)?;
    let plan = plan::build(objects)?;
    match args.output {
        Format::Json => println!("{}", serde_json::to_string_pretty(&plan.view())?),
        Format::Yaml => print!("{}", shared::yaml::to_string(&plan.view())?),
        Format::Text => {
            for (wave, idx) in plan.waves() {
                println!("wave {wave}:");
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
                    print!("  [{}] {:<50} ready when: {rule}", it.step, it.key);
                    if !deps.is_empty() {
                        print!("  (after {})", deps.join(", "));
                    }
                    println!();
                }
            }
            for w in &plan.warnings {
                println!("warning: {w}");
            }
        }
    }
    Ok(exit::OK)
}
