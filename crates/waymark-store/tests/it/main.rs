//! Storage tests. Every case runs twice, on a fresh SQLite file and on a fresh PostgreSQL
//! schema (`WAYMARK_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`).

mod support;

mod cases;
mod workflows;

/// Declares each case once and runs it on both backends. Cases are grouped by the module
/// that defines them (`module => [case, ...]`); test names are `sqlite::case` and
/// `postgres::case`.
macro_rules! on_both_backends {
    ($($module:ident => [$($case:ident),* $(,)?]),* $(,)?) => {
        mod sqlite {
            $($(
                #[tokio::test]
                async fn $case() {
                    let db = crate::support::TestDb::sqlite().await;
                    crate::$module::$case(&db.store).await;
                    db.finish().await;
                }
            )*)*
        }
        mod postgres {
            $($(
                #[tokio::test]
                async fn $case() {
                    let db = crate::support::TestDb::postgres().await;
                    crate::$module::$case(&db.store).await;
                    db.finish().await;
                }
            )*)*
        }
    };
}

on_both_backends!(
    cases => [
        migrations_are_current_after_migrate,
        workspace_names_are_unique,
        plan_round_trips_with_phases_tasks_and_checkpoints,
        plan_slugs_are_unique_per_workspace_only,
        plan_lookups_are_scoped_by_workspace,
        plan_listing_filters_orders_and_pages,
        dropped_transaction_writes_nothing,
        api_keys_are_found_by_hash_and_revoked_once,
        audit_events_append_and_list_newest_first,
    ],
    workflows => [
        wf_instance_reserve_is_idempotent,
        wf_run_round_trips_every_field,
        wf_list_runs_filters_and_orders,
        wf_history_appends_and_pages,
        wf_duplicate_sequence_is_a_conflict_and_rolls_back,
        wf_claim_task_takes_due_and_expired_only,
        wf_close_live_tasks_closes_only_live_tasks_of_the_run,
        wf_activities_and_attempts_round_trip,
        wf_timers_claim_due_and_round_trip,
        wf_commands_wait_until_applied,
        wf_failures_newest_first,
        wf_runs_missing_workflow_task,
        wf_activities_missing_task,
        wf_overdue_runs,
        wf_search_attributes_are_typed,
        wf_listen_and_notify_match_the_backend,
    ],
);
