//! The session event table, every pair.

use chrono::{Duration, TimeZone, Utc};

use super::{SessionEvent, SessionId, SessionStatus, format_duration};

fn render() -> String {
    let events = [
        ("handoff", SessionEvent::Handoff),
        ("end(completed)", SessionEvent::End(SessionStatus::Completed)),
        ("end(paused)", SessionEvent::End(SessionStatus::Paused)),
        ("end(handed_off)", SessionEvent::End(SessionStatus::HandedOff)),
        ("resume", SessionEvent::Resume),
        ("continued", SessionEvent::Continued),
        ("sweep", SessionEvent::Sweep),
        ("activity", SessionEvent::Activity),
    ];
    let mut out = String::from("from");
    for (name, _) in &events {
        out.push_str(&format!(" | {name}"));
    }
    for from in SessionStatus::all() {
        out.push_str(&format!("\n{}", from.as_str()));
        for (_, event) in &events {
            let cell = match from.apply(*event) {
                Ok(to) if to == *from => "=".to_owned(),
                Ok(to) => to.as_str().to_owned(),
                Err(_) => "-".to_owned(),
            };
            out.push_str(&format!(" | {cell}"));
        }
    }
    out
}

#[test]
fn the_session_table() {
    insta::assert_snapshot!(render(), @r"
    from | handoff | end(completed) | end(paused) | end(handed_off) | resume | continued | sweep | activity
    active | paused | completed | paused | handed_off | = | handed_off | failed | =
    paused | = | completed | = | handed_off | active | handed_off | - | =
    handed_off | - | - | - | - | active | - | - | =
    completed | - | - | - | - | - | - | - | -
    failed | - | - | - | - | - | - | - | -
    ");
}

#[test]
fn final_sessions_say_so() {
    let err = SessionStatus::Completed.apply(SessionEvent::Activity).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Session is completed: it is final, so recording work is not possible. Start a new session with session_start"
    );
    assert!(SessionStatus::Active.apply(SessionEvent::End(SessionStatus::Active)).is_err());
}

#[test]
fn durations_use_the_original_wording() {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
    assert_eq!(format_duration(t0, t0 + Duration::seconds(59)), "0m");
    assert_eq!(format_duration(t0, t0 + Duration::minutes(42)), "42m");
    assert_eq!(format_duration(t0, t0 + Duration::minutes(135)), "2h 15m");
}

#[test]
fn session_ids_keep_their_prefix() {
    let id = SessionId::from_uuid("0b5f0d8e-0000-4000-8000-000000000000");
    assert_eq!(id.as_str(), "sess_0b5f0d8e-0000-4000-8000-000000000000");
    assert_eq!(SessionId::parse(id.as_str()), Some(id));
    assert_eq!(SessionId::parse("sess_"), None);
    assert_eq!(SessionId::parse("plan_x"), None);
    assert_eq!(SessionId::parse("sess_a b"), None);
}
