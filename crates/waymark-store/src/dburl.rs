//! Database URLs: what one names ([`database_target`]) and how to print one safely
//! ([`redact_url`]).

use std::path::PathBuf;
use std::str::FromStr;

use percent_encoding::percent_decode_str;
use sea_orm::sqlx;

use crate::Error;

/// What a database URL names, as the store would open it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A SQLite file; a relative path is relative to the working directory.
    SqliteFile(PathBuf),
    /// A SQLite database in memory (`sqlite::memory:`, `mode=memory`), gone with the process.
    SqliteMemory,
    /// A PostgreSQL server.
    Postgres,
}

/// The query parameters the PostgreSQL driver understands. It ignores any other with a
/// warning that prints the parameter's value, so [`database_target`] refuses them instead
/// (libpq's `sslpassword`, for one, is not supported and would land in the log).
const POSTGRES_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// Parses a database URL the way [`crate::Store::connect`] will, without connecting.
///
/// Accepted: `sqlite://FILE[?mode=rwc|rw|ro|memory&cache=…&immutable=…&vfs=…]`,
/// `sqlite::memory:`, and `postgres://` or `postgresql://` URLs with the parameters the driver
/// supports (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `host`, `port`, `dbname`, `user`,
/// `password`, `application_name`, `options`, `statement-cache-capacity`).
///
/// # Errors
/// [`Error::InvalidUrl`] with the reason (never the password) for an unsupported scheme, a
/// URL the driver cannot parse, or an unknown PostgreSQL parameter.
pub fn database_target(url: &str) -> Result<DatabaseTarget, Error> {
    let invalid = |reason: String| Err(Error::InvalidUrl(redact_url(&reason)));
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let query = query.split_once('#').map_or(query, |(q, _)| q);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let raw_key = pair.split_once('=').map_or(pair, |(k, _)| k);
            let key = percent_decode_str(&raw_key.replace('+', " ")).decode_utf8_lossy().into_owned();
            let known =
                POSTGRES_PARAMETERS.contains(&key.as_str()) || (key.starts_with("options[") && key.ends_with(']'));
            if !known {
                return invalid(format!(
                    "unsupported parameter `{key}` (the PostgreSQL driver takes: {})",
                    POSTGRES_PARAMETERS.join(", ")
                ));
            }
        }
        return match sqlx::postgres::PgConnectOptions::from_str(url) {
            Ok(_) => Ok(DatabaseTarget::Postgres),
            Err(e) => invalid(driver_reason(&e)),
        };
    }
    if url.starts_with("sqlite:") {
        let options = match sqlx::sqlite::SqliteConnectOptions::from_str(url) {
            Ok(options) => options,
            Err(e) => return invalid(driver_reason(&e)),
        };
        let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
        if file == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
            return Ok(DatabaseTarget::SqliteMemory);
        }
        let path = options.get_filename().to_path_buf();
        if path.as_os_str().is_empty() {
            return invalid("no file name after sqlite:// (e.g. sqlite://waymark.db?mode=rwc)".to_owned());
        }
        return Ok(DatabaseTarget::SqliteFile(path));
    }
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    if scheme.is_empty() {
        invalid("not a URL; expected sqlite://FILE?mode=rwc or postgres://USER@HOST:PORT/DB".to_owned())
    } else {
        invalid(format!(
            "unsupported scheme `{scheme}://`; expected sqlite://FILE?mode=rwc or postgres://USER@HOST:PORT/DB"
        ))
    }
}

/// The driver's reason without its "error with configuration:" wrapper.
fn driver_reason(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Configuration(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

/// The query parameters whose values are secrets (compared case-insensitively, after
/// percent-decoding).
const SECRET_PARAMETERS: &[&str] = &["password", "sslpassword"];

/// A database URL, or a text that contains database URLs (a driver's error message), with
/// every password replaced by `***`, safe to print or log.
///
/// Masked: the password of the userinfo (`postgres://user:***@host`), also when it contains
/// `@`, `/`, `?` or `#` unencoded or is percent-encoded, and the values of `password=` and
/// `sslpassword=` parameters, in a query (`?password=`, `&password=`) or in libpq's
/// keyword/value form (`host=h password=…`). A userinfo without a password is kept: a user
/// name is not a secret.
///
/// Text that starts with a URL is taken as one URL, so a password with spaces is masked whole;
/// in other text, URLs end at whitespace.
pub fn redact_url(text: &str) -> String {
    let trimmed = text.trim_start();
    if scheme_end(trimmed).is_some() && !text.contains('\n') {
        return redact_token(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let token_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push_str(&redact_token(&rest[..token_end]));
        let gap_end = rest[token_end..].find(|c: char| !c.is_whitespace()).map_or(rest.len(), |i| token_end + i);
        out.push_str(&rest[token_end..gap_end]);
        rest = &rest[gap_end..];
    }
    out
}

/// The byte index just past `://` when `text` starts with `scheme://`.
fn scheme_end(text: &str) -> Option<usize> {
    let sep = text.find("://")?;
    let scheme = &text[..sep];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then_some(sep + 3)
}

/// Masks one whitespace-free piece of text (or a whole URL).
fn redact_token(token: &str) -> String {
    let masked = mask_userinfo(token);
    mask_secret_parameters(&masked)
}

/// `scheme://user:secret@host…` → `scheme://user:***@host…`, wherever the URL starts in
/// `token` (it may be quoted or bracketed).
fn mask_userinfo(token: &str) -> String {
    let Some(sep) = token.find("://") else { return token.to_owned() };
    let scheme_start = token[..sep]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        .last()
        .map_or(sep, |(i, _)| i);
    if scheme_end(&token[scheme_start..]).is_none() {
        return token.to_owned();
    }
    let authority = sep + 3;
    let rest = &token[authority..];
    // The userinfo ends at the last `@` before the query; a password may itself hold `@`,
    // `/` or `#`. When the part before the first `?` has no `@` at all, the password may
    // hold a `?`: then the last `@` anywhere ends it (masking too much rather than too little).
    let before_query = rest.find('?').map_or(rest, |q| &rest[..q]);
    let at = before_query.rfind('@').or_else(|| rest.rfind('@'));
    let Some(at) = at else { return token.to_owned() };
    let userinfo = &rest[..at];
    let Some(colon) = userinfo.find(':') else { return token.to_owned() };
    format!("{}{}:***{}", &token[..authority], &userinfo[..colon], &rest[at..])
}

/// `…password=secret&…` → `…password=***&…` for every secret parameter of `token`.
fn mask_secret_parameters(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut rest = token;
    while let Some(eq) = rest.find('=') {
        let key_start = rest[..eq].rfind(['?', '&', ';']).map_or(0, |i| i + 1);
        let key = percent_decode_str(&rest[key_start..eq]).decode_utf8_lossy().to_ascii_lowercase();
        out.push_str(&rest[..=eq]);
        rest = &rest[eq + 1..];
        if SECRET_PARAMETERS.contains(&key.as_str()) {
            let value_end = rest.find('&').unwrap_or(rest.len());
            if value_end > 0 {
                out.push_str("***");
            }
            rest = &rest[value_end..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{DatabaseTarget, database_target, redact_url};

    #[test]
    fn passwords_never_print_in_any_form() {
        let cases = [
            ("postgres://u:secret@h:5432/db", "postgres://u:***@h:5432/db"),
            ("postgresql://u:secret@h/db?sslmode=require", "postgresql://u:***@h/db?sslmode=require"),
            ("postgres://u:p@ss@h:5432/db", "postgres://u:***@h:5432/db"),
            ("postgres://u:p@s/s#w@h:5432/db", "postgres://u:***@h:5432/db"),
            ("postgres://u:p?w@h/db", "postgres://u:***@h/db"),
            ("postgres://u:p%40ss%3Aw@h/db", "postgres://u:***@h/db"),
            ("postgres://u:my pass@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db?password=secret", "postgres://u@h/db?password=***"),
            ("postgres://u@h/db?sslmode=require&password=secret", "postgres://u@h/db?sslmode=require&password=***"),
            ("postgres://u@h/db?password=se@cr&et=1", "postgres://u@h/db?password=***&et=1"),
            ("postgres://u@h/db?PassWord=secret", "postgres://u@h/db?PassWord=***"),
            ("postgres://u@h/db?pass%77ord=secret", "postgres://u@h/db?pass%77ord=***"),
            ("postgres://u@h/db?sslpassword=secret&sslkey=k.pem", "postgres://u@h/db?sslpassword=***&sslkey=k.pem"),
            ("postgres://u:one@h/db?password=two", "postgres://u:***@h/db?password=***"),
            ("host=h user=u password=secret dbname=db", "host=h user=u password=*** dbname=db"),
            ("postgres://postgres@127.0.0.1/test", "postgres://postgres@127.0.0.1/test"),
            ("sqlite://waymark.db?mode=rwc", "sqlite://waymark.db?mode=rwc"),
            ("sqlite::memory:", "sqlite::memory:"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn urls_inside_driver_messages_are_masked() {
        let cases = [
            (
                "The connection string 'mysql://u:secret@h/db' has no supporting driver.",
                "The connection string 'mysql://u:***@h/db' has no supporting driver.",
            ),
            (
                "cannot connect to (postgres://u:p@ss@h/db?password=two): refused",
                "cannot connect to (postgres://u:***@h/db?password=*** refused",
            ),
            ("ignoring parameter sslpassword=secret", "ignoring parameter sslpassword=***"),
            ("no url here: role \"u\" does not exist", "no url here: role \"u\" does not exist"),
        ];
        for (text, shown) in cases {
            assert_eq!(redact_url(text), shown, "{text}");
        }
    }

    #[test]
    fn targets_are_what_the_store_would_open() {
        assert_eq!(
            database_target("sqlite://waymark.db?mode=rwc").unwrap(),
            DatabaseTarget::SqliteFile(PathBuf::from("waymark.db"))
        );
        assert_eq!(
            database_target("sqlite:///var/lib/w%20m.db").unwrap(),
            DatabaseTarget::SqliteFile(PathBuf::from("/var/lib/w m.db"))
        );
        assert_eq!(database_target("sqlite::memory:").unwrap(), DatabaseTarget::SqliteMemory);
        assert_eq!(database_target("sqlite://x.db?mode=memory").unwrap(), DatabaseTarget::SqliteMemory);
        assert_eq!(database_target("postgres://u:p@h:5432/db?sslmode=require").unwrap(), DatabaseTarget::Postgres);
        assert_eq!(database_target("postgresql://u@h/db?options[search_path]=x").unwrap(), DatabaseTarget::Postgres);
    }

    #[test]
    fn bad_urls_say_why_without_the_password() {
        let cases = [
            ("mysql://u:secret@h/db", "unsupported scheme `mysql://`"),
            ("waymark.db", "not a URL"),
            ("", "not a URL"),
            ("sqlite://x.db?mode=rwx", "unknown value \"rwx\" for `mode`"),
            ("sqlite://x.db?journal=wal", "unknown query parameter `journal`"),
            ("sqlite://", "no file name"),
            ("postgres://u:secret@h:notaport/db", "invalid port number"),
            ("postgres://u@h/db?sslpassword=secret", "unsupported parameter `sslpassword`"),
            ("postgres://u@h/db?sslmode=sometimes&password=secret", "unknown value"),
        ];
        for (url, reason) in cases {
            let message = database_target(url).expect_err(url).to_string();
            assert!(message.contains(reason), "{url}: {message}");
            assert!(!message.contains("secret"), "{url}: {message}");
        }
    }
}
