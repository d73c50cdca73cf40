//! Reports of a run for CI: JUnit XML (one `<testsuite>` per test, one `<testcase>` per
//! case) and the whole run as JSON, rewritten in the output directory as cases end (at
//! most once a second: see `results`) and when the run ends, each atomically (a temporary
//! file renamed over the old one), so a killed run never leaves a half-written report.

use quick_xml::events::BytesText;
use quick_xml::Writer;
use std::path::{Path, PathBuf};
use trafficlight_actors::snapshot::CaseState;
use trafficlight_actors::{CaseReport, RunReport};

/// The file names written into the output directory.
pub const JUNIT_FILE: &str = "junit.xml";
pub const JSON_FILE: &str = "report.json";

/// JUnit XML of `report`; valid XML whatever the errors and logs contain.
pub fn junit_xml(report: &RunReport) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    let failures = |cases: &[&CaseReport], state| cases.iter().filter(|c| c.state == state).count().to_string();
    let all: Vec<&CaseReport> = report.cases.iter().collect();
    let _ = writer
        .create_element("testsuites")
        .with_attribute(("name", xml_safe(&report.id).as_str()))
        .with_attribute(("tests", all.len().to_string().as_str()))
        .with_attribute(("failures", failures(&all, CaseState::Failed).as_str()))
        .with_attribute(("errors", failures(&all, CaseState::Error).as_str()))
        .write_inner_content(|w| {
            for (test, cases) in report.by_test() {
                let skipped = cases.iter().filter(|c| !c.state.is_final() || c.state == CaseState::Skipped).count();
                w.create_element("testsuite")
                    .with_attribute(("name", xml_safe(test).as_str()))
                    .with_attribute(("tests", cases.len().to_string().as_str()))
                    .with_attribute(("failures", failures(&cases, CaseState::Failed).as_str()))
                    .with_attribute(("errors", failures(&cases, CaseState::Error).as_str()))
                    .with_attribute(("skipped", skipped.to_string().as_str()))
                    .write_inner_content(|w| {
                        for case in cases {
                            write_case(w, case)?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        });
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&String::from_utf8_lossy(&writer.into_inner()));
    xml.push('\n');
    xml
}

fn write_case(w: &mut Writer<Vec<u8>>, case: &CaseReport) -> std::io::Result<()> {
    let time = format!("{:.3}", case.duration_secs().unwrap_or(0.0));
    let name = format!("{} [{}]", case.label(), case.id);
    let errors = xml_safe(&case.errors.join("\n"));
    let message = errors.lines().next().unwrap_or("").to_string();
    w.create_element("testcase")
        .with_attribute(("name", xml_safe(&name).as_str()))
        .with_attribute(("classname", xml_safe(&case.test).as_str()))
        .with_attribute(("time", time.as_str()))
        .write_inner_content(|w| {
            let outcome = match case.state {
                CaseState::Success => None,
                CaseState::Failed => Some(("failure", message.clone())),
                CaseState::Error => Some(("error", message.clone())),
                CaseState::Skipped => Some(("skipped", message.clone())),
                _ => Some(("skipped", format!("still {} when the report was made", case.state))),
            };
            match outcome {
                Some(("skipped", why)) => {
                    w.create_element("skipped").with_attribute(("message", why.as_str())).write_empty()?;
                }
                Some((element, why)) => {
                    w.create_element(element)
                        .with_attribute(("message", why.as_str()))
                        .write_text_content(BytesText::new(&errors))?;
                }
                None => {}
            }
            if !case.log.is_empty() {
                let log = xml_safe(&case.log.join("\n"));
                w.create_element("system-out").write_text_content(BytesText::new(&log))?;
            }
            Ok(())
        })?;
    Ok(())
}

/// `text` without the characters XML 1.0 cannot hold (control characters but tab, newline
/// and carriage return; U+FFFE, U+FFFF); quick-xml escapes the rest.
pub fn xml_safe(text: &str) -> String {
    text.chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}'))
        .collect()
}

/// Writes `junit.xml` and `report.json` into `dir`, each atomically; answers the paths
/// written. `finished` says whether the run has ended (cases still to end are skipped in
/// the JUnit report until then).
pub fn write(report: &RunReport, dir: &Path, finished: bool) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let junit = dir.join(JUNIT_FILE);
    write_atomic(&junit, junit_xml(report).as_bytes())?;
    let json = dir.join(JSON_FILE);
    // Serialised straight from the cases: through a `json!` value every case and action
    // was first copied into a tree of maps (a rewrite of a 1,000-case run spent most of its
    // time there).
    #[derive(serde::Serialize)]
    struct Body<'a> {
        run: &'a str,
        finished: bool,
        succeeded: bool,
        cases: &'a [CaseReport],
    }
    let body = Body { run: &report.id, finished, succeeded: finished && report.succeeded(), cases: &report.cases };
    write_atomic(&json, &serde_json::to_vec_pretty(&body)?)?;
    Ok(vec![junit, json])
}

/// Replaces `path` with `bytes` so that a reader (or a crash) sees the old file or the new
/// one, never a part: written beside it, flushed to disk, then renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
        let _ = dir.sync_all(); // the rename itself survives a crash once the directory is synced
    }
    Ok(())
}
