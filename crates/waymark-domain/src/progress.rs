//! Plan progress, counted by phases and by tasks (the original counted only phases).

use crate::{PhaseId, PhaseStatus, TaskStatus};

/// Phase counts of a plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseProgress {
    /// Number of phases.
    pub total: u32,
    /// Phases with status `completed`.
    pub completed: u32,
    /// Phases with status `in_progress`.
    pub in_progress: u32,
    /// Phases with status `pending`.
    pub pending: u32,
    /// Phases with status `blocked`.
    pub blocked: u32,
    /// Phases with status `skipped`.
    pub skipped: u32,
    /// Finished (completed or skipped) phases as a rounded percentage, 0–100; 0 without phases.
    pub percentage: u32,
}

/// Task counts of a plan or phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskProgress {
    /// Number of tasks.
    pub total: u32,
    /// Tasks with status `completed`.
    pub completed: u32,
    /// Tasks with status `skipped`.
    pub skipped: u32,
    /// Finished (completed or skipped) tasks as a rounded percentage, 0–100; 0 without tasks.
    pub percentage: u32,
}

/// Progress of a plan: `{phases, tasks, percentage}` where `percentage` is task-based, or
/// phase-based when the plan has no tasks (AGENT-TOOLS.md, "Plans").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// By phases.
    pub phases: PhaseProgress,
    /// By tasks.
    pub tasks: TaskProgress,
    /// The headline percentage.
    pub percentage: u32,
}

impl PhaseProgress {
    /// Counts phase statuses.
    pub fn count(statuses: impl IntoIterator<Item = PhaseStatus>) -> Self {
        let mut p = Self::default();
        for status in statuses {
            p.total += 1;
            match status {
                PhaseStatus::Pending => p.pending += 1,
                PhaseStatus::InProgress => p.in_progress += 1,
                PhaseStatus::Completed => p.completed += 1,
                PhaseStatus::Blocked => p.blocked += 1,
                PhaseStatus::Skipped => p.skipped += 1,
            }
        }
        p.percentage = percentage(p.completed + p.skipped, p.total);
        p
    }
}

impl TaskProgress {
    /// Counts task statuses.
    pub fn count(statuses: impl IntoIterator<Item = TaskStatus>) -> Self {
        let mut p = Self::default();
        for status in statuses {
            p.total += 1;
            match status {
                TaskStatus::Completed => p.completed += 1,
                TaskStatus::Skipped => p.skipped += 1,
                TaskStatus::Pending | TaskStatus::InProgress | TaskStatus::Blocked => {}
            }
        }
        p.percentage = percentage(p.completed + p.skipped, p.total);
        p
    }

    /// Tasks neither completed nor skipped.
    pub fn remaining(&self) -> u32 {
        self.total - self.completed - self.skipped
    }
}

/// The status a task counts as: a task of a skipped phase that was not completed counts as
/// skipped, so a plan finished by skipping phases reports 100%.
pub fn effective_task_status(phase: PhaseStatus, task: TaskStatus) -> TaskStatus {
    match (phase, task) {
        (PhaseStatus::Skipped, TaskStatus::Pending | TaskStatus::InProgress | TaskStatus::Blocked) => {
            TaskStatus::Skipped
        }
        (
            PhaseStatus::Pending
            | PhaseStatus::InProgress
            | PhaseStatus::Completed
            | PhaseStatus::Blocked
            | PhaseStatus::Skipped,
            _,
        ) => task,
    }
}

impl Progress {
    /// Progress of a plan from `(phase id, status)` of every phase and `(phase id, status)` of
    /// every task, applying [`effective_task_status`].
    pub fn of_plan<'a>(
        phases: impl IntoIterator<Item = (&'a PhaseId, PhaseStatus)>,
        tasks: impl IntoIterator<Item = (&'a PhaseId, TaskStatus)>,
    ) -> Self {
        let phases: Vec<(&PhaseId, PhaseStatus)> = phases.into_iter().collect();
        let phase_counts = PhaseProgress::count(phases.iter().map(|(_, s)| *s));
        let task_counts = TaskProgress::count(tasks.into_iter().map(|(phase_id, status)| {
            let phase = phases.iter().find(|(id, _)| *id == phase_id).map_or(PhaseStatus::Pending, |(_, s)| *s);
            effective_task_status(phase, status)
        }));
        Self::new(phase_counts, task_counts)
    }

    /// Combines phase and task counts into a plan's progress.
    pub fn new(phases: PhaseProgress, tasks: TaskProgress) -> Self {
        let percentage = if tasks.total > 0 { tasks.percentage } else { phases.percentage };
        Self { phases, tasks, percentage }
    }
}

/// `done / total` as a percentage rounded half away from zero, like PHP's `round`.
fn percentage(done: u32, total: u32) -> u32 {
    if total == 0 {
        return 0;
    }
    (done * 200 + total) / (total * 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentage_rounds_half_up() {
        assert_eq!(percentage(0, 0), 0);
        assert_eq!(percentage(1, 3), 33);
        assert_eq!(percentage(2, 3), 67);
        assert_eq!(percentage(1, 8), 13); // 12.5 rounds up
        assert_eq!(percentage(3, 3), 100);
    }

    #[test]
    fn headline_is_task_based_unless_no_tasks() {
        let phases = PhaseProgress::count([PhaseStatus::Completed, PhaseStatus::Pending]);
        let tasks =
            TaskProgress::count([TaskStatus::Completed, TaskStatus::Pending, TaskStatus::Skipped, TaskStatus::Pending]);
        assert_eq!(Progress::new(phases, tasks).percentage, 50);
        assert_eq!(Progress::new(phases, TaskProgress::count([])).percentage, 50);
        let three = PhaseProgress::count([PhaseStatus::Skipped, PhaseStatus::Pending, PhaseStatus::Pending]);
        assert_eq!(Progress::new(three, TaskProgress::count([])).percentage, 33);
        assert_eq!(three.skipped, 1);
        assert_eq!(tasks.remaining(), 2);
    }

    #[test]
    fn tasks_of_skipped_phases_count_as_skipped() {
        let (a, b) = (PhaseId::from_ulid("A"), PhaseId::from_ulid("B"));
        let p = Progress::of_plan(
            [(&a, PhaseStatus::Completed), (&b, PhaseStatus::Skipped)],
            [(&a, TaskStatus::Completed), (&b, TaskStatus::Pending), (&b, TaskStatus::Completed)],
        );
        assert_eq!((p.tasks.completed, p.tasks.skipped, p.percentage), (2, 1, 100));
    }
}
