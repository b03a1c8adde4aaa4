//! Errors a user can act on: what failed, which file or value, what to do next.
//!
//! Errors are `anyhow` chains. A `Hint` is attached as one link of the chain with
//! `.context(Hint::new(..))` (it displays as `hint: ...`); `render` prints the first non-hint message as `error:`, the rest
//! as `Caused by:` lines, and the hints last as `hint:` lines. Exit codes: 0 success, 1 any
//! failure (this module), 2 bad usage (clap).

use std::fmt;

/// Advice attached to an error chain.
#[derive(Debug, Clone)]
pub struct Hint(String);

impl Hint {
    /// A hint.
    pub fn new(text: impl Into<String>) -> Hint {
        Hint(text.into())
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{HINT_PREFIX}{}", self.0)
    }
}

const HINT_PREFIX: &str = "hint: ";

/// An exit status the command decided itself, its verdict already printed (the monitoring-plugin
/// codes of `--format nagios`: 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
#[derive(Debug, Clone, Copy)]
pub struct Exit(pub i32);

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Strip control characters (terminal escapes from hostile certificate text) from a message.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// The text printed for an error: `error: ...`, `Caused by:` lines, `hint:` lines.
pub fn render(err: &anyhow::Error) -> String {
    let mut messages = Vec::new();
    let mut hints = Vec::new();
    for cause in err.chain() {
        let m = cause.to_string();
        if let Some(h) = m.strip_prefix(HINT_PREFIX) {
            hints.push(h.to_string());
        } else if !messages.contains(&m) {
            messages.push(m);
        }
    }
    let mut out = String::new();
    match messages.split_first() {
        Some((first, rest)) => {
            out.push_str(&format!("error: {}\n", sanitize(first)));
            if !rest.is_empty() {
                out.push_str("Caused by:\n");
                for m in rest {
                    out.push_str(&format!("  {}\n", sanitize(m)));
                }
            }
        }
        None => out.push_str("error: failed\n"),
    }
    for h in hints {
        out.push_str(&format!("hint: {}\n", sanitize(&h)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    #[test]
    fn hints_print_last_and_messages_in_order() {
        let e = anyhow!("No such file")
            .context(Hint::new("create it"))
            .context("cannot read ca/serial");
        assert_eq!(
            render(&e),
            "error: cannot read ca/serial\nCaused by:\n  No such file\nhint: create it\n"
        );
    }

    #[test]
    fn control_characters_are_stripped() {
        assert_eq!(sanitize("a\x1b[31mb"), "a?[31mb");
    }
}
