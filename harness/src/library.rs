//! The library of scenarios: files found under paths, read once, with the defect each
//! demonstrates.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use paceline_sim::{Override, Scenario, ScenarioLimits, declared_mutant, read_text};
use paceline_trace::DefectId;

/// Scenario files under `paths`: files as given, folders searched for `*.toml`, sorted.
/// Links are followed, but no folder is entered twice (by its canonical path), so a link
/// loop ends the walk there instead of repeating it.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut visited = BTreeSet::new();
    for path in paths {
        if path.is_dir() {
            collect(path, &mut files, &mut visited)?;
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("{}: no such file or folder", path.display()));
        }
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err("no scenario files (*.toml) under the given paths".into());
    }
    Ok(files)
}

fn collect(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    visited: &mut BTreeSet<PathBuf>,
) -> Result<(), String> {
    let canonical = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !visited.insert(canonical) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            collect(&path, files, visited)?;
        } else if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// A scenario file of the library.
pub struct Entry {
    /// Where it was read from.
    pub path: PathBuf,
    /// The scenario's name, or the file's stem when the real core refuses it.
    pub name: String,
    /// The scenario as the real core reads it; `None` when the real core refuses its
    /// pool, which is the clean outcome for a configuration defect (D4, D9).
    pub real: Option<Scenario>,
    /// The defect it demonstrates, from `expect.mutant`.
    pub mutant: Option<DefectId>,
}

/// Read every file held to `limits`; refusals are errors unless a configuration defect
/// explains them.
pub fn load(files: &[PathBuf], limits: &ScenarioLimits) -> Result<Vec<Entry>, String> {
    load_with(files, &[], limits)
}

/// [`load`], with `--set` edits applied to every file.
pub fn load_with(
    files: &[PathBuf],
    overrides: &[Override],
    limits: &ScenarioLimits,
) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut refused = Vec::new();
    for path in files {
        let text = match read_text(path, limits) {
            Ok(t) => t,
            Err(e) => {
                refused.push(e.to_string());
                continue;
            }
        };
        let mutant = declared_mutant(&text);
        match Scenario::parse_with(path, &text, overrides, limits) {
            Ok(s) => entries.push(Entry {
                path: path.clone(),
                name: s.name.clone(),
                real: Some(s),
                mutant,
            }),
            Err(e)
                if mutant.is_some() && e.key.as_deref().is_some_and(|k| k.starts_with("pool")) =>
            {
                entries.push(Entry {
                    path: path.clone(),
                    name: path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    real: None,
                    mutant,
                })
            }
            Err(e) => refused.push(e.to_string()),
        }
    }
    if refused.is_empty() {
        Ok(entries)
    } else {
        Err(refused.join("\n"))
    }
}
