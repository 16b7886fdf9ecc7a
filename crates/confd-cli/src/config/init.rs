//! `nexus config init`.

use confd::SeedAction;

use crate::{Failure, Format, Global};

pub(crate) fn init(global: &Global) -> Result<(), Failure> {
    let state = global.loader().resolved_state_dir()?;
    let report = confd::seed(&state.etc_dir()).map_err(|e| Failure::Config(e.to_string()))?;
    match global.format {
        Format::Text => {
            for (path, action) in &report.files {
                let word = match action {
                    SeedAction::Created => "created",
                    SeedAction::Kept => "kept",
                };
                println!("{word:<8} {}", path.display());
            }
        }
        Format::Json => {
            let files: Vec<_> = report
                .files
                .iter()
                .map(|(path, action)| {
                    serde_json::json!({
                        "path": path.display().to_string(),
                        "action": match action { SeedAction::Created => "created", SeedAction::Kept => "kept" },
                    })
                })
                .collect();
            println!("{}", serde_json::json!({ "files": files }));
        }
    }
    Ok(())
}
