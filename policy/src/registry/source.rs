//! Where an entry of the registry sits in its TOML text, so that every problem is reported
//! with file, line and field (a privacy officer must be able to fix it without reading Rust).

use super::Registry;

impl Registry {
    /// Line of `field` inside the `[[section]]` block whose `id` (or `code`) is `id` (or of the
    /// block, or 0).
    pub(super) fn locate(&self, section: &str, id: &str, field: Option<&str>) -> usize {
        let lines: Vec<&str> = self.source.text.lines().collect();
        let header = format!("[[{section}]]");
        let mut i = 0;
        while i < lines.len() {
            if lines[i].trim() == header {
                let start = i;
                let mut end = i + 1;
                while end < lines.len() && !lines[end].trim_start().starts_with('[') {
                    end += 1;
                }
                let block = &lines[start..end];
                let has_id = block
                    .iter()
                    .any(|l| is_key_line(l) && l.contains(&format!("\"{id}\"")));
                if has_id {
                    if let Some(field) = field
                        && let Some(off) = block.iter().position(|l| key_of(l) == Some(field))
                    {
                        return start + off + 1;
                    }
                    if let Some(off) = block.iter().position(|l| is_key_line(l)) {
                        return start + off + 1;
                    }
                    return start + 1;
                }
                i = end;
            } else {
                i += 1;
            }
        }
        // Table-style sections such as [taxonomy.x] or [guard].
        let table = if id.is_empty() {
            format!("[{section}]")
        } else {
            format!("[{section}.{id}]")
        };
        lines
            .iter()
            .position(|l| l.trim() == table)
            .map(|p| p + 1)
            .unwrap_or(0)
    }
}

/// Whether a line holds the key of its block: `id`, or `code` for entries named by an
/// external code (the gemeenten, by CBS code).
fn is_key_line(line: &str) -> bool {
    matches!(key_of(line), Some("id" | "code"))
}

/// The key of a `key = value` line, if it is one.
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.starts_with('#') || t.starts_with('[') {
        return None;
    }
    let (k, _) = t.split_once('=')?;
    Some(k.trim().trim_matches('"'))
}

/// 1-based line of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Best description of the field at a line: `[section].key`.
pub(super) fn field_at(text: &str, line: usize) -> String {
    if line == 0 {
        return String::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let key = lines.get(line - 1).and_then(|l| key_of(l)).unwrap_or("");
    let header = lines[..line.min(lines.len())]
        .iter()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .map(|l| l.trim().trim_matches(|c| c == '[' || c == ']').to_string())
        .unwrap_or_default();
    match (header.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => header,
        (false, false) => format!("{header}.{key}"),
    }
}
