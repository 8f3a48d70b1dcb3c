//! The shape shared by every status table: a status names the statuses it may move to, moving
//! to the same status is an idempotent success, and anything else is refused with the allowed
//! targets named.

use crate::DomainError;

/// A status with a transition table.
pub trait StatusTable: Copy + Eq + std::fmt::Debug + 'static {
    /// The entity name used in messages (`plan`, `phase`, `session`).
    const ENTITY: &'static str;
    /// Every status, in the order the tools list them.
    const ALL: &'static [Self];
    /// The wire name (`in_progress`).
    fn as_str(self) -> &'static str;
    /// The statuses reachable from `self` in one step (never including `self`).
    fn allowed_targets(self) -> &'static [Self];
}

/// The outcome of checking a status change against its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Already in the requested status: nothing to write, report success.
    Unchanged,
    /// The table allows the move.
    Changed,
}

/// Checks `from → to` against the table of `S`.
///
/// # Errors
/// [`DomainError::InvalidTransition`] naming the allowed targets when the table forbids it.
pub fn check<S: StatusTable>(from: S, to: S) -> Result<Transition, DomainError> {
    if from == to {
        return Ok(Transition::Unchanged);
    }
    let allowed = from.allowed_targets();
    if allowed.contains(&to) {
        return Ok(Transition::Changed);
    }
    let names: Vec<&'static str> = allowed.iter().map(|s| s.as_str()).collect();
    let targets = if names.is_empty() { format!("none ('{}' is final)", from.as_str()) } else { names.join(", ") };
    Err(DomainError::InvalidTransition {
        entity: S::ENTITY,
        from: from.as_str(),
        to: to.as_str(),
        message: format!(
            "Cannot change {} status from '{}' to '{}'. Allowed from '{}': {}",
            S::ENTITY,
            from.as_str(),
            to.as_str(),
            from.as_str(),
            targets
        ),
        allowed: names,
    })
}

/// Parses a wire name into a status of `S`.
///
/// # Errors
/// [`DomainError::Invalid`] with the original's wording: "status must be one of: a, b, c".
pub fn parse<S: StatusTable>(field: &'static str, raw: &str) -> Result<S, DomainError> {
    S::ALL.iter().copied().find(|s| s.as_str() == raw).ok_or_else(|| {
        let names: Vec<&str> = S::ALL.iter().map(|s| s.as_str()).collect();
        DomainError::invalid(field, format!("{field} must be one of: {}", names.join(", ")))
    })
}

/// Renders a status table as a matrix (`=` unchanged, `yes` allowed, `-` refused) by asking
/// [`check`] about every pair, so a test can pin the whole table at once.
#[cfg(test)]
pub(crate) fn render_matrix<S: StatusTable>() -> String {
    let width = S::ALL.iter().map(|s| s.as_str().len()).max().unwrap_or(0) + 2;
    let mut out = format!("{:width$}", "from\\to");
    for to in S::ALL {
        out.push_str(&format!("{:width$}", to.as_str()));
    }
    for from in S::ALL {
        out.push('\n');
        out.push_str(&format!("{:width$}", from.as_str()));
        for to in S::ALL {
            let cell = match check(*from, *to) {
                Ok(Transition::Unchanged) => "=",
                Ok(Transition::Changed) => "yes",
                Err(_) => "-",
            };
            out.push_str(&format!("{cell:width$}"));
        }
    }
    out.lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
}
