//! File names as adapters send them in uploads, reduced to something safe to store.

use super::ApiError;
use std::path::Path;

/// The longest stored file name, in bytes (file systems allow 255; the `{client}_` prefix
/// and the temporary name need room).
pub const MAX_FILE_NAME_BYTES: usize = 200;

/// Unicode format characters (general category Cf): invisible, and some reorder what is
/// shown (U+202E makes `evil\u{202E}txt.exe` list as `evilexe.txt`).
const FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a Unicode format character (category Cf).
pub fn is_format_char(c: char) -> bool {
    FORMAT_CHARS.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// A file name as adapters send it, reduced to its last path component; names that
/// climb directories (`..`), hide control or format characters, are empty, hidden or
/// longer than [`MAX_FILE_NAME_BYTES`] are refused with 400.
pub fn clean_file_name(raw: &str) -> Result<String, ApiError> {
    let shown: String = if raw.len() > 80 { format!("{}...", cut(raw, 60)) } else { raw.to_string() };
    let refuse = |why: &str| ApiError::BadRequest(format!("refused file name {shown:?}: {why}"));
    if raw.chars().any(char::is_control) {
        return Err(refuse("it contains control characters"));
    }
    if raw.chars().any(is_format_char) {
        return Err(refuse("it contains invisible Unicode format characters (such as U+202E or U+200B)"));
    }
    if raw.split(['/', '\\']).any(|part| part == "..") {
        return Err(refuse("it climbs out of its directory with '..'"));
    }
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base.starts_with('.') {
        return Err(refuse("it has no usable name (empty or hidden)"));
    }
    if base.len() > MAX_FILE_NAME_BYTES {
        return Err(refuse(&format!("it is {} bytes long; at most {MAX_FILE_NAME_BYTES} are allowed", base.len())));
    }
    if Path::new(base).components().count() != 1 {
        return Err(refuse("it is not a plain file name"));
    }
    Ok(base.to_string())
}

/// The first `max` bytes of `text`, cut at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
